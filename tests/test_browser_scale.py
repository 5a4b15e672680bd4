"""Browser tests of the Scale chapter in headless Chromium: the shipped sweep renders, a live mini-sweep adds points."""

import pytest
from browser_harness import assert_no_exception, go_to, main_area, main_button, open_page, screenshot, wait_idle
from playwright.sync_api import expect

TALL = {"width": 1400, "height": 6000}  # Streamlit scrolls inside its main area: a tall window shows it all


def open_scale(page, url) -> None:
    page.set_viewport_size(TALL)
    open_page(page, url, "", timeout=180_000)
    go_to(page, "Why scale matters")
    expect(main_area(page).get_by_role("heading", name="Why scale matters")).to_be_visible(timeout=120_000)


def test_the_chapter_renders_the_shipped_sweep_and_emergence(app_server, page):
    open_scale(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(7, timeout=60_000)
    for heading in ("1 · Loss falls predictably with compute", "2 · For each budget, a best model size", "3 · The compute-optimal frontier",
                    "5 · Add your own points", "6 · Emergence: a skill that seems to appear suddenly"):
        expect(main.get_by_role("heading", name=heading)).to_be_visible()
    expect(main.get_by_text("R² =", exact=False).first).to_be_visible()
    expect(main.get_by_text("Exact match was", exact=False)).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "scale-chapter")


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
    expect(main.get_by_text("landed on average", exact=False)).to_be_visible(timeout=300_000)
    expect(main.get_by_text("nats", exact=False).first).to_be_visible()
    charts = main.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(8)
    assert_no_exception(page)
    screenshot(page, "scale-live-mini-sweep")
