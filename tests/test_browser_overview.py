"""Browser tests: the shell and the Overview chapter in headless Chromium."""

from urllib.parse import parse_qs, urlsplit

from browser_harness import assert_no_exception, lock_guess, main_area, open_page, wait_idle
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
    expect(main.get_by_role("img", name="Each bar's length is its number of parameters", exact=False)).to_be_visible()
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(0)  # its one chart is HTML (lab_ui/overview_view.py)
    expect(main.get_by_test_id("stCode")).to_have_count(0)  # runner.py is drawn when its expander is opened
    main.get_by_test_id("stExpander").filter(has_text="lines of runner.py").locator("summary").click()
    expect(main.get_by_test_id("stCode").filter(has_text="def forward(cfg, w, idx)")).to_have_count(1)
    assert_no_exception(page)


def clicked_download(page, button):
    """The file a click on a download button gives; what the button said if none came (a file sent on the
    click is made by a round trip to the server, which Streamlit reports under the button when it fails)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        with page.expect_download(timeout=60_000) as download:
            button.click()
    except PlaywrightTimeout:
        raise AssertionError(f"no file came; under the button: {page.get_by_test_id('stDownloadButtonError').all_inner_texts()}") from None
    return download.value


def test_the_model_files_go_to_the_browser_when_asked_for_not_with_the_page(app_server, page):
    """The Overview offers the model's parameters as a download. Given as bytes, Streamlit sent the
    3.3 MB file to every browser that opened the page (and gzipped it on the way); given as a function
    it is sent on the click. A chapter's chart CSVs likewise. The click still gives the very file."""
    from llm_core.paths import MODELS_DIR

    fetched = []
    page.on("request", lambda request: fetched.append(request.url) if urlsplit(request.url).path.startswith("/media/") else None)  # Streamlit's files
    open_page(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_role("heading", name="A model is two files")).to_be_visible()
    assert fetched == []  # none came with the page (the prefetch of a button's data would be here by now: the run is over)
    weights_button = main.get_by_role("button", name="Download the parameters (.safetensors)")
    expect(weights_button).to_be_disabled()  # its size is the answer to a prediction: it waits for the guess
    lock_guess(page, main, "Is its parameters file bigger or smaller", "smaller than the text")
    download = clicked_download(page, main.get_by_role("button", name="Download the parameters (.safetensors)"))
    assert open(download.path(), "rb").read() == (MODELS_DIR / "shakespeare-tiny.safetensors").read_bytes()
    assert download.suggested_filename == "model.safetensors"
    fetched.clear()
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Why scale matters").first.click()
    wait_idle(page)
    expect(main.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=CHARTS)
    assert fetched == []  # no chart's CSV came with the page
    main.get_by_text("The data behind this chart", exact=False).first.click()
    rows = open(clicked_download(page, main.get_by_role("button", name="Download the data (CSV)").first).path(), encoding="utf-8").read().splitlines()
    assert len(rows) >= 3 and "," in rows[0]  # a header and the chart's rows
    assert_no_exception(page)


def test_overview_prompt_changes_the_walkthrough(app_server, page):
    open_page(page, app_server.url)
    main = main_area(page)
    box = main.get_by_role("textbox", name="Prompt")
    box.fill("JULIET:\nWherefore art thou")
    box.press("Enter")
    wait_idle(page)
    expect(main.locator(".chips").first).to_contain_text("JULIET")
    assert_no_exception(page)


def test_overview_hostile_prompts(app_server, page):
    open_page(page, app_server.url)
    main = main_area(page)
    box = main.get_by_role("textbox", name="Prompt")
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


def test_the_first_screens_of_the_text_chapters_as_a_newcomer_sees_them(browser, app_server):
    """Each chapter opened on a fresh desk at 1400x1000: its title, its takeaway and what to do first are on the first
    screen (and on the Overview, where to start). The screens are kept as tests/artifacts/first-screen-<chapter>.png.
    Links and widgets are drawn lazily (a placeholder first, seconds later under load): hence the long waits."""
    from browser_harness import ARTIFACTS

    from lab_ui import course

    for key in ("overview", "tokenization", "embeddings", "glossary"):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})  # a newcomer: no desk yet
        try:
            page = context.new_page()
            chapter = course.chapter(key)
            open_page(page, app_server.url, "" if key == "overview" else key, timeout=180_000)
            main = main_area(page)
            expect(main.get_by_role("heading", name=chapter.extra.get("heading", chapter.title), exact=True)).to_be_in_viewport(timeout=60_000)
            expect(main.get_by_text(chapter.takeaway.split(". ")[0], exact=False)).to_be_in_viewport(timeout=CHARTS)
            if key == "overview":
                expect(main.get_by_text("Start here.", exact=True)).to_be_in_viewport(timeout=CHARTS)
                expect(main.get_by_text("Then: step 2, Tokenization", exact=True)).to_be_in_viewport(timeout=CHARTS)  # the link's text
            elif key == "glossary":
                expect(main.get_by_role("textbox", name="Find a word")).to_be_in_viewport(timeout=CHARTS)
            else:
                expect(main.get_by_text("In this chapter", exact=True)).to_be_in_viewport(timeout=CHARTS)
                expect(main.get_by_text("On this page:", exact=False)).to_be_in_viewport(timeout=CHARTS)
            assert_no_exception(page)
            expect(main.get_by_test_id("stSkeleton")).to_have_count(0, timeout=CHARTS)  # every lazy widget drawn
            page.wait_for_timeout(1000)  # and plotly done drawing what the first screen holds
            page.screenshot(path=str(ARTIFACTS / f"first-screen-{key}.png"))  # the first screen only, not the whole page
        finally:
            context.close()
