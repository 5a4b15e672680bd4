"""Browser test: a link with a chapter's settings reproduces the view, even as the first request of
a fresh server (lab_ui/url_state.py, lab_ui/shell.py)."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

from browser_harness import StreamlitServer, assert_no_exception, go_to, main_area, open_page, screenshot, wait_idle
from playwright.sync_api import expect

SETTINGS = {"gen_prompt": "JULIET:\n", "gen_temperature": "1.3", "gen_top_k": "5", "gen_seed": "7", "gen_max_new": "30"}


def params(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query, keep_blank_values=True).items()}


def steps_and_text(page, n: int) -> str:
    main = main_area(page)
    for _ in range(n):
        main.get_by_role("button", name="Step", exact=True).click()
        wait_idle(page)
    expect(main.locator(".gen-text .gt")).to_have_count(n)
    return "".join(main.locator(".gen-text .gt").all_inner_texts())


def shows_settings(page) -> None:
    main = main_area(page)
    expect(main.get_by_role("heading", name="Generate", exact=True)).to_be_visible()
    expect(main.get_by_role("textbox", name="Prompt")).to_have_value("JULIET:\n")
    expect(main.get_by_role("spinbutton", name="Seed")).to_have_value("7")
    expect(main.get_by_role("slider", name="Temperature")).to_have_value("1.3")
    expect(main.get_by_role("slider", name="Top-k (0 = off)")).to_have_value("5")
    expect(main.get_by_text("of 30 new tokens", exact=False)).to_be_visible()


def test_a_link_with_settings_reproduces_the_generation_view(browser):
    server = StreamlitServer().start()  # fresh: the link is its first request (the shell hands it over, settings and all)
    first, second = (browser.new_context(viewport={"width": 1400, "height": 1100}) for _ in range(2))
    try:
        page = first.new_page()
        open_page(page, server.url, "generation?" + urlencode(SETTINGS))
        shows_settings(page)
        assert urlsplit(page.url).path.rstrip("/").endswith("/generation")
        assert {k: params(page).get(k) for k in SETTINGS} == SETTINGS and params(page).get("run")
        text = steps_and_text(page, 4)
        screenshot(page, "url_state_generation_from_link")

        # Someone else opens the same link (without the desk's id: a new user): the same view and the same text.
        other = second.new_page()
        open_page(other, server.url, "generation?" + urlencode(SETTINGS))
        shows_settings(other)
        assert steps_and_text(other, 4) == text
        assert params(other)["run"] != params(page)["run"]
        assert_no_exception(other)

        # A change is written back to the URL; another chapter's URL does not keep this one's settings.
        seed = main_area(page).get_by_role("spinbutton", name="Seed")
        seed.fill("9")
        seed.press("Enter")
        wait_idle(page)
        expect(page).to_have_url(re.compile(r"[?&]gen_seed=9(&|$)"))
        go_to(page, "Attention")
        expect(main_area(page).get_by_role("heading", name="Attention", exact=True)).to_be_visible()
        assert not set(params(page)) & set(SETTINGS) and params(page).get("run")

        # The attention link: layer 2, head 3 (counted from 1, as the page shows them).
        open_page(page, server.url, "attention?" + urlencode({"attention_layer": "2", "attention_head": "3", "attention_prompt": "To be, or not to be"}))
        expect(main_area(page).get_by_role("heading", name="Layer 2, head 3")).to_be_visible()
        expect(main_area(page).get_by_role("textbox", name="Prompt")).to_have_value("To be, or not to be")
        main_area(page).get_by_role("radiogroup", name="Head").get_by_text("4", exact=True).click()  # inside a fragment: the URL follows too
        wait_idle(page)
        expect(main_area(page).get_by_role("heading", name="Layer 2, head 4")).to_be_visible()
        expect(page).to_have_url(re.compile(r"[?&]attention_head=4(&|$)"))
        screenshot(page, "url_state_attention_from_link")
        assert_no_exception(page)
    finally:
        first.close()
        second.close()
        server.stop()
