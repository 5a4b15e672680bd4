import importlib
import subprocess
import sys

import pytest
from conftest import ROOT


def run(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_here(capsys, module: str, *args) -> tuple[int, str, str]:
    """The command line's main() in this process (no second interpreter and torch import: about
    2 s each on the 2-core machine); test_train_then_sample_from_the_command_line runs the real
    `python -m` once."""
    main = importlib.import_module(module).main
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("module", ["llm_core.train", "llm_core.sample", "llm_core.bench"])
def test_help(module, capsys):
    code, out, _ = run_here(capsys, module, "--help")
    assert code == 0 and "usage: python -m " + module in out


@pytest.mark.slow  # three fresh Python processes, one of them training: 8-14 s here under load
def test_train_then_sample_from_the_command_line(tmp_path, capsys):
    out = run("llm_core.train", "--preset", "nano", "--steps", "30", "--eval-every", "15", "--out", str(tmp_path / "cli"), "--save-optimizer")
    assert out.returncode == 0, out.stderr
    assert "val" in out.stdout and (tmp_path / "cli.safetensors").exists() and (tmp_path / "cli.optim.safetensors").exists()
    code, resumed, err = run_here(capsys, "llm_core.train", "--preset", "nano", "--steps", "10", "--resume", str(tmp_path / "cli"), "--out", str(tmp_path / "cli2"))
    assert code == 0, err
    assert "step     40" in resumed
    code, sample, err = run_here(capsys, "llm_core.sample", "--checkpoint", str(tmp_path / "cli.safetensors"), "--prompt", "ROMEO:", "--tokens", "40", "--seed", "1")
    assert code == 0, err
    assert sample.startswith("ROMEO:") and len(sample) > 40


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    code, _, err = run_here(capsys, "llm_core.sample", "--checkpoint", str(tmp_path / "bad.safetensors"))
    assert code == 2 and "error:" in err and "Traceback" not in err
    code, _, err = run_here(capsys, "llm_core.train", "--preset", "nano", "--n-head", "3")
    assert code == 2 and "divisible" in err and "Traceback" not in err


@pytest.mark.slow  # a benchmark run end to end: a minute or more on 2 cores
def test_quick_benchmark_runs():
    out = run("llm_core.bench", "--quick")
    assert out.returncode == 0, out.stderr
    for needle in ("tokens/s", "val loss <= 1.90", "KV cache", "merges/s"):
        assert needle in out.stdout
