"""A stateful stage (fine-tuning, a reward model, RLHF, DPO, the retrieval chapter's fine-tunes) run by a worker.

What it is: `stage_job(stage, ...)` makes the `Job` for any object with `steps(stop)` (a generator
of records), `measure()` (its closing measurements) and `finish(last, reason)` (the result, made
from what was measured). The worker gets a copy of the stage, runs its steps (the records stream
back as they come) and `measure()`, and returns the copy; the server takes over the copy's state
and calls `finish`, which only packages: the stop reason is known only in the server. A resumed
job sends the stage as it is then, so the next segment goes on from there.
While `measure()` runs the worker sends a `Phase` every half second, so the server can tell a
worker that is finishing from one that is stuck (see `llm_core.workers.process`).

The copy travels as pickle bytes in both directions, made by this code from the server's own
objects or by our own worker: no byte of it comes from a user's file (models a user uploads
are read as safetensors + JSON by `llm_core.model.checkpoint`). Pickling the whole stage in one
call keeps the references inside it (an optimizer and the parameters it updates) intact.
What it is not: the stages themselves (`llm_core.alignment.assistant`, `llm_core.retrieval.readers`).

`tests/test_stage_jobs.py` runs a stage this way in a thread and in a spawned process.
"""

from __future__ import annotations

import pickle
import threading

from llm_core.jobs import Job, JobGate, Phase

HEARTBEAT_S = 0.5


def run_stage(stop, blob: bytes):
    """The worker's side: the stage's records, then `measure()` with a heartbeat; returns the stage's bytes."""
    stage = pickle.loads(blob)  # bytes stage_job made from the server's own stage object
    yield from stage.steps(stop)
    yield from _with_heartbeat(stage.measure, Phase(f"{stage.name}: measuring the result"))
    return pickle.dumps(stage)



def _with_heartbeat(fn, phase: Phase):
    """Run fn() in a thread of this worker and yield `phase` every HEARTBEAT_S until it ends; re-raise its error."""
    failure: list[BaseException] = []

    def call():
        try:
            fn()
        except BaseException as exc:  # handed to the generator's thread, which raises it
            failure.append(exc)

    worker = threading.Thread(target=call, name="stage-measure", daemon=True)
    worker.start()
    while worker.is_alive():
        yield phase
        worker.join(HEARTBEAT_S)
    if failure:
        raise failure[0]


def stage_job(stage, gate: JobGate | None = None, time_cap_s: float | None = None, idle_timeout_s: float | None = None,
              backend: str | None = None) -> Job:
    """The Job that runs `stage` in a worker process (or on Ray, or in a thread: `backend`)."""

    def finish(last, reason, payload):
        if payload is None:  # the worker had to be ended: its copy, and what it did, are lost
            return None
        stage.__dict__.update(pickle.loads(payload).__dict__)  # bytes run_stage made in our own worker
        return stage.finish(last, reason)

    return Job.worker(run_stage, lambda: (pickle.dumps(stage),), backend=backend, finish=finish, gate=gate,
                      time_cap_s=time_cap_s, idle_timeout_s=idle_timeout_s, name=stage.name)
