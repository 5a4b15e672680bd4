"""Browser tests of the Training chapter in headless Chromium: live training, stop, two users at once.

Each test opens the app at its root and walks to the chapter through the sidebar, as a person
would, so the whole session (models, jobs) stays in one Streamlit session.
"""

import re
import time

from browser_harness import (
    assert_no_exception,
    desk_cookie,
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

TALL = {"width": 1400, "height": 4200}  # Streamlit scrolls inside its main area: a tall window shows it all


def open_training(page, url) -> None:
    open_page(page, url, "", timeout=180_000)
    go_to(page, "Train a model")
    expect(main_area(page).get_by_role("heading", name="Train a model")).to_be_visible(timeout=120_000)


def choose_nano(page) -> None:
    main = main_area(page)
    main.get_by_role("button", name="nano", exact=True).click()
    wait_idle(page)
    expect(main.get_by_test_id("stMetric").filter(has_text="Parameters")).to_contain_text("28,896")


def metric_value(page, label: str) -> str:
    label_el = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return main_area(page).get_by_test_id("stMetric").filter(has=label_el).get_by_test_id("stMetricValue").inner_text()


def train_loss_points(page) -> int:
    """Points of the drawn train-loss line: plotly's SVG path has one M/L command per point."""
    lines = main_area(page).get_by_test_id("stPlotlyChart").first.locator("g.trace.scatter path.js-line")
    if lines.count() == 0:
        return 0
    return len(re.findall(r"[ML]", lines.first.get_attribute("d") or ""))


def progress_value(page) -> float:
    bar = main_area(page).get_by_test_id("stProgress").get_by_role("progressbar")
    return float(bar.get_attribute("aria-valuenow") or 0)


def poll(predicate, timeout: float = 240, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting for the page")


def test_train_nano_live_stop_and_the_other_chapters_use_the_new_model(app_server, page):
    open_training(page, app_server.url)
    choose_nano(page)
    set_number(page, "Seconds of training", 300)
    main_button(page, "Train").click()
    # the live view polls on its own: the chart gains points and the progress bar moves while we watch
    poll(lambda: train_loss_points(page) >= 1)
    first_points, first_progress = train_loss_points(page), progress_value(page)
    poll(lambda: train_loss_points(page) > first_points and progress_value(page) > first_progress)
    expect(main_area(page).get_by_text(re.compile(r"ETA"))).to_be_visible()
    # while watched, the progress bar and the fragment's elements do not animate (frames the browser would draw)
    still = "() => [...document.querySelectorAll('[data-testid=stProgress] *')].every(e => getComputedStyle(e).transitionDuration.split(',').every(d => d === '0s'))"
    assert page.locator("[data-testid=stProgress]").count() and page.evaluate(still)
    sidebar_status = page.get_by_test_id("stSidebar").get_by_text(re.compile(r"^step [\d,]+ · \d+% · loss"))
    expect(sidebar_status).to_have_count(0)  # this chapter shows the run itself: the sidebar does not poll for it too
    go_to(page, "Overview")  # on another chapter the sidebar follows the run
    expect(sidebar_status).to_be_visible(timeout=30_000)
    go_to(page, "Train a model")
    page.set_viewport_size(TALL)
    # a sample is shown on a time cadence: wait for the first, so that Stop is tested with one on screen (a Stop
    # pressed earlier ended the run before its first sample once, on CI, and this test then found none)
    expect(main_area(page).get_by_text("Sample at step", exact=False)).to_be_visible(timeout=120_000)
    main_button(page, "Stop").click()
    expect(main_area(page).get_by_text(re.compile("Training stopped by user"))).to_be_visible(timeout=120_000)
    expect(main_area(page).get_by_text(re.compile("is now your current model in every chapter"))).to_be_visible(timeout=120_000)
    expect(main_button(page, "Resume")).to_be_enabled()
    expect(main_area(page).get_by_text("Sample at step", exact=False)).to_be_visible()
    steps = int(metric_value(page, "Step").replace(",", ""))
    name = f"2x2x32 on tinyshakespeare · {steps:,} steps"
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Model used by every chapter")).to_have_value(name)
    # one figure for the model, the same in the panel, the result and the sidebar, saying what it was measured on
    result = main_area(page).get_by_text(re.compile("the figure the sidebar and every chapter show for this model")).inner_text()
    figure = re.search(r"Final (val loss ([\d.]+) on .+?, at step [\d,]+)", result)
    assert figure, result
    expect(page.get_by_test_id("stSidebar").get_by_text(figure.group(1), exact=False)).to_be_visible()
    assert metric_value(page, "Val loss") == figure.group(2)
    assert_no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 1000})
    go_to(page, "Overview")  # same session: the Overview chapter now runs the new model
    main = main_area(page)
    expect(main.get_by_text(re.compile(re.escape(f"({name})")))).to_be_visible()
    expect(main.get_by_text("28,896 parameters, by part of the model")).to_be_visible()
    assert_no_exception(page)
    go_to(page, "Attention")  # and the Attention chapter looks inside it: 2 layers x 2 heads
    expect(main.get_by_text(re.compile(re.escape(f"{name}: 2 layers × 2 heads")))).to_be_visible(timeout=60_000)
    assert_no_exception(page)


