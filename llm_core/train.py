"""The one training loop, as a generator of metrics, and its command line.

What it is: `train()` minimises next-token cross-entropy with Muon + AdamW, a linear warmup and a
cosine decay (driven by steps or by the time budget, whichever runs out first), gradient
clipping and bf16 autocast where it is faster. It yields a `Metrics` record every `log_every`
steps and at every evaluation, so the same code serves the CLI, the tests and the live page. It
stops when asked (a `threading.Event`), at the step or time limit, or when the loss diverges (NaN,
infinity or an explosion), in which case the last good weights are put back. Pre-training and
fine-tuning share it: what differs is only the `Batches` it draws from.
What it is not: the model (`model.py`) or the data (`data.py`). `.item()` is called only at log
points, so on a GPU the loop does not wait for the device every step.

    python -m llm_core.train --preset tiny --corpus tinyshakespeare --time 180 --out assets/models/shakespeare-tiny
"""

from __future__ import annotations

import argparse
import copy
import math
import shlex
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import torch

from .config import ConfigError, ModelConfig, TrainConfig, model_preset, train_preset
from .data import DataError, TokenSplit, check_trainable, eval_windows, random_batch
from .device import autocast, pick_device, use_bf16
from .model import GPT
from .optim import build_optimizers


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
):
    """Train `model` in place, yielding `Metrics`. The last record has done=True and a stop_reason.

    `model(x, y)` must return `(anything, mean loss)`; models other than GPT (a reward model, a
    preference-tuning pair) plug in the same way, and may offer `batch_metrics() -> dict` for
    figures of the latest batch, read only at log points.

    `batches` provides `train_batch(batch_size, generator)` and `val_batches()`. `state`, when
    given, resumes a run (optimizers, step, tokens, elapsed time) and is updated as training goes.
    `sample_fn(model) -> str` is called every `cfg.sample_every` steps to show progress in text.
    """
    cfg.validate()
    device = model.device
    bf16 = use_bf16(device, cfg.precision)
    state = state or TrainState()
    if not state.optimizers:
        state.optimizers = build_optimizers(model, cfg.lr, cfg.muon_lr, cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed + state.step)
    params = [p for p in model.parameters() if p.requires_grad]
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
            extras=model.batch_metrics() if hasattr(model, "batch_metrics") else {},
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

    loss_value = math.nan
    reason = None
    while True:
        if stop_event is not None and stop_event.is_set():
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
        x, y = batches.train_batch(cfg.batch_size, generator)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, bf16):
            _, loss = model(x, y)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        for opt in state.optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        state.step += 1
        state.tokens_seen += x.numel()
        if device.type == "cuda" and state.step % cfg.log_every == 0:
            torch.cuda.synchronize()
        state.elapsed_s += time.perf_counter() - t0

        if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
            loss_value = float(loss.detach())  # the only read-back of the loss
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
            if due_steps or due_time:
                if due_time:
                    while next_eval_time <= state.elapsed_s:
                        next_eval_time += cfg.eval_every_s
                yield record(loss_value, *run_eval())
            else:
                yield record(loss_value)

    if reason.startswith("diverged"):
        yield record(loss_value, reason=reason)
        return
    if last_eval_step == state.step:
        yield record(loss_value, last_val, None, reason)  # just evaluated at this very step
    elif state.step > start_step or state.step == 0:
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


