"""One live training run, as the Training chapter sets it up: corpus, fresh model, resumable job.

What it is: `prepare_corpus` turns text into a tokenizer, token ids and the train/val split,
refusing text that cannot be trained on with a reason. `TrainingRun` holds what one run needs
between segments (configs, corpus, and after each segment the weights and optimizer state as
safetensors bytes, so Resume continues the same run) and makes the background `Job` that trains
it. The job runs `run_segment(stop, spec)` in a worker process (or on Ray, or in a thread): it
yields `train()`'s `Metrics`, each evaluation also generating a short sample from the model as it
is at that step (same prompt, same seed, so only the model changes); then it measures the model
on the held-out split, within `FINAL_EVAL_BUDGET_S` (a random sample of the split when the whole
would take longer, and the record says how many tokens), and returns the weights as bytes.
Evaluations are done in chunks timed to take about `EVAL_CHUNK_S` each, samples one token at a
time, and a training step is abandoned at its next layer or gradient once a stop is asked
(`interruptible_steps`), all looking at the stop request, so Stop is quick in every phase and
whatever the model's size; the model is kept as it was after its last whole step. `training_record` is the one description of a finished run (also the CLI's).
What it is not: Streamlit, or a new training loop: the loop is `loop.train`, unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field

import torch

from llm_core.generation.sample import generate
from llm_core.jobs import Job, JobGate, Phase
from llm_core.model import lineage
from llm_core.model.checkpoint import (
    checkpoint_bytes,
    load_checkpoint_bytes,
    load_optimizer_bytes,
    optimizer_bytes,
)
from llm_core.model.config import ConfigError, ModelConfig, TrainConfig
from llm_core.model.device import pick_device
from llm_core.model.gpt import GPT
from llm_core.text.data import DataError, TokenSplit, check_trainable, eval_windows
from llm_core.text.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    TokenizerError,
    tokenizer_from_dict,
)
from llm_core.training.cost import train_flops_per_token
from llm_core.training.diagnosis import HEADLINE_MIN_TOKENS, diagnose, unigram_entropy
from llm_core.training.loop import Metrics, TextBatches, TrainState, build_model, train
from llm_core.training.optim import build_optimizers
from llm_core.workers.threads import ThreadTuner, tune_per_step

LIVE_EVAL_TOKENS = 16_384  # held-out tokens per evaluation while training: a fraction of a second on a CPU
FINAL_EVAL_TOKENS = 250_000  # held-out tokens for the final number (all of Tiny Shakespeare's 111k)
FINAL_EVAL_BUDGET_S = 15.0  # the closing evaluation stops here and reports the sample it measured
STOPPED_EVAL_BUDGET_S = 0.5  # after a Stop, the closing evaluation is a quick sample
EVAL_CHUNK_S = 0.2  # evaluations look at the stop request about this often, whatever the model's size
EVAL_CHUNK_WINDOWS = 64  # and never evaluate more windows than this at once
BPE_TRAIN_CHARS = 2_000_000  # BPE merges are learned on at most this much text; all of it is then encoded
SAMPLE_PROMPT = "\n"
SAMPLE_TOKENS = 200
SAMPLE_TEMPERATURE = 0.8


@dataclass
class Corpus:
    name: str
    text: str
    tokenizer: Tokenizer
    split: TokenSplit

    @property
    def n_chars(self) -> int:
        return len(self.text)

    @property
    def n_tokens(self) -> int:
        return len(self.split.train) + len(self.split.val)

    @functools.cached_property
    def hash(self) -> str:
        """sha256 of the text, for a model's lineage (the same corpus, the same hash)."""
        return lineage.data_hash(self.text)


