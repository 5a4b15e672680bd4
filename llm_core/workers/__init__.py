"""Where a worker job runs: a spawned local process (the default), a Ray cluster, or a thread.

What it is: `run_target(target, args, stop, backend)` is a generator that runs
`target(stop, *args)` somewhere and yields its records here, as they come, then returns the
target's return value (its payload). `Job.worker(...)` in `llm_core.jobs` uses it. `result_of(target,
args)` runs one to its end and gives only the payload (a short measurement). The backend is
"process" unless `LLM_LAB_RAY_ADDRESS` is set (then "ray"); a caller may ask for one by name.
`drive()` is what every worker runs: iterate the target, send each record, send the payload or a
one-line error at the end.
What it is not: a scheduler. Local capacity is `JobGate`'s; on Ray it is the cluster's.

    >>> def count(stop, n):
    ...     for i in range(n):
    ...         yield i
    ...     return {"total": n}
    >>> steps = run_target(count, (3,), None, "thread")
    >>> list(steps)
    [0, 1, 2]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from llm_core.jobs import WorkerFailed  # noqa: F401  (re-exported for the backends)

BACKENDS = ("process", "ray", "thread")
RAY_ADDRESS_ENV = "LLM_LAB_RAY_ADDRESS"


def default_backend() -> str:
    """"ray" when LLM_LAB_RAY_ADDRESS names a cluster, "process" otherwise."""
    return "ray" if os.environ.get(RAY_ADDRESS_ENV) else "process"


def drive(target: Callable, args: tuple, stop, send: Callable[[tuple], None]) -> None:
    """Run `target(stop, *args)` to its end, sending ("record", r) for each record, then
    ("done", payload) or ("error", one line). Runs inside the worker, where it also picks the
    number of torch threads from the training records' speed (`llm_core.workers.threads`)."""
    from llm_core.jobs import error_message
    from llm_core.workers.threads import ThreadTuner

    try:
        tuner = None if getattr(target, "tunes_threads", False) else ThreadTuner.for_this_machine()  # unless it tunes per step itself
        steps = target(stop, *args)
        while True:
            try:
                record = next(steps)
            except StopIteration as end:
                send(("done", end.value))
                return
            send(("record", record))
            step, elapsed = getattr(record, "step", None), getattr(record, "elapsed_s", None)
            if tuner is not None and isinstance(step, int) and isinstance(elapsed, float):
                tuner.observe(step, elapsed)
    except Exception as exc:  # the server gets one line; the worker's log keeps the traceback
        import traceback

        traceback.print_exc()
        send(("error", error_message(exc)))


def relay(messages):
    """The server's side of `drive`: yield the records among a worker's (kind, value) messages;
    return (True, result) at "done", (False, None) when the messages run out; "error" raises."""
    for kind, value in messages:
        if kind == "record":
            yield value
        elif kind == "done":
            return True, value
        else:
            raise WorkerFailed(value)
    return False, None


def run_target(target: Callable, args: tuple, stop, backend: str | None = None) -> Iterator:
    backend = backend or default_backend()
    if backend == "thread":
        return _in_thread(target, args, stop)
    if backend == "process":
        from llm_core.workers.process import run_in_process

        return run_in_process(target, args, stop)
    if backend == "ray":
        from llm_core.workers.ray_backend import run_on_ray

        return run_on_ray(target, args, stop)
    raise ValueError(f"unknown job backend {backend!r}: choose one of {', '.join(BACKENDS)}.")


def result_of(target: Callable, args: tuple, backend: str | None = None):
    """Run `target(None, *args)` to its end where `backend` says and return its payload (its records,
    if any, are dropped): for a short measurement that must not run in the caller's process."""
    steps = run_target(target, args, None, backend)
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def _in_thread(target, args, stop):
    payload = yield from target(stop, *args)
    return payload
