"""Browser tests: the Compression and cost chapter in headless Chromium."""

from browser_harness import assert_no_exception, go_to, main_area, main_button, open_page, set_number, wait_idle
from playwright.sync_api import expect


def test_compress_a_pasted_text_and_see_the_round_trip(app_server, page):
    open_page(page, app_server.url)
    go_to(page, "Compression and cost")
    main = main_area(page)
    box = main.get_by_label("Text to compress", exact=False)
    text = "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo? 🙂 日本語\n"
    box.fill(text)
    box.press("Control+Enter")
    wait_idle(page)
    main_button(page, "Compress and decompress").click()
    wait_idle(page, timeout=120_000)
    expect(main.get_by_test_id("stAlert").filter(has_text="Round trip exact")).to_be_visible()
    expect(main.get_by_text(f"all {len(text):,} characters", exact=False)).to_be_visible()
    for name in ("gzip -9", "bzip2 -9", "xz -9e", "order-3 count model"):
        expect(main.locator("table").get_by_text(name, exact=True)).to_be_visible()
    expect(main.locator(".bits-text span").first).to_be_visible()  # the per-character bits view
    expect(main.get_by_role("button", name="Download the compressed file (.llmz)")).to_be_visible()
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
