"""Browser tests: the shell and the Overview chapter in headless Chromium."""

from urllib.parse import parse_qs, urlsplit

from browser_harness import assert_no_exception, main_area, open_page, wait_idle
from playwright.sync_api import expect

CHARTS = 30_000  # ms for plotly charts to appear: plotly.js draws them after the run, slowly on a loaded machine


def existing_pages():
    from lab_ui.course import chapters, existing

    return [c for c in chapters() if existing(c)]


def test_overview_renders_with_navigation_and_sidebar(app_server, page):
    open_page(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_role("heading", name="A model is two files")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Current model")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("parameters", exact=False).first).to_be_visible()
    pages = existing_pages()
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(len(pages) if len(pages) > 1 else 0)  # one page: no menu
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(1, timeout=CHARTS)
    expect(main.get_by_test_id("stCode").filter(has_text="def forward(cfg, w, idx)")).to_have_count(1)
    assert_no_exception(page)


def test_overview_prompt_changes_the_walkthrough(app_server, page):
    open_page(page, app_server.url)
    main = main_area(page)
    box = main.get_by_label("Prompt")
    box.fill("JULIET:\nWherefore art thou")
    box.press("Enter")
    wait_idle(page)
    expect(main.locator(".chips").first).to_contain_text("JULIET")
    assert_no_exception(page)


def test_overview_hostile_prompts(app_server, page):
    open_page(page, app_server.url)
    main = main_area(page)
    box = main.get_by_label("Prompt")
    for text, expected in [("", "Type some text"), ("日本語 🙂 \x07", "never seen"), ("To be or not " * 300, "longer than the model's context")]:
        box.fill(text)
        box.press("Enter")
        wait_idle(page)
        expect(main.get_by_text(expected, exact=False).first).to_be_visible()
        assert_no_exception(page)


def test_a_deep_link_on_a_fresh_server_still_gets_the_app_shell(browser):
    """With a pages/ folder, Streamlit's first run of a fresh server would run a deep-linked page on
    its own (no chapters, no sidebar); lab_ui.shell.ensure_app_shell() hands it to app.py, whose
    enter_shell() opens the chapter asked for. This fails the day a Streamlit release changes that."""
    from browser_harness import StreamlitServer

    server = StreamlitServer().start()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        open_page(page, server.url, "attention")
        expect(page.get_by_test_id("stSidebar").get_by_text("Current model")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(len(existing_pages()))
        expect(main_area(page).get_by_role("heading", name="Attention", exact=True)).to_be_visible()
        # The chapter asked for, and no query parameter left but the desk's run id (lab_ui/state.py).
        url = urlsplit(page.url)
        assert url.path.rstrip("/").endswith("/attention") and set(parse_qs(url.query)) <= {"run"}, page.url
        assert_no_exception(page)
    finally:
        context.close()
        server.stop()