def test_two_browsers_train_at_once_and_each_sees_only_its_own_run(app_server, browser, page, request):
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    console = getattr(request.node, "browser_console", [])  # printed with the page's own if the test fails (conftest.py)
    other.on("console", lambda msg: console.append(f"{time.strftime('%H:%M:%S')} other browser, {msg.type}: {msg.text}"[:400]))
    try:
        runs = {}
        for pg, extra_layers in ((page, 0), (other, 1)):
            open_training(pg, app_server.url)
            choose_nano(pg)
            if extra_layers:  # a different model, so the two runs have different names
                thumb = main_area(pg).get_by_test_id("stSlider").filter(has_text="Layers").get_by_role("slider")
                thumb.focus()
                thumb.press("ArrowRight")
                wait_idle(pg)
            set_number(pg, "Seconds of training", 20)
            runs[pg] = f"{2 + extra_layers}x2x32 on tinyshakespeare"
        main_button(page, "Train").click()
        main_button(other, "Train").click()
        # both run at once (the server allows two): both show a running step counter, neither waits in the queue
        poll(lambda: all(main_area(pg).get_by_text(re.compile(r"^step [\d,]+ · \d+% · loss")).count() for pg in runs))
        for pg in runs:
            assert main_area(pg).get_by_text("in the queue", exact=False).count() == 0
        for pg in runs:
            expect(main_area(pg).get_by_text(re.compile("is now your current model"))).to_be_visible(timeout=240_000)
        for pg, name in runs.items():
            mine, theirs = name, next(n for p, n in runs.items() if p is not pg)
            success = main_area(pg).get_by_test_id("stAlert").filter(has_text="is now your current model").inner_text()
            assert mine in success and theirs not in success
            picker = pg.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")
            picker.click()
            options = [o.inner_text() for o in pg.get_by_role("option").all()]
            pg.keyboard.press("Escape")
            assert any(o.startswith(mine) for o in options) and not any(o.startswith(theirs) for o in options)
            assert_no_exception(pg)
        page.set_viewport_size(TALL)
    finally:
        other.context.close()


