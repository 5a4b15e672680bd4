"""The lab file (llm_core/lab/labfile.py) and its command line (python -m llm_core.lab): a round trip keeps
every model with its lineage and the desk's data; hostile or damaged files are refused with a reason."""

import io
import json
import pickle
import zipfile

import pytest
from conftest import perturbed_model

from llm_core.lab.__main__ import main as lab_cli
from llm_core.lab.labfile import LabFileError, read_lab, write_lab
from llm_core.lab.store import LabStore
from llm_core.model import lineage
from llm_core.model.checkpoint import load_checkpoint, save_checkpoint
from llm_core.model.config import model_preset


@pytest.fixture
def family(char_tok):
    """A base model and its fine-tuned child, each with its lineage."""
    base = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=11)
    child = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=12)
    base_lin = {**lineage.make(base, char_tok, "pre-training", name="base", steps=100, data={"corpus": "tinyshakespeare"}), "name": "base"}
    child_lin = {**lineage.make(child, char_tok, "SFT", parent=base_lin, steps=20, data={"pairs": 300}), "name": "base · SFT"}
    return [("base", "trained", base, char_tok, {"record": {"steps": 100}, "lineage": base_lin}),
            ("base · SFT", "fine-tuned", child, char_tok, {"record": {"steps": 20}, "lineage": child_lin})]


def rezip(raw: bytes, change) -> bytes:
    """The archive with `change(name, data)` applied to each member (None drops it), plus extra members it returns."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info.filename))
            if data is not None:
                dst.writestr(info.filename, data)
    return out.getvalue()


def test_a_lab_file_round_trip_keeps_models_lineage_and_desk_data(family):
    raw = write_lab(family, "base · SFT", {"course": {"predictions": [{"guess": "a", "right": True}]}, "tr_settings": {"tr_layers": 2}, "job": object()})
    lab = read_lab(raw)
    assert lab.refused == [] and lab.current == "base · SFT"
    assert [m.name for m in lab.models] == ["base", "base · SFT"]
    base, child = lab.models
    assert child.meta["lineage"]["parent"] == base.hash == lineage.content_hash(base.loaded.model, base.loaded.tokenizer)
    assert child.meta["lineage"]["ancestors"][0]["name"] == "base" and child.meta["record"] == {"steps": 20}
    assert lab.desk_data == {"course": {"predictions": [{"guess": "a", "right": True}]}, "tr_settings": {"tr_layers": 2}}  # the job is not JSON: left out


def with_member(raw: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("name, damage, reason", [
    ("truncated", lambda raw: raw[: len(raw) // 2], "damaged or cut short"),
    ("a renamed PNG", lambda raw: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "this is a PNG image, not a lab file"),
    ("a pickle", lambda raw: pickle.dumps({"weights": [1, 2, 3]}), "this is a Python pickle"),
    ("a pickled member", lambda raw: with_member(raw, "models/evil.pkl", pickle.dumps(object)),
     "'models/evil.pkl', which a lab file never has (a Python pickle can run code"),
    ("a path out of the archive", lambda raw: with_member(raw, "../lab.json", b"{}"), "which a lab file never has"),
    ("no lab.json", lambda raw: rezip(raw, lambda n, d: None if n == "lab.json" else d), "no lab.json"),
    ("another format", lambda raw: rezip(raw, lambda n, d: json.dumps({"format": "x"}).encode() if n == "lab.json" else d), "not an LLM Lab lab file"),
])
def test_a_file_that_is_not_a_good_lab_file_is_refused_whole_with_the_reason(family, name, damage, reason):
    with pytest.raises(LabFileError) as exc:
        read_lab(damage(write_lab(family)))
    assert reason in str(exc.value)


@pytest.mark.parametrize("name, raw, says", [
    ("an empty file", lambda raw: b"", ["the file is empty (0 bytes)", "download your lab again"]),
    ("a text file", lambda raw: b"base, base SFT\n", ["this is not a lab file", "the .llmlab file that \"Download your lab\" saves",
                                                     "not a zip archive at all"]),
    ("a zip with a stray file", lambda raw: with_member(raw, "__MACOSX/._lab.json", b"\x00\x05\x16\x07"),
     ["it holds a file named '__MACOSX/._lab.json', which a lab file never has, so none of it was opened",
      "lab.json (the list of your models and your progress)", "open the .llmlab file as it was downloaded"]),
])
def test_a_refused_file_is_explained_in_plain_words(family, name, raw, says):
    """What the file is, what went wrong, what to do: never only the archive's inner names."""
    with pytest.raises(LabFileError) as exc:
        read_lab(raw(write_lab(family)))
    for words in says:
        assert words in str(exc.value)
    assert "are allowed" not in str(exc.value)


