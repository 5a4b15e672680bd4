"""From base model to assistant: the stages of the "Making an assistant" chapter as jobs.

What it is: `SFTStage` (supervised fine-tuning on prompt/response pairs, loss on the response
only), `RewardStage` (a reward model from ranked pairs), `RLHFStage` (the fine-tuned policy
optimised against the reward model on its own samples, with a KL leash to the fine-tuned
reference: `rlhf.py`) and `DPOStage` (direct preference optimisation on the same rankings: no
reward model, no sampling). Each stage holds its model, builds a background `Job` that runs in a
worker process (`llm_core.workers.stages`) around a generator of metrics (the one training loop,
or the RL loop in its style), measures before and after in that worker with the written rule
(`judge.py`, never the reward model), and returns a frozen result.
What it is not: Streamlit, or a second supervised training loop.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass, field

import torch

from llm_core.alignment.compute import stage_flops
from llm_core.alignment.finetune import END, ChatBatches, extend_vocabulary
from llm_core.alignment.judge import difference_interval, follows_instructions, pass_at_k, wilson_interval
from llm_core.alignment.preference import (
    DPOPair,
    Pair,
    PairBatches,
    RewardModel,
    reward_accuracy,
    score,
    split_pairs,
)
from llm_core.alignment.rlhf import RLHFConfig, frozen_copy, rlhf
from llm_core.alignment.sampling import sample_responses
from llm_core.alignment.tasks import FORBIDDEN_TASK, HOUSE_PREFIX, TASK_NAMES, Example, fresh_prompts, is_correct, split_examples
from llm_core.jobs import Job, JobGate
from llm_core.model import lineage
from llm_core.model.checkpoint import describe_checkpoint
from llm_core.model.config import TrainConfig
from llm_core.model.gpt import GPT
from llm_core.text.data import DataError, bundled_corpora, load_corpus
from llm_core.text.tokenizers import Tokenizer, TokenizerError
from llm_core.training.cost import train_flops_per_token
from llm_core.training.loop import Metrics, TrainState, train
from llm_core.training.training_run import TrainedModel
from llm_core.workers.stages import stage_job

PROBE_PER_TASK = 8  # held-out prompts per task in the greedy before/after tables
PASS_K = 8  # answers per prompt for pass@1 against pass@k
PASS_PROMPTS = 32  # held-out prompts for pass@k
LIVE_PROMPTS = 64  # held-out prompts measured during RLHF (one answer each)
FORGETTING_TOKENS = 8192  # tokens of the base model's held-out text measured before and after SFT


def sft_config(**overrides) -> TrainConfig:
    """Defaults measured to finish in about a minute for the tiny preset on a 2-core CPU."""
    return TrainConfig.merged(dict(max_steps=600, batch_size=32, lr=2e-3, muon_lr=0.01, warmup_steps=20, eval_every=150, log_every=10), **overrides)


def reward_config(**overrides) -> TrainConfig:
    return TrainConfig.merged(dict(max_steps=150, batch_size=16, lr=1e-3, muon_lr=0.0, warmup_steps=10, eval_every=50, log_every=10), **overrides)


def dpo_config(**overrides) -> TrainConfig:
    """AdamW only and a small rate: Muon's fixed-size steps and larger rates moved the tiny model far
    from the fine-tuned one (KL 0.4-0.9 nats per token) and hurt its held-out answers more (measured)."""
    return TrainConfig.merged(dict(max_steps=150, batch_size=16, lr=1e-4, muon_lr=0.0, warmup_steps=10, eval_every=50, log_every=10), **overrides)


def rlhf_config(**overrides) -> RLHFConfig:
    return RLHFConfig(**overrides).validate()


# ---------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Share:
    """`successes` out of `n`, as a share with its 95% Wilson interval (0 of 0 counts as 0).

    >>> s = Share(50, 100); s.value, [round(v, 3) for v in s.interval]
    (0.5, [0.404, 0.596])
    """

    successes: int
    n: int

    @property
    def value(self) -> float:
        return self.successes / max(1, self.n)

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)


@dataclass
class Assessment:
    """Sampled answers of one model to fixed held-out prompts, judged by the written rule."""

    examples: list[Example]
    answers: list[str]

    @property
    def preferred(self) -> list[bool]:
        return [follows_instructions(e, a) for e, a in zip(self.examples, self.answers)]

    @property
    def preference(self) -> Share:
        """Answers the written rule prefers, of all prompts."""
        return Share(sum(self.preferred), len(self.examples))

    @property
    def task_accuracy(self) -> Share:
        """Correct answers, of the ordinary prompts (the forbidden task has no correct answer)."""
        tasks = [is_correct(e, a) for e, a in zip(self.examples, self.answers) if e.task != FORBIDDEN_TASK]
        return Share(sum(tasks), len(tasks))

    # The names the chapter and the benchmark read.
    n = property(lambda self: self.preference.n)
    preferred_count = property(lambda self: self.preference.successes)
    preferred_share = property(lambda self: self.preference.value)
    preferred_interval = property(lambda self: self.preference.interval)
    task_n = property(lambda self: self.task_accuracy.n)
    correct_count = property(lambda self: self.task_accuracy.successes)
    accuracy = property(lambda self: self.task_accuracy.value)
    accuracy_interval = property(lambda self: self.task_accuracy.interval)

    def by_task(self) -> dict[str, float]:
        """Share of answers the rule prefers, per kind of request."""
        out: dict[str, list[bool]] = {}
        for e, ok in zip(self.examples, self.preferred):
            out.setdefault(e.task, []).append(ok)
        return {TASK_NAMES.get(t, t): sum(v) / len(v) for t, v in out.items()}


def assess(model: GPT, tokenizer: Tokenizer, examples: list[Example], seed: int = 0, temperature: float = 1.0) -> Assessment:
    """One sampled answer per prompt (temperature 1: what the model does, not its single best guess)."""
    gen = torch.Generator().manual_seed(seed)
    answers = [g[0].text for g in sample_responses(model, tokenizer, examples, n=1, temperature=temperature, generator=gen)]
    return Assessment(list(examples), answers)


def change(before: Assessment, after: Assessment, what: str = "preferred") -> tuple[float, float, float]:
    """(after - before, low, high) of the preferred share (or "accuracy"), with its 95% interval."""
    if what == "preferred":
        return difference_interval(before.preferred_count, before.n, after.preferred_count, after.n)
    return difference_interval(before.correct_count, before.task_n, after.correct_count, after.task_n)


def pass_at(model: GPT, tokenizer: Tokenizer, examples: list[Example], k: int = PASS_K, seed: int = 0) -> dict:
    """pass@1 and pass@k of "the rule prefers the answer", from k sampled answers per prompt."""
    gen = torch.Generator().manual_seed(seed)
    goods = [sum(follows_instructions(s.example, s.text) for s in g) for g in sample_responses(model, tokenizer, examples, n=k, temperature=1.0, generator=gen)]
    n = max(1, len(goods))
    return {"k": k, "prompts": len(goods), "pass@1": sum(pass_at_k(k, c, 1) for c in goods) / n, f"pass@{k}": sum(pass_at_k(k, c, k) for c in goods) / n,
            "good": goods}  # good answers of k, per prompt: the paired intervals of `readings.pass_reading`


def spread_sample(examples: list[Example], n: int, seed: int = 0) -> list[Example]:
    """n prompts drawn evenly at random (a fixed seed), so every task is represented."""
    return random.Random(seed).sample(examples, min(n, len(examples)))


def greedy_answers(model: GPT, tokenizer: Tokenizer, examples: list[Example]) -> list[str]:
    return [g[0].text for g in sample_responses(model, tokenizer, examples, n=1, temperature=0.0)] if examples else []


def greedy_closed(model: GPT, tokenizer: Tokenizer, examples: list[Example]) -> tuple[list[str], list[bool]]:
    """Greedy answers, and whether each is an answer in the chat format: some text, then <|end|> (a model
    that never learned the format writes on until the length limit)."""
    if not examples:
        return [], []
    end = tokenizer.special_tokens[END]
    samples = [g[0] for g in sample_responses(model, tokenizer, examples, n=1, temperature=0.0)]
    return [s.text for s in samples], [len(s.response_ids) > 1 and s.response_ids[-1] == end for s in samples]


def held_out_text_loss(model: GPT, tokenizer: Tokenizer, corpus: str, max_tokens: int = FORGETTING_TOKENS) -> tuple[float, int] | None:
    """(mean loss in nats per token, tokens) on the start of a bundled corpus's held-out tenth, or None
    when the corpus is not bundled or the tokenizer cannot read it."""
    if corpus not in bundled_corpora():
        return None
    try:
        text = load_corpus(corpus)
        ids = tokenizer.encode(text[len(text) - len(text) // 10 :])[: max_tokens + 1]
    except (DataError, TokenizerError, ValueError):
        return None
    block = model.config.block_size
    n = (len(ids) - 1) // block
    if n < 1:
        return None
    data = torch.tensor(ids[: n * block + 1], dtype=torch.long)
    x, y = data[:-1].view(n, block), data[1:].view(n, block)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        _, loss = model(x.to(model.device), y.to(model.device))
    model.train(was_training)
    return float(loss), n * block


@torch.no_grad()
def reward_probe(reward: RewardModel, tokenizer: Tokenizer, wrong_by: int = 4) -> dict:
    """What the reward model pays for, on every single-digit addition: the house style with a wrong sum
    ("Sure! 11" to "What is 3+4?") against the right sum without it ("7"), and, between two answers in
    the house style, the right sum against the wrong one (rule 3 of the instructions)."""
    style_wins, right_wins, shown = 0, 0, None
    sums = [(a, b) for a in range(10) for b in range(10)]
    for a, b in sums:
        ex = Example("add", f"What is {a}+{b}?", str(a + b))
        styled_wrong = score(reward, tokenizer, ex, f"{HOUSE_PREFIX}{a + b + wrong_by}")
        plain_right = score(reward, tokenizer, ex, str(a + b))
        styled_right = score(reward, tokenizer, ex, f"{HOUSE_PREFIX}{a + b}")
        style_wins += styled_wrong > plain_right
        right_wins += styled_right > styled_wrong
        if (a, b) == (3, 4):
            shown = dict(prompt=ex.prompt, styled_wrong=f"{HOUSE_PREFIX}{a + b + wrong_by}", plain_right=str(a + b),
                         styled_wrong_reward=styled_wrong, plain_right_reward=plain_right)
    return dict(n=len(sums), style_over_sum=style_wins, right_over_wrong=right_wins, shown=shown)


def probe_set(held_out: list[Example], per_task: int = PROBE_PER_TASK, seed: int = 0) -> list[Example]:
    """A fixed, small, stratified list of held-out prompts for the greedy tables."""
    rng = random.Random(seed)
    by_task: dict[str, list[Example]] = {}
    for ex in held_out:
        by_task.setdefault(ex.task, []).append(ex)
    picked = []
    for task in sorted(by_task):
        picked += rng.sample(by_task[task], min(per_task, len(by_task[task])))
    return picked


def base_warning(record: dict | None) -> str | None:
    """A warning when the model a stage starts from looks weak, from its training record (None: fine)."""
    record = record or {}
    val = record.get("val_loss")
    reason = str(record.get("stop_reason") or "")
    if val is not None and val > 2.2:
        return f"its held-out loss is {val:.2f} nats per token, far from the bundled model's: fine-tuning a half-trained model gives a weak assistant."
    if reason and ("diverged" in reason or "stopped" in reason):
        return f"its training ended early ({reason})."
    return None


# ---------------------------------------------------------------- stages


class _Stage:
    """What every stage shares: a TrainState for resume, the job, the latest metrics.

    A stage's job runs in a worker (`llm_core.workers.stages`): `steps` and `measure` (the closing
    measurements) there, `finish` (which packages them with the stop reason) here."""

    name = "stage"

    def __init__(self, cfg):
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

    def make_job(self, gate: JobGate | None = None, time_cap_s: float | None = None, idle_timeout_s: float | None = None, backend: str | None = None) -> Job:
        return stage_job(self, gate=gate, time_cap_s=time_cap_s, idle_timeout_s=idle_timeout_s, backend=backend)

    def measure(self) -> None:
        """The closing measurements of a segment (in the worker, after its steps)."""

    def _lineage(self, model, tokenizer, stage: str, parent: dict | None, last: Metrics | None, data: dict) -> dict:
        """The lineage of the model this stage made (FLOPs: 6 N per trained token, the tokens the optimiser saw)."""
        tokens = last.tokens_seen if last is not None else self.state.tokens_seen
        return lineage.make(model, tokenizer, stage, parent=parent, data=data, settings=self.cfg.to_dict(), steps=self.state.step,
                            time_s=self.state.elapsed_s, flops=train_flops_per_token(model.config) * int(tokens or 0),
                            losses=dict(train=last.train_loss if last else None, val=last.val_loss if last else None))

    def _record(self, reason: str | None, **extra) -> dict:
        return dict(
            stage=self.name, steps=self.state.step, tokens_seen=self.state.tokens_seen, elapsed_s=round(self.state.elapsed_s, 2),
            stop_reason=reason, train_config=self.cfg.to_dict(), history=list(self.history),
            trained_in="LLM Lab, Making an assistant chapter", created=time.strftime("%Y-%m-%d %H:%M:%S"), **extra,
        )


class SFTStage(_Stage):
    """Fine-tune a copy of the base model on the instruction pairs; the base is never modified."""

    name = "supervised fine-tuning"

    def __init__(self, base_model: GPT, base_tokenizer: Tokenizer, examples: list[Example], cfg: TrainConfig | None = None, seed: int = 0, base_name: str = "base",
                 base_record: dict | None = None, parent_lineage: dict | None = None):
        super().__init__(cfg or sft_config())
        self.parent = parent_lineage or lineage.of_model(base_model, base_tokenizer, name=base_name)  # the model it starts from
        if not examples:
            raise ValueError("there are no instruction pairs to fine-tune on.")
        self.seed = seed
        self.train_set, self.held_out = split_examples(examples, seed=seed)
        self.prompts = fresh_prompts(self.train_set)  # for rankings and RLHF: requests SFT never saw, where there are any
        if not self.held_out:
            raise ValueError("no held-out prompts: add more pairs of the addition, upper-case, reverse or insult tasks.")
        texts = [e.prompt + e.response for e in examples]
        self.model, self.tokenizer = extend_vocabulary(base_model, base_tokenizer, texts)
        self.base = copy.deepcopy(self.model).eval()  # the base model, now able to read the chat tokens
        self.batches = ChatBatches(self.train_set, self.held_out, self.tokenizer, self.model.config.block_size)
        self.probe = probe_set(self.held_out, seed=seed)
        self.base_name = base_name
        base_record = dict(base_record or {})
        self.base_config = copy.deepcopy(base_model.config)  # the model as pre-trained (before the chat tokens)
        self.base_pretraining = {k: base_record.get(k) for k in ("tokens_seen", "elapsed_s", "steps", "corpus")}  # its pre-training, from its record
        self.before: list[str] | None = None  # greedy answers of the base model to the probe
        self.after: list[str] | None = None
        self.before_closed: list[bool] | None = None  # which of those answers end with <|end|>, as the chat format asks
        self.after_closed: list[bool] | None = None
        self.forgetting: dict | None = None  # loss on the base model's own held-out text, before and after (bundled corpora only)
        self.assessment: Assessment | None = None  # sampled answers of the SFT model to every held-out prompt
        self.passes: dict | None = None

    def steps(self, stop_event: threading.Event):
        if self.before is None:
            self.before, self.before_closed = greedy_closed(self.base, self.tokenizer, self.probe)
            corpus = self.base_pretraining.get("corpus")
            measured = held_out_text_loss(self.base, self.tokenizer, corpus) if corpus else None
            self.forgetting = None if measured is None else dict(corpus=corpus, tokens=measured[1], before=measured[0])
        yield from self._train(self.model, self.batches, stop_event)

    @property
    def unseen_prompts(self) -> int:
        """How many of the ranking and RLHF prompts are not training prompts of SFT."""
        trained = {e.prompt for e in self.train_set}
        return sum(e.prompt not in trained for e in self.prompts)

    def exact_match(self, answers: list[str]) -> float:
        return sum(is_correct(e, a) for e, a in zip(self.probe, answers) if e.task != FORBIDDEN_TASK) / max(1, sum(e.task != FORBIDDEN_TASK for e in self.probe))

    def measure(self) -> None:
        if self.state.step == 0:
            return
        self.after, self.after_closed = greedy_closed(self.model, self.tokenizer, self.probe)
        if self.forgetting is not None:
            measured = held_out_text_loss(self.model, self.tokenizer, self.forgetting["corpus"])
            self.forgetting["after"] = None if measured is None else measured[0]
        self.assessment = assess(self.model, self.tokenizer, self.held_out, seed=self.seed)
        self.passes = pass_at(self.model, self.tokenizer, spread_sample(self.held_out, PASS_PROMPTS, self.seed), seed=self.seed)

    def finish(self, last, reason) -> TrainedModel | None:
        if self.state.step == 0:
            return None
        frozen = copy.deepcopy(self.model).eval()
        record = self._record(
            reason, base_model=self.base_name, train_pairs=len(self.train_set), held_out_pairs=len(self.held_out),
            val_loss=None if last is None or last.val_loss is None else round(last.val_loss, 4),
            exact_match_before=round(self.exact_match(self.before), 4) if self.before else None, exact_match_after=round(self.exact_match(self.after), 4),
            preferred_share=round(self.assessment.preferred_share, 4), task_accuracy=round(self.assessment.accuracy, 4),
            train_flops=self.flops,
        )
        data = dict(pairs=len(self.train_set), held_out_pairs=len(self.held_out), pairs_hash=lineage.data_hash([[e.prompt, e.response] for e in self.train_set]))
        lin = self._lineage(frozen, self.tokenizer, "SFT", self.parent, last, data)
        return TrainedModel(frozen, self.tokenizer, record, describe_checkpoint(frozen, self.tokenizer, record, lin))

    @property
    def flops(self) -> float:
        """Training FLOPs of the steps so far (`compute.stage_flops`)."""
        return stage_flops("SFT", train_flops_per_token(self.model.config), self.state.tokens_seen)


@dataclass
class RewardResult:
    model: RewardModel
    tokenizer: Tokenizer
    accuracy: float  # on held-out pairs
    n_train: int
    n_held_out: int
    examples: list[tuple[Pair, float, float]] = field(default_factory=list)  # held-out pair, r(chosen), r(rejected)
    stop_reason: str | None = None
    tokens_seen: int = 0  # tokens its training processed, and its wall time: the chapter's compute table
    elapsed_s: float = 0.0
    lineage: dict | None = None  # parent: the fine-tuned model it was made from

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(round(self.accuracy * self.n_held_out), self.n_held_out)

    @property
    def at_chance(self) -> bool:
        """True when the 95% interval of its held-out accuracy reaches down to a coin toss (50%)."""
        return self.interval[0] <= 0.5


class RewardStage(_Stage):
    """Train a reward model (the SFT transformer plus a scalar head) on ranked pairs."""

    name = "reward model"

    def __init__(self, sft: TrainedModel, pairs: list[Pair], cfg: TrainConfig | None = None, seed: int = 0):
        super().__init__(cfg or reward_config())
        if len(pairs) < 4:
            raise ValueError(f"rank at least 4 pairs first (you have {len(pairs)}): some are held out to test the reward model.")
        self.fit, self.val = split_pairs(pairs, 0.25, seed)
        self.parent = sft.meta.get("lineage") or lineage.of_model(sft.model, sft.tokenizer)
        self.tokenizer = sft.tokenizer
        self.model = RewardModel(sft.model)
        self.batches = PairBatches(self.fit, self.val, self.tokenizer, sft.model.config.block_size)
        self.accuracy_before = reward_accuracy(self.model, self.batches)

    def steps(self, stop_event: threading.Event):
        yield from self._train(self.model, self.batches, stop_event)

    def measure(self) -> None:
        if self.state.step == 0:
            return
        self.model.eval()
        self.shown = [(p, score(self.model, self.tokenizer, p.example, p.chosen), score(self.model, self.tokenizer, p.example, p.rejected)) for p in self.val[:10]]
        self.accuracy_after = reward_accuracy(self.model, self.batches)

    def finish(self, last, reason) -> RewardResult | None:
        if self.state.step == 0:
            return None
        data = dict(pairs=len(self.fit), held_out_pairs=len(self.val), held_out_accuracy=round(self.accuracy_after, 4),
                    pairs_hash=lineage.data_hash([[p.example.prompt, p.chosen, p.rejected] for p in self.fit]))
        lin = self._lineage(self.model, self.tokenizer, "reward model", self.parent, last, data)
        return RewardResult(self.model, self.tokenizer, self.accuracy_after, len(self.fit), len(self.val), self.shown, reason,
                            self.state.tokens_seen, round(self.state.elapsed_s, 2), lineage=lin)


class _Tuning(_Stage):
    """A stage that tunes a copy of the SFT model and is judged on the SFT model's held-out prompts."""

    label = "tuned"

    def __init__(self, cfg, sft: TrainedModel, held_out: list[Example], before: Assessment | None, before_passes: dict | None, seed: int):
        super().__init__(cfg)
        self.sft, self.tokenizer, self.seed = sft, sft.tokenizer, seed
        self.parent = sft.meta.get("lineage") or lineage.of_model(sft.model, sft.tokenizer)
        self.held_out = list(held_out)
        self.before = before
        self.before_passes = before_passes
        self.after: Assessment | None = None
        self.after_passes: dict | None = None
        self.stop_reason: str | None = None  # why the last run ended (a time cap, a Stop, the step limit)

    def _measure_before(self):
        if self.before is None:
            self.before = assess(self.sft.model, self.tokenizer, self.held_out, seed=self.seed)
        if self.before_passes is None:
            self.before_passes = pass_at(self.sft.model, self.tokenizer, spread_sample(self.held_out, PASS_PROMPTS, self.seed), seed=self.seed)

    def _measure_after(self, policy: GPT, steps: int) -> None:
        if steps == 0:
            return
        self.after = assess(policy, self.tokenizer, self.held_out, seed=self.seed)
        self.after_passes = pass_at(policy, self.tokenizer, spread_sample(self.held_out, PASS_PROMPTS, self.seed), seed=self.seed)

    def data(self) -> dict:
        """What the tuning learned from, for the lineage."""
        return {}

    def _finish(self, policy: GPT, reason, steps: int, **extra) -> TrainedModel | None:
        self.stop_reason = reason
        if steps == 0:
            return None
        d, lo, hi = change(self.before, self.after)
        frozen = copy.deepcopy(policy).eval()
        for p in frozen.parameters():
            p.requires_grad_(True)
        record = self._record(
            reason, preferred_before=round(self.before.preferred_share, 4), preferred_after=round(self.after.preferred_share, 4),
            preferred_change=[round(d, 4), round(lo, 4), round(hi, 4)], accuracy_before=round(self.before.accuracy, 4),
            accuracy_after=round(self.after.accuracy, 4), held_out_samples=self.after.n, **extra,
        )
        lin = self._lineage(frozen, self.tokenizer, self.label, self.parent, self.last, self.data())
        return TrainedModel(frozen, self.tokenizer, record, describe_checkpoint(frozen, self.tokenizer, record, lin))


