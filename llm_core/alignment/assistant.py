"""From base model to assistant: the three stages of the "Making an assistant" chapter as jobs.

What it is: `SFTStage` (supervised fine-tuning on prompt/response pairs, loss on the response
only), `RewardStage` (a reward model from ranked pairs) and `PreferenceStage` (DPO toward the
preferred responses, optionally on extra pairs the reward model labels, which is RLHF's point:
a reward model stands in for people on far more comparisons than they could rate). Each stage
holds its model, builds a background `Job` (see `jobs.py`) around the one training loop in
`train.py`, measures before and after in the job's thread, and returns a frozen result.
What it is not: Streamlit, or a second training loop.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass, field

import torch

from llm_core.alignment.finetune import ChatBatches, answer, extend_vocabulary
from llm_core.alignment.preference import (
    DPOPair,
    Pair,
    PairBatches,
    RewardModel,
    auto_prefer,
    reward_accuracy,
    sampled_pairs,
    score,
    split_pairs,
)
from llm_core.alignment.tasks import TASK_NAMES, Example, is_correct, split_examples
from llm_core.jobs import Job, JobGate
from llm_core.model.checkpoint import describe_checkpoint
from llm_core.model.config import TrainConfig
from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import Tokenizer
from llm_core.training.loop import Metrics, TrainState, train
from llm_core.training.training_run import TrainedModel

PROBE_PER_TASK = 8  # held-out prompts per task in the before/after tables


def sft_config(**overrides) -> TrainConfig:
    """Defaults measured to finish in about a minute for the tiny preset on a 2-core CPU."""
    base = dict(max_steps=600, batch_size=32, lr=2e-3, muon_lr=0.01, warmup_steps=20, eval_every=150, log_every=10)
    return TrainConfig(**{**base, **overrides}).validate()


def reward_config(**overrides) -> TrainConfig:
    base = dict(max_steps=150, batch_size=16, lr=1e-3, muon_lr=0.0, warmup_steps=10, eval_every=50, log_every=10)
    return TrainConfig(**{**base, **overrides}).validate()


def preference_config(**overrides) -> TrainConfig:
    """AdamW only and a small rate: Muon's fixed-size steps and larger rates moved the tiny model far
    from the fine-tuned one (KL 0.4-0.9 nats per token) and hurt its held-out answers more (measured)."""
    base = dict(max_steps=150, batch_size=16, lr=1e-4, muon_lr=0.0, warmup_steps=10, eval_every=50, log_every=10)
    return TrainConfig(**{**base, **overrides}).validate()


@dataclass
class Evaluation:
    """Answers of one model to a fixed list of prompts, and how many are right."""

    examples: list[Example]
    answers: list[str]
    temperature: float

    @property
    def correct(self) -> list[bool]:
        return [is_correct(e, a) for e, a in zip(self.examples, self.answers)]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / max(1, len(self.examples))

    def by_task(self) -> dict[str, float]:
        out: dict[str, list[bool]] = {}
        for e, ok in zip(self.examples, self.correct):
            out.setdefault(e.task, []).append(ok)
        return {TASK_NAMES.get(t, t): sum(v) / len(v) for t, v in out.items()}


def evaluate_answers(model: GPT, tokenizer: Tokenizer, examples: list[Example], temperature: float = 0.0, seed: int = 0, stop: threading.Event | None = None) -> Evaluation:
    answers = []
    for i, ex in enumerate(examples):
        if stop is not None and stop.is_set():
            break
        answers.append(answer(model, tokenizer, ex.prompt, temperature=temperature, seed=seed + i))
    return Evaluation(examples[: len(answers)], answers, temperature)


def probe_set(held_out: list[Example], per_task: int = PROBE_PER_TASK, seed: int = 0) -> list[Example]:
    """A fixed, small, stratified list of held-out prompts for the before/after tables."""
    rng = random.Random(seed)
    by_task: dict[str, list[Example]] = {}
    for ex in held_out:
        by_task.setdefault(ex.task, []).append(ex)
    picked = []
    for task in sorted(by_task):
        picked += rng.sample(by_task[task], min(per_task, len(by_task[task])))
    return picked


class _Stage:
    """What every stage shares: a TrainState for resume, the job, the latest metrics."""

    name = "stage"

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg.validate()
        self.state = TrainState()
        self.last: Metrics | None = None
        self.history: list[dict] = []

    def _train(self, model, batches, stop_event):
        for m in train(model, batches, self.cfg, stop_event=stop_event, state=self.state):
            self.last = m
            if m.val_loss is not None:
                self.history.append(dict(step=m.step, train_loss=round(m.train_loss, 4), val_loss=round(m.val_loss, 4), **{k: round(v, 4) for k, v in m.extras.items()}))
            yield m

    def make_job(self, gate: JobGate | None = None, time_cap_s: float | None = None, idle_timeout_s: float | None = None) -> Job:
        return Job(self.steps, finish=self.finish, gate=gate, time_cap_s=time_cap_s, idle_timeout_s=idle_timeout_s, name=self.name)

    def _record(self, reason: str | None, **extra) -> dict:
        return dict(
            stage=self.name, steps=self.state.step, tokens_seen=self.state.tokens_seen, elapsed_s=round(self.state.elapsed_s, 2),
            stop_reason=reason, train_config=self.cfg.to_dict(), history=list(self.history),
            trained_in="LLM Lab, Making an assistant chapter", created=time.strftime("%Y-%m-%d %H:%M:%S"), **extra,
        )


class SFTStage(_Stage):
    """Fine-tune a copy of the base model on the instruction pairs; the base is never modified."""

    name = "supervised fine-tuning"

    def __init__(self, base_model: GPT, base_tokenizer: Tokenizer, examples: list[Example], cfg: TrainConfig | None = None, seed: int = 0, base_name: str = "base"):
        super().__init__(cfg or sft_config())
        if not examples:
            raise ValueError("there are no instruction pairs to fine-tune on.")
        self.train_set, self.held_out = split_examples(examples, seed=seed)
        if not self.held_out:
            raise ValueError("no held-out prompts: add more pairs of the addition, upper-case or reverse tasks.")
        texts = [e.prompt + e.response for e in examples]
        self.model, self.tokenizer = extend_vocabulary(base_model, base_tokenizer, texts)
        self.base = copy.deepcopy(self.model).eval()  # the base model, now able to read the chat tokens
        self.batches = ChatBatches(self.train_set, self.held_out, self.tokenizer, self.model.config.block_size)
        self.probe = probe_set(self.held_out, seed=seed)
        self.base_name = base_name
        self.before: Evaluation | None = None
        self.after: Evaluation | None = None

    def steps(self, stop_event: threading.Event):
        if self.before is None:
            self.before = evaluate_answers(self.base, self.tokenizer, self.probe)
        yield from self._train(self.model, self.batches, stop_event)

    def finish(self, last, reason) -> TrainedModel | None:
        if self.state.step == 0:
            return None
        self.after = evaluate_answers(self.model, self.tokenizer, self.probe)
        frozen = copy.deepcopy(self.model).eval()
        record = self._record(
            reason, base_model=self.base_name, train_pairs=len(self.train_set), held_out_pairs=len(self.held_out),
            val_loss=None if last is None or last.val_loss is None else round(last.val_loss, 4),
            exact_match_before=round(self.before.accuracy, 4) if self.before else None, exact_match_after=round(self.after.accuracy, 4),
        )
        return TrainedModel(frozen, self.tokenizer, record, describe_checkpoint(frozen, self.tokenizer, record))


def candidate_pairs(model: GPT, tokenizer: Tokenizer, examples: list[Example], n: int, seed: int = 0, temperature: float = 1.0) -> list[tuple[Example, str, str]]:
    """Up to n (prompt, response A, response B) pairs sampled from the model, for rating."""
    pool = random.Random(seed).sample(examples, min(len(examples), 2 * n))
    out = []
    for i in range(0, len(pool), 8):
        out += sampled_pairs(model, tokenizer, pool[i : i + 8], temperature=temperature, seed=seed + i)
        if len(out) >= n:
            break
    return out[:n]


def rate_automatically(candidates: list[tuple[Example, str, str]]) -> list[Pair | None]:
    """The automatic rater on each candidate: a Pair (chosen first), or None where it skips."""
    out = []
    for ex, a, b in candidates:
        choice = auto_prefer(ex, a, b)
        out.append(None if choice is None else (Pair(ex, a, b, "auto") if choice == 0 else Pair(ex, b, a, "auto")))
    return out


@dataclass
class RewardResult:
    model: RewardModel
    tokenizer: Tokenizer
    accuracy: float  # on held-out pairs
    n_train: int
    n_held_out: int
    examples: list[tuple[Pair, float, float]] = field(default_factory=list)  # held-out pair, r(chosen), r(rejected)


class RewardStage(_Stage):
    """Train a reward model (the SFT transformer plus a scalar head) on ranked pairs."""

    name = "reward model"

    def __init__(self, sft: TrainedModel, pairs: list[Pair], cfg: TrainConfig | None = None, seed: int = 0):
        super().__init__(cfg or reward_config())
        if len(pairs) < 4:
            raise ValueError(f"rate at least 4 pairs first (you have {len(pairs)}): some are held out to test the reward model.")
        self.fit, self.val = split_pairs(pairs, 0.25, seed)
        self.tokenizer = sft.tokenizer
        self.model = RewardModel(sft.model)
        self.batches = PairBatches(self.fit, self.val, self.tokenizer, sft.model.config.block_size)
        self.accuracy_before = reward_accuracy(self.model, self.batches)

    def steps(self, stop_event: threading.Event):
        yield from self._train(self.model, self.batches, stop_event)

    def finish(self, last, reason) -> RewardResult | None:
        if self.state.step == 0:
            return None
        self.model.eval()
        shown = [(p, score(self.model, self.tokenizer, p.example, p.chosen), score(self.model, self.tokenizer, p.example, p.rejected)) for p in self.val[:10]]
        return RewardResult(self.model, self.tokenizer, reward_accuracy(self.model, self.batches), len(self.fit), len(self.val), shown)


class PreferenceStage(_Stage):
    """Tune a copy of the SFT model toward the preferred responses with DPO (plus a likelihood term)."""

    name = "preference tuning"

    def __init__(
        self,
        sft: TrainedModel,
        rated: list[Pair],
        held_out: list[Example],
        train_examples: list[Example],
        reward: RewardResult | None = None,
        extra_pairs: int = 200,
        beta: float = 0.1,
        cfg: TrainConfig | None = None,
        seed: int = 0,
    ):
        super().__init__(cfg or preference_config())
        self.sft, self.rated, self.reward = sft, list(rated), reward
        self.tokenizer = sft.tokenizer
        self.train_examples = train_examples
        self.extra_pairs = extra_pairs if reward is not None else 0
        self.seed = seed
        self.pair = DPOPair(copy.deepcopy(sft.model), sft.model, beta=beta)
        self.probe = probe_set(held_out, seed=seed)
        self.pairs: list[Pair] = []
        self.batches: PairBatches | None = None
        self.before: Evaluation | None = None
        self.after: Evaluation | None = None
        if len(self.rated) + self.extra_pairs < 2:
            raise ValueError("preference tuning needs rated pairs: rate some, or train a reward model to label more.")

    def _label_with_reward_model(self, stop: threading.Event) -> list[Pair]:
        """Sample pairs from the SFT model and let the reward model pick the better response.

        Only the half it is surest about (the larger reward gaps) is kept: a small reward model's
        close calls are mostly noise, such as two answers that are both right.
        """
        scored = []
        for ex, a, b in candidate_pairs(self.sft.model, self.tokenizer, self.train_examples, self.extra_pairs, seed=self.seed + 1):
            if stop.is_set():
                break
            ra, rb = score(self.reward.model, self.tokenizer, ex, a), score(self.reward.model, self.tokenizer, ex, b)
            scored.append((abs(ra - rb), Pair(ex, a, b, "reward model") if ra >= rb else Pair(ex, b, a, "reward model")))
        scored.sort(key=lambda item: -item[0])
        return [pair for _, pair in scored[: (len(scored) + 1) // 2]]

    def steps(self, stop_event: threading.Event):
        if self.batches is None:
            extra = self._label_with_reward_model(stop_event) if self.extra_pairs else []
            self.pairs = self.rated + extra
            fit, val = split_pairs(self.pairs, 0.2, self.seed)
            self.batches = PairBatches(fit, val, self.tokenizer, self.sft.model.config.block_size)
            self.before = evaluate_answers(self.sft.model, self.tokenizer, self.probe, temperature=1.0, seed=self.seed)
        yield from self._train(self.pair, self.batches, stop_event)

    def finish(self, last, reason) -> TrainedModel | None:
        if self.state.step == 0:
            return None
        policy = self.pair.policy
        self.after = evaluate_answers(policy, self.tokenizer, self.probe, temperature=1.0, seed=self.seed)
        frozen = copy.deepcopy(policy).eval()
        kl = [h.get("kl") for h in self.history if h.get("kl") is not None]
        record = self._record(
            reason, pairs_rated=len(self.rated), pairs_from_reward_model=len(self.pairs) - len(self.rated), beta=self.pair.beta,
            preferred_rate_before=round(self.before.accuracy, 4) if self.before else None, preferred_rate_after=round(self.after.accuracy, 4),
            kl_last=kl[-1] if kl else None,
        )
        return TrainedModel(frozen, self.tokenizer, record, describe_checkpoint(frozen, self.tokenizer, record))


@torch.no_grad()
def compare(models: dict[str, tuple[GPT, Tokenizer]], examples: list[Example]) -> list[dict]:
    """One row per prompt: the right answer and each model's greedy answer (with a tick when right)."""
    rows = []
    answers = {name: evaluate_answers(m, t, examples).answers for name, (m, t) in models.items()}
    for i, ex in enumerate(examples):
        row = {"prompt": ex.prompt, "right answer": ex.response}
        for name in models:
            a = answers[name][i]
            row[name] = ("✓ " if is_correct(ex, a) else "✗ ") + a
        rows.append(row)
    return rows