def test_a_damaged_or_tampered_model_is_refused_and_the_others_still_come_back(family):
    raw = write_lab(family)
    child_hash = family[1][4]["lineage"]["hash"]
    member = f"models/{child_hash}.safetensors"
    # One byte of the child's weights flipped after the archive was written: its CRC no longer matches.
    at = raw.find(zipfile.ZipFile(io.BytesIO(raw)).read(member)[-100:])
    flipped = raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:]
    lab = read_lab(flipped)
    assert [m.name for m in lab.models] == ["base"]
    assert lab.refused[0][0] == "base · SFT" and "damaged" in lab.refused[0][1]
    # A consistent archive whose weights were replaced by a pickle under the right name.
    lab = read_lab(rezip(raw, lambda n, d: pickle.dumps([1, 2]) if n == member else d))
    assert "Python pickle, not safetensors" in lab.refused[0][1]
    # Weights swapped for another model's: every size and name fits, the hash does not.
    base_bytes = zipfile.ZipFile(io.BytesIO(raw)).read(f"models/{family[0][4]['lineage']['hash']}.safetensors")
    swapped = rezip(raw, lambda n, d: base_bytes if n == member else d)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(swapped)).read("lab.json"))
    manifest["models"][1]["bytes"] = len(base_bytes)
    manifest["files"] = [{**f, "bytes": len(base_bytes)} if f["file"] == member else f for f in manifest["files"]]
    lab = read_lab(rezip(swapped, lambda n, d: json.dumps(manifest).encode() if n == "lab.json" else d))
    assert lab.refused and ("hash" in lab.refused[0][1] or "lineage describes other weights" in lab.refused[0][1])


def test_the_command_line_exports_shows_and_imports(tmp_path, family, capsys):
    paths = []
    for name, _, model, tok, meta in family:
        paths.append(str(save_checkpoint(tmp_path / name.replace(" · ", "-"), model, tok, meta["record"], lineage=meta["lineage"])))
    lab_path = tmp_path / "class.llmlab"
    assert lab_cli(["export", str(lab_path), *sum((["--model", p] for p in paths), [])]) == 0
    assert lab_cli(["show", str(lab_path)]) == 0
    shown = capsys.readouterr().out
    assert "2 model(s)" in shown and "SFT" in shown and "base (pre-training) → " in shown
    assert lab_cli(["import", str(lab_path), "--out", str(tmp_path / "out")]) == 0
    back = load_checkpoint(next((tmp_path / "out").glob("*SFT*.safetensors")))
    assert back.meta["lineage"]["parent"] == family[0][4]["lineage"]["hash"]
    data = tmp_path / "data"
    assert lab_cli(["import", str(lab_path), "--desk", "teacher-desk", "--data-dir", str(data)]) == 0
    assert [m.name for m in LabStore(data).load_desk("teacher-desk").models] == ["base", "base-SFT"]
    assert lab_cli(["export", str(tmp_path / "again.llmlab"), "--desk", "teacher-desk", "--data-dir", str(data)]) == 0
    assert [m.name for m in read_lab((tmp_path / "again.llmlab").read_bytes()).models] == ["base", "base-SFT"]
    (tmp_path / "photo.llmlab").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert lab_cli(["show", str(tmp_path / "photo.llmlab")]) == 2
    assert "PNG image" in capsys.readouterr().err


