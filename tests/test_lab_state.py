"""The desk as the pages see it (lab_ui/state.py): kept on disk and found again after a restart, only the
models in use in memory with 50 desks, quotas, share links that never carry the desk, the lab file.

Each session runs a small script through AppTest that calls lab_ui.state as a page would; a "restart"
empties the server's memory (its desks and its open stores) while the data folder stays."""

import pytest
from streamlit.testing.v1 import AppTest


def session_script(action: str, payload: dict):
    """A page that does one thing with lab_ui.state and leaves what it saw in st.session_state["out"]."""
    import streamlit as st
    import torch

    from lab_ui import state
    from llm_core.model import lineage
    from llm_core.model.config import model_preset
    from llm_core.text.tokenizers import CharTokenizer
    from llm_core.training.loop import build_model

    state.open_link()
    tok = CharTokenizer.from_text("abcdefgh \n")

    def nano(seed):
        model = build_model(model_preset("nano", tok.vocab_size), seed=seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) * 0.1)
        return model

    out = {}
    if action == "make":  # a base model and its fine-tuned child, and page data
        base = nano(payload.get("seed", 1))
        name = state.add_model("base", base, tok, {"record": {"steps": 10}}, "trained")
        parent = state.models()[name].lineage
        child = nano(payload.get("seed", 1) + 100)
        child_meta = {"record": {"steps": 5}, "lineage": lineage.make(child, tok, "SFT", parent=parent, steps=5)}
        out["child"] = state.add_model("base · SFT", child, tok, child_meta, "fine-tuned")
        state.desk().data.update({"course": {"visited": ["compare"], "predictions": [{"guess": "b", "right": False}]},
                                  "tr_settings": {"tr_layers": 3}, "tr_run": object()})
        state.desk().flush()
    elif action == "twice":  # fine-tuned again after a reload with the same settings: the very same weights, three times
        base = state.add_model("base", nano(1), tok, {"record": {"steps": 10}}, "trained")
        parent = state.models()[base].lineage
        child = nano(101)
        out["names"] = [state.add_model("base · SFT", child, tok, {"record": {"steps": 5, "run": i}, "lineage": lineage.make(child, tok, "SFT", parent=parent, steps=5)},
                                        "fine-tuned", make_current=False) for i in range(2)]
        out["names"].append(state.add_model("child (uploaded)", nano(101), tok, {}, "uploaded"))  # the same weights, a copy from a file
        out["lab"] = state.export_lab()
    elif action == "progress":  # course progress (as lab_ui.course keeps it) and the Fine-tune chapter's stages, then the lab file
        from lab_ui import assistant_jobs, course

        state.desk().data[course.PROGRESS_KEY] = {part: dict(payload["course"][part]) for part in ("visited", "predictions")}
        assistant_jobs._kept().update({"as_ratings": [[0, 1]], "as_sft": ("base · SFT", object(), object())})
        out["lab"] = state.export_lab()
    elif action == "panel":  # the sidebar's "Share, save or open your lab"
        from lab_ui import course, lab_panel

        mine = payload.get("course") or {}
        for key, at in mine.get("visited", {}).items():  # the desk's own progress: set once, as a learner made it
            course.progress()["visited"].setdefault(key, at)
        for key, made in mine.get("predictions", {}).items():
            course.progress()["predictions"].setdefault(key, made)
        lab_panel.your_lab("generation")
        out["lab_bytes"], out["lab_len"] = lab_panel.lab_bytes(state.desk()), len(state.export_lab())
    elif action == "share":
        st.query_params["gen_seed"] = "7"
        out["link"] = state.share_link("generation")
    elif action == "keep":
        out["kept"] = state.keep_link_model(state.current().name)
    elif action == "export":
        out["lab"] = state.export_lab()
    elif action == "import":
        report = state.import_lab(payload["raw"])
        out["report"] = (report.added, report.already, report.refused, report.restored)
    elif action == "run":
        state.run_started("training", "Training 2x2x32 on tinyshakespeare", "pages/training.py")
    desk = state.desk()
    cur = state.current()
    out.update(desk=desk.id, models={n: (e.source, (e.meta.get("lineage") or {}).get("parent"), e.hash) for n, e in state.models().items()},
               current=cur.name, current_params=cur.model.num_params(), data={k: v for k, v in desk.data.items() if k != "tr_run"},
               cut=[r.label for r in state.cut_runs()], messages=[t for _, _, t in state.messages()], params=dict(st.query_params),
               bundled=[id(e.model) for e in state.models().values() if e.source == "bundled"])
    st.session_state["out"] = out


