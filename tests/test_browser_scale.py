"""Browser tests of the Scale chapter in headless Chromium: the first screen, two guesses revealed from the shipped
sweep and kept over a reload, the shipped sweep and emergence, a live mini-sweep adding points."""

import re

import pytest
from browser_harness import assert_no_exception, go_to, main_area, main_button, open_page, reload, screenshot, wait_idle
from playwright.sync_api import expect

TALL = {"width": 1400, "height": 6000}  # Streamlit scrolls inside its main area: a tall window shows it all


def open_scale(page, url, viewport=TALL) -> None:
    page.set_viewport_size(viewport)
    open_page(page, url, "", timeout=180_000)
    go_to(page, "Why scale matters")
    expect(main_area(page).get_by_role("heading", name="Why scale matters")).to_be_visible(timeout=120_000)


def guess(page, option: str) -> None:
    main = main_area(page)
    main.get_by_test_id("stRadio").filter(has_text=option).get_by_text(option, exact=True).click()
    wait_idle(page)
    main.get_by_role("button", name="Lock in my guess").first.click()
    wait_idle(page)


def test_the_chapter_renders_the_shipped_sweep_and_emergence_and_keeps_the_guesses(app_server, page):
    open_scale(page, app_server.url, {"width": 1400, "height": 1000})
    main = main_area(page)
    expect(main.get_by_text("Before each result, make a guess", exact=False)).to_be_visible(timeout=120_000)
    screenshot(page, "scale-first-screen")  # as a newcomer sees it, 1400x1000
    page.set_viewport_size(TALL)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(4, timeout=60_000)  # the compute and IsoFLOP charts, sections 3 and 4 wait for the guesses
    for heading in ("1 · Loss falls predictably with compute", "2 · One budget, models of different sizes", "3 · The compute-optimal frontier",
                    "5 · Add your own points", "6 · Emergence: a skill that seems to appear suddenly"):
        expect(main.get_by_role("heading", name=heading)).to_be_visible()
    guess(page, "10 to 25% lower")
    expect(main.get_by_text(re.compile(r"nats per character: \d+% lower"))).to_be_visible(timeout=60_000)
    guess(page, "Higher: too big for the budget")
    expect(main.get_by_text(re.compile(r"x bigger( \(of the sizes tried, the nearest to the question's 10x\))?, reached \d\.\d{3}"))).to_be_visible(timeout=60_000)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(9, timeout=60_000)
    main.get_by_text("The details: the fitted law", exact=False).first.click()
    expect(main.get_by_text("R² =", exact=False).first).to_be_visible(timeout=60_000)
    expect(main.get_by_text("Exact match was", exact=False).first).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "scale-chapter")
    reload(page, 300_000)  # a new session: the desk cookie finds the guesses again
    expect(main.get_by_role("heading", name="Why scale matters")).to_be_visible(timeout=300_000)  # the address still names the chapter
    expect(main.get_by_role("button", name="Guess again")).to_have_count(2, timeout=120_000)
    expect(main.get_by_text("2 of 2 made", exact=False)).to_be_visible(timeout=120_000)


@pytest.mark.slow
def test_a_live_mini_sweep_adds_points_to_the_chart(app_server, page):
    open_scale(page, app_server.url)
    main = main_area(page)
    sizes = main.get_by_test_id("stMultiSelect")
    # keep only the largest size at the smallest budget: the fewest steps, a few seconds of training
    removes = sizes.locator('[aria-label^="Remove "]')  # each chosen size's chip has a "Remove <size>" button
    expect(removes).to_have_count(3)
    while removes.count() > 1:
        removes.first.click()
        wait_idle(page)
    main_button(page, "Run mini-sweep").click()
    # section 2's guess is open: where the points landed (the best size at this budget, its answer) waits for it
    expect(main.get_by_text("Where your points landed waits for your guess in section 2", exact=False)).to_be_visible(timeout=300_000)
    charts = main.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(4)  # no guess made: the four emergence charts, no live one
    guess(page, "10 to 25% lower")  # the first unlocked guess's button comes first: section 1's, then section 2's
    guess(page, "Higher: too big for the budget")
    expect(main.get_by_text("landed on average", exact=False)).to_be_visible(timeout=120_000)
    expect(main.get_by_text(re.compile(r"[+-]\d\.\d{3} nats")).first).to_be_visible()  # each point's distance to the shipped curve
    expect(charts).to_have_count(10)  # both guesses made: the nine shipped charts, and the live one
    assert_no_exception(page)
    screenshot(page, "scale-live-mini-sweep")
