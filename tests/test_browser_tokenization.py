"""Browser tests: the Tokenization chapter in headless Chromium (screenshots in tests/artifacts/)."""

import re

from browser_harness import assert_no_exception, go_to, main_area, open_page, reload, screenshot, wait_idle
from playwright.sync_api import expect

SLOW = 30_000  # ms: on a loaded machine a rerun (or the first render's lazy widgets) can take seconds


def open_tokenization(page, url: str) -> None:
    """Open the page and wait for its last widget: wait_idle alone can return before the first run has drawn it.
    The server's first visit reads LLM Lab's BPE on Tiny Shakespeare from its shipped file and loads three tiktoken tables."""
    open_page(page, url, "tokenization", timeout=6 * SLOW)
    expect(merge_slider(page)).to_be_visible(timeout=2 * SLOW)


def set_text(page, text: str) -> None:
    box = main_area(page).get_by_label("Text to tokenize")
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page)


def counts_chart(page):
    """The counts as HTML bars (lab_ui.charts.stacked_bars): an image to a screen reader, named by its caption."""
    return main_area(page).locator(".lab-bars").first


def merge_slider(page):
    return main_area(page).get_by_test_id("stSlider").filter(has_text="Merge number").get_by_role("slider")


def test_tokenization_renders_all_tokenizers(app_server, page):
    open_tokenization(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_role("heading", name="Tokenization", exact=True)).to_be_visible(timeout=SLOW)
    for name in ["Characters", "LLM Lab BPE", "GPT-2", "GPT-4 (cl100k)", "GPT-4o (o200k)"]:  # one tab per tokenizer
        main.get_by_role("tab", name=name, exact=True).click()
        expect(main.get_by_role("tabpanel").locator("strong", has_text=name).first).to_be_visible(timeout=SLOW)
    # five comparison rows (one per tab) and the sentence of the BPE section, each drawn as chips with id/bytes on hover or tap
    expect(main.locator(".chips")).to_have_count(6, timeout=SLOW)
    expect(main.locator(".chips .tok").first).to_have_attribute("title", re.compile(r"^id \d+ · bytes [0-9A-F ]+$"), timeout=SLOW)
    expect(counts_chart(page)).to_contain_text("Tokens for", timeout=SLOW)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(1, timeout=SLOW)  # the merge curve; the counts are HTML bars
    expect(main.get_by_role("img", name=re.compile("the fewest tokens for this text"))).to_be_visible(timeout=SLOW)
    expect(main.locator("table.lab-data").filter(has_text="chars per token")).to_contain_text("GPT-4o (o200k)", timeout=SLOW)
    assert_no_exception(page)


def test_typing_text_changes_tokens_and_chart(app_server, page):
    open_tokenization(page, app_server.url)
    set_text(page, "hello hello world\nbye")
    main = main_area(page)
    expect(counts_chart(page)).to_contain_text("Tokens for 21 characters", timeout=SLOW)
    first_row = main.locator(".chips").first
    expect(first_row).to_contain_text("hello·hello·world↵bye", timeout=SLOW)  # characters, whitespace made visible
    expect(first_row.locator(".tok")).to_have_count(21, timeout=SLOW)
    assert_no_exception(page)


def test_markdown_and_html_in_text_stay_literal(app_server, page):
    open_tokenization(page, app_server.url)
    set_text(page, "**bold** $x$ <b>tag</b> `code`")
    chips = main_area(page).locator(".chips").first
    expect(chips).to_contain_text("**bold**·$x$·<b>tag</b>·`code`", timeout=SLOW)
    expect(main_area(page).locator(".chips b")).to_have_count(0, timeout=SLOW)
    assert_no_exception(page)


def test_example_buttons_show_byte_pieces_and_unknown_characters(app_server, page):
    open_tokenization(page, app_server.url)
    main = main_area(page)
    main.get_by_role("button", name="Emoji", exact=True).click()
    wait_idle(page)
    expect(main.get_by_label("Text to tokenize")).to_have_value(re.compile("pizza"), timeout=SLOW)
    expect(main.get_by_text("never seen", exact=False).first).to_be_visible(timeout=SLOW)
    expect(main.locator(".chips .tok.unknown").first).to_be_visible(timeout=SLOW)
    expect(main.locator(".chips").nth(2)).to_contain_text("<0x", timeout=SLOW)  # GPT-2 splits emoji into byte pieces
    main.get_by_role("button", name="Other languages", exact=True).click()
    wait_idle(page)
    expect(main.locator(".chips").nth(4)).to_contain_text("привет", timeout=SLOW)  # o200k has whole tokens for it
    assert_no_exception(page)


def test_merge_slider_and_play_change_the_chart(app_server, page):
    open_tokenization(page, app_server.url)
    main = main_area(page)
    slider = merge_slider(page)
    expect(slider).to_have_value("50", timeout=SLOW)
    expect(main.get_by_test_id("stMetric").filter(has_text="Merge 50")).to_have_count(1, timeout=SLOW)
    curve = main.get_by_test_id("stPlotlyChart").first  # the merge curve (the counts above are HTML bars)
    expect(curve).to_contain_text("merge 50", timeout=SLOW)
    slider.focus()
    for _ in range(5):
        slider.press("ArrowRight")
    wait_idle(page)
    expect(slider).to_have_value("55", timeout=SLOW)
    expect(main.get_by_test_id("stMetric").filter(has_text="Merge 55")).to_have_count(1, timeout=SLOW)
    expect(curve).to_contain_text("merge 55", timeout=SLOW)
    main.get_by_role("button", name="Play the merges").click()
    expect(main.get_by_role("button", name="Pause")).to_be_visible(timeout=SLOW)
    expect(slider).not_to_have_value("55", timeout=SLOW)  # the fragment's timer moves it on its own
    now = int(slider.input_value())
    assert now > 55, f"playing did not advance the merges (still {now})"
    main.get_by_role("button", name="Pause").click()
    wait_idle(page)
    expect(main.get_by_role("button", name="Play the merges")).to_be_visible(timeout=SLOW)
    assert_no_exception(page)