def prepare_corpus(text: str, name: str = "text", tokenizer: str = "char", bpe_vocab_size: int = 512) -> Corpus:
    """Tokenize a corpus with characters or with LLM Lab's BPE trained on it; split off the last 10%.

    >>> c = prepare_corpus("to be or not to be " * 10, "hamlet")
    >>> c.tokenizer.vocab_size, c.n_tokens, len(c.split.val)
    (7, 190, 19)
    """
    if not text.strip():
        raise DataError("the corpus is empty: paste some text, upload a .txt file or pick a bundled corpus.")
    try:
        if tokenizer == "char":
            tok = CharTokenizer.from_text(text)
        elif tokenizer == "bpe":
            tok = BPETokenizer.train(text[:BPE_TRAIN_CHARS], bpe_vocab_size)
        else:
            raise DataError(f"unknown tokenizer {tokenizer!r}: choose 'char' or 'bpe'.")
        ids = tok.encode(text)
    except TokenizerError as exc:
        raise DataError(str(exc)) from None
    return Corpus(name=name, text=text, tokenizer=tok, split=TokenSplit.from_ids(ids))


def training_record(state: TrainState, last: Metrics | None, cfg: TrainConfig, *, corpus: str, corpus_chars: int,
                    tokens_in_corpus: int, device: str, history: list, stop_reason: str | None = None,
                    val_loss: float | None = None, **extra) -> dict:
    """What a checkpoint says about how it was trained (the CLI and the Training chapter both write it).

    >>> r = training_record(TrainState(step=5, tokens_seen=80, elapsed_s=1.234), None, TrainConfig(),
    ...                     corpus="c", corpus_chars=9, tokens_in_corpus=9, device="cpu", history=[], val_loss=2.0)
    >>> r["steps"], r["val_loss"], r["best_val_loss"], r["train_loss"], r["elapsed_s"]
    (5, 2.0, 2.0, None, 1.23)
    """
    if val_loss is None and last is not None:
        val_loss = last.val_loss
    finite = lambda v: None if v is None or not math.isfinite(v) else round(float(v), 4)  # noqa: E731
    best = min(state.best_val_loss, val_loss if val_loss is not None else math.inf)
    return dict(
        corpus=corpus, corpus_chars=corpus_chars, tokens_in_corpus=tokens_in_corpus,
        steps=state.step, tokens_seen=state.tokens_seen,
        train_loss=finite(last.train_loss) if last is not None else None, val_loss=finite(val_loss), best_val_loss=finite(best),
        elapsed_s=round(state.elapsed_s, 2), eval_s=round(last.eval_s, 2) if last is not None else 0.0,
        stop_reason=stop_reason if stop_reason is not None else (last.stop_reason if last is not None else None),
        device=device, train_config=cfg.to_dict(), history=list(history),
        created=time.strftime("%Y-%m-%d %H:%M:%S"), **extra,
    )


@dataclass
class TrainedModel:
    """A frozen copy of the model at the end of a segment, ready to register, save or download."""

    model: GPT
    tokenizer: Tokenizer
    record: dict
    meta: dict = field(default_factory=dict)  # the checkpoint description (config, tokenizer, record)


# --- what runs in the worker ---------------------------------------------------------------

@dataclass
class SegmentSpec:
    """Everything one segment needs, picklable (made by the server, never by a user's file)."""

    name: str
    corpus_name: str
    corpus_chars: int
    train_ids: torch.Tensor
    val_ids: torch.Tensor
    tokenizer: dict
    model_config: dict
    train_config: dict
    device: str = "cpu"
    eval_tokens: int | None = LIVE_EVAL_TOKENS
    sample_tokens: int = SAMPLE_TOKENS
    prompt_ids: list = field(default_factory=list)
    weights: bytes | None = None  # None: a fresh model; otherwise where the last segment ended
    optimizer: bytes | None = None
    counters: dict = field(default_factory=dict)  # TrainState's step, tokens_seen, elapsed_s, best_val_loss
    history: list = field(default_factory=list)
    final_eval_budget_s: float = FINAL_EVAL_BUDGET_S


def timed_chunks(n: int, stop, target_s: float = EVAL_CHUNK_S, most: int = EVAL_CHUNK_WINDOWS):
    """Ranges (i, j) covering range(n), sized from the time the previous ones took so that each takes
    about `target_s` (the first is a single item, so a huge model is not caught in a long first
    chunk; then at most doubling). The time between handing out a range and being asked for the next
    is what the caller spent on it. Ends early, after at least one range, once `stop` is set.

    >>> [j - i for i, j in timed_chunks(10, None, target_s=1e9, most=4)]
    [1, 2, 4, 3]
    """
    i, size = 0, 1
    while i < n:
        if i and stop is not None and stop.is_set():
            return  # at least one chunk, so a stopped evaluation still has a number
        j = min(n, i + size)
        t0 = time.perf_counter()
        yield i, j
        per_item = (time.perf_counter() - t0) / (j - i)
        size = max(1, min(most, 2 * size, int(target_s / max(per_item, 1e-9))))
        i = j