def test_hostile_files_are_refused_in_the_page(app_server, page):
    open_training(page, app_server.url)
    main = main_area(page)
    main.get_by_test_id("stRadio").filter(has_text="Text to learn from").get_by_text("Upload a .txt file").click()
    wait_idle(page)
    uploader = main.get_by_test_id("stFileUploader").filter(has_text="A UTF-8 text file").locator("input[type=file]")
    for name, payload, expected in [
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary file"),
        ("huge.txt", b"To be or not to be. " * 2_500_000, "50.0 MB; the limit is 20 MB"),
    ]:
        uploader.set_input_files(files=[{"name": name, "mimeType": "text/plain", "buffer": payload}])
        expect(main.get_by_test_id("stAlert").filter(has_text=name)).to_contain_text(expected, timeout=120_000)
        expect(main_button(page, "Train")).to_be_disabled()
        assert_no_exception(page)
    models = main.get_by_test_id("stFileUploader").filter(has_text="An LLM Lab model").locator("input[type=file]")
    models.set_input_files(files=[{"name": "model.safetensors", "mimeType": "application/octet-stream", "buffer": b"\x80\x04\x95 not a model at all" * 10}])
    expect(main.get_by_test_id("stAlert").filter(has_text="model.safetensors was refused")).to_contain_text("not a safetensors file", timeout=60_000)
    expect(page.get_by_test_id("stSidebar").get_by_text("Shakespeare (bundled)")).to_be_visible()
    page.set_viewport_size(TALL)
    assert_no_exception(page)


def test_a_reload_mid_run_finds_the_run_and_a_stranger_cannot(app_server, browser, page):
    open_training(page, app_server.url)
    screenshot(page, "training-idle")
    choose_nano(page)
    set_number(page, "Seconds of training", 25)
    main_button(page, "Train").click()
    poll(lambda: train_loss_points(page) >= 1)
    screenshot(page, "training-running")
    run_id = desk_cookie(page.context, page)  # the desk's id: a cookie of this browser, never in the address
    assert run_id and len(run_id) >= 20 and run_id not in page.url
    reload(page, 120_000)  # a new Streamlit session: the browser's cookie finds the same desk
    main = main_area(page)
    expect(main.get_by_role("heading", name="Train a model")).to_be_visible(timeout=120_000)
    expect(main_button(page, "Stop")).to_be_enabled(timeout=60_000)  # the run is still going and still ours
    screenshot(page, "training-after-reload")
    stranger = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        open_page(stranger, app_server.url, f"training?run={run_id}", timeout=180_000)  # an address naming our desk: nothing of ours
        expect(main_area(stranger).get_by_role("heading", name="Train a model")).to_be_visible(timeout=120_000)
        assert run_id not in stranger.url and desk_cookie(stranger.context, stranger) != run_id
        expect(main_button(stranger, "Stop")).to_be_disabled()
        expect(main_area(stranger).get_by_text("Press **Train** to start", exact=False).or_(main_area(stranger).get_by_text("Press Train to start", exact=False))).to_be_visible()
    finally:
        stranger.context.close()
    expect(main.get_by_text(re.compile("is now your current model in every chapter"))).to_be_visible(timeout=240_000)
    screenshot(page, "training-finished-after-reload")
    assert_no_exception(page)


def move_slider(page, label: str, presses: int) -> None:
    """Move a (select) slider by keyboard, as a person without a mouse would: ArrowRight for +1, ArrowLeft for -1."""
    thumb = main_area(page).get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")
    thumb.focus()
    for _ in range(abs(presses)):
        thumb.press("ArrowRight" if presses > 0 else "ArrowLeft")
    wait_idle(page)


def checkpoint_box(page, question: str):
    return main_area(page).get_by_test_id("stVerticalBlock").filter(has_text=question).last  # the innermost block that holds the question: its checkpoint


