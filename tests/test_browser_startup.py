"""Browser test: when a browser session fetches plotly.js (app.py's warm-up) and the code highlighter.

The Overview draws its one chart as HTML, so its page needs neither. A session's second run sends an
invisible chart after its page, to have the browser load plotly.js before a later chapter needs it
(not its first: eight browsers opening a class's first page together share the server's cores), and
its next run leaves it out; the code highlighter comes when runner.py's expander is opened: a fresh
server's first session too, whose run imports no torch (its figures are shipped: tests/test_first_page.py). Speed is measured by
benchmarks/app_startup.py and benchmarks/first_visits.py, not asserted here.
"""

from browser_harness import StreamlitServer, assert_no_exception, main_area, open_page, plotly_margins, wait_idle
from playwright.sync_api import expect


def _chunk_requests(page) -> dict[str, float]:
    """Start time (ms since navigation) of each JavaScript file the page fetched, by name prefix."""
    entries = page.evaluate("() => performance.getEntriesByType('resource').map(e => [e.name.split('/').pop(), e.startTime])")
    return {name.split(".")[0]: start for name, start in entries if name.endswith(".js")}


def test_a_session_warms_up_on_its_second_run_never_with_its_first_page(browser):
    """A class's first page is eight browsers starting together on the server's cores: it asks for no plotly.js
    (its chart is HTML) and no warm-up; the session's second run brings the invisible chart that has the browser
    fetch plotly.js (hidden, out of the accessibility tree), the third leaves it out, and a later chapter's charts
    use the copy already fetched. The code highlighter comes when runner.py's expander is opened."""
    server = StreamlitServer().start()  # fresh: the first Overview is drawn without torch
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        open_page(page, server.url)
        main, sidebar = main_area(page), page.get_by_test_id("stSidebar")
        expect(main.get_by_role("img", name="Each bar's length is its number of parameters", exact=False)).to_be_visible()
        expect(main.get_by_test_id("stPlotlyChart")).to_have_count(0)  # the Overview's chart is HTML
        expect(sidebar.get_by_test_id("stPlotlyChart")).to_have_count(0)  # no warm-up with the first page
        chunks = _chunk_requests(page)
        assert "PlotlyChart" not in chunks and "StreamlitSyntaxHighlighter" not in chunks, chunks
        box = main.get_by_role("textbox", name="Prompt")  # the second run: the warm-up comes after its page
        box.fill("JULIET: O Romeo")
        box.press("Enter")
        wait_idle(page)
        warm_up = sidebar.get_by_test_id("stPlotlyChart")
        expect(warm_up.locator("svg").first).to_be_attached(timeout=30_000)  # drawn: plotly.js is in this browser now
        expect(warm_up).to_be_hidden()
        fetched = _chunk_requests(page)["PlotlyChart"]
        box.fill("ROMEO: But soft")  # the third run leaves it out
        box.press("Enter")
        wait_idle(page)
        expect(sidebar.get_by_test_id("stPlotlyChart")).to_have_count(0)
        expect(sidebar.get_by_test_id("stCode")).to_have_count(0)
        main.get_by_test_id("stExpander").filter(has_text="lines of runner.py").locator("summary").click()  # opened: drawn now
        expect(main.get_by_test_id("stCode")).to_contain_text("Run an LLM Lab model with nothing but", timeout=30_000)
        assert "StreamlitSyntaxHighlighter" in _chunk_requests(page)
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Attention").first.click()
        wait_idle(page)
        expect(main.get_by_test_id("stPlotlyChart").first.locator("svg").first).to_be_visible(timeout=30_000)
        assert _chunk_requests(page)["PlotlyChart"] == fetched  # fetched once, with the warm-up
        assert_no_exception(page)
    finally:
        context.close()
        server.stop()


def test_a_walk_through_every_chapter_shows_its_text_boxes_and_draws_each_chart_once(browser):
    """Prompts, samples, token ids and commands are text boxes (lab_ui.widgets.text_block), not st.code:
    a learner walking the course, as a class does in benchmarks/load_test.py, never makes the browser
    fetch and run the highlighter's 1.5 MB (only runner.py on the Overview and a share link use it).
    And every chart's margins already fit its labels (lab_ui.chart_margins), so plotly draws it once:
    drawn with wider margins than it asked for, it was drawn twice (automargin). On a failure, remake
    the table: PYTHONPATH=.:tests python benchmarks/chart_margins.py --write"""
    from lab_ui import course

    server = StreamlitServer().start()
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        page = context.new_page()
        open_page(page, server.url)
        main = main_area(page)
        seen = 0
        for chapter in [c.title for c in course.chapters() if course.existing(c)][1:]:
            page.get_by_test_id("stSidebarNavLink").filter(has_text=chapter).first.click()
            wait_idle(page)
            assert_no_exception(page)
            if chapter == "Tokenization":  # the Python sample whose tokens the learner counts, shown as it is
                expect(main.locator("pre.lab-text").filter(has_text="def count_words(text):")).to_be_visible()
            charts = [c for c in plotly_margins(page) if c["key"] != "lab_warm_up_chart"]
            if chapter in ("Embeddings", "Attention", "Generate", "Why scale matters"):
                assert charts, f"{chapter} drew no chart"
            twice = [c for c in charts if any(drawn > asked for asked, drawn in zip(c["asked"], c["drawn"]))]
            assert not twice, f"{chapter}: drawn twice, with wider margins than asked: {twice}"
            seen += len(charts)
        assert seen >= 15, seen
        assert "StreamlitSyntaxHighlighter" not in _chunk_requests(page)
        expect(page.get_by_test_id("stCode")).to_have_count(0)
    finally:
        context.close()
        server.stop()
