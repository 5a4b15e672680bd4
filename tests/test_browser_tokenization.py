"""Browser tests: the Tokenization chapter in headless Chromium (screenshots in tests/artifacts/)."""

import re

from browser_harness import assert_no_exception, main_area, open_page, wait_idle
from playwright.sync_api import expect

SLOW = 30_000  # ms: on a loaded machine a rerun (or the first render's lazy widgets) can take seconds


def open_tokenization(page, url: str) -> None:
    """Open the page and wait for its last widget: wait_idle alone can return before the first run has drawn it."""
    open_page(page, url, "tokenization")
    expect(merge_slider(page)).to_be_visible(timeout=2 * SLOW)


def set_text(page, text: str) -> None:
    box = main_area(page).get_by_label("Text to tokenize")
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page)


def counts_chart(page):
    return main_area(page).get_by_test_id("stPlotlyChart").first


def merge_slider(page):
    return main_area(page).get_by_test_id("stSlider").filter(has_text="Merge number").get_by_role("slider")


def test_tokenization_renders_all_tokenizers(app_server, page):
    open_tokenization(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_role("heading", name="Tokenization", exact=True)).to_be_visible(timeout=SLOW)
    for name in ["Characters", "LLM Lab BPE", "GPT-2", "GPT-4 (cl100k)", "GPT-4o (o200k)"]:
        expect(main.locator("strong", has_text=name).first).to_be_visible(timeout=SLOW)
    # five comparison rows and the sentence of the BPE section, each drawn as chips with id/bytes on hover
    expect(main.locator(".chips")).to_have_count(6, timeout=SLOW)
    expect(main.locator(".chips .tok").first).to_have_attribute("title", re.compile(r"^id \d+ · bytes [0-9A-F ]+$"), timeout=SLOW)
    expect(counts_chart(page)).to_contain_text("Tokens for", timeout=SLOW)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(2, timeout=SLOW)
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
    curve = main.get_by_test_id("stPlotlyChart").nth(1)
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
    cases = [
        ("", "Type or paste some text"),
        ("日本語 🙂 \x07\x1b[31m control", "never seen"),
        ("To be or not to be. " * 5000, "Tokens for 100,000 characters"),
        ("x", "Nothing to merge"),
    ]
    for text, expected in cases:
        set_text(page, text)
        expect(main.get_by_text(expected, exact=False).first).to_be_visible(timeout=SLOW)
        assert_no_exception(page)
    set_text(page, "To be or not to be. " * 5000)
    expect(main.get_by_text("more (not drawn)", exact=False).first).to_be_visible(timeout=SLOW)
