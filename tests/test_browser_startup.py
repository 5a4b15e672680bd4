"""Browser test: the first page's start-up warm-up (app.py) and what it leaves behind.

On a browser session's first run, app.py sends an invisible chart and code block before it imports
torch, so Chromium loads plotly.js and the code highlighter during that import instead of after
the script; both elements are gone once the page is complete. Speed is measured by
benchmarks/app_startup.py, not asserted here.
"""

from browser_harness import StreamlitServer, assert_no_exception, main_area, open_page, wait_idle
from playwright.sync_api import expect


def _chunk_requests(page) -> dict[str, float]:
    """Start time (ms since navigation) of each JavaScript file the page fetched, by name prefix."""
    entries = page.evaluate("() => performance.getEntriesByType('resource').map(e => [e.name.split('/').pop(), e.startTime])")
    return {name.split(".")[0]: start for name, start in entries if name.endswith(".js")}


def test_fresh_server_loads_plotly_before_the_page_and_leaves_no_warm_up_behind(browser):
    server = StreamlitServer().start()  # fresh: the first run imports torch, the wait the warm-up fills
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        open_page(page, server.url)
        main, sidebar = main_area(page), page.get_by_test_id("stSidebar")
        expect(main.get_by_test_id("stPlotlyChart").locator("svg").first).to_be_visible()
        chunks = _chunk_requests(page)
        # plotly.js and the highlighter were asked for before the page's first widget (the prompt box)
        assert chunks["PlotlyChart"] < chunks["TextInput"] and chunks["StreamlitSyntaxHighlighter"] < chunks["TextInput"], chunks
        expect(sidebar.get_by_test_id("stPlotlyChart")).to_have_count(0)  # the warm-up is gone
        expect(sidebar.get_by_test_id("stCode")).to_have_count(0)
        expect(main.get_by_test_id("stPlotlyChart")).to_have_count(1)

        box = main.get_by_role("textbox", name="Prompt")  # a rerun does not bring it back
        box.fill("JULIET: O Romeo")
        box.press("Enter")
        wait_idle(page)
        expect(sidebar.get_by_test_id("stPlotlyChart")).to_have_count(0)
        expect(sidebar.get_by_test_id("stCode")).to_have_count(0)
        assert_no_exception(page)
    finally:
        context.close()
        server.stop()
