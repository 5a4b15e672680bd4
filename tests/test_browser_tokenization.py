"""Browser tests: the Tokenization chapter in headless Chromium (screenshots in tests/artifacts/)."""

import re

from playwright.sync_api import expect

from browser_harness import assert_no_exception, main_area, open_page, wait_idle


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
    open_page(page, app_server.url, "tokenization")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Tokenization", exact=True)).to_be_visible()
    for name in ["Characters", "LLM Lab BPE", "GPT-2", "GPT-4 (cl100k)", "GPT-4o (o200k)"]:
        expect(main.locator("strong", has_text=name).first).to_be_visible()
    # five comparison rows and the sentence of the BPE section, each drawn as chips with id/bytes on hover
    expect(main.locator(".chips")).to_have_count(6)
    expect(main.locator(".chips .tok").first).to_have_attribute("title", re.compile(r"^id \d+ · bytes [0-9A-F ]+$"))
    expect(counts_chart(page)).to_contain_text("Tokens for")
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(2)
    assert_no_exception(page)


def test_typing_text_changes_tokens_and_chart(app_server, page):
    open_page(page, app_server.url, "tokenization")
    set_text(page, "hello hello world\nbye")
    main = main_area(page)
    expect(counts_chart(page)).to_contain_text("Tokens for 21 characters")
    first_row = main.locator(".chips").first
    expect(first_row).to_contain_text("hello·hello·world↵bye")  # characters, whitespace made visible
    expect(first_row.locator(".tok")).to_have_count(21)
    assert_no_exception(page)


def test_markdown_and_html_in_text_stay_literal(app_server, page):
    open_page(page, app_server.url, "tokenization")
    set_text(page, "**bold** $x$ <b>tag</b> `code`")
    chips = main_area(page).locator(".chips").first
    expect(chips).to_contain_text("**bold**·$x$·<b>tag</b>·`code`")
    expect(main_area(page).locator(".chips b")).to_have_count(0)
    assert_no_exception(page)


def test_example_buttons_show_byte_pieces_and_unknown_characters(app_server, page):
    open_page(page, app_server.url, "tokenization")
    main = main_area(page)
    main.get_by_role("button", name="Emoji", exact=True).click()
    wait_idle(page)
    expect(main.get_by_label("Text to tokenize")).to_have_value(re.compile("pizza"))
    expect(main.get_by_text("never seen", exact=False).first).to_be_visible()
    expect(main.locator(".chips .tok.unknown").first).to_be_visible()
    expect(main.locator(".chips").nth(2)).to_contain_text("<0x")  # GPT-2 splits emoji into byte pieces
    main.get_by_role("button", name="Other languages", exact=True).click()
    wait_idle(page)
    expect(main.locator(".chips").nth(4)).to_contain_text("привет")  # o200k has whole tokens for it
    assert_no_exception(page)


def test_merge_slider_and_play_change_the_chart(app_server, page):
    open_page(page, app_server.url, "tokenization")
    main = main_area(page)
    slider = merge_slider(page)
    expect(slider).to_have_value("50")
    expect(main.get_by_test_id("stMetric").filter(has_text="Merge 50")).to_have_count(1)
    curve = main.get_by_test_id("stPlotlyChart").nth(1)
    expect(curve).to_contain_text("merge 50")
    slider.focus()
    for _ in range(5):
        slider.press("ArrowRight")
    wait_idle(page)
    expect(slider).to_have_value("55")
    expect(main.get_by_test_id("stMetric").filter(has_text="Merge 55")).to_have_count(1)
    expect(curve).to_contain_text("merge 55")
    main.get_by_role("button", name="Play the merges").click()
    expect(main.get_by_role("button", name="Pause")).to_be_visible()
    page.wait_for_timeout(2500)
    now = int(slider.input_value())
    assert now > 55, f"playing did not advance the merges (still {now})"
    main.get_by_role("button", name="Pause").click()
    wait_idle(page)
    expect(main.get_by_role("button", name="Play the merges")).to_be_visible()
    assert_no_exception(page)


def test_train_on_own_text(app_server, page):
    open_page(page, app_server.url, "tokenization")
    main = main_area(page)
    main.get_by_text("The text above", exact=True).click()
    wait_idle(page)
    set_text(page, "low lower lowest newer newest wider widest " * 20)
    expect(main.get_by_text("merges were learned", exact=False)).to_be_visible()
    expect(main.get_by_test_id("stMetric").first).to_contain_text("Vocabulary")
    assert_no_exception(page)


def test_tokenization_hostile_text(app_server, page):
    open_page(page, app_server.url, "tokenization")
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
        expect(main.get_by_text(expected, exact=False).first).to_be_visible()
        assert_no_exception(page)
    set_text(page, "To be or not to be. " * 5000)
    expect(main.get_by_text("more (not drawn)", exact=False).first).to_be_visible()
