"""A scaling sweep: a ladder of model sizes trained at several compute budgets, every run recorded.

What it is: `SweepPlan` says which sizes and budgets; `plan.runs()` turns each (budget, size) pair
into a number of training steps (tokens = budget / training FLOPs per token), keeping only runs
that take at least `min_steps` steps and see the corpus at most `max_epochs` times (repeated data
is nearly as good as fresh for a few epochs, Muennighoff et al. 2023; beyond that the sweep would
measure memorisation, not scale). `run_sweep` trains each run from scratch with the one training
loop (`llm_core.training.loop.train`) and is itself a generator: it yields `SweepProgress`
records, and the record that closes a run carries that run's point (held-out loss, parameters
with and without embeddings, tokens, epochs, FLOPs, seconds). The same generator serves the
command line (`python -m llm_core.scaling sweep`), the tests and the page's background job.
`sweep_document` / `save_sweep` / `load_sweep` write and read the JSON file, and
`validate_sweep` checks one with messages a person can act on.
What it is not: a second training loop, or the fits (`fit.py`).

    >>> plan = SweepPlan(sizes=((2, 16), (4, 64)), budgets=(1e11,))
    >>> [(r.label, r.steps, round(r.epochs, 2)) for r in plan.runs(vocab_size=65, train_tokens=1_003_854)]
    [('2x16', 1747, 1.78), ('4x64', 74, 0.08)]
"""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from llm_core.model.config import ModelConfig, TrainConfig
from llm_core.model.device import use_threads
from llm_core.scale.flops import param_counts, train_flops_per_token
from llm_core.text.data import load_corpus
from llm_core.training.loop import TextBatches, build_model, train

SCHEMA = "llm-lab/scaling-sweep"
VERSION = 1
# Non-embedding parameters from 0.8k to 443k: (layers, width). Heads: `heads_for`.
DEFAULT_SIZES = ((1, 8), (1, 16), (2, 16), (2, 24), (2, 32), (3, 40), (3, 56), (4, 64), (4, 96))
# Measured: on the shared 2-core machine (load average 13-19) budgets up to 3e12 would have taken hours.
DEFAULT_BUDGETS = (1e10, 2e10, 3e10, 5e10, 1e11, 2e11)
POINT_FIELDS = {  # every run in a sweep file has these (name: type)
    "label": str, "n_layer": int, "n_embd": int, "n_head": int, "budget": float, "flops": float,
    "params_total": int, "params_non_embedding": int, "params_embedding": int, "tokens": int, "steps": int,
    "epochs": float, "val_loss": float, "train_loss": float, "wall_s": float, "stop_reason": str,
}


class SweepError(ValueError):
    """A sweep plan or file that cannot be used; the message says why."""


