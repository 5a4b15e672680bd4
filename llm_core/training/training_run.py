"""One live training run, as the Training chapter sets it up: corpus, fresh model, resumable job.

What it is: `prepare_corpus` turns text into a tokenizer, token ids and the train/val split,
refusing text that cannot be trained on with a reason. `TrainingRun` holds everything one run
needs (the model being trained, its batches, the `TrainConfig` and the `TrainState` that makes
Resume continue the same run) and makes the background `Job` (see `jobs.py`) that trains it. The
job yields `train()`'s `Metrics`; each evaluation also generates a short sample from the model
as it is at that step (same prompt, same seed, so only the model changes). When a segment ends,
the model is measured on the whole held-out split (up to `FINAL_EVAL_TOKENS`) and a frozen copy
with its training record becomes `job.result`, a `TrainedModel`.
What it is not: Streamlit, or a new training loop: the loop is `train.train`, unchanged.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field

from llm_core.generation.sample import generate
from llm_core.jobs import Job, JobGate
from llm_core.model.checkpoint import describe_checkpoint
from llm_core.model.config import ConfigError, ModelConfig, TrainConfig
from llm_core.model.gpt import GPT
from llm_core.text.data import DataError, TokenSplit, check_trainable
from llm_core.text.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    TokenizerError,
)
from llm_core.training.loop import (
    Metrics,
    TextBatches,
    TrainState,
    build_model,
    evaluate,
    train,
)

LIVE_EVAL_TOKENS = 16_384  # held-out tokens per evaluation while training: a fraction of a second on a CPU
FINAL_EVAL_TOKENS = 250_000  # held-out tokens for the final number (all of Tiny Shakespeare's 111k)
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


@dataclass
class TrainedModel:
    """A frozen copy of the model at the end of a segment, ready to register, save or download."""

    model: GPT
    tokenizer: Tokenizer
    record: dict
    meta: dict = field(default_factory=dict)  # the checkpoint description (config, tokenizer, record)


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
    ):
        model_config.validate()
        train_config.validate()
        if model_config.vocab_size != corpus.tokenizer.vocab_size:
            raise ConfigError(f"the model's vocabulary ({model_config.vocab_size}) must match the tokenizer's ({corpus.tokenizer.vocab_size}).")
        check_trainable(corpus.n_tokens, model_config.block_size)
        self.corpus, self.cfg = corpus, train_config
        self.tokenizer = corpus.tokenizer
        self.batches = TextBatches(corpus.split, model_config.block_size, eval_tokens)
        self.eval_tokens = int(self.batches.val_y.numel())  # held-out tokens per live evaluation
        self.model = build_model(model_config, train_config.seed, device)
        self.state = TrainState()
        self.sample_tokens = sample_tokens
        self.name = name or f"{model_config.n_layer}x{model_config.n_head}x{model_config.n_embd} on {corpus.name}"
        self.val_history: list[dict] = []
        self.diverged = False
        self.last: Metrics | None = None
        self._stop: threading.Event | None = None
        try:
            self.prompt_ids = self.tokenizer.encode(SAMPLE_PROMPT)
        except TokenizerError:
            self.prompt_ids = []
        if not self.prompt_ids:  # a corpus without newlines: start from its first token
            self.prompt_ids = [int(corpus.split.train[0])]

    @property
    def uniform_loss(self) -> float:
        """The loss of a uniform guess over the vocabulary: ln(vocab_size)."""
        return math.log(self.model.config.vocab_size)

    def steps(self, stop_event: threading.Event):
        """The metrics generator a `Job` runs: `train()` resumed from this run's state."""
        self._stop = stop_event
        for metrics in train(self.model, self.batches, self.cfg, stop_event=stop_event, state=self.state, sample_fn=self.sample):
            self.last = metrics
            if metrics.val_loss is not None and not (self.val_history and self.val_history[-1]["step"] == metrics.step):
                self.val_history.append(dict(step=metrics.step, tokens=metrics.tokens_seen, train_loss=round(metrics.train_loss, 4), val_loss=round(metrics.val_loss, 4), elapsed_s=round(metrics.elapsed_s, 2)))
            yield metrics

    def sample(self, model: GPT) -> str:
        """A short continuation of the fixed prompt, same seed every time; cut short when a stop is asked."""
        ids = list(self.prompt_ids)
        for step in generate(model, self.prompt_ids, self.sample_tokens, temperature=SAMPLE_TEMPERATURE, seed=0, top_n=0, keep_logits=False):
            ids.append(step.token_id)
            if self._stop is not None and self._stop.is_set():
                break
        return self.tokenizer.decode(ids)

    def finish(self, last: Metrics | None, reason: str | None) -> TrainedModel | None:
        """Measure the whole held-out split and freeze a copy; None if not a single step was taken."""
        if reason and reason.startswith("diverged"):
            self.diverged = True
        if self.state.step == 0:
            return None
        full = TextBatches(self.corpus.split, self.model.config.block_size, FINAL_EVAL_TOKENS)
        val_loss = evaluate(self.model, full, self.model.device)
        frozen = copy.deepcopy(self.model).eval()
        record = dict(
            corpus=self.corpus.name, corpus_chars=self.corpus.n_chars, tokens_in_corpus=self.corpus.n_tokens,
            steps=self.state.step, tokens_seen=self.state.tokens_seen,
            train_loss=None if last is None or not math.isfinite(last.train_loss) else round(last.train_loss, 4),
            val_loss=round(val_loss, 4), val_tokens=int(full.val_y.numel()), best_val_loss=round(min(self.state.best_val_loss, val_loss), 4),
            elapsed_s=round(self.state.elapsed_s, 2), eval_s=round(last.eval_s, 2) if last else 0.0,
            stop_reason=reason, device=self.model.device.type, train_config=self.cfg.to_dict(),
            history=list(self.val_history), trained_in="LLM Lab, Training chapter", created=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
        return TrainedModel(frozen, self.tokenizer, record, describe_checkpoint(frozen, self.tokenizer, record))

    def can_resume(self) -> bool:
        """True when a stopped run has schedule left: not diverged, not at its step or time limit."""
        if self.diverged or self.state.step == 0 or self.state.step >= self.cfg.max_steps:
            return False
        return not (self.cfg.time_budget_s and self.state.elapsed_s >= self.cfg.time_budget_s)

    def make_job(self, gate: JobGate | None = None, time_cap_s: float | None = None, idle_timeout_s: float | None = None) -> Job:
        return Job(self.steps, finish=self.finish, gate=gate, time_cap_s=time_cap_s, idle_timeout_s=idle_timeout_s, name=self.name)