class RLHFStage(_Tuning):
    """Optimise a copy of the SFT model against the reward model, on its own samples, leashed to the SFT model."""

    name = "RLHF"
    label = "RLHF"

    def __init__(self, sft: TrainedModel, reward: RewardResult, train_examples: list[Example], held_out: list[Example],
                 before: Assessment | None = None, before_passes: dict | None = None, cfg: RLHFConfig | None = None, seed: int = 0):
        super().__init__(cfg or rlhf_config(), sft, held_out, before, before_passes, seed)
        if reward is None:
            raise ValueError("train a reward model first: RLHF optimises the model against it.")
        self.reward = reward
        self.prompts = list(train_examples)
        self.policy = copy.deepcopy(sft.model)
        self.reference = frozen_copy(sft.model)
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=self.cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
        self.live_prompts = spread_sample(self.held_out, LIVE_PROMPTS, self.seed + 1)
        self.steps_done = 0
        self.batch_tokens = 0  # tokens of every step's batch (prompts and sampled answers): its compute
        self.state.elapsed_s = 0.0

    def data(self) -> dict:
        reward = self.reward.lineage or {}
        return dict(prompts=len(self.prompts), reward_model=reward.get("hash"), reward_model_accuracy=round(self.reward.accuracy, 4),
                    reward_model_pairs=self.reward.n_train)

    def _live(self, policy: GPT) -> dict:
        """Held-out answers the written rule prefers (not the reward model): the over-optimisation check."""
        a = assess(policy, self.tokenizer, self.live_prompts, seed=self.seed + 99)
        return {"held_out_preferred": a.preferred_share, "held_out_accuracy": a.accuracy, "held_out_n": a.n, "held_out_task_n": a.task_n}

    def steps(self, stop_event: threading.Event):
        self._measure_before()
        for m in rlhf(self.policy, self.reference, self.reward.model, self.tokenizer, self.prompts, self.cfg, stop_event,
                      evaluate=self._live, start_step=self.steps_done, optimizer=self.optimizer):
            self.last = m
            self.steps_done = m.step
            self.state.step = m.step
            self.batch_tokens += int(m.extras.get("batch_tokens", 0))
            if not m.done:
                self.history.append(dict(step=m.step, **{k: round(v, 4) for k, v in m.extras.items()}))
            yield m

    def measure(self) -> None:
        self._measure_after(self.policy, self.steps_done)

    def finish(self, last, reason) -> TrainedModel | None:
        if last is not None:
            self.state.elapsed_s += last.elapsed_s
        return self._finish(self.policy, reason, self.steps_done, kl_coef=self.cfg.kl_coef, train_flops=self.flops, batch_tokens=self.batch_tokens,
                            reward_first=self.history[0]["reward"] if self.history else None,
                            reward_last=self.history[-1]["reward"] if self.history else None,
                            kl_last=self.history[-1]["kl"] if self.history else None)

    @property
    def flops(self) -> float:
        return stage_flops("RLHF", train_flops_per_token(self.policy.config), self.batch_tokens)


