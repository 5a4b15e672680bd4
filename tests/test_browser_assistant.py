"""Browser test of the "Making an assistant" chapter in headless Chromium: fine-tune, rank by hand, reward model, RLHF."""

import re

from browser_harness import (
    assert_no_exception,
    go_to,
    main_area,
    main_button,
    open_page,
    reload,
    screenshot,
    set_number,
    wait_idle,
)
from playwright.sync_api import expect

TALL = {"width": 1400, "height": 5200}


def test_a_nano_model_trained_in_the_app_is_fine_tuned(app_server, page):
    """The whole path on the nano preset: train it in the Training chapter, then fine-tune it here."""
    open_page(page, app_server.url, "", timeout=180_000)
    go_to(page, "Train a model")
    main = main_area(page)
    main.get_by_role("button", name="nano", exact=True).click()
    wait_idle(page)
    set_number(page, "Seconds of training", 5)
    main_button(page, "Train").click()
    expect(main.get_by_text(re.compile("is now your current model in every chapter"))).to_be_visible(timeout=900_000)
    go_to(page, "Fine-tune and align")
    expect(main.get_by_text(re.compile(r"starts from the current model: 2x2x32 on tinyshakespeare"))).to_be_visible(timeout=60_000)
    main.get_by_test_id("stRadio").filter(has_text="most (50% to 90%)").get_by_text("most (50% to 90%)").click()  # the results wait for a guess
    wait_idle(page)
    main.get_by_role("button", name="Lock in my guess").first.click()
    wait_idle(page)
    set_number(page, "Steps", 60)
    main_button(page, "Fine-tune").click()
    expect(main.get_by_test_id("stMetric").filter(has_text="Task accuracy after SFT")).to_be_visible(timeout=900_000)
    wait_idle(page)
    expect(main.get_by_test_id("stDataFrame").filter(visible=True).first).to_be_visible()  # the sampled answers (the editor above is folded)
    expect(main.get_by_text(re.compile(r"Saved in your model list as 2x2x32 on tinyshakespeare.* · SFT")).first).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "assistant-nano-sft")


