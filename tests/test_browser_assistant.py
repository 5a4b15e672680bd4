"""Browser test of the "Making an assistant" chapter in headless Chromium: fine-tune, rank by hand, reward model, RLHF."""

import re

from browser_harness import (
    assert_no_exception,
    go_to,
    main_area,
    main_button,
    open_page,
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
    set_number(page, "Steps", 60)
    main_button(page, "Fine-tune").click()
    expect(main.get_by_test_id("stMetric").filter(has_text="Task accuracy after SFT")).to_be_visible(timeout=900_000)
    wait_idle(page)
    expect(main.get_by_test_id("stDataFrame").filter(visible=True).first).to_be_visible()  # the sampled answers (the editor above is folded)
    expect(main.get_by_text(re.compile(r"Saved in your model list as 2x2x32 on tinyshakespeare.* · SFT")).first).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "assistant-nano-sft")


def test_fine_tune_rank_and_train_a_reward_model(app_server, page):
    open_page(page, app_server.url, "", timeout=180_000)
    go_to(page, "Fine-tune and align")
    main = main_area(page)
    expect(main.get_by_role("heading", name="Fine-tune and align", exact=True)).to_be_visible(timeout=120_000)
    expect(main.locator("span.tok", has_text="<|assistant|>")).to_be_visible()  # the rendered pair, chat tokens shown
    set_number(page, "Steps", 150)
    main_button(page, "Fine-tune").click()
    # the live view polls on its own until the stage ends and the before/after table appears
    expect(main.get_by_test_id("stMetric").filter(has_text="Task accuracy after SFT")).to_be_visible(timeout=900_000)
    wait_idle(page)
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")  # registered in the model list
    picker.click()
    assert any(o.inner_text().startswith("Shakespeare (bundled) · SFT") for o in page.get_by_role("option").all())
    page.keyboard.press("Escape")
    expect(main.get_by_text("Labelling instructions")).to_be_visible()
    for _ in range(3):  # rank a few pairs by hand
        main_button(page, "A is better").click()
        wait_idle(page)
    main_button(page, "Rate 120 pairs for me").click()
    wait_idle(page, timeout=900_000)
    expect(main.get_by_text(re.compile(r"^Ranked: \d+ pairs, 3 by you and \d+ by the automatic rater"))).to_be_visible()
    main_button(page, "Train the reward model").click()
    expect(main.get_by_test_id("stMetric").filter(has_text="Held-out pairs ranked as the instructions rank them")).to_be_visible(timeout=900_000)
    wait_idle(page)
    set_number(page, "RLHF steps", 6)
    main_button(page, "Run RLHF").click()
    # The live curves: wait on the KL chart, which only RLHF draws ("Reward" also titles section 4's chart).
    expect(main.locator(".gtitle", has_text="KL to the fine-tuned model").first).to_be_visible(timeout=900_000)
    expect(main.locator(".gtitle", has_text=re.compile(r"^Reward$")).first).to_be_visible()
    expect(main.get_by_text(re.compile(r"RLHF (raised|lowered|did not measurably change) the share"))).to_be_visible(timeout=900_000)
    wait_idle(page)
    page.set_viewport_size(TALL)
    wait_idle(page)
    assert_no_exception(page)
    screenshot(page, "assistant-after-rlhf")