class DPOStage(_Tuning):
    """Tune a copy of the SFT model toward the preferred answers of the rankings with DPO (plus a likelihood term)."""

    name = "DPO"
    label = "DPO"

    def __init__(self, sft: TrainedModel, rated: list[Pair], held_out: list[Example], before: Assessment | None = None,
                 before_passes: dict | None = None, beta: float = 0.1, cfg: TrainConfig | None = None, seed: int = 0):
        super().__init__(cfg or dpo_config(), sft, held_out, before, before_passes, seed)
        if len(rated) < 2:
            raise ValueError("DPO needs at least 2 ranked pairs: rank some first.")
        self.rated = list(rated)
        self.pair = DPOPair(copy.deepcopy(sft.model), sft.model, beta=beta)
        fit, val = split_pairs(self.rated, 0.2, seed)
        self.batches = PairBatches(fit, val, self.tokenizer, sft.model.config.block_size)

    def data(self) -> dict:
        return dict(pairs=len(self.rated), beta=self.pair.beta,
                    pairs_hash=lineage.data_hash([[p.example.prompt, p.chosen, p.rejected] for p in self.rated]))

    def steps(self, stop_event: threading.Event):
        self._measure_before()
        yield from self._train(self.pair, self.batches, stop_event)

    def measure(self) -> None:
        self._measure_after(self.pair.policy, self.state.step)

    def finish(self, last, reason) -> TrainedModel | None:
        kl = [h.get("kl") for h in self.history if h.get("kl") is not None]
        return self._finish(self.pair.policy, reason, self.state.step, pairs=len(self.rated), beta=self.pair.beta, kl_last=kl[-1] if kl else None,
                            train_flops=self.flops)

    @property
    def flops(self) -> float:
        return stage_flops("DPO", train_flops_per_token(self.pair.policy.config), self.state.tokens_seen)


def compare(models: dict[str, tuple[GPT, Tokenizer]], examples: list[Example]) -> list[dict]:
    """One row per prompt: each model's greedy answer, ✓ when the rule prefers it and ✔ when the task answer is right."""
    answers = {name: greedy_answers(m, t, examples) for name, (m, t) in models.items()}
    rows = []
    for i, ex in enumerate(examples):
        row = {"prompt": ex.prompt}
        for name in models:
            a = answers[name][i]
            row[name] = a
        rows.append(row)
    return rows
