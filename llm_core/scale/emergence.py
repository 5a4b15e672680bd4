"""Emergence on a toy skill: 3-digit addition with the answer written backwards.

What it is: the task ("123+456=" then the sum's four digits units first, "9750"), a fixed held-out
set of problems that training never sees, `AdditionBatches` (the `train_batch` / `val_batches`
pair the one training loop draws from; the loss covers only the answer digits), `answer_metrics`
(exact match: all four digits right under greedy decoding; per-digit accuracy, overall and by
position; the log-probability of the whole correct answer), `run_emergence`, a generator that
trains each size (once per seed) with `llm_core.training.loop.train` and measures those metrics
every `eval_every` steps, and the readings the chapter states: `by_size` (each size's metrics at
the end of training, averaged over seeds), `position_product` (the product of the per-position
accuracies: what exact match would be if the digits' errors were independent), `rise` (the last
low before the first sustained rise of a series) and `share_of_change` (how much of a metric's
whole change falls between two neighbours).
Why: exact match is a sharp metric. If the answer's digits are right with probabilities p1..p4,
all four are right with about p1 x p2 x p3 x p4, so a rise of one hard digit moves exact match
from near 0 while per-digit accuracy barely moves (Schaeffer et al. 2023); Wei et al. (2022)
report 3-digit addition appearing in GPT-3 only at 13B parameters, across model scale. Writing
the answer units first lets a left-to-right model carry as it goes.
What it is not: a second training loop or a general arithmetic benchmark.

    >>> encode_problem(123, 456)
    '123+456=9750'
    >>> ids = encode_ids("123+456=9750"); decode_ids(ids) == "123+456=9750", len(ids)
    (True, 12)
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import torch

from llm_core.model.config import ModelConfig
from llm_core.scale.flops import param_counts, train_flops_per_token
from llm_core.scale.sweep import LadderPlan, machine, read_checked_json, write_checked_json
from llm_core.training.loop import build_model, train

SCHEMA = "llm-lab/emergence"
VERSION = 1
ALPHABET = "0123456789+="
PROMPT_LEN = 8  # "123+456="
ANSWER_LEN = 4  # the sum, up to 1998, units digit first
SEQ_LEN = PROMPT_LEN + ANSWER_LEN
N_PROBLEMS = 1000 * 1000
POINT_FIELDS = ("label", "n_layer", "n_embd", "params_total", "params_non_embedding", "step", "tokens", "flops",
                "exact_match", "digit_accuracy", "digit_accuracy_by_position", "answer_logprob", "train_exact_match")


class EmergenceError(ValueError):
    """An emergence plan or file that cannot be used."""


def encode_problem(a: int, b: int) -> str:
    return f"{a:03d}+{b:03d}=" + f"{a + b:04d}"[::-1]


def encode_ids(text: str) -> list[int]:
    return [ALPHABET.index(ch) for ch in text]


def decode_ids(ids) -> str:
    return "".join(ALPHABET[i] for i in ids)


def problem_tensor(indices: torch.Tensor) -> torch.Tensor:
    """Token ids (N, 12) of problems numbered a * 1000 + b."""
    a, b = indices // 1000, indices % 1000
    s = a + b
    digits = lambda v, n: [(v // 10**k) % 10 for k in reversed(range(n))]  # most significant first
    plus = torch.full_like(a, ALPHABET.index("+"))
    eq = torch.full_like(a, ALPHABET.index("="))
    cols = digits(a, 3) + [plus] + digits(b, 3) + [eq] + digits(s, 4)[::-1]
    return torch.stack(cols, dim=1)


def split_problems(held_out: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices): a fixed random held-out set the model never trains on."""
    perm = torch.randperm(N_PROBLEMS, generator=torch.Generator().manual_seed(seed))
    return perm[held_out:], perm[:held_out]


def windows(seqs: torch.Tensor):
    """Inputs (N, 11) and targets (N, 11) with the prompt's targets masked (-100): the loss is the answer's."""
    x, y = seqs[:, :-1], seqs[:, 1:].clone()
    y[:, : PROMPT_LEN - 1] = -100
    return x, y


