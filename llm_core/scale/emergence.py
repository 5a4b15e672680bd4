"""Emergence on a toy skill: 3-digit addition with the answer written backwards.

What it is: the task ("123+456=" then the sum's four digits units first, "9750"), a fixed held-out
set of problems that training never sees, `AdditionBatches` (the `train_batch` / `val_batches`
pair the one training loop draws from; the loss covers only the answer digits), `answer_metrics`
(exact match: all four digits right under greedy decoding; per-digit accuracy; the log-probability
of the whole correct answer), and `run_emergence`, a generator that trains with
`llm_core.training.loop.train` and measures those metrics every `eval_every` steps.
Why: exact match is a sharp metric. If each digit is right with probability p, all four are right
with about p^4, so a smooth rise in p looks like a sudden jump in exact match (Schaeffer et al.,
2023, "Are Emergent Abilities of Large Language Models a Mirage?"); Wei et al. (2022) report
3-digit addition appearing in GPT-3 only at 13B parameters. Writing the answer units first lets a
left-to-right model carry as it goes.
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
from dataclasses import asdict, dataclass
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

    def model_config(self, n_layer: int, n_embd: int) -> ModelConfig:
        return ModelConfig(vocab_size=len(ALPHABET), block_size=16, n_layer=n_layer, n_head=max(1, n_embd // 16), n_embd=n_embd).validate()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = [list(s) for s in self.sizes]
        return d


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
    """Train each size on addition, yielding progress; records with `point` carry the metrics at that step."""
    if plan.steps < 1 or plan.eval_every < 1 or not plan.sizes:
        raise EmergenceError("an emergence sweep needs at least one size, one step and an evaluation interval of at least one step.")
    train_ids, val_ids = split_problems(plan.held_out, plan.seed)
    batches = AdditionBatches(train_ids, val_ids)
    train_probe = problem_tensor(train_ids[: plan.held_out])  # as many problems the model did (or could) train on
    total = plan.steps * len(plan.sizes)
    for index, (n_layer, n_embd) in enumerate(plan.sizes):
        config = plan.model_config(n_layer, n_embd)
        model = build_model(config, plan.seed)
        label = f"{n_layer}x{n_embd}"
        point = partial(measure, model, label, batches.val_seqs, train_probe)

        yield EmergenceProgress(step=index * plan.steps, progress=index / len(plan.sizes), train_loss=math.log(len(ALPHABET)), label=label, point=point(0, 0))
        # divergence_factor: the answer loss falls near zero here, and a later spike of one nat (measured: it
        # happens as the hard digit is learned) is part of learning, not a blow-up; non-finite losses still stop it.
        cfg = plan.train_config(plan.steps, warmup_steps=20, log_every=min(plan.eval_every, 50), divergence_factor=1e6)
        last, series_last = None, None
        for m in train(model, batches, cfg, stop_event=stop_event):
            last = m
            step = index * plan.steps + m.step
            if m.done:
                break
            pt = point(m.step, m.tokens_seen) if m.step % plan.eval_every == 0 else None
            series_last = pt or series_last
            yield EmergenceProgress(step=step, progress=step / total, train_loss=m.train_loss, label=label, point=pt)
        final = index == len(plan.sizes) - 1
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
