"""Browser tests: the Embeddings chapter in headless Chromium (screenshots in tests/artifacts/)."""

from browser_harness import assert_no_exception, lock_guess, main_area, open_page, wait_idle
from playwright.sync_api import expect

SLOW = 30_000  # ms: on a loaded machine a rerun (or the first render's lazy widgets) can take seconds


def open_embeddings(page, url: str) -> None:
    """Open the page and wait for its last chart: wait_idle alone can return before the first run has drawn it."""
    open_page(page, url, "embeddings")
    expect(main_area(page).get_by_test_id("stPlotlyChart").last).to_contain_text("similarity of positions", timeout=2 * SLOW)


def look_up(page, text: str) -> None:
    box = main_area(page).get_by_role("textbox", name="Tokens to look up")
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def choose(page, group: str, option: str) -> None:
    """Click a radio option inside the radio group labelled `group`."""
    radio = main_area(page).get_by_role("radiogroup", name=group)
    radio.get_by_text(option, exact=True).click()
    wait_idle(page)


def token_scatter(page):
    return main_area(page).get_by_test_id("stPlotlyChart").first


def test_embeddings_renders(app_server, page):
    open_embeddings(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_role("heading", name="Embeddings", exact=True)).to_be_visible(timeout=SLOW)
    expect(main.get_by_role("heading", name="Position embeddings")).to_be_visible(timeout=SLOW)
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(6, timeout=SLOW)  # 2 token scatters, 2 position tables, 2 similarity maps
    expect(token_scatter(page)).to_contain_text("Trained", timeout=SLOW)
    expect(main.get_by_test_id("stPlotlyChart").nth(1)).to_contain_text("Untrained twin", timeout=SLOW)
    # the bundled current model uses rotary positions: the page says so and shows the learned twin's table
    expect(main.get_by_text("rotary positions (RoPE", exact=False)).to_be_visible(timeout=SLOW)
    expect(main.get_by_text("shakespeare-tiny-learned-pos", exact=False).first).to_be_visible(timeout=SLOW)
    assert_no_exception(page)


def test_lookup_highlights_tokens_and_lists_neighbours(app_server, page):
    open_embeddings(page, app_server.url)
    main = main_area(page)
    scatter = token_scatter(page)
    look_up(page, "Q")
    expect(scatter.locator("g.trace").last).to_contain_text("Q", timeout=SLOW)  # the "looked up" trace, labelled
    expect(scatter).to_contain_text("looked up", timeout=SLOW)
    neighbours = main.locator("table.lab-data").filter(has=page.locator("th", has_text="nearest: "))
    expect(neighbours).to_have_count(1, timeout=SLOW)  # a plain HTML table: a screen reader reads it as one
    expect(neighbours.locator("tbody tr").first).to_contain_text("Q", timeout=SLOW)
    look_up(page, "")
    expect(main.get_by_text("Type a character or some text", exact=False)).to_be_visible(timeout=SLOW)
    expect(scatter).not_to_contain_text("looked up", timeout=SLOW)
    assert_no_exception(page)


def test_views_and_3d_change_the_charts(app_server, page):
    open_embeddings(page, app_server.url)
    main = main_area(page)
    choose(page, "Table", "Input table: what training changed")  # it answers section 1's questions: it waits for both guesses
    expect(main.get_by_text("Lock in your guesses there first", exact=False)).to_be_visible(timeout=SLOW)
    expect(main.get_by_test_id("stPlotlyChart").filter(has_text="What training changed")).to_have_count(0, timeout=SLOW)
    lock_guess(page, main, "How far did it move each token's vector", "less than a quarter of its length")
    lock_guess(page, main, "Which kind of token ends up nearest to", "another vowel")
    expect(token_scatter(page)).to_contain_text("What training changed", timeout=SLOW)
    expect(main.get_by_test_id("stPlotlyChart").nth(1)).to_contain_text("Before training", timeout=SLOW)
    choose(page, "Table", "Output table (the model's last layer)")
    expect(main.get_by_text("all zeros", exact=False).first).to_be_visible(timeout=SLOW)
    choose(page, "Projection", "3-D")
    expect(token_scatter(page).locator(".gl-container")).to_have_count(1, timeout=SLOW)
    choose(page, "Position table", "What training changed")
    expect(main.get_by_test_id("stPlotlyChart").filter(has_text="What training changed (trained − start)")).to_have_count(2, timeout=SLOW)
    assert_no_exception(page)


def test_embeddings_hostile_lookups(app_server, page):
    open_embeddings(page, app_server.url)
    main = main_area(page)
    cases = [
        ("", "Type a character or some text"),
        ("日本語 🙂 \x07", "never seen"),
        ("€", "None of that text maps to a token"),
        ("To be or not to be " * 6000, "Only the first 10,000"),
    ]
    for text, expected in cases:
        look_up(page, text)
        expect(main.get_by_text(expected, exact=False).first).to_be_visible(timeout=SLOW)
        assert_no_exception(page)