class AdditionBatches:
    """Random training problems; the held-out problems for the loop's validation loss."""

    def __init__(self, train_ids: torch.Tensor, val_ids: torch.Tensor):
        self.train_ids, self.val_ids = train_ids, val_ids
        self.val_seqs = problem_tensor(val_ids)

    def train_batch(self, batch_size: int, generator: torch.Generator):
        pick = torch.randint(len(self.train_ids), (batch_size,), generator=generator)
        return windows(problem_tensor(self.train_ids[pick]))

    def val_batches(self, batch_size: int = 1000):
        for i in range(0, len(self.val_seqs), batch_size):
            yield windows(self.val_seqs[i : i + batch_size])


@torch.no_grad()
def answer_metrics(model, seqs: torch.Tensor) -> dict:
    """Exact match, per-digit accuracy (overall and by answer position) and mean log-probability of the correct answer.

    With teacher forcing, the greedy answer is right exactly when every digit's most likely token is
    the right one, so one forward pass gives the exact match of greedy decoding.
    """
    was_training = model.training
    model.eval()
    x, _ = windows(seqs)
    logits, _ = model(x.to(model.device))
    model.train(was_training)
    logp = torch.log_softmax(logits[:, PROMPT_LEN - 1 :].float(), dim=-1).cpu()  # (N, 4, V)
    target = seqs[:, PROMPT_LEN:]  # (N, 4)
    right = logp.argmax(-1) == target
    correct_logp = logp.gather(-1, target[..., None])[..., 0].sum(-1)  # (N,)
    return dict(exact_match=float(right.all(-1).float().mean()), digit_accuracy=float(right.float().mean()),
                digit_accuracy_by_position=[round(float(v), 4) for v in right.float().mean(0)], answer_logprob=float(correct_logp.mean()))


