"""Data-parallel training under torchrun (gloo on the CPU) goes through the one training loop.

The 2-process runs compare their loss trajectory with one process at the same global batch: the
ranks draw disjoint halves of exactly the batches the single process draws, so only the order of
floating-point sums differs. Tolerance, fp32, seeded, 60 steps of the nano preset (measured here):
AdamW only, identical to the printed 4 decimals (we allow 2e-4); Muon + AdamW, within about 1e-3,
because Muon's Newton-Schulz iterations run in bf16 and round those tiny differences up (we allow
5e-3 on the train loss, 2e-3 on the held-out loss).
"""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from llm_core.model.config import model_preset, train_preset
from llm_core.model.device import threads
from llm_core.text.data import TokenSplit, load_corpus
from llm_core.text.tokenizers import CharTokenizer
from llm_core.training.distributed import DataParallel
from llm_core.training.loop import TextBatches, build_model, train

STEP_LINE = re.compile(r"^step\s+(\d+) \|.*\| loss ([\d.]+)(?: val ([\d.]+))?", re.M)
COMMON = ["--device", "cpu", "--preset", "nano", "--steps", "60", "--eval-every", "30", "--precision", "fp32", "--seed", "3", "--threads", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, processes: int = 1):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m"]
    if processes > 1:
        launcher += ["torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m"]
    out = subprocess.run(launcher + ["llm_core.train", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _trajectory(stdout: str) -> dict[int, tuple[float, float | None]]:
    return {int(s): (float(loss), float(val) if val else None) for s, loss, val in STEP_LINE.findall(stdout)}


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, train_tol, val_tol", [("muon+adamw", 5e-3, 2e-3), ("adamw", 2e-4, 2e-4)])
def test_two_gloo_processes_follow_one_process_at_the_same_global_batch(tmp_path, optimizer, train_tol, val_tol):
    extra = ["--muon-lr", "0"] if optimizer == "adamw" else []
    ddp_out = _run([*COMMON, *extra, "--batch-size", "8", "--out", str(tmp_path / "ddp")], processes=2)
    single_out = _run([*COMMON, *extra, "--batch-size", "16"])

    assert ddp_out.count("model: ") == 1 and "data-parallel on 2 processes, global batch 16" in ddp_out  # only rank 0 prints
    ddp, single = _trajectory(ddp_out), _trajectory(single_out)
    assert sorted(ddp) == sorted(single) == [10, 20, 30, 40, 50, 60]
    for step in single:
        (loss_d, val_d), (loss_s, val_s) = ddp[step], single[step]
        assert abs(loss_d - loss_s) <= train_tol, (step, loss_d, loss_s)
        assert (val_d is None) == (val_s is None)
        if val_s is not None:
            assert abs(val_d - val_s) <= val_tol, (step, val_d, val_s)
    assert single[60][0] < single[10][0] - 0.5  # it learned: the comparison is not between two flat lines

    record = json.loads((tmp_path / "ddp.json").read_text())["record"]  # rank 0 saved it
    assert record["processes"] == 2 and record["steps"] == 60 and record["tokens_seen"] == 60 * 16 * 64
    assert record["command"].startswith("torchrun -m llm_core.train")


def test_a_world_of_one_takes_the_same_steps_as_no_process_group(monkeypatch):
    """The data-parallel hooks of the loop (sharding, all-reduced loss, shared clock) change nothing with one rank."""
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    tokenizer = CharTokenizer.from_text(load_corpus("tinyshakespeare"))
    ids = tokenizer.encode(load_corpus("tinyshakespeare")[:50_000])
    cfg = train_preset("nano", max_steps=20, eval_every=10, batch_size=4, precision="fp32", log_every=5)

    def losses(parallel):
        model = build_model(model_preset("nano", tokenizer.vocab_size), seed=3)
        batches = TextBatches(TokenSplit.from_ids(ids), model.config.block_size)
        return [(m.step, m.train_loss, m.val_loss, m.tokens_seen) for m in train(model, batches, cfg, parallel=parallel)]

    with threads(1), torch.random.fork_rng(devices=[]):  # one thread: a tiny model on a busy machine crawls with more
        alone = losses(None)
        parallel = DataParallel.from_env("cpu")
        try:
            together = losses(parallel)
        finally:
            parallel.close()
    assert [r[0] for r in together] == [5, 10, 15, 20, 20]
    for a, b in zip(alone, together, strict=True):
        assert a[0] == b[0] and a[3] == b[3]
        assert b[1] == pytest.approx(a[1], abs=1e-5)
        assert (a[2] is None) == (b[2] is None) and (a[2] is None or b[2] == pytest.approx(a[2], abs=1e-5))


def test_more_processes_than_gpus_get_a_clear_message_before_joining(monkeypatch):
    """Seen on a one-GPU machine: torchrun's second rank died in CUDA ("invalid device ordinal")."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"has 1 GPU and torchrun started a process for GPU number 2.*--nproc_per_node=1.*--device cpu"):
        DataParallel.from_env("auto")
