import math
import os
import platform
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
from conftest import ROOT, perturbed_model

from llm_core.model.config import ConfigError, TrainConfig, model_preset
from llm_core.text.data import TokenSplit
from llm_core.training import loop
from llm_core.training.loop import (
    TextBatches,
    TrainState,
    build_model,
    evaluate,
    lr_scale,
    train,
)


@pytest.fixture(scope="module")
def batches(shakespeare, char_tok):
    ids = char_tok.encode(shakespeare[:200_000])
    return TextBatches(TokenSplit.from_ids(ids), 64, eval_tokens=4096)


def nano(char_tok, **kw):
    return build_model(model_preset("nano", char_tok.vocab_size, **kw), seed=0)


def test_schedule_warms_up_then_decays():
    assert lr_scale(0, 0, 10) == pytest.approx(0.1)
    assert lr_scale(9, 0, 10) == 1.0
    assert lr_scale(50, 0.5, 10) == pytest.approx(0.5)
    assert lr_scale(50, 1.0, 10, min_lr_ratio=0.1) == pytest.approx(0.1)


@pytest.mark.slow  # trains for hundreds of steps: 40-115 s here under load
def test_training_lowers_the_held_out_loss(char_tok, batches):
    model = nano(char_tok)
    before = evaluate(model, batches, model.device)
    assert before == pytest.approx(math.log(char_tok.vocab_size), abs=1e-3)
    records = list(train(model, batches, TrainConfig(max_steps=150, batch_size=16, eval_every=50, log_every=10)))
    last = records[-1]
    assert last.done and last.stop_reason == "reached the step limit" and last.step == 150
    assert last.val_loss < before - 1.3  # from 4.17 to below ~2.8 in 150 tiny steps
    assert [r.step for r in records if not r.done] == list(range(10, 151, 10))
    vals = [r.val_loss for r in records if r.val_loss is not None]
    assert len(vals) == 4 and vals[-1] < vals[0]
    assert all(r.tokens_seen == r.step * 16 * 64 for r in records)
    lrs = [r.lr for r in records]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.01 * lrs[0]  # cosine decay to zero
    assert all(r.elapsed_s > 0 and r.tokens_per_s >= 0 for r in records)


@pytest.mark.slow  # trains for hundreds of steps: 40-115 s here under load
def test_same_seed_same_run(char_tok, batches):
    losses = []
    for _ in range(2):
        model = nano(char_tok)
        losses.append([r.train_loss for r in train(model, batches, TrainConfig(max_steps=20, batch_size=8, eval_every=0, log_every=5, precision="fp32"))])
    assert losses[0] == losses[1]


def test_stop_event_ends_the_run_promptly(char_tok, batches):
    model = nano(char_tok)
    stop = threading.Event()
    seen = []
    for record in train(model, batches, TrainConfig(max_steps=100_000, batch_size=8, eval_every=0, log_every=5), stop_event=stop):
        seen.append(record)
        if record.step >= 20:
            stop.set()
    assert seen[-1].stop_reason == "stopped by user" and seen[-1].step == 20


