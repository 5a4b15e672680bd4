"""Browser tests: the Generation chapter in headless Chromium against a real `streamlit run app.py`."""

import re

from browser_harness import assert_no_exception, main_area, open_page, wait_idle
from playwright.sync_api import expect

STATUS = re.compile(r"(\d+) of (\d+) new tokens · the model has run (\d+) times?")

CHARTS = 30_000  # ms for plotly charts to appear: plotly.js draws them after the run, slowly on a loaded machine


def open_generation(page, url, lock: bool = True):
    """Open the app, then the chapter through the sidebar. (A first request straight to /generation
    on a fresh server runs the page file alone, before app.py has set up the navigation.)"""
    open_page(page, url)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Generate").click()
    wait_idle(page)
    main = main_area(page)
    expect(main.get_by_role("heading", name="Generate", exact=True)).to_be_visible()
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(1, timeout=CHARTS)
    if lock:  # the shaped bars wait for the temperature prediction's guess
        main.get_by_text("it goes up", exact=True).click()
        wait_idle(page)
        main.get_by_role("button", name="Lock in my guess").first.click()
        wait_idle(page)
        expect(main.get_by_text("Guess again", exact=True).first).to_be_visible(timeout=CHARTS)
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
    from lab_ui.state import bundled
    from llm_core.generation.sample import generate
    from llm_core.generation.stepper import longest_repeat

    main = open_generation(page, app_server.url)
    expect(main.get_by_role("heading", name="Greedy (temperature 0)")).to_have_count(0)  # the comparison waits for the guess
    box = main.get_by_test_id("stVerticalBlock").filter(has_text="Will it write some stretch").last
    box.get_by_text("no", exact=True).click()
    wait_idle(page)
    box.get_by_role("button", name="Lock in my guess").click()
    wait_idle(page)
    entry = bundled()
    greedy = [s.token_id for s in generate(entry.model, entry.tokenizer.encode("ROMEO:\n"), 120, 0.0)]
    rep = longest_repeat(greedy)  # the bundled model's greedy text repeats itself: the reveal must say so, with its numbers
    expect(box).to_contain_text(f"Yes: it wrote the {rep.length} characters")
    expect(box).to_contain_text("Not this time.")
    expect(main.get_by_text("What this comparison shows: greedy repeated itself", exact=False)).to_be_visible()
    expect(main.get_by_role("heading", name="Greedy (temperature 0)")).to_be_visible()
    expect(main.get_by_text("Distinct 4-token sequences").first).to_be_visible()
    main.get_by_role("button", name=re.compile("Measure at the current length")).click()
    wait_idle(page)
    expect(main.get_by_test_id("stMetric").filter(has_text="Without the cache")).to_contain_text("ms/token")
    assert_no_exception(page)


def test_generation_hostile_input(app_server, page):
    main = open_generation(page, app_server.url)
    box = main.get_by_role("textbox", name="Prompt")

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


FOCUSED = """() => {
  const el = document.activeElement;
  if (!el) return null;
  const style = getComputedStyle(el);
  return {text: el.innerText.trim(), tag: el.tagName, outline: style.outlineStyle + ' ' + style.outlineWidth,
          shadow: style.boxShadow, disabled: el.disabled === true};
}"""


def tab_to(page, name: str, limit: int = 120) -> dict:
    """Press Tab until the focused element is the button called `name` (keyboard only); its focus style."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused and focused["tag"] == "BUTTON" and focused["text"] == name:
            return focused
    raise AssertionError(f"Tab never reached the {name!r} button")


def visibly_focused(focused: dict) -> bool:
    """A focus ring: a drawn outline, or a box shadow (Streamlit draws a 3 px ring in its primary colour)."""
    outline = not focused["outline"].startswith("none") and not focused["outline"].endswith(" 0px")
    return outline or focused["shadow"] not in ("none", "")


def test_step_play_and_reset_work_from_the_keyboard_with_visible_focus(app_server, page):
    main = open_generation(page, app_server.url)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # from here on, the keyboard alone
    focused = tab_to(page, "Step")
    assert visibly_focused(focused), focused
    unfocused = main.get_by_role("button", name="Reset", exact=True).evaluate("el => getComputedStyle(el).boxShadow + ' ' + getComputedStyle(el).outlineStyle")
    assert unfocused != f"{focused['shadow']} {focused['outline'].split()[0]}"  # the ring is the focus, not the button's look
    page.keyboard.press("Enter")
    wait_idle(page)
    assert status(main) == (1, 2)
    page.keyboard.press("Space")
    wait_idle(page)
    assert status(main)[0] == 2  # the focus stayed on Step through the rerun
    tab_to(page, "Play")
    page.keyboard.press("Enter")
    expect(main.get_by_role("button", name="Pause", exact=True)).to_be_visible(timeout=20_000)
    expect(main.locator(".gen-text .gt").nth(3)).to_be_attached(timeout=30_000)
    main.get_by_role("button", name="Pause", exact=True).focus()  # the same button, relabelled: keep the keyboard on it
    page.keyboard.press("Enter")
    expect(main.get_by_role("button", name="Play", exact=True)).to_be_visible(timeout=20_000)
    wait_idle(page)
    assert status(main)[0] >= 4
    tab_to(page, "Reset")
    page.keyboard.press("Enter")
    wait_idle(page)
    assert status(main) == (0, 1)
    assert_no_exception(page)


def test_first_screen_as_a_newcomer_sees_it(app_server, browser):
    """A fresh visitor (a new desk) at 1400x1000: the takeaway and "In this chapter" first; saved for the report."""
    from browser_harness import ARTIFACTS

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        main = open_generation(page, app_server.url, lock=False)
        expect(main.get_by_text("In this chapter", exact=True)).to_be_in_viewport()
        expect(main.get_by_text("On this page:", exact=False)).to_be_in_viewport()
        page.evaluate("() => window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "first_screen_generation.png"))  # the viewport only: what a newcomer sees first
        main.get_by_role("link", name="Examples in the prompt").click()  # the contents list jumps to its section
        expect(main.get_by_role("heading", name="Examples in the prompt: in-context learning")).to_be_in_viewport(timeout=10_000)
        assert_no_exception(page)
    finally:
        context.close()