def _parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m llm_core.train", description="Train an LLM Lab GPT on a corpus and save a checkpoint.")
    p.add_argument("--preset", default="tiny", help="model and training preset: nano, tiny or small")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--corpus", default="tinyshakespeare", help="a bundled corpus in assets/corpora")
    src.add_argument("--text-file", help="train on this UTF-8 text file instead")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char", help="characters, or LLM Lab's BPE trained on the corpus")
    p.add_argument("--bpe-vocab", type=int, default=512, help="vocabulary size when --tokenizer bpe")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the preset's)")
    p.add_argument("--time", type=float, help="time budget in seconds of training")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="AdamW learning rate (embeddings, head, norms)")
    p.add_argument("--muon-lr", type=float, help="Muon learning rate for the block matrices (0: AdamW everywhere)")
    p.add_argument("--n-layer", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--n-embd", type=int)
    p.add_argument("--block-size", type=int, help="context length")
    p.add_argument("--position", choices=["learned", "rope"])
    p.add_argument("--eval-every", type=int, help="steps between evaluations")
    p.add_argument("--eval-every-s", type=float, help="seconds of training between evaluations")
    p.add_argument("--seed", type=int)
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--out", help="save the checkpoint here (NAME -> NAME.safetensors + NAME.json)")
    p.add_argument("--resume", help="continue from this checkpoint (weights, and optimizer state if saved)")
    p.add_argument("--save-optimizer", action="store_true", help="also save optimizer state for a later --resume")
    p.add_argument("--quiet", action="store_true", help="print only evaluations")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from .checkpoint import CheckpointError, load_checkpoint, load_optimizer_state, save_checkpoint
    from .data import load_corpus, text_from_bytes
    from .tokenizers import BPETokenizer, CharTokenizer, TokenizerError

    args = _parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
        if args.text_file:
            with open(args.text_file, "rb") as f:
                text, corpus_name = text_from_bytes(f.read()), args.text_file
        else:
            text, corpus_name = load_corpus(args.corpus), args.corpus
        state = TrainState()
        prior_record = {}
        if args.resume:
            loaded = load_checkpoint(args.resume, device)
            model, tokenizer, prior_record = loaded.model, loaded.tokenizer, loaded.record
        else:
            tokenizer = CharTokenizer.from_text(text) if args.tokenizer == "char" else BPETokenizer.train(text, args.bpe_vocab)
            overrides = {k: v for k, v in dict(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size, position=args.position).items() if v is not None}
            config = model_preset(args.preset, tokenizer.vocab_size, **overrides)
        train_overrides = dict(max_steps=args.steps, time_budget_s=args.time, batch_size=args.batch_size, lr=args.lr, muon_lr=args.muon_lr, eval_every=args.eval_every, eval_every_s=args.eval_every_s, seed=args.seed, precision=args.precision)
        cfg = train_preset(args.preset, **{k: v for k, v in train_overrides.items() if v is not None})
        if args.time and args.steps is None:
            cfg.max_steps = 10_000_000  # the time budget decides
        if not args.resume:
            model = build_model(config, cfg.seed, device)
        ids = tokenizer.encode(text)
        batches = TextBatches(TokenSplit.from_ids(ids), model.config.block_size)
        if args.resume:
            state.optimizers = build_optimizers(model, cfg.lr, cfg.muon_lr, cfg.weight_decay)
            load_optimizer_state(args.resume, model, state.optimizers)
            state.step = int(prior_record.get("steps", 0))
            state.tokens_seen = int(prior_record.get("tokens_seen", 0))
            cfg.max_steps = state.step + cfg.max_steps
    except (ConfigError, DataError, TokenizerError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(f"model: {model.num_params():,} parameters, {model.config.n_layer} layers x {model.config.n_head} heads x {model.config.n_embd} wide, context {model.config.block_size}; "
          f"vocab {tokenizer.vocab_size} ({tokenizer.kind}); {len(ids):,} tokens; device {device.type}, bf16 {use_bf16(device, cfg.precision)}", flush=True)
    history, last = [], None
    sample_fn = None
    try:
        for m in train(model, batches, cfg, state=state, sample_fn=sample_fn):
            last = m
            if m.val_loss is not None or m.done:
                history.append(dict(step=m.step, tokens=m.tokens_seen, train_loss=round(m.train_loss, 4), val_loss=None if m.val_loss is None else round(m.val_loss, 4), elapsed_s=round(m.elapsed_s, 2)))
            if m.val_loss is not None or not args.quiet:
                val = f" val {m.val_loss:.4f}" if m.val_loss is not None else ""
                print(f"step {m.step:6d} | {m.elapsed_s:7.1f}s | loss {m.train_loss:.4f}{val} | lr x{m.lr_scale:.3f} | {m.tokens_per_s:,.0f} tok/s", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    if last is None:
        return 1
    print(f"done: {last.stop_reason}; best val loss {state.best_val_loss:.4f}; {last.elapsed_s:.1f}s training, {last.eval_s:.1f}s evaluating")
    if args.out:
        record = dict(
            corpus=corpus_name, corpus_chars=len(text), tokens_in_corpus=len(ids), steps=state.step, tokens_seen=state.tokens_seen,
            train_loss=last.train_loss, val_loss=last.val_loss, best_val_loss=state.best_val_loss, elapsed_s=round(state.elapsed_s, 2),
            stop_reason=last.stop_reason, device=device.type, train_config=cfg.to_dict(), history=prior_record.get("history", []) + history,
            command="python -m llm_core.train " + shlex.join(sys.argv[1:] if argv is None else argv),
            created=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
        path = save_checkpoint(args.out, model, tokenizer, record, optimizers=state.optimizers if args.save_optimizer else None)
        print(f"saved {path} and {path.with_suffix('.json')}")
    return 0 if not (last.stop_reason or "").startswith("diverged") else 3


if __name__ == "__main__":
    sys.exit(main())