def open_session(action: str = "look", payload: dict | None = None, desk_id: str | None = None, params: dict | None = None) -> dict:
    at = AppTest.from_function(session_script, args=(action, payload or {}), default_timeout=120)
    if desk_id:
        at.session_state["lab_desk_id"] = desk_id  # what this browser's cookie gives a new tab (AppTest has no cookies)
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state["out"]


def restart_server() -> None:
    """Forget everything the server holds in memory; the data folder stays (what a kill and a restart leave)."""
    from lab_ui import state
    from llm_core.lab import store

    desks, lock = state._desks()
    with lock:
        desks.clear()
    store._STORES.clear()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """A data folder of this test's own."""
    monkeypatch.setenv("LLM_LAB_DATA_DIR", str(tmp_path))
    yield tmp_path
    restart_server()


def test_a_desk_outlives_the_server_with_its_models_lineage_and_page_data():
    made = open_session("make")
    assert made["current"] == "base · SFT" and made["data"]["tr_settings"] == {"tr_layers": 3}
    parent_hash = made["models"]["base"][2]
    assert made["models"]["base · SFT"][1] == parent_hash
    open_session("run", desk_id=made["desk"])
    restart_server()
    back = open_session(desk_id=made["desk"])
    assert back["desk"] == made["desk"] and back["current"] == "base · SFT"
    assert back["models"] == made["models"]  # names, sources, parents and hashes: lineage kept
    assert back["current_params"] == made["current_params"]  # the weights load again from disk
    assert back["data"] == {"course": {"visited": ["compare"], "predictions": [{"guess": "b", "right": False}]}, "tr_settings": {"tr_layers": 3}}
    assert back["cut"] == ["Training 2x2x32 on tinyshakespeare"]  # the run the stopped server was running
    stranger = open_session(params={"run": made["desk"]})  # an address naming the desk: a new desk, nothing of it
    assert stranger["desk"] != made["desk"] and list(stranger["models"]) == ["Shakespeare (bundled)"] and "run" not in stranger["params"]


def test_a_desk_read_back_from_disk_shares_the_one_bundled_model_of_the_server():
    fresh = open_session()
    assert len(fresh["bundled"]) == 1
    restart_server()  # the desk leaves memory; the bundled model stays loaded (one per server, for every desk)
    back = open_session(desk_id=fresh["desk"])  # read back from disk: its entry names the shipped model it holds
    assert back["desk"] == fresh["desk"] and back["bundled"] == fresh["bundled"]  # the same object, not a second copy
    assert open_session()["bundled"] == fresh["bundled"]  # and a new desk gets it too


def test_with_50_desks_only_the_models_in_use_stay_in_memory():
    from lab_ui import state

    cache = state.model_cache()
    budget, cache.max_bytes = cache.max_bytes, 600_000  # about four nano models (their weights in fp32)
    try:
        desks = [open_session("make", {"seed": i}) for i in range(50)]
        assert cache.bytes() <= 600_000 and len(cache.keys()) <= 5  # 100 models were made; the newest few stay
        loads = cache.loads
        first = open_session(desk_id=desks[0]["desk"])  # the first desk's model left memory long ago: it loads from disk
        assert first["current_params"] == desks[0]["current_params"] and cache.loads == loads + 1
    finally:
        cache.max_bytes = budget


def test_a_quota_refuses_a_model_with_a_message(monkeypatch):
    monkeypatch.setenv("LLM_LAB_DESK_QUOTA_MB", "0.15")  # room for one nano model, not two
    made = open_session("make")
    assert list(made["models"]) == ["Shakespeare (bundled)", "base"]
    assert any("**base · SFT** was not kept" in m and "a desk may keep on this server" in m for m in made["messages"])