def heads_for(n_embd: int) -> int:
    """16-wide heads where the width allows, 8-wide otherwise (small models need a few heads too)."""
    return max(1, n_embd // 16 if n_embd > 32 and n_embd % 16 == 0 else n_embd // 8)


@dataclass(frozen=True)
class RunSpec:
    label: str
    config: ModelConfig
    budget: float
    steps: int
    tokens: int
    epochs: float
    flops: float  # what the run will actually spend: steps x tokens per step x FLOPs per token


@dataclass(frozen=True)
class LadderPlan:
    """What every scale experiment (this sweep, the emergence sweep) shares: a ladder of model sizes,
    each trained from the same seed with the same optimiser settings by the one training loop."""

    sizes: tuple = DEFAULT_SIZES  # (n_layer, n_embd) pairs
    batch_size: int = 16
    lr: float = 4e-3
    muon_lr: float = 0.02
    seed: int = 1337

    def train_config(self, steps: int, **settings) -> TrainConfig:
        """The training loop's settings for one rung of `steps` steps (no evaluations: the experiment measures)."""
        return TrainConfig(max_steps=steps, batch_size=self.batch_size, lr=self.lr, muon_lr=self.muon_lr, eval_every=0, seed=self.seed, **settings)


@dataclass(frozen=True)
class SweepPlan(LadderPlan):
    budgets: tuple = DEFAULT_BUDGETS  # training FLOPs per run
    corpus: str = "tinyshakespeare"
    block_size: int = 64
    min_steps: int = 50
    max_epochs: float = 8.0
    eval_tokens: int | None = None  # held-out tokens for each run's loss (None: the whole held-out split)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size

    def model_config(self, n_layer: int, n_embd: int, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=n_layer, n_head=heads_for(n_embd), n_embd=n_embd).validate()

    def runs(self, vocab_size: int, train_tokens: int) -> list[RunSpec]:
        """Every (budget, size) pair that fits the step and epoch limits, smallest budget first."""
        if not self.sizes or not self.budgets:
            raise SweepError("a sweep needs at least one size and one budget.")
        specs = []
        for budget in sorted(self.budgets):
            if budget <= 0:
                raise SweepError(f"a compute budget must be positive (got {budget:g}).")
            for n_layer, n_embd in sorted(self.sizes, key=lambda s: s[0] * s[1] ** 2):
                cfg = self.model_config(n_layer, n_embd, vocab_size)
                per_token = train_flops_per_token(cfg)
                steps = int(budget // (per_token * self.tokens_per_step))
                tokens = steps * self.tokens_per_step
                epochs = tokens / train_tokens
                if steps < self.min_steps or epochs > self.max_epochs:
                    continue
                specs.append(RunSpec(f"{n_layer}x{n_embd}", cfg, float(budget), steps, tokens, epochs, float(tokens * per_token)))
        return specs

    def to_dict(self) -> dict:
        return {k: list(map(list, v)) if k == "sizes" else list(v) if k == "budgets" else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> SweepPlan:
        data = dict(data)
        data["sizes"] = tuple(tuple(s) for s in data.get("sizes", DEFAULT_SIZES))
        data["budgets"] = tuple(float(b) for b in data.get("budgets", DEFAULT_BUDGETS))
        return cls(**data)


@dataclass
class SweepProgress:
    """One record of a running sweep; looks like training `Metrics` where the job helpers read it."""

    step: int  # optimizer steps over the whole sweep so far
    progress: float  # fraction of the sweep's FLOPs spent
    train_loss: float
    run_index: int  # which run (0-based) this record belongs to
    runs: int  # how many runs the sweep has
    label: str  # e.g. "4x64 at 1e+11 FLOPs"
    val_loss: float | None = None
    point: dict | None = None  # set on the record that closes a run
    sample: str | None = None
    done: bool = False
    stop_reason: str | None = None
    elapsed_s: float = 0.0


@dataclass
class Corpus:
    name: str
    vocab_size: int
    batches_by_block: dict = field(default_factory=dict)
    train_tokens: int = 0


def char_split(corpus_name: str):
    """Characters of a bundled corpus as ids, split 90/10 like every chapter does: (vocab_size, TokenSplit)."""
    from llm_core.text.data import TokenSplit
    from llm_core.text.tokenizers import CharTokenizer

    text = load_corpus(corpus_name)
    tok = CharTokenizer.from_text(text)
    return tok.vocab_size, TokenSplit.from_ids(tok.encode(text))


def run_sweep(plan: SweepPlan, stop_event: threading.Event | None = None, split=None, vocab_size: int | None = None, threads: int | None = None):
    """Train every run of `plan` in turn, yielding `SweepProgress`; a closing record carries `point`.

    `threads`: torch threads for the calling thread only (`use_threads`). The sweep's models are
    tiny, and on the loaded 2-core machine one thread was much faster than two: the 1x8 run at
    1e10 FLOPs took 159 s on one thread (shipped sweep) and 1,360 s on two (benchmarks/scale_live.py); the
    page's default mini-sweep then took 10 s on one thread.
    """
    if threads:
        use_threads(threads)
    if split is None:
        vocab_size, split = char_split(plan.corpus)
    specs = plan.runs(vocab_size, len(split.train))
    if not specs:
        raise SweepError("no run fits: every size needs fewer than min_steps steps or more than max_epochs epochs at these budgets.")
    total = sum(s.flops for s in specs)
    spent, steps_before = 0.0, 0
    batches = TextBatches(split, plan.block_size, plan.eval_tokens)
    started = time.perf_counter()
    for index, spec in enumerate(specs):
        model = build_model(spec.config, plan.seed)
        cfg = plan.train_config(spec.steps, warmup_steps=min(10, spec.steps // 10), log_every=10)
        per_token = spec.flops / spec.tokens
        label = f"{spec.label} at {spec.budget:.0e} FLOPs"
        t0 = time.perf_counter()
        last = None
        for m in train(model, batches, cfg, stop_event=stop_event):
            last = m
            if m.done:
                break
            yield SweepProgress(step=steps_before + m.step, progress=(spent + m.tokens_seen * per_token) / total, train_loss=m.train_loss,
                                run_index=index, runs=len(specs), label=label, elapsed_s=time.perf_counter() - started)
        steps_before += last.step
        spent += last.tokens_seen * per_token
        common = dict(step=steps_before, progress=spent / total, train_loss=last.train_loss, run_index=index, runs=len(specs), label=label,
                      elapsed_s=time.perf_counter() - started)
        if last.stop_reason == "stopped by user":
            yield SweepProgress(**common, done=True, stop_reason=f"stopped by user during run {index + 1} of {len(specs)} ({label}); {index} runs finished")
            return
        counts = param_counts(spec.config)
        point = dict(
            label=spec.label, n_layer=spec.config.n_layer, n_embd=spec.config.n_embd, n_head=spec.config.n_head, budget=spec.budget,
            flops=float(last.tokens_seen * per_token), params_total=counts["total"], params_non_embedding=counts["non_embedding"],
            params_embedding=counts["embedding"], tokens=int(last.tokens_seen), steps=int(last.step), epochs=round(last.tokens_seen / len(split.train), 4),
            val_loss=round(float(last.val_loss), 5) if last.val_loss is not None and math.isfinite(last.val_loss) else float("nan"),
            train_loss=round(float(last.train_loss), 5), wall_s=round(time.perf_counter() - t0, 2), stop_reason=last.stop_reason or "",
        )
        final = index == len(specs) - 1
        yield SweepProgress(**common, val_loss=point["val_loss"], point=point, done=final, stop_reason="finished every run" if final else None)


def sweep_in_worker(stop, plan_dict: dict):
    """`run_sweep` as a worker job's target (`llm_core.jobs.Job.worker`): the Scale chapter's mini-sweep
    runs in a worker process, not in the server, on one torch thread (see `run_sweep`)."""
    yield from run_sweep(SweepPlan.from_dict(plan_dict), stop_event=stop, threads=1)


sweep_in_worker.tunes_threads = True  # it keeps one thread: the worker's thread tuner leaves it alone


def _budget_points(plan_dict: dict, budget: float, threads: int) -> list[dict]:
    """One budget of a plan, in a worker process (spawned: it imports torch afresh)."""
    torch.set_num_threads(threads)
    plan = SweepPlan.from_dict({**plan_dict, "budgets": [budget]})
    points = []
    for rec in run_sweep(plan):
        if rec.point is not None:
            points.append(rec.point)
            pt = rec.point
            print(f"  {pt['label']:>6} at {budget:.0e} FLOPs: {pt['steps']:,} steps, {pt['epochs']:.2f} epochs, val loss {pt['val_loss']:.4f}, "
                  f"{pt['wall_s']:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    return points


def run_sweep_parallel(plan: SweepPlan, workers: int, threads: int = 1):
    """The budgets of `plan` in `workers` processes, largest budget first; yields each budget's points as it ends.

    For the command line on a machine with cores to spare: the runs are the same as `run_sweep`'s
    (each is trained by the one loop, from the same seed), only the order of finishing differs.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_budget_points, plan.to_dict(), b, threads) for b in sorted(plan.budgets, reverse=True)]
        for future in as_completed(futures):
            yield future.result()


def machine() -> dict:
    return dict(platform=platform.platform(), processor=platform.processor() or platform.machine(), torch=torch.__version__,
                threads=torch.get_num_threads(), cpus=os.cpu_count())


def sweep_document(plan: SweepPlan, points: list[dict], command: str, wall_s: float, runs_planned: int | None = None) -> dict:
    """The JSON a sweep is kept in; `runs_planned` above len(points) marks a sweep that was cut short."""
    return dict(schema=SCHEMA, version=VERSION, command=command, created=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                machine=machine(), load_average=[round(v, 2) for v in os.getloadavg()], wall_s=round(wall_s, 1),
                runs_planned=runs_planned or len(points), plan=plan.to_dict(), runs=points)


def validate_sweep(data) -> dict:
    """Check a sweep document's shape; returns it, or raises SweepError saying what is wrong."""
    if not isinstance(data, dict):
        raise SweepError("a sweep file must hold a JSON object.")
    if data.get("schema") != SCHEMA:
        raise SweepError(f"not a scaling sweep (schema {data.get('schema')!r}, expected {SCHEMA!r}).")
    if data.get("version") != VERSION:
        raise SweepError(f"sweep version {data.get('version')!r} is not supported (expected {VERSION}).")
    for key in ("command", "plan", "runs"):
        if key not in data:
            raise SweepError(f"the sweep has no {key!r}.")
    if not isinstance(data["runs"], list) or not data["runs"]:
        raise SweepError("the sweep holds no runs.")
    for i, run in enumerate(data["runs"]):
        for name, kind in POINT_FIELDS.items():
            value = run.get(name) if isinstance(run, dict) else None
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else isinstance(value, kind) and not isinstance(value, bool)
            if not ok:
                raise SweepError(f"run {i} has no valid {name!r} (expected {kind.__name__}, got {value!r}).")
        if run["params_total"] != run["params_non_embedding"] + run["params_embedding"]:
            raise SweepError(f"run {i}: parameters with embeddings must equal those without plus the embeddings.")
    SweepPlan.from_dict(data["plan"])
    return data


def write_checked_json(path, document: dict, validate) -> Path:
    """Validate, then write atomically (a temporary file renamed over the target)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(validate(document), indent=1) + "\n")
    tmp.replace(path)
    return path


def read_checked_json(path, validate, error: type[Exception], what: str) -> dict:
    """Read and validate; an unreadable file raises `error` with a message naming `what`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from None
    return validate(data)


def save_sweep(path, document: dict) -> Path:
    return write_checked_json(path, document, validate_sweep)


def load_sweep(path) -> dict:
    return read_checked_json(path, validate_sweep, SweepError, "the sweep")