@dataclass(frozen=True)
class EmergencePlan(LadderPlan):
    sizes: tuple = ((4, 64),)  # (n_layer, n_embd)
    batch_size: int = 128
    steps: int = 3000
    eval_every: int = 100
    held_out: int = 2000
    seeds: tuple = ()  # more than one run per size, each from its own seed (empty: the plan's `seed` alone)

    def run_seeds(self) -> tuple:
        return tuple(self.seeds) or (self.seed,)

    def model_config(self, n_layer: int, n_embd: int) -> ModelConfig:
        return ModelConfig(vocab_size=len(ALPHABET), block_size=16, n_layer=n_layer, n_head=max(1, n_embd // 16), n_embd=n_embd).validate()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = [list(s) for s in self.sizes]
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> EmergencePlan:
        data = dict(data)
        data["sizes"] = tuple(tuple(s) for s in data.get("sizes", cls.sizes))
        data["seeds"] = tuple(data.get("seeds", ()))
        return cls(**data)

    def rungs(self) -> list[tuple[tuple[int, int], int]]:
        """Every (size, seed) run of the plan, in the order `run_emergence` trains them."""
        return [(tuple(size), seed) for size in self.sizes for seed in self.run_seeds()]


@dataclass
class EmergenceProgress:
    """One record of a running emergence sweep; looks like training `Metrics` where the job helpers read it."""

    step: int
    progress: float
    train_loss: float
    label: str
    val_loss: float | None = None
    point: dict | None = None
    sample: str | None = None
    done: bool = False
    stop_reason: str | None = None


def measure(model, label: str, held_out: torch.Tensor, train_probe: torch.Tensor, step: int, tokens: int) -> dict:
    """One point of the series: the model's size, where it is in training, and its metrics on held-out and on training problems."""
    counts = param_counts(model.config)
    held = answer_metrics(model, held_out)
    return dict(label=label, n_layer=model.config.n_layer, n_embd=model.config.n_embd, params_total=counts["total"], params_non_embedding=counts["non_embedding"],
                step=step, tokens=tokens, flops=float(tokens * train_flops_per_token(model.config)),
                **{k: round(v, 5) if isinstance(v, float) else v for k, v in held.items()},
                train_exact_match=round(answer_metrics(model, train_probe)["exact_match"], 5))


def run_emergence(plan: EmergencePlan, stop_event: threading.Event | None = None):
    """Train each size (once per seed) on addition, yielding progress; records with `point` carry the metrics at that step.

    Every run sees the same held-out problems (split by the plan's `seed`) and the same number of
    steps and batch size: the same data budget per size, as in Wei et al.'s comparison across scale.
    """
    if plan.steps < 1 or plan.eval_every < 1 or not plan.sizes:
        raise EmergenceError("an emergence sweep needs at least one size, one step and an evaluation interval of at least one step.")
    train_ids, val_ids = split_problems(plan.held_out, plan.seed)
    batches = AdditionBatches(train_ids, val_ids)
    train_probe = problem_tensor(train_ids[: plan.held_out])  # as many problems the model did (or could) train on
    rungs = plan.rungs()
    total = plan.steps * len(rungs)
    for index, ((n_layer, n_embd), seed) in enumerate(rungs):
        config = plan.model_config(n_layer, n_embd)
        model = build_model(config, seed)
        label = f"{n_layer}x{n_embd}"
        measured = partial(measure, model, label, batches.val_seqs, train_probe)

        def point(step, tokens, seed=seed, measured=measured):
            return {**measured(step, tokens), "seed": seed}

        before = index * plan.steps
        yield EmergenceProgress(step=before, progress=index / len(rungs), train_loss=math.log(len(ALPHABET)), label=label, point=point(0, 0))
        # divergence_factor: the answer loss falls near zero here, and a later spike of one nat (measured: it
        # happens as the hard digit is learned) is part of learning, not a blow-up; non-finite losses still stop it.
        cfg = replace(plan, seed=seed).train_config(plan.steps, warmup_steps=20, log_every=min(plan.eval_every, 50), divergence_factor=1e6)
        last, series_last = None, None
        for m in train(model, batches, cfg, stop_event=stop_event):
            last = m
            step = before + m.step
            if m.done:
                break
            pt = point(m.step, m.tokens_seen) if m.step % plan.eval_every == 0 else None
            series_last = pt or series_last
            yield EmergenceProgress(step=step, progress=step / total, train_loss=m.train_loss, label=label, point=pt)
        step = before + last.step
        final = index == len(rungs) - 1
        if last.stop_reason == "stopped by user":
            yield EmergenceProgress(step=step, progress=step / total, train_loss=last.train_loss, label=label, done=True, stop_reason=f"stopped by user at step {last.step:,} of {label}")
            return
        pt = point(last.step, last.tokens_seen) if last.step % plan.eval_every else None  # the last step, unless just measured
        if pt is None and series_last is not None:
            series_last["stop_reason"] = last.stop_reason
        elif pt is not None:
            pt["stop_reason"] = last.stop_reason
        yield EmergenceProgress(step=step, progress=step / total, train_loss=last.train_loss, label=label, val_loss=last.val_loss, point=pt,
                                done=final, stop_reason="finished" if final else None)


def rung_points(plan_dict: dict, size, seed: int, threads: int = 1) -> list[dict]:
    """One (size, seed) run of a plan, for a worker process: its points, exactly as `run_emergence` on the whole plan gives them
    (same held-out split, same seed), so runs can be trained in parallel and in any order."""
    torch.set_num_threads(threads)
    plan = EmergencePlan.from_dict({**plan_dict, "sizes": [list(size)], "seeds": [seed]})
    return [r.point for r in run_emergence(plan) if r.point is not None]


def finished_rungs(series: list[dict]) -> set[tuple[str, int]]:
    """(label, seed) of the runs whose last point was recorded (it carries the run's stop reason)."""
    return {(p["label"], p.get("seed")) for p in series if "stop_reason" in p}


def position_product(point: dict) -> float:
    """The product of the per-position accuracies: exact match if the digits' errors were independent.

    >>> round(position_product(dict(digit_accuracy_by_position=[1.0, 0.1, 0.99, 1.0])), 4)
    0.099
    """
    return math.prod(point["digit_accuracy_by_position"])


def final_points(series: list[dict]) -> list[dict]:
    """The last measured point of every run (one per size and seed), in series order."""
    last = {}
    for p in series:
        key = (p["label"], p.get("seed"))
        if key not in last or p["step"] >= last[key]["step"]:
            last[key] = p
    return list(last.values())


def by_size(series: list[dict]) -> list[dict]:
    """Each size at the end of training, averaged over its seeds, smallest first.

    Keys: label, params_total, params_non_embedding, flops, steps, seeds, exact_match,
    exact_match_by_seed, digit_accuracy, digit_accuracy_by_position, product (mean over seeds of
    `position_product`), answer_logprob.
    """
    groups: dict[str, list[dict]] = {}
    for p in final_points(series):
        groups.setdefault(p["label"], []).append(p)
    out = []
    for label, pts in groups.items():
        def mean(key, pts=pts):
            return sum(p[key] for p in pts) / len(pts)

        out.append(dict(label=label, params_total=pts[0]["params_total"], params_non_embedding=pts[0]["params_non_embedding"], flops=mean("flops"),
                        steps=max(p["step"] for p in pts), seeds=[p.get("seed") for p in pts], exact_match=mean("exact_match"),
                        exact_match_by_seed=[p["exact_match"] for p in pts], digit_accuracy=mean("digit_accuracy"),
                        digit_accuracy_by_position=[sum(p["digit_accuracy_by_position"][i] for p in pts) / len(pts) for i in range(ANSWER_LEN)],
                        product=sum(position_product(p) for p in pts) / len(pts), answer_logprob=mean("answer_logprob")))
    return sorted(out, key=lambda r: r["params_total"])


def rise(values: list[float], share: float = 0.1) -> tuple[int, int] | None:
    """(last low, first sustained rise): indices into `values`, or None when the series never rises.

    The first sustained rise is the first value at least half-way from the lowest to the highest
    value whose later values stay there more often than not (their median too is at least
    half-way): a transient spike after it does not move it, one before it does not count. The last
    low is the last value before it within `share` of the way from the level before the rise (the
    median of the values before it) to the risen value.

    >>> rise([0.0, 0.1, 0.1, 0.1, 0.14, 0.4, 0.55, 0.04, 0.46, 0.8, 0.88])
    (4, 6)
    >>> rise([0.5, 0.5, 0.5]) is None
    True
    """
    if len(values) < 2 or max(values) - min(values) < 1e-9:
        return None
    half = min(values) + 0.5 * (max(values) - min(values))
    for j, v in enumerate(values):
        if v >= half and j > 0 and sorted(values[j:])[(len(values) - j - 1) // 2] >= half:
            before = sorted(values[:j])
            level = before[(len(before) - 1) // 2]
            lows = [i for i in range(j) if values[i] <= level + share * (v - level)]
            return (lows[-1], j) if lows else None
    return None


def share_of_change(values: list[float], i: int, j: int) -> float:
    """The part of a metric's whole change (last minus first) that happens between indices i and j.

    >>> share_of_change([0.0, 0.1, 0.9, 1.0], 1, 2)
    0.8
    """
    whole = values[-1] - values[0]
    return (values[j] - values[i]) / whole if abs(whole) > 1e-12 else float("nan")


def emergence_document(plan: EmergencePlan, series: list[dict], command: str, wall_s: float) -> dict:
    return dict(schema=SCHEMA, version=VERSION, command=command, created=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                machine=machine(), load_average=list(os.getloadavg()), wall_s=round(wall_s, 1), plan=plan.to_dict(), series=series)


def validate_emergence(data) -> dict:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("version") != VERSION:
        raise EmergenceError(f"not an emergence sweep (expected schema {SCHEMA!r} version {VERSION}).")
    if not isinstance(data.get("series"), list) or not data["series"]:
        raise EmergenceError("the emergence sweep holds no points.")
    for i, pt in enumerate(data["series"]):
        missing = [k for k in POINT_FIELDS if not isinstance(pt, dict) or k not in pt]
        if missing:
            raise EmergenceError(f"point {i} lacks {', '.join(missing)}.")
        if not all(0.0 <= pt[k] <= 1.0 for k in ("exact_match", "digit_accuracy", "train_exact_match")):
            raise EmergenceError(f"point {i}: accuracies must lie between 0 and 1.")
    if not isinstance(data.get("command"), str):
        raise EmergenceError("the emergence sweep does not say which command made it.")
    return data


def save_emergence(path, document: dict) -> Path:
    return write_checked_json(path, document, validate_emergence)


def load_emergence(path) -> dict:
    return read_checked_json(path, validate_emergence, EmergenceError, "the emergence sweep")