def test_train_on_own_text(app_server, page):
    open_tokenization(page, app_server.url)
    main = main_area(page)
    main.get_by_text("The text above", exact=True).click()
    wait_idle(page)
    set_text(page, "low lower lowest newer newest wider widest " * 20)
    expect(main.get_by_text("merges were learned", exact=False)).to_be_visible(timeout=SLOW)
    expect(main.get_by_test_id("stMetric").first).to_contain_text("Vocabulary", timeout=SLOW)
    assert_no_exception(page)


def test_tokenization_hostile_text(app_server, page):
    open_tokenization(page, app_server.url)
    main = main_area(page)
    main.get_by_text("The text above", exact=True).click()
    wait_idle(page)
    expect(main.get_by_test_id("stSlider").filter(has_text="Merges to learn")).to_be_visible(timeout=SLOW)
    # "x" before "": Streamlit's text area sometimes keeps no value in the browser for a text set from session state
    # on the first run (7 of 146 first visits here, Streamlit 1.67), and then emptying it sends nothing
    cases = [
        ("x", "Nothing to merge"),
        ("", "Type or paste some text"),
        ("日本語 🙂 \x07\x1b[31m control", "never seen"),
        ("To be or not to be. " * 5000, "Tokens for 100,000 characters"),
    ]
    for text, expected in cases:
        set_text(page, text)
        expect(main.get_by_text(expected, exact=False).first).to_be_visible(timeout=SLOW)
        assert_no_exception(page)
    expect(main.get_by_text("more (not drawn)", exact=False).first).to_be_visible(timeout=SLOW)


def checkpoint_box(page, question: str):
    """The bordered box of one "Predict, then see" checkpoint, found by its question: the innermost block that holds
    it (blocks nest, and a locator lists an outer block before the blocks inside it)."""
    return main_area(page).get_by_test_id("stVerticalBlock").filter(has_text=question).last


def test_a_guess_is_revealed_from_the_tokenizer_and_a_reload_finds_it_and_the_score(app_server, page):
    """Guess, lock, see the reveal counted by GPT-2's real tokenizer, reload: the guess, the reveal and the score come back."""
    from lab_ui import course
    from lab_ui.tokenization_view import TWINS, ratio_band
    from llm_core.text.tokenizers import TiktokenTokenizer

    gpt2 = TiktokenTokenizer("r50k_base")
    en, de = len(gpt2.encode(TWINS["English"])), len(gpt2.encode(TWINS["German"]))
    question = "How many does it need for the same sentence in German"
    open_tokenization(page, app_server.url)
    box = checkpoint_box(page, question)
    expect(box.get_by_role("button", name="Lock in my guess")).to_be_disabled(timeout=SLOW)  # drawn, and no guess yet
    expect(box).not_to_contain_text(f"GPT-2 needs {de} tokens")  # nothing shown before the guess
    box.get_by_text(ratio_band(de / en), exact=True).click()
    wait_idle(page)
    box.get_by_role("button", name="Lock in my guess").click()
    wait_idle(page)
    reveal = f"GPT-2 needs {de} tokens for the German sentence and {en} for the English"
    expect(box).to_contain_text(reveal, timeout=SLOW)
    expect(box).to_contain_text("Right.", timeout=SLOW)
    total = len(course.chapter("tokenization").predictions)
    score = f"Your predictions in this chapter: 1 of {total} made, 1 right."
    expect(main_area(page).get_by_text(score)).to_be_visible(timeout=SLOW)
    screenshot(page, "tokenization-prediction-revealed")

    reload(page)  # a new Streamlit session: this browser's cookie finds the same desk, and the guess on it
    box = checkpoint_box(page, question)
    expect(box).to_contain_text(reveal, timeout=2 * SLOW)
    chosen = box.get_by_test_id("stRadioOption").filter(has_text=ratio_band(de / en)).locator("input")
    expect(chosen).to_be_checked()
    expect(chosen).to_be_disabled()
    expect(main_area(page).get_by_text(score)).to_be_visible(timeout=SLOW)
    go_to(page, "Overview")  # the route on the Overview counts it too
    made = sum(len(c.predictions) for c in course.route())
    expect(main_area(page).get_by_text(f"predictions: 1 of {made} made, 1 right", exact=False)).to_be_visible(timeout=SLOW)
    assert_no_exception(page)


def test_on_a_phone_a_tap_on_a_chip_shows_its_id_and_bytes(browser, app_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        open_tokenization(page, app_server.url)
        chip = main_area(page).locator(".chips.tapinfo .tok").first
        expect(chip).to_be_visible(timeout=SLOW)
        label = chip.get_attribute("title")
        assert re.fullmatch(r"id \d+ · bytes [0-9A-F ]+", label)
        chip.tap()
        shown = page.evaluate("(el) => getComputedStyle(el, '::after').content", chip.element_handle())
        assert shown.strip('"') == label  # the label under the finger is the chip's own id and bytes
        screenshot(page, "tokenization-phone-tap")
        # and the same as text, for whoever cannot hover or tap
        main_area(page).get_by_text("Each token as text: its id and bytes, tokenizer by tokenizer").click()
        expect(main_area(page).locator("table").filter(has_text="bytes").first).to_be_visible(timeout=SLOW)
    finally:
        context.close()