def test_a_lab_with_several_models_sharing_weights_is_read_back_whole(family, char_tok):
    """A learner fine-tuned again after a reload and got the very same weights under new names ("· SFT (2)", "(3)", "(4)"):
    one zip entry holds those weights, with its own size; every model's record points at it, and all four come back."""
    base_name, _, base, tok, base_meta = family[0]
    _, _, child, _, child_meta = family[1]
    twins = []
    for suffix in ("", " (2)", " (3)", " (4)"):
        name = f"base · SFT{suffix}"
        twins.append((name, "fine-tuned", child, tok, {"record": {"steps": 20, "run": name}, "lineage": {**child_meta["lineage"], "name": name}}))
    raw = write_lab([family[0], *twins], current="base · SFT (4)")
    archive = zipfile.ZipFile(io.BytesIO(raw))
    child_member = f"models/{child_meta['lineage']['hash']}.safetensors"
    assert sorted(archive.namelist()) == sorted(["lab.json", f"models/{base_meta['lineage']['hash']}.safetensors", child_member])
    manifest = json.loads(archive.read("lab.json"))
    assert {m["name"]: m["file"] for m in manifest["models"]}["base · SFT (3)"] == child_member
    assert {m["name"]: m["bytes"] for m in manifest["models"]}["base · SFT (3)"] == archive.getinfo(child_member).file_size
    lab = read_lab(raw)
    assert lab.refused == []
    assert [m.name for m in lab.models] == [base_name, *(t[0] for t in twins)] and lab.current == "base · SFT (4)"
    for m, (name, *_rest, meta) in zip(lab.models[1:], twins):
        assert m.hash == child_meta["lineage"]["hash"] == lineage.content_hash(m.loaded.model, m.loaded.tokenizer)
        assert m.meta["lineage"]["name"] == name and m.meta["record"] == meta["record"]  # each keeps its own lineage and record
    # The size is checked per entry: a wrong one refuses every model kept in that entry, each with the reason; the others still come back.
    manifest["files"] = [{**f, "bytes": f["bytes"] + 8} if f["file"] == child_member else f for f in manifest["files"]]
    lab = read_lab(rezip(raw, lambda n, d: json.dumps(manifest).encode() if n == "lab.json" else d))
    assert [m.name for m in lab.models] == [base_name] and [what for what, _ in lab.refused] == [t[0] for t in twins]
    assert all("its weights file holds" in why and "the file was changed or damaged" in why for _, why in lab.refused)


def test_a_lab_file_written_before_shared_weights_were_fixed_is_read_back_whole(family):
    """The files older versions wrote: one zip entry for the shared weights (the last model's), and lab.json giving each
    model the size its own copy would have had, a few bytes apart (its name is in the copy's header). None is lost."""
    _, _, child, tok, child_meta = family[1]
    twins = [(f"base · SFT{s}", "fine-tuned", child, tok, {"record": {}, "lineage": {**child_meta["lineage"], "name": f"base · SFT{s}"}})
             for s in ("", " (2)", " (10)")]
    raw = write_lab([family[0], *twins])
    from llm_core.model.checkpoint import checkpoint_bytes
    own_size = {name: len(checkpoint_bytes(child, tok, meta["record"], meta["lineage"])[0]) for name, _, _, _, meta in twins}
    assert len(set(own_size.values())) == 2  # "(10)" is a byte longer than the others

    def as_old(name, data):
        if name == "lab.json":
            manifest = json.loads(data)
            manifest.pop("files", None)
            for m in manifest["models"]:
                m["bytes"] = own_size.get(m["name"], m["bytes"])
            return json.dumps(manifest).encode()
        if name == f"models/{child_meta['lineage']['hash']}.safetensors":  # the old writer kept the last model's copy
            return checkpoint_bytes(child, tok, twins[-1][4]["record"], twins[-1][4]["lineage"])[0]
        return data

    lab = read_lab(rezip(raw, as_old))
    assert lab.refused == [] and [m.name for m in lab.models] == ["base", "base · SFT", "base · SFT (2)", "base · SFT (10)"]
    assert [m.meta["lineage"]["name"] for m in lab.models[1:]] == ["base · SFT", "base · SFT (2)", "base · SFT (10)"]
