"""Browser tests of "your models" in headless Chromium: a model trained and fine-tuned in the app is compared
with its parent, kept as a lab file and opened on a fresh server, shared by a link that never gives the
desk, and found again (with a message for the run that was cut) after the server is killed with -9.

The tests share one desk (a module fixture trains and fine-tunes once, a few minutes on the nano preset)
and run in file order; the last one kills that server."""

import io
import pickle
import re
import sqlite3
import tempfile
import time
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_harness import (
    StreamlitServer,
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

VIEW = {"width": 1400, "height": 1100}
TRAINED = re.compile(r"^2x2x32 on tinyshakespeare · [\d,]+ steps$")


def sidebar(page):
    return page.get_by_test_id("stSidebar")


def lab_panel(page):
    """The sidebar's "Share, save or open your lab", opened."""
    panel = sidebar(page).get_by_test_id("stExpander").filter(has_text="Share, save or open your lab")
    if not panel.get_by_role("button", name="Copy a link to this view").is_visible():
        panel.get_by_text("Share, save or open your lab").click()
        wait_idle(page, 180_000)
    return panel


def open_model_list(page) -> None:
    """Open the sidebar's model list; a rerun that lands just after the click closes it again (an import's
    notices, a finished job), so wait for the page to be idle and try again, as a person would."""
    box = sidebar(page).get_by_role("combobox", name="Model used by every chapter")
    for _ in range(6):
        wait_idle(page, 120_000)
        box.click()
        try:
            expect(page.get_by_role("option").first).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    raise AssertionError("the sidebar's model list did not open")


def model_options(page) -> list[str]:
    """The names in the sidebar's model list (a desk with one model has no list: then every line of the
    sidebar, which holds that model's name, so a check that a name is absent still reads everything shown)."""
    wait_idle(page, 120_000)
    if sidebar(page).get_by_role("combobox", name="Model used by every chapter").count() == 0:
        return [line.strip() for line in sidebar(page).inner_text().splitlines() if line.strip()]
    open_model_list(page)
    names = [o.inner_text().strip() for o in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    return names


def choose_model(page, name_pattern) -> None:
    open_model_list(page)
    page.get_by_role("option").filter(has_text=name_pattern).first.click()
    wait_idle(page, 180_000)


def choose_in(page, label: str, name_pattern) -> None:
    main_area(page).get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option").filter(has_text=name_pattern).first.click()
    wait_idle(page, 180_000)


@pytest.fixture(scope="module")
def lab(browser):
    """One server, one owner's browser, a nano model trained in the app and fine-tuned from it."""
    data = tempfile.mkdtemp(prefix="llm-lab-browser-lab-")
    server = StreamlitServer(env={"LLM_LAB_DATA_DIR": data}).start()
    context = browser.new_context(viewport=VIEW)
    page = context.new_page()
    page.set_default_timeout(120_000)  # a loaded 2-core machine draws a chapter's widgets slowly
    state = {"server": server, "data": data, "context": context, "page": page}
    try:
        open_page(page, server.url, "", timeout=180_000)
        go_to(page, "Train a model")
        main = main_area(page)
        main.get_by_role("button", name="nano", exact=True).click()
        wait_idle(page, 180_000)
        main.get_by_role("radiogroup", name="Train for").get_by_text("steps", exact=True).click()  # steps, not seconds: a loaded machine still learns
        wait_idle(page, 180_000)
        set_number(page, "Steps", 200)
        main_button(page, "Train").click()
        expect(main.get_by_text(re.compile("is now your current model in every chapter"))).to_be_visible(timeout=900_000)
        go_to(page, "Fine-tune and align")
        main.get_by_test_id("stRadio").filter(has_text="most (50% to 90%)").get_by_text("most (50% to 90%)").click()  # the results wait for a guess
        wait_idle(page, 180_000)
        main.get_by_role("button", name="Lock in my guess").first.click()
        wait_idle(page, 180_000)
        set_number(page, "Steps", 30)
        main_button(page, "Fine-tune").click()
        expect(main.get_by_test_id("stMetric").filter(has_text="Task accuracy after SFT")).to_be_visible(timeout=900_000)
        wait_idle(page, 180_000)
        yield state
    finally:
        context.close()
        state["server"].stop()


def test_compare_the_fine_tuned_model_with_its_parent_export_and_import_on_a_fresh_server(lab, browser):
    page = lab["page"]
    names = model_options(page)
    trained = next(n for n in names if TRAINED.match(n))
    sft = f"{trained} · SFT"
    assert sft in names
    choose_model(page, sft)
    expect(sidebar(page).get_by_text(re.compile(r"Lineage: .*2x2x32 on tinyshakespeare.*pre-training.*SFT"))).to_be_visible()
    sidebar(page).get_by_role("button", name=f"Compare with its parent ({trained})").click()  # one click
    wait_idle(page, 180_000)
    main = main_area(page)
    expect(main.get_by_role("heading", name="Compare two models")).to_be_visible(timeout=60_000)
    expect(main.locator(".gtitle", has_text="Next-token probability, A beside B")).to_be_visible()
    expect(main.locator(".gtitle", has_text="Change from A to B")).to_be_visible()
    caption = main.get_by_text(re.compile(r"most likely next token .* total variation of \d\.\d\d")).first
    expect(caption).to_be_visible()
    assert re.search(r"gained the most|lost the most|No token moved", caption.inner_text())
    expect(main.get_by_text(re.compile(r"Over these [\d,]+ characters A needs [\d.]+ bits per character and B [\d.]+"))).to_be_visible()
    expect(main.get_by_text(re.compile(r"^Greedy answers|^Both give the same answer"))).to_be_visible()
    params = parse_qs(urlsplit(page.url).query)
    assert len(params["cmp_a"][0]) == 64 and len(params["cmp_b"][0]) == 64 and "run" not in params
    assert_no_exception(page)
    screenshot(page, "lab-compare-sft-with-its-parent")

    with page.expect_download() as download:
        lab_panel(page).get_by_role("button", name="Download your lab").click()
    raw = open(download.value.path(), "rb").read()
    assert download.value.suggested_filename.endswith(".llmlab") and zipfile.ZipFile(io.BytesIO(raw)).namelist()[0] == "lab.json"

    fresh = StreamlitServer().start()  # another server, another data folder: nothing of this desk
    other = browser.new_context(viewport=VIEW)
    try:
        p2 = other.new_page()
        p2.set_default_timeout(120_000)
        open_page(p2, fresh.url, "", timeout=180_000)
        expect(sidebar(p2).get_by_text("Shakespeare (bundled)", exact=True)).to_be_visible()  # one model: no list yet
        assert sidebar(p2).get_by_test_id("stSelectbox").count() == 0
        uploader = lab_panel(p2).locator("input[type=file]")
        bad_files = [
            ("cut.llmlab", raw[: len(raw) // 2], "damaged or cut short"),
            ("corrupted.llmlab", raw[:100] + bytes([raw[100] ^ 0xFF]) + raw[101:], "lab.json is damaged"),  # a byte of lab.json flipped
            ("photo.llmlab", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "this is a PNG image, not a lab file"),
            ("pickled.llmlab", with_member(raw, "models/weights.pkl", pickle.dumps({"a": 1})), "a Python pickle can run code"),
        ]
        for name, payload, reason in bad_files:
            uploader.set_input_files(files=[{"name": name, "mimeType": "application/zip", "buffer": payload}])
            expect(sidebar(p2).get_by_test_id("stAlert").filter(has_text=f"{name} was refused")).to_contain_text(reason, timeout=60_000)
            assert_no_exception(p2)
        uploader.set_input_files(files=[{"name": "mine.llmlab", "mimeType": "application/zip", "buffer": raw}])
        expect(sidebar(p2).get_by_text(re.compile(r"Added 2 models with their lineage"))).to_be_visible(timeout=120_000)
        names2 = model_options(p2)
        assert trained in names2 and sft in names2
        choose_model(p2, sft)
        expect(sidebar(p2).get_by_text(re.compile(r"Lineage: .*2x2x32 on tinyshakespeare.*pre-training.*SFT"))).to_be_visible()
        go_to(p2, "Generate")  # the imported model works in every chapter
        expect(main_area(p2).get_by_role("heading", name="Generate", exact=True)).to_be_visible(timeout=60_000)
        assert_no_exception(p2)
        screenshot(p2, "lab-imported-on-a-fresh-server")
    finally:
        other.close()
        fresh.stop()


def with_member(raw: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr(name, data)
    return out.getvalue()


def poll(done, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the data folder"
        time.sleep(0.2)


def generated(page, n: int) -> str:
    main = main_area(page)
    for _ in range(n):
        main.get_by_role("button", name="Step", exact=True).click()
        wait_idle(page, 180_000)
    expect(main.locator(".gen-text .gt")).to_have_count(n)
    return "".join(main.locator(".gen-text .gt").all_inner_texts())


def test_a_share_link_gives_the_view_and_the_model_never_the_desk(lab, browser):
    page, server = lab["page"], lab["server"]
    names = model_options(page)
    trained = next(n for n in names if TRAINED.match(n))
    sft = f"{trained} · SFT"
    choose_model(page, sft)
    open_page(page, server.url, "generation?gen_seed=7&gen_max_new=20", timeout=180_000)
    expect(main_area(page).get_by_role("heading", name="Generate", exact=True)).to_be_visible(timeout=60_000)
    assert_no_exception(page)
    text = generated(page, 4)
    lab_panel(page).get_by_role("button", name="Copy a link to this view").click()
    wait_idle(page, 180_000)
    link = sidebar(page).get_by_test_id("stCode").inner_text().strip()
    owner_desk = desk_cookie(lab["context"], page)
    assert "model=" in link and "gen_seed=7" in link and owner_desk not in link and "run=" not in link
    choose_model(page, TRAINED)  # the sender moves on: the link still names the fine-tuned model

    recipient = browser.new_context(viewport=VIEW)
    try:
        other = recipient.new_page()
        other.set_default_timeout(120_000)
        open_page(other, server.url, link.split("/", 3)[3], timeout=180_000)  # the link as sent, in a fresh browser
        expect(main_area(other).get_by_role("spinbutton", name="Seed")).to_have_value("7", timeout=60_000)
        assert generated(other, 4) == text  # the same view on the same model, token for token
        options = model_options(other)
        assert f"{sft} (shared link)" in options and not any(TRAINED.match(o) or o == sft for o in options)  # none of the sender's models
        expect(sidebar(other).get_by_text("You opened this model through a shared link")).to_be_visible(timeout=60_000)
        choose_model(other, "Shakespeare (bundled)")  # the recipient changes the model: only in their own desk
        assert desk_cookie(recipient, other) not in (None, owner_desk)
        reload(page, 120_000)
        expect(sidebar(page).get_by_role("combobox", name="Model used by every chapter")).to_have_value(TRAINED, timeout=60_000)  # the sender's current model is still theirs
        open_page(other, server.url, f"training?run={owner_desk}", timeout=180_000)  # a hand-made address with the sender's desk id
        assert not any(TRAINED.match(o) or o.startswith(trained) for o in model_options(other))
        assert desk_cookie(recipient) != owner_desk and owner_desk not in other.url
        assert_no_exception(other)
        screenshot(other, "lab-share-link-recipient")
    finally:
        recipient.close()


def test_a_server_killed_with_minus_9_mid_run_finds_the_desk_the_models_and_says_the_run_was_cut(lab):
    page, server = lab["page"], lab["server"]
    names = [n for n in model_options(page) if n != "Shakespeare (bundled)"]
    go_to(page, "Train a model")
    main_area(page).get_by_role("radiogroup", name="Train for").get_by_text("seconds", exact=True).click()
    wait_idle(page, 180_000)
    set_number(page, "Seconds of training", 300)
    main_button(page, "Train").click()
    expect(main_button(page, "Stop")).to_be_enabled(timeout=120_000)  # running
    db = sqlite3.connect(f"{lab['data']}/lab.sqlite3")
    poll(lambda: db.execute("SELECT count(*) FROM runs WHERE key='training' AND state='running'").fetchone()[0] == 1)  # the run is on disk
    poll(lambda: '"tr_seconds": 300' in db.execute("SELECT group_concat(data) FROM desks").fetchone()[0])  # and the settings (written within 2 s)
    db.close()
    server.proc.kill()  # SIGKILL: no clean-up at all
    server.proc.wait(30)
    restarted = StreamlitServer(env={"LLM_LAB_DATA_DIR": lab["data"]}).start()  # the same data folder, a new process (and port)
    lab["server"] = restarted
    open_page(page, restarted.url, "", timeout=180_000)  # this browser's cookie names the desk
    expect(sidebar(page).get_by_text(re.compile(r"Your run .*Training 2x2x32 on tinyshakespeare.* was cut off"))).to_be_visible(timeout=60_000)
    # The notice arrives in a rerun that shifts the sidebar down one element: until that rerun ends the list's
    # place can still hold the previous run's caption, so wait for the list itself (the desk has several models).
    expect(sidebar(page).get_by_role("combobox", name="Model used by every chapter")).to_be_visible(timeout=60_000)
    assert [n for n in model_options(page) if n != "Shakespeare (bundled)"] == names
    sft = next(n for n in names if n.endswith("· SFT"))
    choose_model(page, sft)
    expect(sidebar(page).get_by_text(re.compile(r"Lineage: .*2x2x32 on tinyshakespeare.*pre-training.*SFT"))).to_be_visible()
    go_to(page, "Train a model")
    expect(main_area(page).get_by_role("heading", name="Train a model")).to_be_visible(timeout=120_000)
    expect(main_area(page).get_by_role("spinbutton", name="Seconds of training")).to_have_value("300")  # the Training settings came back too
    assert_no_exception(page)
    screenshot(page, "lab-after-kill-9")
