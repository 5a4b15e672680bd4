"""The standalone runner (the second of "a model is two files") must agree with llm_core."""

import subprocess
import sys

import pytest
import torch
from conftest import ROOT, perturbed_model

from llm_core.model import runner
from llm_core.model.checkpoint import default_checkpoint_path, save_checkpoint
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import BPETokenizer


@pytest.mark.parametrize("position", ["rope", "learned"])
def test_runner_logits_equal_llm_core(tmp_path, char_tok, position):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size, position=position), seed=5)
    path = save_checkpoint(tmp_path / "m", model, char_tok)
    cfg, tok, weights = runner.load(str(path))
    idx = torch.randint(char_tok.vocab_size, (40,), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(runner.forward(cfg, weights, idx), model(idx[None])[0][0], atol=1e-4)


def test_runner_tokenizers_match(shakespeare, char_tok):
    bpe = BPETokenizer.train(shakespeare[:30000], 320)
    text = "First Citizen: We are accounted poor citizens, 33!"
    for tok in (char_tok, bpe):
        encode, decode = runner.make_tokenizer(tok.to_dict())
        assert encode(text) == tok.encode(text)
        assert decode(tok.encode(text)) == text


def test_runner_is_standalone_and_short():
    source = (ROOT / "llm_core" / "model" / "runner.py").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all("llm_core" not in line for line in imports)
    assert len(source.splitlines()) <= 130


def test_runner_runs_the_bundled_model_from_the_shell(tmp_path):
    script = tmp_path / "run_model.py"
    script.write_text((ROOT / "llm_core" / "model" / "runner.py").read_text())
    out = subprocess.run([sys.executable, str(script), str(default_checkpoint_path()), "ROMEO:", "60"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ROMEO:") and len(out.stdout) > 60
