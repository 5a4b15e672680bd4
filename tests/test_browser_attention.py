"""Browser tests: the Attention chapter ("Inside the model") in headless Chromium."""

from browser_harness import (
    assert_no_exception,
    main_area,
    open_page,
    screenshot,
    wait_idle,
)
from playwright.sync_api import expect

CHARTS = 30_000  # ms for plotly charts to appear: plotly.js draws them after the run, slowly on a loaded machine


def head_title(main):
    return main.get_by_test_id("stPlotlyChart").first.locator(".gtitle")


def set_prompt(page, main, text: str) -> None:
    box = main.get_by_label("Prompt")
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page)


def test_attention_renders_and_layer_head_change_the_heatmap(app_server, page):
    open_page(page, app_server.url, "attention")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Attention", exact=True)).to_be_visible()
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(5, timeout=CHARTS)  # head, grid, residual, contributions, lens
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
    main.get_by_role("button", name="Try the example sentence", exact=False).click()
    wait_idle(page)
    expect(main.get_by_label("Prompt")).to_have_value("The animal didn't cross the road because it was too wide")
    expect(main.get_by_text("Measured on this window", exact=False)).to_be_visible()
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
        ("a", "A single character can only look at itself", 5),
        ("To be or not " * 30, "longer than this model's context", 5),
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
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(5, timeout=CHARTS)
    expect(main.locator(".attention-strip .tok")).to_have_count(len("   hello"))
    assert_no_exception(page)
