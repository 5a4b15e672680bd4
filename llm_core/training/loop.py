"""The one training loop, as a generator of metrics (its command line is `llm_core/train.py`).

What it is: `train()` minimises next-token cross-entropy with Muon + AdamW, a linear warmup and a
cosine decay (driven by steps or by the time budget, whichever runs out first), gradient
clipping and bf16 autocast where it is faster. It yields a `Metrics` record every `log_every`
steps and at every evaluation, so the same code serves the CLI, the tests and the live page. It
stops when asked (a `threading.Event`), at the step or time limit, or when the loss diverges (NaN,
infinity or an explosion), in which case the last good weights are put back. Pre-training and
fine-tuning share it: what differs is only the `Batches` it draws from.
What it is not: the model (`model/gpt.py`) or the data (`text/data.py`). `.item()` is called only at log
points, so on a GPU the loop does not wait for the device every step.

    python -m llm_core.train --preset tiny --corpus tinyshakespeare --time 180 --out assets/models/shakespeare-tiny
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import asdict, dataclass, field

import torch

from llm_core.model.config import (
    ModelConfig,
    TrainConfig,
)
from llm_core.model.device import autocast, keep_freed_memory, use_bf16
from llm_core.model.gpt import GPT
from llm_core.text.data import (
    DataError,
    TokenSplit,
    check_trainable,
    eval_windows,
    random_batch,
)
from llm_core.training.optim import Muon, build_optimizers


class TextBatches:
    """Pre-training data: random windows of the training split, all of the validation split."""

    def __init__(self, split: TokenSplit, block_size: int, eval_tokens: int | None = None):
        check_trainable(len(split.train) + len(split.val), block_size)
        self.split, self.block_size = split, block_size
        self.val_x, self.val_y = eval_windows(split.val, block_size, eval_tokens)

    def train_batch(self, batch_size: int, generator: torch.Generator):
        return random_batch(self.split.train, batch_size, self.block_size, generator)

    def val_batches(self, batch_size: int = 64):
        for i in range(0, len(self.val_x), batch_size):
            yield self.val_x[i : i + batch_size], self.val_y[i : i + batch_size]


@dataclass
class Metrics:
    step: int  # optimizer steps done
    max_steps: int
    tokens_seen: int  # training tokens processed so far
    train_loss: float  # loss of the latest batch
    val_loss: float | None  # held-out loss, when this record comes from an evaluation
    lr: float  # current AdamW learning rate
    lr_scale: float  # schedule multiplier in [0, 1]
    tokens_per_s: float  # training throughput since the previous record
    elapsed_s: float  # training time so far, evaluations and samples excluded
    eval_s: float  # time spent on evaluations and samples so far
    progress: float  # fraction of the step or time budget used, whichever is further along
    sample: str | None = None  # generated text, when this record carries a sample
    extras: dict = field(default_factory=dict)  # model-specific figures of the latest batch (e.g. DPO margin, KL)
    done: bool = False
    stop_reason: str | None = None  # on the last record: why training ended

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainState:
    """What a resumed run needs besides the weights: optimizer state and where the schedule was."""

    optimizers: list = field(default_factory=list)
    step: int = 0
    tokens_seen: int = 0
    elapsed_s: float = 0.0
    best_val_loss: float = math.inf


def half_windows(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first half of every window of a batch (B, T) -> (B, T // 2): a sequence-length warmup.

    Early in a run the model learns what neighbouring characters do, which short windows already
    show, and a step on half-length windows is quicker (the tiny preset's: 0.62 of a full step,
    for half the tokens, benchmarks/cpu_step.py). The tiny preset trains its first half so: against nanoGPT's CPU recipe
    it reached nanoGPT's final loss in 8.9-9.0 s of a 12 s budget, 10.5-11.4 s or not at all
    without (the README's design choices).

    >>> x = torch.arange(8).view(2, 4)
    >>> half_windows(x, x + 1)
    (tensor([[0, 1],
            [4, 5]]), tensor([[1, 2],
            [5, 6]]))
    """
    half = max(1, x.size(1) // 2)
    return x[:, :half].contiguous(), y[:, :half].contiguous()


def muon_momentum(step: int, warmup_steps: int, start: float = 0.85, end: float = 0.95) -> float:
    """Muon's momentum at a step: from `start` up to `end` over the first `warmup_steps`, then `end`.

    A fresh model's gradients turn quickly, and a momentum of 0.95 keeps about 20 steps of them;
    a shorter memory early follows them better. Keller Jordan's modded-nanogpt warms Muon's
    momentum up the same way (as does nanochat), 0.85 to 0.95 over 300 steps. The tiny preset does
    too: in four interleaved pairs of 11 s runs it reached nanoGPT's final loss after 7.6-8.2 s,
    against 8.9-9.9 s or not at all without (the README's design choices).

    >>> [round(muon_momentum(s, 300), 3) for s in (0, 150, 300, 1000)]
    [0.85, 0.9, 0.95, 0.95]
    >>> muon_momentum(0, 0)
    0.95
    """
    if not warmup_steps:
        return end
    return start + (end - start) * min(1.0, step / warmup_steps)


def lr_scale(step: int, progress: float, warmup_steps: int, min_lr_ratio: float = 0.0) -> float:
    """Linear warmup over the first steps, then cosine decay from 1 to min_lr_ratio as progress goes 0 -> 1.

    >>> round(lr_scale(0, 0.0, 10), 2), lr_scale(100, 0.0, 10), lr_scale(100, 0.5, 10), lr_scale(100, 1.0, 10)
    (0.1, 1.0, 0.5, 0.0)
    """
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    progress = min(max(progress, 0.0), 1.0)
    return warm * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model: GPT, batches, device) -> float:
    """Mean cross-entropy over every held-out token, in fp32."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in batches.val_batches():
        x, y = x.to(device), y.to(device)
        _, loss = model(x, y)
        n = int((y != -100).sum())
        total += float(loss) * n
        count += n
    model.train(was_training)
    if count == 0:
        raise DataError("the validation split holds no tokens to evaluate on.")
    return total / count


def _divergence(loss: float, best: float, uniform: float, factor: float) -> str | None:
    """Why the run counts as diverged, or None. `uniform` is ln(vocab_size), the loss of a uniform guess."""
    if not math.isfinite(loss):
        return f"the loss became {loss} (not a finite number)"
    reference = min(best, uniform)
    # The margin keeps a low loss (fine-tuning reaches 0.05) from "exploding" on one harder batch.
    if loss > factor * reference and loss > reference + uniform / 2:
        return f"the loss jumped to {loss:.2f}, over {factor:g}x {'the best so far' if best < uniform else 'a uniform guess'} ({reference:.2f})"
    return None


def train(
    model: GPT,
    batches,
    cfg: TrainConfig,
    stop_event: threading.Event | None = None,
    state: TrainState | None = None,
    sample_fn=None,
    parallel=None,
):
    """Train `model` in place, yielding `Metrics`. The last record has done=True and a stop_reason.

    `model(x, y)` must return `(anything, mean loss)`; models other than GPT (a reward model, a
    preference-tuning pair) plug in the same way, and may offer `batch_metrics() -> dict` for
    figures of the latest batch, read only at log points (before an evaluation there runs the model on
    held-out batches, so a record's extras are always its training batch's).

    `batches` provides `train_batch(batch_size, generator)` and `val_batches()`. `state`, when
    given, resumes a run (optimizers, step, tokens, elapsed time) and is updated as training goes.
    `sample_fn(model) -> str` is called every `cfg.sample_every` steps to show progress in text.

    `parallel`, a `distributed.DataParallel`, makes this one rank of a data-parallel run under
    torchrun: `cfg.batch_size` is then per rank, losses are averaged over ranks, every rank keeps
    rank 0's clock, and only rank 0 evaluates and samples (the others yield no val_loss).
    """
    cfg.validate()
    device = model.device
    bf16 = use_bf16(device, cfg.precision)
    keep_freed_memory()  # each step reuses the memory the last one freed: no fresh pages to fault in (device.keep_freed_memory)
    state = state or TrainState()
    if not state.optimizers:
        state.optimizers = build_optimizers(model, cfg.lr, cfg.muon_lr, cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed + state.step)
    params = [p for p in model.parameters() if p.requires_grad]
    forward, world_size, is_main = model, 1, True
    if parallel is not None:
        forward, world_size, is_main = parallel.wrap(model), parallel.world_size, parallel.is_main
        batches = parallel.shard(batches)
    model.train()

    best_loss = math.inf
    good_weights = copy.deepcopy(model.state_dict())
    last_log_time, last_log_tokens = state.elapsed_s, state.tokens_seen
    next_eval_time = state.elapsed_s + cfg.eval_every_s if cfg.eval_every_s else None
    eval_time = 0.0
    start_step = state.step

    def progress() -> float:
        p = state.step / cfg.max_steps
        if cfg.time_budget_s:
            p = max(p, state.elapsed_s / cfg.time_budget_s)
        return min(p, 1.0)

    last_tps = 0.0
    last_eval_step, last_val = -1, None
    extras: dict = {}  # the latest training batch's `batch_metrics()`, read before an evaluation reruns the model on held-out batches

    def batch_figures() -> dict:
        return model.batch_metrics() if hasattr(model, "batch_metrics") else {}

    def record(loss_value: float, val: float | None = None, sample: str | None = None, reason: str | None = None):
        nonlocal last_log_time, last_log_tokens, last_tps
        dt = state.elapsed_s - last_log_time
        if dt > 0:
            last_tps = (state.tokens_seen - last_log_tokens) / dt
        tps = last_tps
        last_log_time, last_log_tokens = state.elapsed_s, state.tokens_seen
        scale = lr_scale(state.step, progress(), cfg.warmup_steps, cfg.min_lr_ratio)
        return Metrics(
            step=state.step, max_steps=cfg.max_steps, tokens_seen=state.tokens_seen, train_loss=loss_value,
            val_loss=val, lr=cfg.lr * scale, lr_scale=scale, tokens_per_s=tps, elapsed_s=state.elapsed_s,
            eval_s=eval_time, progress=progress(), sample=sample, done=reason is not None, stop_reason=reason,
            extras=extras,
        )

    def run_eval() -> tuple[float, str | None]:
        nonlocal eval_time, last_eval_step, last_val
        t0 = time.perf_counter()
        val = last_val = evaluate(model, batches, device)
        last_eval_step = state.step
        state.best_val_loss = min(state.best_val_loss, val)
        sample = sample_fn(model) if sample_fn else None
        model.train()
        eval_time += time.perf_counter() - t0
        return val, sample

    loss_value = math.nan  # no loss measured yet (a run stopped before its first step reports none)
    read_step = state.step  # the step whose loss loss_value is
    reason = None
    while True:
        stop_requested = stop_event is not None and stop_event.is_set()
        if parallel is not None:
            state.elapsed_s, stop_requested = parallel.agree(state.elapsed_s, stop_requested)
        if stop_requested:
            reason = "stopped by user"
            break
        if state.step >= cfg.max_steps:
            reason = "reached the step limit"
            break
        if cfg.time_budget_s and state.elapsed_s >= cfg.time_budget_s:
            reason = "reached the time budget"
            break

        t0 = time.perf_counter()
        scale = lr_scale(state.step, progress(), cfg.warmup_steps, cfg.min_lr_ratio)
        for opt in state.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * scale
                if cfg.muon_momentum_warmup and isinstance(opt, Muon):
                    group["momentum"] = muon_momentum(state.step, cfg.muon_momentum_warmup)
        x, y = batches.train_batch(cfg.batch_size, generator)
        if cfg.short_windows_until and progress() < cfg.short_windows_until:
            x, y = half_windows(x, y)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, bf16):
            _, loss = forward(x, y)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        for opt in state.optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        state.step += 1
        state.tokens_seen += x.numel() * world_size
        if device.type == "cuda" and state.step % cfg.log_every == 0:
            torch.cuda.synchronize()
        state.elapsed_s += time.perf_counter() - t0

        if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
            loss_value = float(loss.detach()) if parallel is None else parallel.mean(loss)  # the only read-back of the loss (and one at the end)
            read_step = state.step
            extras = batch_figures()
            diverged = _divergence(loss_value, best_loss, math.log(model.config.vocab_size), cfg.divergence_factor)
            if diverged:
                model.load_state_dict(good_weights)
                for opt in state.optimizers:
                    opt.state.clear()  # moments from the diverged steps would push it off again
                reason = f"diverged: {diverged}; the last good weights were restored. Try a lower learning rate."
                break
            best_loss = min(best_loss, loss_value)
            good_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

            due_steps = cfg.eval_every and not cfg.eval_every_s and state.step % cfg.eval_every == 0
            due_time = next_eval_time is not None and state.elapsed_s >= next_eval_time
            if (due_steps or due_time) and is_main:
                if due_time:
                    while next_eval_time <= state.elapsed_s:
                        next_eval_time += cfg.eval_every_s
                yield record(loss_value, *run_eval())
            else:
                yield record(loss_value)

    if not reason.startswith("diverged") and state.step > read_step:
        # a stop (or the time budget) between two log points: the latest batch's loss was never read; read it
        # now, so the closing record reports the last step's loss, not the "not measured" NaN of no step
        loss_value = float(loss.detach()) if parallel is None else parallel.mean(loss)
        extras = batch_figures()
        diverged = _divergence(loss_value, best_loss, math.log(model.config.vocab_size), cfg.divergence_factor)
        if diverged:
            model.load_state_dict(good_weights)
            for opt in state.optimizers:
                opt.state.clear()
            reason = f"diverged: {diverged}; the last good weights were restored. Try a lower learning rate."
    if reason.startswith("diverged"):
        yield record(loss_value, reason=reason)
        return
    if last_eval_step == state.step:
        yield record(loss_value, last_val, None, reason)  # just evaluated at this very step
    elif is_main and (state.step > start_step or state.step == 0):
        val, sample = run_eval()
        yield record(loss_value, val, sample, reason)
    else:
        yield record(loss_value, reason=reason)


def build_model(config: ModelConfig, seed: int = 1337, device="cpu") -> GPT:
    """A freshly initialised model; the same seed always gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(config)
    return model.to(device)