class StepInterrupted(Exception):
    """A stop was asked in the middle of a training step: the step is dropped (see `interruptible_steps`)."""


@contextlib.contextmanager
def interruptible_steps(model: GPT, stop):
    """Inside this block, a stop request ends a training step at its next layer (forward) or its next
    weight gradient (backward) by raising `StepInterrupted`. A big model's step can take many
    seconds and cannot otherwise look at the request. The optimizer has not stepped yet, so the
    weights and the optimizer's state stay as they were after the last whole step: nothing trained
    is lost. Evaluation and sampling (no gradients) are never interrupted this way: they have
    their own chunks. About 10 Python calls per layer and step: nothing next to a step's work."""
    if stop is None:
        yield
        return

    def check(*_):
        if stop.is_set() and torch.is_grad_enabled():
            raise StepInterrupted

    handles = []
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            handles.append(module.register_forward_pre_hook(check))
            if module.weight.requires_grad:
                handles.append(module.weight.register_hook(check))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class StoppableBatches:
    """`TextBatches` whose evaluations come in timed chunks (`timed_chunks`) and end early once a stop is
    asked; `measured_tokens` says how many held-out tokens the latest evaluation covered (of `full_tokens`)."""

    def __init__(self, batches: TextBatches, stop):
        self.inner, self.stop = batches, stop
        self.full_tokens = int(batches.val_y.numel())
        self.measured_tokens = 0

    def train_batch(self, batch_size, generator):
        return self.inner.train_batch(batch_size, generator)

    def val_batches(self, batch_size: int = EVAL_CHUNK_WINDOWS):
        x, y = self.inner.val_x, self.inner.val_y
        self.measured_tokens = 0
        for i, j in timed_chunks(len(x), self.stop, most=batch_size):
            self.measured_tokens += int(y[i:j].numel())
            yield x[i:j], y[i:j]

    @property
    def cut_short(self) -> bool:
        return self.measured_tokens < self.full_tokens


def sampler(tokenizer: Tokenizer, prompt_ids: list, n_tokens: int, stop):
    """A short continuation of the fixed prompt, same seed every time; cut short when a stop is asked."""

    def sample(model: GPT) -> str:
        ids = list(prompt_ids)
        for step in generate(model, prompt_ids, n_tokens, temperature=SAMPLE_TEMPERATURE, seed=0, top_n=0, keep_logits=False):
            ids.append(step.token_id)
            if stop is not None and stop.is_set():
                break
        return tokenizer.decode(ids)

    return sample


def closing_evaluation(model: GPT, val_ids: torch.Tensor, budget_s: float, stop=None):
    """Mean held-out loss, measured chunk by chunk in a fixed random order until the split or the
    time budget runs out (or a stop is asked); yields `Phase` records and returns (loss, tokens, total)."""
    x, y = eval_windows(val_ids, model.config.block_size, FINAL_EVAL_TOKENS)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    total_tokens = int(y.numel())
    loss_sum, done = 0.0, 0
    yield Phase(f"measuring the final loss: 0 of {total_tokens:,} held-out tokens", 0.0)  # one wording, so a Stop at any moment of it gives one reason
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i, j in timed_chunks(len(x), stop):
            if i and time.perf_counter() - t0 > budget_s:
                break
            idx = order[i:j]
            _, loss = model(x[idx].to(model.device), y[idx].to(model.device))
            n = int(y[idx].numel())
            loss_sum, done = loss_sum + float(loss) * n, done + n
            yield Phase(f"measuring the final loss: {done:,} of {total_tokens:,} held-out tokens", done / total_tokens)
    model.train(was_training)
    return (loss_sum / done if done else None), done, total_tokens