def test_the_first_screen_as_a_newcomer_sees_it(app_server, page):
    """1400x1000, nothing run yet: the takeaway, "In this chapter" and the recipe in plain words, no traceback."""
    open_page(page, app_server.url, "", timeout=180_000)
    go_to(page, "Fine-tune and align")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Fine-tune and align", exact=True)).to_be_visible(timeout=120_000)
    expect(main.get_by_text("In this chapter", exact=True)).to_be_visible()
    expect(main.get_by_text(re.compile(r"RLHF \(reinforcement learning from human feedback\)")).filter(visible=True).first).to_be_visible()
    page.evaluate("document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    assert_no_exception(page)
    screenshot(page, "assistant-first-screen")


def keyboard_press(page, name: str, key: str = "Enter", tab_from: str | None = None) -> None:
    """Press a main-area button from the keyboard: focus it (or the button `tab_from` and Tab onto it), then press `key`."""
    main_button(page, tab_from or name).focus()
    if tab_from:
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.innerText").strip() == name
    page.keyboard.press(key)
    wait_idle(page)


def test_fine_tune_rank_by_keyboard_and_name_reward_hacking(app_server, page):
    """The whole chapter on the bundled model: a prediction locked before fine-tuning and revealed after it (and kept
    over a reload), rankings made from the keyboard, a reward model, and RLHF on no leash, which the page names as reward hacking."""
    open_page(page, app_server.url, "", timeout=180_000)
    go_to(page, "Fine-tune and align")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Fine-tune and align", exact=True)).to_be_visible(timeout=120_000)
    expect(main.locator("span.tok", has_text="<|assistant|>")).to_be_visible()  # the rendered pair, chat tokens shown
    main.get_by_test_id("stRadio").filter(has_text="nearly all (90% or more)").get_by_text("nearly all (90% or more)").click()
    wait_idle(page)
    main.get_by_role("button", name="Lock in my guess").first.click()
    wait_idle(page)
    expect(main.get_by_text("Fine-tune (the button below) to see the answer")).to_be_visible()
    set_number(page, "Steps", 300)
    main_button(page, "Fine-tune").click()
    # the live view polls on its own until the stage ends and the before/after table appears
    expect(main.get_by_test_id("stMetric").filter(has_text="Task accuracy after SFT")).to_be_visible(timeout=1_500_000)
    wait_idle(page)
    expect(main.get_by_text(re.compile(r"After fine-tuning, \d+ of \d+ held-out requests .* got an answer closed with <\|end\|>"))).to_be_visible()
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")  # registered in the model list
    picker.click()
    assert any(o.inner_text().startswith("Shakespeare (bundled) · SFT") for o in page.get_by_role("option").all())
    page.keyboard.press("Escape")
    expect(main.get_by_text("Labelling instructions", exact=True)).to_be_visible()
    expect(main.get_by_text("Answer A", exact=True)).to_be_visible()
    expect(main.get_by_text("Answer B", exact=True)).to_be_visible()
    keyboard_press(page, "A is better", "Enter")  # native buttons: Tab reaches them, Enter and Space press them
    keyboard_press(page, "B is better", " ", tab_from="A is better")
    keyboard_press(page, "B is better", "Enter", tab_from="A is better")
    main_button(page, "Rate 120 pairs for me").click()
    wait_idle(page, timeout=900_000)
    expect(main.get_by_text(re.compile(r"^Ranked: \d+ pairs, 3 by you and \d+ by the automatic rater"))).to_be_visible()
    main_button(page, "Train the reward model").click()
    # its results wait for the reward-model guess (its held-out scores would answer it)
    expect(main.get_by_text("The reward model has finished. Lock in your guess above to see what it measured.")).to_be_visible(timeout=900_000)
    main.get_by_test_id("stRadio").filter(has_text="the house style, a wrong sum").get_by_text("the house style, a wrong sum").click()
    wait_idle(page)
    main.get_by_role("button", name="Lock in my guess").first.click()
    wait_idle(page)
    expect(main.get_by_test_id("stMetric").filter(has_text="Held-out pairs ranked as the instructions rank them")).to_be_visible()
    # what RLHF does to task accuracy waits for the weak-leash guess
    main.get_by_test_id("stRadio").filter(has_text="it lowers task accuracy").get_by_text("it lowers task accuracy").click()
    wait_idle(page)
    main.get_by_role("button", name="Lock in my guess").first.click()
    wait_idle(page)
    kl = main.get_by_test_id("stSlider").filter(has_text="KL coefficient (leash)").get_by_role("slider")
    kl.focus()
    page.keyboard.press("Home")  # no leash at all
    wait_idle(page)
    lr = main.get_by_test_id("stSlider").filter(has_text="Learning rate").nth(1).get_by_role("slider")  # RLHF's (SFT's is first)
    expect(lr).to_have_attribute("aria-valuetext", "0.0001")
    lr.focus()
    page.keyboard.press("ArrowRight")  # 1e-4 -> 3e-4
    wait_idle(page)
    set_number(page, "RLHF steps", 12)
    main_button(page, "Run RLHF").click()
    expect(main.locator(".gtitle", has_text="KL to the fine-tuned model").first).to_be_visible(timeout=900_000)
    hacking = main.get_by_test_id("stAlert").filter(has_text="Reward hacking.")
    expect(hacking).to_be_visible(timeout=1_500_000)
    wait_idle(page)
    expect(hacking).to_contain_text("What to try:")
    expect(main.get_by_text(re.compile(r"RLHF (raised|lowered|did not measurably change) the share"))).to_be_visible()
    hacking.scroll_into_view_if_needed()
    assert_no_exception(page)
    screenshot(page, "assistant-reward-hacking")
    reload(page, 180_000)
    expect(main.get_by_text(re.compile(r"Your predictions in this chapter: 3 of 3 made"))).to_be_visible(timeout=120_000)
    expect(main.get_by_test_id("stMetric").filter(has_text="Task accuracy after SFT")).to_be_visible()  # the finished stages, found on the desk
    expect(main.get_by_test_id("stAlert").filter(has_text="Reward hacking.")).to_be_visible()
    page.set_viewport_size(TALL)
    wait_idle(page)
    screenshot(page, "assistant-after-rlhf")
