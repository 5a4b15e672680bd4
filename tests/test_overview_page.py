"""The Overview chapter (AppTest): every figure it states comes from the current model's own record."""

import math

import pytest
from conftest import ROOT, perturbed_model
from streamlit.testing.v1 import AppTest

from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
from llm_core.model import anatomy
from llm_core.model.checkpoint import MODELS_DIR, checkpoint_bytes, load_checkpoint
from llm_core.model.config import model_preset


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not app.exception, app.exception
    return app


def table_row(at, what: str) -> str:
    table = next(h.proto.body for h in at.get("html") if "Llama 2 70B" in h.proto.body)
    row = table.split(f">{what}</td>")[1].split("</tr>")[0]
    return row.split("</td>")[1].split(">")[-1]  # the current model's cell


def compression(at) -> str:
    """The compression sentence: the reveal of the "file bigger or smaller than its text?" prediction (locked first)."""
    if not any("This model, measured on its own run" in m.value for m in at.markdown):
        at.radio(key="predict_overview_file_vs_text_guess").set_value("smaller than the text").run()
        at.button(key="predict_overview_file_vs_text_lock").click().run()
        assert not at.exception, at.exception
    return next(m.value for m in at.markdown if "This model, measured on its own run" in m.value)


def test_the_bundled_model_states_its_own_run(at):
    record = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").meta["record"]
    assert table_row(at, "cost") == f"no money figure: {record['elapsed_s']:,.0f} s of training on one CPU"
    assert table_row(at, "training text") == f"{record['corpus_chars']:,} characters (tinyshakespeare)"
    bits = record["val_loss"] / math.log(2)  # characters: one token per character
    sentence = compression(at)
    assert f"**{bits:.2f} bits per character**" in sentence and f"{8 / bits:.1f}× fewer bits" in sentence
    assert "*larger*" in sentence  # 3.2 MB of weights against 1.1 M characters
    assert any("the file is bigger" in m.value for m in at.markdown) and any("Not this time" in m.value for m in at.markdown)
    runner_note = next(m.value for m in at.markdown if "standard library" in m.value)
    assert runner_note.endswith("but `safetensors` and `torch`.")
    assert any(c.value.startswith("80 tokens sampled one at a time (temperature 0.8") for c in at.caption)


def test_a_bpe_model_with_a_large_corpus_says_smaller_and_counts_characters(at, char_tok):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=1)
    weights, _ = checkpoint_bytes(model, char_tok, {})
    chars, tokens = 40 * len(weights), 10 * len(weights)  # 4 characters per token, 40x the file
    record = {"val_loss": 2.0, "corpus_chars": chars, "tokens_in_corpus": tokens, "corpus": "big", "elapsed_s": 12.4, "device": "cpu"}
    at.session_state[REGISTRY_KEY]["Nano (test)"] = ModelEntry("Nano (test)", model, char_tok, {"record": record}, "trained")
    at.session_state[CURRENT_KEY] = "Nano (test)"
    at.run()
    assert not at.exception
    sentence = compression(at)
    bits_token = 2.0 / math.log(2)
    assert f"**{bits_token / 4:.2f} bits per character** ({bits_token:.2f} bits per token; its tokens hold 4.00 characters" in sentence
    assert f"is 40.0× smaller than the {chars:,} characters" in sentence and "larger" not in sentence
    assert table_row(at, "cost") == "no money figure: 12 s of training on one CPU"


def test_a_model_without_a_record_claims_nothing(at, char_tok):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=2)
    at.session_state[REGISTRY_KEY]["Bare (test)"] = ModelEntry("Bare (test)", model, char_tok, {}, "uploaded")
    at.session_state[CURRENT_KEY] = "Bare (test)"
    at.run()
    assert not at.exception
    assert table_row(at, "cost") == table_row(at, "compute") == "not recorded with this model"
    assert not any("This model, measured on its own run" in m.value for m in at.markdown)
    assert not any(b.key == "predict_overview_file_vs_text_lock" for b in at.button)  # no record, no question about it
    assert anatomy.human_bytes(len(checkpoint_bytes(model, char_tok, {})[0])) == table_row(at, "parameters file")
