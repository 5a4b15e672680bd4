"""Browser tests: the Compression and cost chapter in headless Chromium: its first screen as a
newcomer sees it, a guess locked and its reveal computed by compressing the text, the score found
again after a reload, and the calculator."""

import re

from browser_harness import ARTIFACTS, assert_no_exception, go_to, main_area, open_page, reload, screenshot, set_number, wait_idle
from playwright.sync_api import expect


def test_first_screen_is_the_idea_and_a_guess_is_revealed_by_compressing_and_kept_after_a_reload(app_server, page):
    open_page(page, app_server.url)
    go_to(page, "Compression and cost")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Compression and cost", exact=True)).to_be_visible()
    expect(main.get_by_text("Good prediction is compression.", exact=True)).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compression-first-screen-1400x1000.png"))  # the viewport, as a newcomer first sees it
    assert main.get_by_text("Round trip exact", exact=False).count() == 0  # nothing coded, nothing shown before a guess

    box = main.get_by_label("Text to compress", exact=False)
    text = "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo? 🙂 日本語\n"
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page)
    expect(main.get_by_text("Who stores this text in fewer bytes", exact=False)).to_be_visible()
    main.get_by_text("the model: fewer bytes", exact=True).click()  # the first checkpoint's option (each option is unique on the page)
    wait_idle(page)
    main.get_by_role("button", name="Lock in my guess").first.click()  # the first checkpoint's lock, in page order
    wait_idle(page, timeout=180_000)
    reveal = main.get_by_text(re.compile(r"The model's file is [\d,]+ bytes"))
    expect(reveal).to_be_visible(timeout=120_000)
    model_bytes, gzip_bytes = (int(x.replace(",", "")) for x in re.search(r"file is ([\d,]+) bytes .*gzip's ([\d,]+)", reveal.inner_text()).groups())
    verdict = "Right." if model_bytes < gzip_bytes else "Not this time."
    expect(main.get_by_text(verdict, exact=False)).to_be_visible()
    expect(main.get_by_test_id("stAlert").filter(has_text="Round trip exact")).to_be_visible()
    expect(main.get_by_text(f"all {len(text):,} characters", exact=False)).to_be_visible()
    for name in ("gzip -9", "bzip2 -9", "xz -9e", "order-3 count model"):
        expect(main.locator("table").get_by_text(name, exact=True).first).to_be_visible()
    expect(main.locator(".bits-text span").first).to_be_visible()  # the per-character bits view
    expect(main.get_by_role("button", name="Download the compressed file (.llmz)")).to_be_visible()
    expect(main.get_by_text("Your predictions in this chapter: 1 of 4 made", exact=False)).to_be_visible()
    screenshot(page, "compression-after-a-guess")

    assert "run=" not in page.url  # the desk is never in the address: the browser's cookie finds it
    reload(page, 180_000)  # a new session; this browser's desk keeps the guess and the score
    main = main_area(page)
    expect(main.get_by_text("Your predictions in this chapter: 1 of 4 made", exact=False)).to_be_visible(timeout=120_000)
    expect(main.get_by_text(verdict, exact=False).first).to_be_visible(timeout=120_000)
    expect(main.get_by_role("button", name="Guess again").first).to_be_visible(timeout=120_000)
    expect(main.get_by_role("radio", name="the model: fewer bytes")).to_be_checked()  # the locked guess, shown back
    expect(main.get_by_role("radio", name="the model: fewer bytes")).to_be_disabled()
    assert_no_exception(page)


def test_changing_the_parameter_count_updates_the_calculator(app_server, page):
    open_page(page, app_server.url)
    go_to(page, "Compression and cost")
    main = main_area(page)
    expect(main.get_by_text("280 GB", exact=True)).to_be_visible()  # Llama 2 70B's fp32 file
    expect(main.get_by_text("8.4e+23 FLOPs", exact=True)).to_be_visible()
    set_number(page, "Parameters (millions)", 7000)
    expect(main.get_by_text("28 GB", exact=True)).to_be_visible()
    expect(main.get_by_text("8.4e+22 FLOPs", exact=True)).to_be_visible()
    expect(main.get_by_text("280 GB", exact=True)).to_have_count(0)
    main.get_by_role("combobox", name="Size class").click()
    page.get_by_role("option", name="GPT-3 175B").click()
    wait_idle(page)
    expect(main.get_by_text("700 GB", exact=True)).to_be_visible()  # 175e9 x 4 bytes
    assert_no_exception(page)