def closing_figures(history: list, measured: float | None, tokens: int, total: int, step: int) -> dict:
    """The record's validation figure: the closing evaluation when it covered enough held-out tokens
    (all of them, or at least HEADLINE_MIN_TOKENS), else the last full evaluation made during
    training (a Stop cuts the closing one to a chunk: a handful of tokens is too noisy to stand for
    the model), with the quick figure kept beside it.

    >>> closing_figures([], 2.0, 50_000, 111_488, 300)["val_kind"]
    'closing'
    >>> f = closing_figures([{"step": 280, "val_loss": 2.1, "val_tokens": 16_384}], 4.03, 128, 111_488, 300)
    >>> f["val_loss"], f["val_step"], f["val_tokens"], f["val_kind"], f["quick_val_loss"], f["quick_val_tokens"]
    (2.1, 280, 16384, 'live', 4.03, 128)
    >>> closing_figures([], 4.03, 128, 111_488, 3)["val_loss"] is None
    True
    """
    if measured is not None and math.isfinite(measured) and tokens >= min(total, HEADLINE_MIN_TOKENS):
        return dict(val_loss=measured, val_tokens=tokens, val_tokens_total=total, val_step=step, val_kind="closing")
    quick = dict(quick_val_loss=None if measured is None or not math.isfinite(measured) else round(measured, 4), quick_val_tokens=tokens)
    full = [h for h in history if h.get("val_tokens")]
    if not full:
        return dict(val_loss=None, val_tokens=0, val_tokens_total=total, val_step=None, val_kind=None, **quick)
    last = full[-1]
    return dict(val_loss=last["val_loss"], val_tokens=last["val_tokens"], val_tokens_total=total, val_step=last["step"], val_kind="live", **quick)


def run_segment(stop, spec: SegmentSpec):
    """Train one segment in a worker: yields Metrics (and Phase records); returns the payload the
    server turns back into a model: weights, JSON and optimizer state as bytes, counters and history."""
    yield Phase("the worker is building the model")  # said at once: the page shows what is happening, not "starting"
    device = pick_device(spec.device)
    tokenizer = tokenizer_from_dict(spec.tokenizer)
    cfg = TrainConfig(**spec.train_config)
    if spec.weights is not None:
        model = load_checkpoint_bytes(spec.weights, device=device).model
    else:
        model = build_model(ModelConfig.from_dict(spec.model_config), cfg.seed, device)
    state = TrainState(**spec.counters)
    if spec.optimizer is not None:
        state.optimizers = build_optimizers(model, cfg.lr, cfg.muon_lr, cfg.weight_decay)
        load_optimizer_bytes(spec.optimizer, model, state.optimizers)
    batches = StoppableBatches(TextBatches(TokenSplit(spec.train_ids, spec.val_ids), model.config.block_size, spec.eval_tokens), stop)
    history, last, start_step, interrupted = list(spec.history), None, state.step, False
    best_full = state.best_val_loss
    first = cfg.log_every if state.step == 0 else min(cfg.log_every, max(1, cfg.max_steps - state.step))
    yield Phase(f"computing the first training step{'s' if first > 1 else ''}: the first figures come after {first} step{'s' if first > 1 else ''}")
    with interruptible_steps(model, stop), tune_per_step(model, ThreadTuner.for_this_machine()):
        try:
            for metrics in train(model, batches, cfg, stop_event=stop, state=state, sample_fn=sampler(tokenizer, spec.prompt_ids, spec.sample_tokens, stop)):
                if metrics.val_loss is not None and batches.cut_short:
                    # an evaluation a Stop cut to a chunk: a handful of tokens must not stand as a validation loss,
                    # and its sample was cut to a token or two
                    metrics = dataclasses.replace(metrics, val_loss=None, sample=None)
                    state.best_val_loss = best_full
                elif metrics.val_loss is not None:
                    best_full = state.best_val_loss
                last = metrics
                if metrics.val_loss is not None and not (history and history[-1]["step"] == metrics.step):
                    history.append(dict(step=metrics.step, tokens=metrics.tokens_seen, train_loss=round(metrics.train_loss, 4),
                                        val_loss=round(metrics.val_loss, 4), elapsed_s=round(metrics.elapsed_s, 2), val_tokens=batches.measured_tokens))
                yield metrics
        except StepInterrupted:
            interrupted = True
            model.zero_grad(set_to_none=True)
    if interrupted:  # said at once: a worker silent after a stop request is ended (llm_core.workers.process)
        yield Phase(f"stopped in the middle of step {state.step + 1:,}: that step is dropped, the model is kept as after step {state.step:,}")
    if state.step == start_step:
        return None  # not a single step: nothing new to keep
    stopped = stop is not None and stop.is_set()
    budget = STOPPED_EVAL_BUDGET_S if stopped else spec.final_eval_budget_s
    measured, measured_tokens, total = yield from closing_evaluation(model, spec.val_ids, budget, stop)
    figures = closing_figures(history, measured, measured_tokens, total, state.step)
    record = training_record(
        state, last, cfg, corpus=spec.corpus_name, corpus_chars=spec.corpus_chars,
        tokens_in_corpus=len(spec.train_ids) + len(spec.val_ids), device=device.type, history=history,
        trained_in="LLM Lab, Training chapter", live_val_tokens=batches.full_tokens, **figures,
        **(dict(stop_reason="stopped by user") if interrupted else {}),
    )
    yield Phase("packing the weights", 1.0)
    weights, meta = checkpoint_bytes(model, tokenizer, record)
    diverged = (last.stop_reason or "").startswith("diverged") if last else False
    yield Phase("packing the optimizer's state", 1.0)  # each part says so: a big model's takes a while
    return dict(
        weights=weights, meta=meta, optimizer=None if diverged else optimizer_bytes(model, state.optimizers),
        counters=dict(step=state.step, tokens_seen=state.tokens_seen, elapsed_s=state.elapsed_s, best_val_loss=state.best_val_loss),
        history=history,
    )