def test_first_screen_then_a_prediction_its_reveal_and_the_score_after_a_reload(app_server, page):
    open_training(page, app_server.url)
    main = main_area(page)
    expect(main.get_by_text("In this chapter", exact=True)).to_be_visible()
    page.screenshot(path=str(screenshot(page, "training-first-screen")), full_page=False)  # the first screen at 1400x1000, as a newcomer sees it
    box = checkpoint_box(page, "At learning rate 10")
    box.get_by_text("breaks: the loss blows up").click()
    wait_idle(page)
    box.get_by_role("button", name="Lock in my guess").click()
    wait_idle(page)
    expect(box.get_by_text("Set the learning rate to 10", exact=False)).to_be_visible()  # pending: no run at 10 since the guess
    choose_nano(page)
    set_number(page, "Seconds of training", 20)
    move_slider(page, "Learning rate", 8)  # 0.004 -> 10, the slider's right end
    expect(main.get_by_test_id("stSlider").filter(has_text="Learning rate")).to_contain_text("10")
    main_button(page, "Train").click()
    expect(main.get_by_text(re.compile("Training stopped: the run diverged"))).to_be_visible(timeout=240_000)
    box = checkpoint_box(page, "At learning rate 10")
    expect(box.get_by_text(re.compile(r"Your run at learning rate 10 broke: diverged"))).to_be_visible(timeout=60_000)
    expect(box.get_by_text("Right.", exact=False)).to_be_visible()
    expect(main.get_by_text("1 of 3 made, 1 right", exact=False)).to_be_visible()
    reload(page, 120_000)  # a new session on the same desk: the guess, its reveal and the score come back
    expect(main.get_by_role("heading", name="Train a model")).to_be_visible(timeout=120_000)
    box = checkpoint_box(page, "At learning rate 10")
    expect(box.get_by_text(re.compile(r"Your run at learning rate 10 broke: diverged"))).to_be_visible(timeout=60_000)
    expect(main.get_by_text("1 of 3 made, 1 right", exact=False)).to_be_visible()
    go_to(page, "Overview")
    expect(main.get_by_text(re.compile(r"predictions: 1 of \d+ made, 1 right"))).to_be_visible()
    assert_no_exception(page)


def test_a_run_that_overfits_is_named_by_the_page(app_server, page):
    from llm_core.text.data import load_corpus

    open_training(page, app_server.url)
    main = main_area(page)
    main.get_by_test_id("stRadio").filter(has_text="Text to learn from").get_by_text("Paste text").click()
    wait_idle(page)
    box = main.get_by_label("Your text")
    box.fill(load_corpus("tinyshakespeare")[:4000])
    box.press("Control+Enter")
    wait_idle(page)
    expect(main.get_by_test_id("stMetric").filter(has_text="Characters")).to_contain_text("4,000")
    main.get_by_role("button", name="nano", exact=True).click()  # (its parameter count differs from choose_nano's: a smaller vocabulary)
    wait_idle(page)
    move_slider(page, "Context length", -1)  # 64 -> 32
    move_slider(page, "Embedding width", 2)  # 32 -> 64
    move_slider(page, "Heads", 2)  # 2 -> 4
    main.get_by_test_id("stRadio").filter(has_text="Train for").get_by_text("steps", exact=True).click()
    wait_idle(page)
    set_number(page, "Steps", 200)
    move_slider(page, "Evaluate and sample every", -3)  # 200 -> 20 steps
    from llm_core.model.config import ModelConfig

    params = ModelConfig(vocab_size=len(set(load_corpus("tinyshakespeare")[:4000])), block_size=32, n_layer=2, n_head=4, n_embd=64).num_params()
    expect(main.get_by_test_id("stMetric").filter(has_text="Parameters")).to_contain_text(f"{params:,}")  # the sliders took
    main_button(page, "Train").click()
    named = main.get_by_test_id("stAlert").filter(has_text="Overfitting.")
    expect(named).to_be_visible(timeout=600_000)
    expect(named).to_contain_text("while the training loss kept falling")
    expect(named).to_contain_text("What to try next: Try more text, a smaller model, or stopping earlier")
    expect(main.get_by_text(re.compile("Training done: reached the step limit"))).to_be_visible(timeout=240_000)
    main.get_by_role("heading", name="4 · Watch it learn").evaluate("e => e.scrollIntoView({block: 'start'})")  # the status, the run named, the chart
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot(page, "training-overfitting-named")), full_page=False)
    assert_no_exception(page)
