import io
import json
import os
import pickle

import pytest
import torch
from conftest import perturbed_model
from safetensors.torch import save as save_safetensors

from llm_core.model.checkpoint import (
    CheckpointError,
    checkpoint_bytes,
    default_checkpoint_path,
    load_checkpoint,
    load_checkpoint_bytes,
    load_optimizer_state,
    save_checkpoint,
)
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import BPETokenizer
from llm_core.training.optim import build_optimizers


def test_round_trip_gives_identical_logits(tmp_path, nano_model, char_tok):
    path = save_checkpoint(tmp_path / "m", nano_model, char_tok, {"val_loss": 1.5})
    assert path.name == "m.safetensors" and (tmp_path / "m.json").exists()
    loaded = load_checkpoint(path)
    idx = torch.randint(65, (2, 30))
    assert torch.equal(loaded.model(idx)[0], nano_model(idx)[0])
    assert loaded.tokenizer.to_dict() == char_tok.to_dict()
    assert loaded.record == {"val_loss": 1.5}
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.safetensors"]  # no temporary files left


def test_weights_file_alone_is_enough(nano_model, char_tok):
    weights, _ = checkpoint_bytes(nano_model, char_tok)
    loaded = load_checkpoint_bytes(weights)
    assert loaded.model.config == nano_model.config


def test_bpe_model_round_trip(tmp_path, shakespeare):
    tok = BPETokenizer.train(shakespeare[:20000], 300)
    model = perturbed_model(model_preset("nano", tok.vocab_size))
    loaded = load_checkpoint(save_checkpoint(tmp_path / "b", model, tok))
    assert loaded.tokenizer.encode("Hello there") == tok.encode("Hello there")


def test_a_pickle_renamed_safetensors_is_refused(tmp_path, nano_model):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    buffer = io.BytesIO()
    torch.save({"model": nano_model.state_dict(), "evil": Evil()}, buffer)
    (tmp_path / "evil.safetensors").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(tmp_path / "evil.safetensors")
    with pytest.raises(CheckpointError):
        load_checkpoint_bytes(pickle.dumps(Evil()))
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("raw", [b"", b"hello", b"\xff" * 100, b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}"])
def test_garbage_is_refused(raw):
    with pytest.raises(CheckpointError):
        load_checkpoint_bytes(raw)


def _meta(model, tok):
    return json.loads(checkpoint_bytes(model, tok)[1])


def test_wrong_names_shapes_and_values_are_refused(nano_model, char_tok):
    meta = json.dumps(_meta(nano_model, char_tok))
    state = {k: v.clone() for k, v in nano_model.state_dict().items()}
    missing = dict(state)
    missing.pop("head.weight")
    with pytest.raises(CheckpointError, match="missing head.weight"):
        load_checkpoint_bytes(save_safetensors(missing, metadata={"llm_lab": meta}))
    extra = dict(state, **{"backdoor.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="unexpected backdoor.weight"):
        load_checkpoint_bytes(save_safetensors(extra, metadata={"llm_lab": meta}))
    wrong = dict(state, **{"head.weight": torch.zeros(65, 31)})
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint_bytes(save_safetensors(wrong, metadata={"llm_lab": meta}))
    nan = dict(state, **{"head.weight": torch.full((65, 32), float("nan"))})
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint_bytes(save_safetensors(nan, metadata={"llm_lab": meta}))


def test_bad_descriptions_are_refused(nano_model, char_tok):
    state = nano_model.state_dict()
    meta = _meta(nano_model, char_tok)
    with pytest.raises(CheckpointError, match="no LLM Lab description"):
        load_checkpoint_bytes(save_safetensors(state))
    assert load_checkpoint_bytes(save_safetensors(state), json.dumps(meta)).model.config == nano_model.config
    bad_vocab = dict(meta, tokenizer={"type": "char", "chars": "abc"})
    with pytest.raises(CheckpointError, match="tokenizer has 3 tokens"):
        load_checkpoint_bytes(save_safetensors(state, metadata={"llm_lab": json.dumps(bad_vocab)}))
    bad_cfg = dict(meta, model_config=dict(meta["model_config"], n_head=5))
    with pytest.raises(CheckpointError, match="divisible"):
        load_checkpoint_bytes(save_safetensors(state, metadata={"llm_lab": json.dumps(bad_cfg)}))
    with pytest.raises(CheckpointError, match="not an LLM Lab checkpoint"):
        load_checkpoint_bytes(save_safetensors(state, metadata={"llm_lab": json.dumps({"format": "other"})}))
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint_bytes(save_safetensors(state, metadata={"llm_lab": "{not json"}))


def test_optimizer_state_round_trip(tmp_path, nano_model, char_tok):
    opts = build_optimizers(nano_model, 1e-3, 0.02)
    x = torch.randint(65, (2, 16))
    nano_model.train()
    nano_model(x, x)[1].backward()
    for o in opts:
        o.step()
    path = save_checkpoint(tmp_path / "r", nano_model, char_tok, optimizers=opts)
    loaded = load_checkpoint(path)
    fresh = build_optimizers(loaded.model, 1e-3, 0.02)
    assert load_optimizer_state(path, loaded.model, fresh)
    for a, b in zip(opts, fresh):
        for pa, pb in zip(a.param_groups[0]["params"], b.param_groups[0]["params"]):
            for key in a.state[pa]:
                assert torch.equal(torch.as_tensor(a.state[pa][key]).float(), b.state[pb][key].float())


def test_bundled_default_model_loads_and_records_its_val_loss():
    loaded = load_checkpoint(default_checkpoint_path())
    record = loaded.record
    assert record["val_loss"] < 1.75 and "python -m llm_core.train" in record["command"]
    text = loaded.tokenizer.encode("ROMEO:\n")
    assert loaded.model(torch.tensor([text]))[0].shape == (1, len(text), 65)
