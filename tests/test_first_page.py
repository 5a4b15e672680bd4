"""The Overview's first page, drawn before torch is loaded from figures shipped with the bundled model
(llm_core/interpret/first_page.py, lab_ui/startup.py): what is shipped is what the model computes
now, the page reads the same from either, and a fresh server's first run imports neither torch nor
pandas."""

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from lab_ui import state
from llm_core.interpret import first_page
from llm_core.model.checkpoint import checkpoint_bytes, load_checkpoint
from llm_core.paths import DEFAULT_MODEL, MODELS_DIR


def test_the_shipped_figures_are_what_the_bundled_model_computes_now():
    shipped = first_page.load(DEFAULT_MODEL)
    assert shipped is not None, f"re-make it: {json.loads(first_page.path_of(DEFAULT_MODEL).read_text())['command']}"
    made = first_page.make(DEFAULT_MODEL, lineage_name=state.BUNDLED_NAME)
    walk_shipped, walk_now = shipped["walk"], made["walk"]
    for key in ("token_ids", "pieces", "truncated", "vector_size", "tokens_for_90", "continuation", "new_tokens", "n_layer", "n_head"):
        assert walk_shipped[key] == walk_now[key], key
    assert walk_shipped["vector_preview"] == pytest.approx(walk_now["vector_preview"], abs=1.5e-3)  # rounded to 3 places
    assert [pos for pos, _ in walk_shipped["attention_source"]] == [pos for pos, _ in walk_now["attention_source"]]
    assert [w for _, w in walk_shipped["attention_source"]] == pytest.approx([w for _, w in walk_now["attention_source"]], abs=1e-5)
    assert [t for t, _ in walk_shipped["next_tokens"]] == [t for t, _ in walk_now["next_tokens"]]
    assert [p for _, p in walk_shipped["next_tokens"]] == pytest.approx([p for _, p in walk_now["next_tokens"]], abs=1e-5)
    assert shipped["facts"] == made["facts"]
    assert shipped["facts"]["num_params"] == sum(g["count"] for g in shipped["facts"]["groups"]) == 804_224
    assert {k: v for k, v in shipped["lineage"].items() if k != "created"} == {k: v for k, v in made["lineage"].items() if k != "created"}
    assert (shipped["prompt"], shipped["new_tokens"], shipped["temperature"]) == (made["prompt"], made["new_tokens"], made["temperature"])


def test_the_shipped_files_are_the_bytes_the_page_would_make_from_the_model():
    loaded = load_checkpoint(MODELS_DIR / f"{DEFAULT_MODEL}.safetensors")
    weights, description = checkpoint_bytes(loaded.model, loaded.tokenizer, loaded.record)
    assert weights == (MODELS_DIR / f"{DEFAULT_MODEL}.safetensors").read_bytes()
    assert description == (MODELS_DIR / f"{DEFAULT_MODEL}.json").read_bytes()


def test_figures_for_other_weights_are_not_used(monkeypatch):
    monkeypatch.setattr(first_page, "weights_sha256", lambda name: "0" * 64)
    first_page.load.cache_clear()
    try:
        assert first_page.load(DEFAULT_MODEL) is None
    finally:
        monkeypatch.undo()
        first_page.load.cache_clear()
    assert first_page.load(DEFAULT_MODEL) is not None
    assert not first_page.shows(first_page.load(DEFAULT_MODEL), "ROMEO: something else")


def page_text(at) -> list[str]:
    kinds = ("markdown", "caption", "text", "header", "subheader")
    return [el.value for kind in kinds for el in at.get(kind)] + [h.proto.body for h in at.get("html") if "document.cookie" not in h.proto.body]  # (each desk's own id)


def test_the_overview_reads_the_same_from_the_shipped_figures_and_from_the_model(monkeypatch):
    shipped = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not shipped.exception, shipped.exception
    monkeypatch.setattr(first_page, "load", lambda name=DEFAULT_MODEL: None)  # every figure from the model itself
    computed = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not computed.exception, computed.exception
    a, b = page_text(shipped), page_text(computed)
    assert len(a) > 40 and a == b
    assert any("804,224 parameters" in t for t in a)
    cores = state.usable_cores()  # the device, said without torch on a machine with no GPU driver
    assert state.gpu_driver_present() or f"Device: CPU, {cores} core{'s' if cores != 1 else ''}" in [c.value for c in shipped.sidebar.caption]


FIRST_RUN = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {root!r})
    heavy = []

    class Watch:  # records an import of torch or pandas by any thread but the one meant for them
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "pandas") and threading.current_thread().name != "lab-import-the-rest":
                heavy.append((name, threading.current_thread().name))
            return None

    sys.meta_path.insert(0, Watch())
    from streamlit.testing.v1 import AppTest

    assert "torch" not in sys.modules and "pandas" not in sys.modules
    at = AppTest.from_file({app!r}, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert heavy == [], heavy
    assert any("804,224 parameters" in c.value for c in at.sidebar.caption)
    continuation = {continuation!r}
    assert any(t.value.strip() == continuation.strip() for t in at.text)
    from lab_ui import startup
    from llm_core.text.tokenizers import TIKTOKEN_SPECS, load_tiktoken_encoding
    assert load_tiktoken_encoding.cache_info().currsize == 0  # the first page reads no tokenizer table
    startup.import_the_rest().join(120)  # after the page: torch and pandas, in a thread of their own
    assert "torch" in sys.modules and "pandas" in sys.modules
    assert load_tiktoken_encoding.cache_info().currsize == len(TIKTOKEN_SPECS)  # and the tables Tokenization reads
    again = AppTest.from_file({app!r}, default_timeout=120).run()  # the next session: torch is here, a page as ever
    assert not again.exception, [e.value for e in again.exception]
    print("ok")
""")


@pytest.mark.skipif(state.gpu_driver_present(), reason="with a GPU driver the first page loads torch (to ask it for the device)")
def test_a_fresh_server_draws_its_first_page_without_importing_torch_or_pandas(tmp_path):
    continuation = first_page.load(DEFAULT_MODEL)["walk"]["continuation"]
    script = FIRST_RUN.format(root=str(ROOT), app=str(ROOT / "app.py"), continuation=continuation)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LLM_LAB_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout[-2000:] + done.stderr[-4000:]