def test_a_share_link_gives_the_model_and_the_settings_never_the_desk():
    sender = open_session("make")
    shared = open_session("share", desk_id=sender["desk"])
    link = shared["link"]
    child_hash = sender["models"]["base · SFT"][2]
    assert f"model={child_hash}" in link and "gen_seed=7" in link and sender["desk"] not in link and "/generation?" in link
    params = dict(p.split("=", 1) for p in link.split("?", 1)[1].split("&"))
    other = open_session(params=params)
    assert other["desk"] != sender["desk"] and other["current"] == "base · SFT (shared link)"
    assert set(other["models"]) == {"Shakespeare (bundled)", "base · SFT (shared link)"}  # none of the sender's other models
    assert other["models"]["base · SFT (shared link)"][2] == child_hash
    kept = open_session("keep", desk_id=other["desk"], params=params)
    assert kept["kept"] == "base · SFT" and kept["models"]["base · SFT"][0] == "shared link copy" and kept["models"]["base · SFT"][2] == child_hash
    again = open_session(desk_id=sender["desk"])
    assert again["current"] == "base · SFT" and set(again["models"]) == set(sender["models"])  # the sender's desk is as it was
    gone = open_session(params={"model": "f" * 64})
    assert gone["current"] == "Shakespeare (bundled)" and any("no longer kept on this server" in m for m in gone["messages"])


def test_a_lab_file_moves_a_desk_into_another_desk():
    sender = open_session("make")
    raw = open_session("export", desk_id=sender["desk"])["lab"]
    restart_server()
    fresh = open_session("import", {"raw": raw})
    added, already, refused, restored = fresh["report"]
    assert added == ["base", "base · SFT"] and already == ["Shakespeare (bundled)"] and refused == []
    assert sorted(restored) == ["course", "tr_settings"]
    assert fresh["models"]["base · SFT"][1] == fresh["models"]["base"][2] == sender["models"]["base"][2]
    assert fresh["current"] == "base · SFT"
    again = open_session("import", {"raw": raw}, desk_id=fresh["desk"])
    assert again["report"][0] == [] and len(again["report"][1]) == 3


def test_the_same_weights_added_again_are_listed_once_and_the_learner_is_told():
    """The audit's desk held "… · SFT", "… · SFT (2)", "(3)", "(4)" with one set of weights: its lab file came back
    partly refused. Now the list keeps one model for one set of weights and says so; its lab file reads back whole."""
    from llm_core.lab.labfile import read_lab

    made = open_session("twice")
    assert made["names"] == ["base · SFT", "base · SFT", "base · SFT"]
    assert list(made["models"]) == ["Shakespeare (bundled)", "base", "base · SFT"]
    assert made["current"] == "base · SFT"  # the upload asked to become current: the model it duplicates did
    again, uploaded = [m for m in made["messages"] if "exactly the same weights" in m]
    assert again.startswith("Your new model has exactly the same weights as **base · SFT**, already on your list, so it was not added")
    assert "the same data with the same settings, gives the very same weights" in again
    assert uploaded.startswith("Your new model **child (uploaded)** has exactly the same weights as **base · SFT**")
    lab = read_lab(made["lab"])
    assert lab.refused == [] and [m.name for m in lab.models] == ["Shakespeare (bundled)", "base", "base · SFT"]
    back = open_session(desk_id=made["desk"])
    assert back["models"] == made["models"]  # kept on disk as it was listed


def test_the_lab_panel_says_what_a_lab_file_is_and_warns_before_a_download_too_large_to_open_again(monkeypatch):
    from lab_ui import lab_panel

    made = open_session("make")

    def panel():
        at = AppTest.from_function(session_script, args=("panel", {}), default_timeout=120)
        at.session_state["lab_desk_id"] = made["desk"]
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        helps = {e.proto.label: e.proto.help for e in [*at.get("download_button"), *at.get("file_uploader")]}
        return at.session_state["out"], [w.value for w in at.warning], helps

    out, warnings, helps = panel()
    assert out["lab_bytes"] <= out["lab_len"] <= out["lab_bytes"] + 200_000  # the weights, once each, and a small lab.json
    assert warnings == []  # about 3 MB: the 64 MB file box opens it again
    assert "safetensors" not in helps["Download your lab"] and "your course progress" in helps["Download your lab"]
    assert "files of up to 64 MB" in helps["Open a lab file"] and "1,024 MB" in helps["Open a lab file"]
    monkeypatch.setattr(lab_panel, "upload_limit_mb", lambda: 1)  # a server whose file box takes 1 MB
    out, warnings, helps = panel()
    assert warnings == [f"Your lab file will be about {out['lab_bytes'] / 2**20:,.0f} MB: more than the 1 MB this page can open again. "
                        "Download it anyway to keep your models, but to open it here later, first remove the models you no longer "
                        "need (below), then download your lab again."]


