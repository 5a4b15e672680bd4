"""Small, fast real runs in the states a learner's run can end in, for tests across chapters.

Each maker trains for real (the nano size, a few seconds on one thread) through the same
`TrainingRun` the Training chapter uses, in a thread, and is cached per test process:
- `overfit_run()`: 4,000 characters of Shakespeare, learned by heart: the validation loss rises
  while the training loss keeps falling;
- `diverged_run()`: learning rate 10: the loop's divergence stop ends it within a few steps;
- `stalled_run()`: learning rate 0.0001: after 120 steps the loss has hardly left a uniform guess;
- `untrained_model()`: a freshly initialised model with no training record at all.
`install(at, which)` makes one of them the current model of an AppTest session, so a test can render
every chapter with it and scan the text (for "inf", "nan", "-0.00"): see `STATES`.

    from run_states import STATES, install
    for which in STATES:
        install(at, which); at.run(); ...
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from llm_core.model.config import TrainConfig, model_preset
from llm_core.text.data import load_corpus
from llm_core.training.loop import build_model
from llm_core.training.training_run import TrainedModel, TrainingRun, prepare_corpus

STATES = ("overfit", "diverged", "stalled", "untrained")


@dataclass
class FinishedRun:
    run: TrainingRun
    records: tuple  # every Metrics record the run yielded, in order
    stop_reason: str
    trained: TrainedModel | None  # the model and its record, as the chapter registers it

    def diagnosis(self):
        return self.run.diagnose(self.records, self.stop_reason)


def _train(text: str, name: str, train_config: TrainConfig, **model_overrides) -> FinishedRun:
    corpus = prepare_corpus(text, name)
    config = model_preset("nano", corpus.tokenizer.vocab_size, **model_overrides)
    run = TrainingRun(corpus, config, train_config, sample_tokens=20, name=f"{name} (test)")
    job = run.make_job(backend="thread")
    job.start()
    assert job.join(600), f"the {name} run did not end"
    snap = job.snapshot()
    assert snap.status == "finished", snap.error
    return FinishedRun(run, snap.records, snap.stop_reason, job.result)


@functools.cache
def overfit_run() -> FinishedRun:
    """4,000 characters, 64 wide: by step 200 it has learned them by heart (measured: validation loss
    lowest near step 60-100, then rising by 0.5 nats while the training loss halves)."""
    return _train(load_corpus("tinyshakespeare")[:4000], "4,000 characters", TrainConfig(max_steps=200, batch_size=16, eval_every=20, log_every=5),
                  block_size=32, n_embd=64, n_head=4)


@functools.cache
def diverged_run() -> FinishedRun:
    return _train(load_corpus("tinyshakespeare")[:60_000], "lr 10", TrainConfig(max_steps=200, batch_size=8, lr=10.0, muon_lr=50.0, warmup_steps=0,
                                                                                  eval_every=20, log_every=1))


@functools.cache
def stalled_run() -> FinishedRun:
    return _train(load_corpus("tinyshakespeare")[:60_000], "lr 0.0001", TrainConfig(max_steps=120, batch_size=8, lr=1e-4, muon_lr=5e-4,
                                                                                      eval_every=20, log_every=5))


@functools.cache
def untrained_model():
    """(model, tokenizer, meta) of a fresh nano model that never trained: no record at all."""
    corpus = prepare_corpus(load_corpus("tinyshakespeare")[:60_000], "untrained")
    return build_model(model_preset("nano", corpus.tokenizer.vocab_size), seed=0).eval(), corpus.tokenizer, {}


def model_of(which: str):
    """(name, model, tokenizer, meta) of a state, as the model registry keeps it."""
    if which == "untrained":
        model, tokenizer, meta = untrained_model()
        return "untrained nano (test)", model, tokenizer, meta
    finished = {"overfit": overfit_run, "diverged": diverged_run, "stalled": stalled_run}[which]()
    trained = finished.trained
    assert trained is not None, f"the {which} run kept no model"
    return f"{which} nano (test)", trained.model, trained.tokenizer, trained.meta


def install(at, which: str) -> str:
    """Make state `which` the current model of AppTest `at` (its registry and current-model keys); returns its name."""
    from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry

    name, model, tokenizer, meta = model_of(which)
    at.session_state[REGISTRY_KEY][name] = ModelEntry(name, model, tokenizer, meta, "trained")
    at.session_state[CURRENT_KEY] = name
    return name
