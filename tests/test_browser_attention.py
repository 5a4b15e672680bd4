"""Browser tests: the Attention chapter ("Inside the model") in headless Chromium."""

from browser_harness import (
    ARTIFACTS,
    assert_no_exception,
    lock_guess,
    main_area,
    open_page,
    reload,
    screenshot,
    wait_idle,
)
from playwright.sync_api import expect

EXAMPLE = "The animal didn't cross the road because it was too wide"
CHARTS = 30_000  # ms for plotly charts to appear: plotly.js draws them after the run, slowly on a loaded machine


def head_title(main):
    return main.get_by_test_id("stPlotlyChart").first.locator(".gtitle")


def set_prompt(page, main, text: str) -> None:
    box = main.get_by_role("textbox", name="Prompt")
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page)


def test_attention_renders_and_layer_head_change_the_heatmap(app_server, page):
    open_page(page, app_server.url, "attention")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Attention", exact=True)).to_be_visible()
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(4, timeout=CHARTS)  # head, grid, residual, contributions (the lens waits for a guess)
    expect(head_title(main)).to_contain_text("Layer 1, head 1")
    expect(page.get_by_test_id("stSidebar").get_by_text("Current model")).to_be_visible()  # inside the app shell
    assert_no_exception(page)

    main.get_by_role("radiogroup", name="Layer").get_by_text("3", exact=True).click()
    wait_idle(page)
    expect(head_title(main)).to_contain_text("Layer 3, head 1")
    main.get_by_role("radiogroup", name="Head").get_by_text("2", exact=True).click()
    wait_idle(page)
    expect(head_title(main)).to_contain_text("Layer 3, head 2")
    expect(main.get_by_role("heading", name="Layer 3, head 2")).to_be_visible()  # the description beside it follows
    expect(main.get_by_text("Layer 3, head 2 looks", exact=False).first).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "attention_layer3_head2")


def test_attention_token_view_and_example(app_server, page):
    open_page(page, app_server.url, "attention")
    main = main_area(page)
    expect(main.get_by_role("button", name="Try the example sentence", exact=False)).to_be_disabled()  # it would answer the "it" question
    lock_guess(page, main, "where does the most attention weight land", "“road”")
    main.get_by_role("button", name="Try the example sentence", exact=False).click()
    wait_idle(page)
    expect(main.get_by_role("textbox", name="Prompt")).to_have_value("The animal didn't cross the road because it was too wide")
    strip = main.locator(".attention-strip")
    expect(strip).to_have_count(1)
    expect(strip.locator(".tok")).to_have_count(len("The animal didn't cross the road because it was too wide"))
    # The last character looks at every earlier one: none is greyed out as "after the query".
    expect(strip.locator(".future")).to_have_count(0)
    assert_no_exception(page)


def test_attention_hostile_prompts(app_server, page):
    open_page(page, app_server.url, "attention")
    main = main_area(page)
    cases = [
        ("", "Type a prompt", 0),
        ("a", "A single character can only look at itself", 4),
        ("To be or not " * 30, "longer than this model's context", 4),
        ("日本語 🙂 \x07 hello", "never seen", 0),
    ]
    for text, expected, charts in cases:
        set_prompt(page, main, text)
        expect(main.get_by_text(expected, exact=False).first).to_be_visible()
        expect(main.get_by_test_id("stPlotlyChart")).to_have_count(charts, timeout=CHARTS)
        assert_no_exception(page)
    # Unseen characters: offer to drop them, then show the rest.
    main.get_by_text("Drop the unseen characters", exact=False).click()
    wait_idle(page)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(4, timeout=CHARTS)
    expect(main.locator(".attention-strip .tok")).to_have_count(len("   hello"))
    assert_no_exception(page)


def test_predict_where_it_looks_then_the_score_survives_a_reload(app_server, page):
    from lab_ui.state import bundled
    from llm_core.interpret.inspect_model import inspect_ids, it_looks

    entry = bundled()
    looks = it_looks(inspect_ids(entry.model, entry.tokenizer, entry.tokenizer.encode(EXAMPLE)), entry.tokenizer)
    averages = looks.averages()
    open_page(page, app_server.url, "attention")
    main = main_area(page)
    expect(main.get_by_text("Your predictions in this chapter: 0 of 2 made", exact=False)).to_be_visible()
    lock_guess(page, main, "where does the most attention weight land", "“road”")
    verdict = main.get_by_text("on “animal” and", exact=False).first
    expect(verdict).to_contain_text(f"{averages['animal']:.1%} on “animal” and {averages['road']:.1%} on “road”")
    expect(main.get_by_text("Right." if looks.most() == "road" else "Not this time.", exact=True)).to_be_visible()
    expect(main.get_by_text("Head by head on the example", exact=False)).to_be_visible()
    expect(main.get_by_text("Your predictions in this chapter: 1 of 2 made", exact=False)).to_be_visible()
    screenshot(page, "attention_it_revealed")
    reload(page)  # a new Streamlit session: this browser's cookie finds the same desk, and the guess on it
    main = main_area(page)
    expect(main.get_by_text("Your predictions in this chapter: 1 of 2 made", exact=False)).to_be_visible(timeout=30_000)
    expect(main.get_by_text(f"{averages['animal']:.1%} on “animal”", exact=False).first).to_be_visible(timeout=30_000)
    expect(main.get_by_role("button", name="Guess again")).to_have_count(1, timeout=30_000)
    # The logit lens appears once its own guess is locked.
    lock_guess(page, main, "after which block is", "block 4 (the output)")
    # The 4 charts of the first screen, the head-by-head chart behind the first guess, the lens behind this one.
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(6, timeout=CHARTS)
    expect(main.get_by_text("Your predictions in this chapter: 2 of 2 made", exact=False)).to_be_visible()
    assert_no_exception(page)


def test_first_screen_as_a_newcomer_sees_it(app_server, browser):
    """A fresh visitor (a new desk) at 1400x1000: the takeaway and "In this chapter" first; saved for the report."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        open_page(page, app_server.url, "attention")
        main = main_area(page)
        expect(main.get_by_text("In this chapter", exact=True)).to_be_in_viewport()
        expect(main.get_by_text("On this page:", exact=False)).to_be_in_viewport()
        expect(main.get_by_test_id("stPlotlyChart")).to_have_count(4, timeout=CHARTS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "first_screen_attention.png"))  # the viewport only: what a newcomer sees first
        main.get_by_role("link", name="the logit lens").click()  # the contents list jumps to its section
        expect(main.get_by_role("heading", name="The details: the logit lens")).to_be_in_viewport(timeout=10_000)
        assert_no_exception(page)
    finally:
        context.close()