def panel_session(desk_id: str | None = None, payload: dict | None = None) -> AppTest:
    at = AppTest.from_function(session_script, args=("panel", payload or {}), default_timeout=120)
    if desk_id:
        at.session_state["lab_desk_id"] = desk_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_lab_file_opened_on_a_new_computer_brings_the_course_progress_back_merged_with_the_desks(data_dir, monkeypatch):
    """The regression walk: on a fresh browser with an empty data folder the models came back, never the progress
    (any page visit had made the desk's own `course`, so the file's was skipped), and the notice named "assistant"."""
    from llm_core.lab.labfile import read_lab

    sender = open_session("make")
    theirs = {"visited": {"overview": 1.0, "tokens": 2.0, "attention": 3.0},
              "predictions": {"tok_count": {"guess": 12, "right": True, "chapter": "tokens", "at": 2.5},
                              "attn_focus": {"guess": "the", "right": False, "chapter": "attention", "at": 3.5}}}
    raw = open_session("progress", {"course": theirs}, desk_id=sender["desk"])["lab"]
    desk_data = read_lab(raw).desk_data
    assert "assistant" not in desk_data  # the Fine-tune chapter's stages live in memory: not in the file, not in its notice
    assert desk_data["course"]["predictions"] == theirs["predictions"]

    monkeypatch.setenv("LLM_LAB_DATA_DIR", str(data_dir / "another computer"))
    restart_server()
    mine = {"visited": {"overview": 9.0},
            "predictions": {"attn_focus": {"guess": "a", "right": True, "chapter": "attention", "at": 9.5},
                            "gen_temp": {"guess": 0.5, "right": None, "chapter": "generation", "at": 9.6}}}
    at = panel_session(payload={"course": mine})
    assert at.session_state["out"]["data"]["course"] == {"visited": mine["visited"], "predictions": mine["predictions"]}
    at.file_uploader[0].upload("llm-lab 2026-12-06.llmlab", raw)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    out = at.session_state["out"]
    progress = out["data"]["course"]
    assert progress["visited"] == {"overview": 9.0, "tokens": 2.0, "attention": 3.0}  # the union; the desk's own visit kept
    assert progress["predictions"] == {"attn_focus": mine["predictions"]["attn_focus"],  # both had it: the desk's own kept
                                       "gen_temp": mine["predictions"]["gen_temp"], "tok_count": theirs["predictions"]["tok_count"]}
    said = [m.removeprefix("llm-lab 2026-12-06.llmlab: ") for m in out["messages"]]
    assert "Added 2 models with their lineage: **base**, **base · SFT**." in said
    assert "Course progress: 1 prediction and 2 chapters visited added from the file; 1 prediction you had also made here kept as yours." in said
    assert not any("assistant" in m or "model(s)" in m for m in said), said
    assert "Restored from the file: the Training settings." in said  # the desk had none: taken whole, as before

    back = open_session(desk_id=out["desk"])  # kept on the desk (and its disk), not only in this session
    assert back["data"]["course"] == progress


def test_an_older_lab_file_with_the_fine_tune_chapters_crumbs_leaves_them_out():
    from llm_core.lab.labfile import write_lab

    raw = write_lab([], None, {"assistant": {"as_ratings": [[0, 1]]}, "course": {"visited": {"overview": 1.0}, "predictions": {}}})
    fresh = open_session("import", {"raw": raw})
    assert "assistant" not in fresh["data"] and fresh["data"]["course"] == {"visited": {"overview": 1.0}, "predictions": {}}


def test_any_file_reaches_the_lab_files_own_checks_which_say_in_plain_words_what_is_wrong():
    """A .txt or a photo got the file box's "text/plain files are not allowed"; now the lab file's checks explain."""
    at = panel_session()
    box = at.file_uploader[0]
    assert box.allowed_type == []  # any file: the checks below say what is wrong
    assert 'the .llmlab file that "Download your lab" saved' in box.help
    box.upload("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("photo.png was refused: this is a PNG image, not a lab file"), errors
    box = at.file_uploader[0]
    box.clear().upload("notes.txt", b"base, base SFT\n", "text/plain")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(e.startswith("notes.txt was refused: this is not a lab file") and "not a zip archive at all" in e for e in errors), errors
