import subprocess
import sys

import pytest
from conftest import ROOT


def run(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("module", ["llm_core.train", "llm_core.sample", "llm_core.bench"])
def test_help(module):
    out = run(module, "--help")
    assert out.returncode == 0 and "usage: python -m " + module in out.stdout


def test_train_then_sample_from_the_command_line(tmp_path):
    out = run("llm_core.train", "--preset", "nano", "--steps", "30", "--eval-every", "15", "--out", str(tmp_path / "cli"), "--save-optimizer")
    assert out.returncode == 0, out.stderr
    assert "val" in out.stdout and (tmp_path / "cli.safetensors").exists() and (tmp_path / "cli.optim.safetensors").exists()
    resumed = run("llm_core.train", "--preset", "nano", "--steps", "10", "--resume", str(tmp_path / "cli"), "--out", str(tmp_path / "cli2"))
    assert resumed.returncode == 0, resumed.stderr
    assert "step     40" in resumed.stdout
    sample = run("llm_core.sample", "--checkpoint", str(tmp_path / "cli.safetensors"), "--prompt", "ROMEO:", "--tokens", "40", "--seed", "1")
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("ROMEO:") and len(sample.stdout) > 40


def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    out = run("llm_core.sample", "--checkpoint", str(tmp_path / "bad.safetensors"))
    assert out.returncode == 2 and "error:" in out.stderr and "Traceback" not in out.stderr
    out = run("llm_core.train", "--preset", "nano", "--n-head", "3")
    assert out.returncode == 2 and "divisible" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow  # a benchmark run end to end: a minute or more on 2 cores
def test_quick_benchmark_runs():
    out = run("llm_core.bench", "--quick")
    assert out.returncode == 0, out.stderr
    for needle in ("tokens/s", "val loss <= 1.90", "KV cache", "merges/s"):
        assert needle in out.stdout
