"""Browser test: the first page draws without plotly.js, then fetches it for the chapters after.

On a browser session's first run, app.py sends an invisible chart and code block after the page, so
Chromium loads plotly.js and the code highlighter while the learner reads the Overview, instead of
on the click into the next chapter; the Overview itself draws its one chart as HTML. The warm-up
is hidden, and the next run leaves it out. Speed is measured by benchmarks/app_startup.py and
benchmarks/first_visits.py, not asserted here.
"""

from browser_harness import StreamlitServer, assert_no_exception, main_area, open_page, wait_idle
from playwright.sync_api import expect


def _chunk_requests(page) -> dict[str, float]:
    """Start time (ms since navigation) of each JavaScript file the page fetched, by name prefix."""
    entries = page.evaluate("() => performance.getEntriesByType('resource').map(e => [e.name.split('/').pop(), e.startTime])")
    return {name.split(".")[0]: start for name, start in entries if name.endswith(".js")}


def test_the_first_page_has_no_plotly_chart_and_fetches_plotly_after_it_for_the_next_chapter(browser):
    server = StreamlitServer().start()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        open_page(page, server.url)
        main, sidebar = main_area(page), page.get_by_test_id("stSidebar")
        expect(main.get_by_role("img", name="Each bar's length is its number of parameters", exact=False)).to_be_visible()
        expect(main.get_by_test_id("stPlotlyChart")).to_have_count(0)
        warm_up = sidebar.get_by_test_id("stPlotlyChart")
        expect(warm_up.locator("svg").first).to_be_attached(timeout=30_000)  # drawn: plotly.js is in this browser now
        expect(warm_up).to_be_hidden()
        chunks = _chunk_requests(page)
        # plotly.js and the highlighter were asked for after the page's own widgets (the prompt box, the downloads)
        assert chunks["PlotlyChart"] > chunks["TextInput"] and chunks["PlotlyChart"] > chunks["DownloadButton"], chunks
        assert "StreamlitSyntaxHighlighter" in chunks, chunks

        box = main.get_by_role("textbox", name="Prompt")  # the next run leaves the warm-up out
        box.fill("JULIET: O Romeo")
        box.press("Enter")
        wait_idle(page)
        expect(sidebar.get_by_test_id("stPlotlyChart")).to_have_count(0)
        expect(sidebar.get_by_test_id("stCode")).to_have_count(0)
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Attention").first.click()
        wait_idle(page)
        expect(main.get_by_test_id("stPlotlyChart").first.locator("svg").first).to_be_visible(timeout=30_000)
        chunks_after = _chunk_requests(page)
        assert chunks_after["PlotlyChart"] == chunks["PlotlyChart"]  # fetched once, on the Overview
        assert_no_exception(page)
    finally:
        context.close()
        server.stop()