class TickingClock:
    """A stand-in for the `time` module whose perf_counter() moves `tick` seconds per call: the
    time budget is tested on steps, not on how busy the machine is."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


def test_time_budget(char_tok, batches, monkeypatch):
    clock = TickingClock(0.125)  # each training step measures exactly one tick
    monkeypatch.setattr(loop, "time", clock)
    model = nano(char_tok)
    records = list(train(model, batches, TrainConfig(max_steps=10_000_000, time_budget_s=1.0, batch_size=8, eval_every=0, log_every=5)))
    last = records[-1]
    assert last.stop_reason == "reached the time budget" and last.progress == 1.0
    assert last.elapsed_s == pytest.approx(1.0) and last.step == 8  # stops at the first step that reaches the budget


def test_short_windows_train_the_first_part_of_the_run_on_half_the_context(char_tok, batches, monkeypatch):
    model = nano(char_tok)
    real_forward = model.forward
    widths = []  # the window length of every training step's batch (evaluation batches left out)

    def forward(x, targets=None, **kw):
        if model.training:
            widths.append(x.size(1))
        return real_forward(x, targets, **kw)

    monkeypatch.setattr(model, "forward", forward)
    records = list(train(model, batches, TrainConfig(max_steps=20, batch_size=8, eval_every=0, log_every=5, short_windows_until=0.25)))
    assert widths == [32] * 5 + [64] * 15  # progress 0, 0.05, ... 0.2 are under a quarter of the run
    assert records[-1].tokens_seen == 8 * (5 * 32 + 15 * 64)
    with pytest.raises(ConfigError, match="short_windows_until"):
        TrainConfig(short_windows_until=1.5).validate()


def test_muon_momentum_warms_up_over_the_first_steps_and_adamw_is_left_alone(char_tok, batches, monkeypatch):
    model = nano(char_tok)
    seen = []  # (Muon's momentum, AdamW's betas) at every optimizer step
    real_step = loop.Muon.step

    def step(self):
        adamw = next(o for o in optimizers if not isinstance(o, loop.Muon))
        seen.append((self.param_groups[0]["momentum"], adamw.param_groups[0]["betas"]))
        return real_step(self)

    real_build = loop.build_optimizers
    optimizers = []

    def build(*args, **kw):
        optimizers[:] = real_build(*args, **kw)
        return optimizers

    monkeypatch.setattr(loop.Muon, "step", step)
    monkeypatch.setattr(loop, "build_optimizers", build)
    list(train(model, batches, TrainConfig(max_steps=12, batch_size=8, eval_every=0, log_every=4, muon_momentum_warmup=8)))
    assert [round(m, 4) for m, _ in seen] == [round(0.85 + 0.1 * min(1, s / 8), 4) for s in range(12)]
    assert {betas for _, betas in seen} == {(0.9, 0.99)}
    with pytest.raises(ConfigError, match="muon_momentum_warmup"):
        TrainConfig(muon_momentum_warmup=-1).validate()


def test_divergence_stops_and_restores_the_last_good_weights(char_tok, batches):
    model = nano(char_tok)
    cfg = TrainConfig(max_steps=500, batch_size=8, lr=10.0, muon_lr=10.0, warmup_steps=0, eval_every=0, log_every=1)
    records, snapshots = [], []
    for record in train(model, batches, cfg):
        records.append(record)
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
    last = records[-1]
    assert last.done and last.stop_reason.startswith("diverged") and "lower learning rate" in last.stop_reason
    assert last.step < 500
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # the restored weights are exactly those of the last logged step whose loss was fine
    assert len(records) > 1
    good = snapshots[-2]
    assert all(torch.equal(model.state_dict()[k], good[k]) for k in good)
    assert math.isfinite(evaluate(model, batches, model.device))


def test_divergence_before_the_first_log_restores_the_initial_weights(char_tok, batches):
    model = nano(char_tok)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    records = list(train(model, batches, TrainConfig(max_steps=500, batch_size=8, lr=10.0, eval_every=0, log_every=10)))
    assert len(records) == 1 and records[0].stop_reason.startswith("diverged")
    assert all(torch.equal(model.state_dict()[k], initial[k]) for k in initial)


@pytest.mark.slow  # trains for hundreds of steps: 40-115 s here under load
def test_resume_continues_the_schedule(char_tok, batches):
    model = nano(char_tok)
    state = TrainState()
    stop = threading.Event()
    cfg = TrainConfig(max_steps=60, batch_size=8, eval_every=0, log_every=10)
    for r in train(model, batches, cfg, stop_event=stop, state=state):
        if r.step == 30:
            stop.set()
    assert state.step == 30 and state.optimizers
    resumed = list(train(model, batches, cfg, state=state))
    assert resumed[0].step == 40 and resumed[-1].step == 60 and resumed[-1].tokens_seen == 60 * 8 * 64


def test_masked_targets_are_ignored(char_tok):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size))
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(65, (2, 16), generator=gen)
    y = torch.randint(65, (2, 16), generator=gen)
    y_masked = y.clone()
    y_masked[:, :8] = -100
    _, full = model(x, y)
    _, masked = model(x, y_masked)
    logits, _ = model(x)
    expected = torch.nn.functional.cross_entropy(logits[:, 8:].reshape(-1, 65), y[:, 8:].reshape(-1))
    assert masked.item() == pytest.approx(expected.item(), rel=1e-5)
    assert full.item() == pytest.approx(torch.nn.functional.cross_entropy(logits.reshape(-1, 65), y.reshape(-1)).item(), rel=1e-5)
    assert abs(masked.item() - full.item()) > 1e-3  # the masked positions really were left out


def test_zero_steps_is_a_config_error(char_tok, batches):
    with pytest.raises(ConfigError, match="at least 1"):
        next(train(nano(char_tok), batches, TrainConfig(max_steps=0)))


FAULTS_PER_STEP = textwrap.dedent("""
    import resource, sys, torch
    from llm_core.model.config import TrainConfig, model_preset
    from llm_core.model.device import keep_freed_memory
    from llm_core.text.data import TokenSplit
    from llm_core.training.loop import TextBatches, build_model, train
    from llm_core.training.optim import build_optimizers
    torch.set_num_threads(1)
    model = build_model(model_preset("tiny", 65), seed=0)
    if sys.argv[1] == "after_train":  # two steps of the training loop first: it sets how freed memory is kept
        ids = torch.randint(0, 65, (20_000,)).tolist()
        list(train(model, TextBatches(TokenSplit.from_ids(ids), 128, eval_tokens=1024), TrainConfig(max_steps=2, batch_size=2, eval_every=0)))
    optimizers = build_optimizers(model, 1e-3, 0.02)
    x = torch.randint(0, 65, (8, 128))
    def step():
        _, loss = model(x, x)
        loss.backward()
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
    for _ in range(5):
        step()
    windows = []  # the quietest of four windows of 5 steps: a busy machine's kernel may reclaim a kept page between steps
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            step()
        windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
    print(keep_freed_memory.cache_info().currsize, min(windows))
""")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc settings: glibc only")
def test_after_the_training_loop_a_step_reuses_freed_memory_instead_of_faulting_in_fresh_pages():
    # Page faults a step, tiny model, 8 x 128 tokens: a fresh process, and one whose training loop has run
    # (device.keep_freed_memory, which made the tiny preset's step a tenth to a sixth quicker here).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    runs = {mode: subprocess.Popen([sys.executable, "-c", FAULTS_PER_STEP, mode], stdout=subprocess.PIPE, text=True, env=env)
            for mode in ("plain", "after_train")}
    (set_before, plain), (set_after, kept) = ([float(v) for v in runs[m].communicate(timeout=300)[0].split()] for m in ("plain", "after_train"))
    assert (set_before, set_after) == (0, 1)  # the setting was made by the loop, not by anything else
    assert plain > 200, f"expected glibc's defaults to fault pages in every step here, got {plain} a step"
    assert kept < plain / 10, f"{kept} page faults a step after the loop's setting, {plain} without"
