"""Browser tests: the Generation chapter in headless Chromium against a real `streamlit run app.py`."""

import re

from browser_harness import assert_no_exception, main_area, open_page, wait_idle
from playwright.sync_api import expect

STATUS = re.compile(r"(\d+) of (\d+) new tokens · the model has run (\d+) times?")

CHARTS = 30_000  # ms for plotly charts to appear: plotly.js draws them after the run, slowly on a loaded machine


def open_generation(page, url):
    """Open the app, then the chapter through the sidebar. (A first request straight to /generation
    on a fresh server runs the page file alone, before app.py has set up the navigation.)"""
    open_page(page, url)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Generate").click()
    wait_idle(page)
    main = main_area(page)
    expect(main.get_by_role("heading", name="Generate", exact=True)).to_be_visible()
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(1, timeout=CHARTS)
    return main


def status(main) -> tuple[int, int]:
    """(tokens generated, model runs) from the status line."""
    match = STATUS.search(main.get_by_text(STATUS).first.inner_text())
    return int(match.group(1)), int(match.group(3))


def generated_text(main) -> str:
    return "".join(main.locator(".gen-text .gt").all_inner_texts())


def shaped_bars(page) -> list[float]:
    return page.evaluate("() => document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot').data[1].y")


def click(page, main, name):
    main.get_by_role("button", name=name, exact=True).click()
    wait_idle(page)


def test_generation_renders_and_step_adds_one_token(app_server, page):
    main = open_generation(page, app_server.url)
    assert status(main) == (0, 1)
    assert len(shaped_bars(page)) >= 20
    click(page, main, "Step")
    assert status(main) == (1, 2)
    expect(main.locator(".gen-text .gt")).to_have_count(1)
    click(page, main, "Step")
    assert status(main) == (2, 3)
    expect(main.locator(".gen-text .gt")).to_have_count(2)
    expect(main.get_by_text("Step shown (3 = the next token)")).to_be_visible()
    assert_no_exception(page)


def test_play_produces_text_and_pause_stops_it(app_server, page):
    main = open_generation(page, app_server.url)
    main.get_by_role("button", name="Play", exact=True).click()
    expect(main.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    expect(main.get_by_role("button", name="Step", exact=True)).to_be_disabled()
    expect(main.locator(".gen-text .gt").nth(3)).to_be_attached(timeout=30_000)  # at least 4 tokens streamed in
    main.get_by_role("button", name="Pause", exact=True).click()
    expect(main.get_by_role("button", name="Play", exact=True)).to_be_visible(timeout=20_000)
    wait_idle(page)
    paused_at = status(main)[0]
    assert paused_at >= 4 and len(generated_text(main)) > 0
    page.wait_for_timeout(1500)  # several ticks at 5 tokens a second, had it kept playing
    wait_idle(page)
    assert status(main)[0] == paused_at
    assert_no_exception(page)


def test_play_stops_by_itself_at_the_max_length(app_server, page):
    main = open_generation(page, app_server.url)
    number = main.get_by_role("spinbutton", name="Max new tokens")
    number.fill("4")
    number.press("Enter")
    wait_idle(page)
    main.get_by_role("button", name="Play", exact=True).click()
    expect(main.get_by_text("reached the max length", exact=False)).to_be_visible(timeout=30_000)
    expect(main.get_by_role("button", name="Play", exact=True)).to_be_disabled(timeout=20_000)  # back from Pause
    expect(main.get_by_role("button", name="Step", exact=True)).to_be_disabled()
    assert status(main)[0] == 4
    expect(main.locator(".gen-text .gt")).to_have_count(4)
    assert_no_exception(page)


def test_moving_temperature_changes_the_chart_without_a_model_call(app_server, page):
    main = open_generation(page, app_server.url)
    click(page, main, "Step")
    click(page, main, "Step")
    before_bars, (tokens, runs) = shaped_bars(page), status(main)
    thumb = main.get_by_test_id("stSlider").filter(has_text="Temperature").get_by_role("slider")
    thumb.focus()
    for _ in range(12):  # 0.80 -> 1.40
        thumb.press("ArrowRight")
    wait_idle(page)
    expect(main.get_by_test_id("stSlider").filter(has_text="Temperature")).to_contain_text("1.40")
    after_bars = shaped_bars(page)
    assert after_bars != before_bars
    assert max(after_bars) < max(before_bars)  # hotter: the favourite loses probability
    assert status(main) == (tokens, runs)  # no token added, the model not run
    assert_no_exception(page)


def test_same_seed_reproduces_the_same_text(app_server, page):
    main = open_generation(page, app_server.url)
    for _ in range(6):
        click(page, main, "Step")
    first = generated_text(main)
    assert len(first) >= 6
    click(page, main, "Reset")
    assert status(main)[0] == 0
    for _ in range(6):
        click(page, main, "Step")
    assert generated_text(main) == first
    assert_no_exception(page)


def test_greedy_comparison_and_kv_cache_timing(app_server, page):
    main = open_generation(page, app_server.url)
    main.get_by_role("button", name=re.compile(r"Generate \d+ tokens both ways")).click()
    wait_idle(page)
    expect(main.get_by_role("heading", name="Greedy (temperature 0)")).to_be_visible()
    expect(main.get_by_text("Distinct 4-token sequences").first).to_be_visible()
    main.get_by_role("button", name=re.compile("Measure at the current length")).click()
    wait_idle(page)
    expect(main.get_by_test_id("stMetric").filter(has_text="Without the cache")).to_contain_text("ms/token")
    assert_no_exception(page)


def test_generation_hostile_input(app_server, page):
    main = open_generation(page, app_server.url)
    box = main.get_by_label("Prompt")

    box.fill("")
    box.press("Control+Enter")
    wait_idle(page)
    expect(main.get_by_text("starts from a newline", exact=False)).to_be_visible()
    click(page, main, "Step")
    assert status(main)[0] == 1

    box.fill("JULIET: ☃ ça <b>va</b>")
    box.press("Control+Enter")
    wait_idle(page)
    expect(main.get_by_text("never seen", exact=False)).to_be_visible()
    expect(main.get_by_role("button", name="Step", exact=True)).to_be_disabled()
    click(page, main, "Drop the unseen characters")
    expect(main.get_by_text("never seen", exact=False)).to_have_count(0)
    expect(box).to_have_value("JULIET:  a bvab")
    assert status(main) == (0, 1)

    number = main.get_by_role("spinbutton", name="Max new tokens")
    number.fill("1500")
    number.press("Enter")
    wait_idle(page)
    expect(main.get_by_text("the window slides forward by half a context (64 tokens)", exact=False)).to_be_visible()
    assert_no_exception(page)