run_segment.tunes_threads = True  # it picks its torch threads at every step (llm_core.workers.threads), not drive() at records


def pretraining_lineage(model: GPT, tokenizer: Tokenizer, corpus: Corpus | None, cfg: TrainConfig, record: dict, parent: dict | None = None,
                        corpus_name: str | None = None, corpus_hash: str | None = None) -> dict:
    """The lineage of a pre-trained model (a resumed run's parent is the model its last segment made)."""
    data = dict(corpus=corpus.name if corpus else corpus_name, corpus_hash=corpus.hash if corpus else corpus_hash,
                corpus_chars=record.get("corpus_chars"), tokens_in_corpus=record.get("tokens_in_corpus"), tokenizer=tokenizer.kind)
    return lineage.make(model, tokenizer, "pre-training", parent=parent, data=data,
                        settings=dict(model=model.config.to_dict(), training=cfg.to_dict()), steps=record.get("steps"),
                        time_s=record.get("elapsed_s"), flops=train_flops_per_token(model.config) * int(record.get("tokens_seen") or 0),
                        losses=dict(train=record.get("train_loss"), val=record.get("val_loss")))


# --- what stays in the server --------------------------------------------------------------

class TrainingRun:
    """A fresh model for a corpus, trained in the background by `make_job()`; resumable after a stop."""

    def __init__(
        self,
        corpus: Corpus,
        model_config: ModelConfig,
        train_config: TrainConfig,
        device="cpu",
        eval_tokens: int | None = LIVE_EVAL_TOKENS,
        sample_tokens: int = SAMPLE_TOKENS,
        name: str | None = None,
        backend: str | None = None,
        final_eval_budget_s: float = FINAL_EVAL_BUDGET_S,
    ):
        model_config.validate()
        train_config.validate()
        if model_config.vocab_size != corpus.tokenizer.vocab_size:
            raise ConfigError(f"the model's vocabulary ({model_config.vocab_size}) must match the tokenizer's ({corpus.tokenizer.vocab_size}).")
        check_trainable(corpus.n_tokens, model_config.block_size)
        self.corpus, self.cfg, self.model_config = corpus, train_config, model_config
        self.tokenizer = corpus.tokenizer
        self.device = str(device)
        self.backend = backend
        self.eval_tokens_limit = eval_tokens
        windows = (min(len(corpus.split.val), (eval_tokens or 10**12) + 1) - 1) // model_config.block_size
        self.eval_tokens = windows * model_config.block_size  # held-out tokens per live evaluation
        self.sample_tokens = sample_tokens
        self.final_eval_budget_s = final_eval_budget_s
        self.name = name or f"{model_config.n_layer}x{model_config.n_head}x{model_config.n_embd} on {corpus.name}"
        self.counters = dict(step=0, tokens_seen=0, elapsed_s=0.0, best_val_loss=math.inf)
        self.weights: bytes | None = None
        self.optimizer: bytes | None = None
        self.val_history: list[dict] = []
        self.diverged = False
        self.unigram_loss = unigram_entropy(corpus.split.train, corpus.tokenizer.vocab_size)  # the chart's second reference line
        self.estimated_step_s: float | None = None  # seconds per step the page estimated before the run (set by the page)
        self.created_at = time.time()
        self.lineage: dict | None = None  # the last segment's model's: a resumed segment starts from it
        try:
            self.prompt_ids = self.tokenizer.encode(SAMPLE_PROMPT)
        except TokenizerError:
            self.prompt_ids = []
        if not self.prompt_ids:  # a corpus without newlines: start from its first token
            self.prompt_ids = [int(corpus.split.train[0])]

    @property
    def steps_done(self) -> int:
        return int(self.counters["step"])

    @property
    def uniform_loss(self) -> float:
        """The loss of a uniform guess over the vocabulary: ln(vocab_size)."""
        return math.log(self.model_config.vocab_size)

    def diagnose(self, records, stop_reason: str | None = None, **options):
        """What this run shows so far, named (`diagnosis.diagnose` over its records, with its reference levels and learning rate;
        `options`: `val_on`, `gap`)."""
        return diagnose(records, self.uniform_loss, self.unigram_loss, stop_reason, lr=self.cfg.lr, usual_lr=TrainConfig.lr, **options)

    def spec(self) -> SegmentSpec:
        return SegmentSpec(
            name=self.name, corpus_name=self.corpus.name, corpus_chars=self.corpus.n_chars,
            train_ids=self.corpus.split.train, val_ids=self.corpus.split.val, tokenizer=self.tokenizer.to_dict(),
            model_config=self.model_config.to_dict(), train_config=self.cfg.to_dict(), device=self.device,
            eval_tokens=self.eval_tokens_limit, sample_tokens=self.sample_tokens, prompt_ids=list(self.prompt_ids),
            weights=self.weights, optimizer=self.optimizer, counters=dict(self.counters), history=list(self.val_history),
            final_eval_budget_s=self.final_eval_budget_s,
        )

    def finish(self, last: Metrics | None, reason: str | None, payload: dict | None) -> TrainedModel | None:
        """Runs in the server when a segment ends: the payload's bytes become a model (None if no step)."""
        if reason and reason.startswith("diverged"):
            self.diverged = True
        if not payload:
            return None
        self.weights, self.optimizer = payload["weights"], payload["optimizer"]
        self.counters, self.val_history = dict(payload["counters"]), list(payload["history"])
        loaded = load_checkpoint_bytes(payload["weights"], payload["meta"], device=self.device)
        record = loaded.meta["record"]
        record["stop_reason"] = reason  # the server knows about caps and idle stops
        loaded.meta["lineage"] = self.lineage = pretraining_lineage(loaded.model, loaded.tokenizer, self.corpus, self.cfg, record, self.lineage)
        return TrainedModel(loaded.model.eval(), loaded.tokenizer, record, loaded.meta)

    def can_resume(self) -> bool:
        """True when a stopped run has schedule left: not diverged, not at its step or time limit."""
        step = self.steps_done
        if self.diverged or step == 0 or self.weights is None or step >= self.cfg.max_steps:
            return False
        return not (self.cfg.time_budget_s and self.counters["elapsed_s"] >= self.cfg.time_budget_s)

    def make_job(self, gate: JobGate | None = None, time_cap_s: float | None = None, idle_timeout_s: float | None = None,
                 backend: str | None = None, **options) -> Job:
        """The job that trains this run: in a worker process unless `backend` says "thread" or "ray"."""
        return Job.worker(run_segment, lambda: (self.spec(),), backend=backend or self.backend, finish=self.finish,
                          gate=gate, time_cap_s=time_cap_s, idle_timeout_s=idle_timeout_s, name=self.name, **options)
