"""A worker job on a Ray cluster: for a class, when one machine is not enough.

What it is: with `LLM_LAB_RAY_ADDRESS` set (e.g. `ray://head:10001` or `auto`), every worker
job becomes a Ray actor that asks the cluster for `LLM_LAB_RAY_CPUS` CPUs (default 2). The actor
runs `drive(target, args, ...)` in a thread of its own; this side polls it about five times a
second for new records, and passes Stop on to it. While the cluster has no room the actor waits
in Ray's queue, and the job shows as waiting: the cluster's capacity is the gate. An actor that
dies (its node lost, killed, out of memory) ends the job with one line.
What it is not: needed locally. Ray is an optional dependency (`requirements-ray.txt`); nothing
imports it unless a job asks for this backend.
"""

from __future__ import annotations

import os
import threading
import time

from llm_core.jobs import ABANDONED, Phase, WorkerFailed
from llm_core.workers import RAY_ADDRESS_ENV, drive, relay

POLL_S = 0.2
STOP_GRACE_S = 2.0  # a remote worker gets a little longer: the stop request crosses the network
_init_lock = threading.Lock()


def connect(address: str | None = None, **options) -> None:
    """Connect this process to the cluster once (LLM_LAB_RAY_ADDRESS unless given; "local" starts
    a private Ray on this machine). The `llm_core` package travels with the jobs (Ray's
    `py_modules`), so the cluster's machines need Ray and torch, not a copy of LLM Lab."""
    import ray

    import llm_core

    address = address or os.environ.get(RAY_ADDRESS_ENV) or None
    with _init_lock:
        if not ray.is_initialized():
            ray.init(address=None if address == "local" else address, ignore_reinit_error=True, log_to_driver=False,
                     runtime_env={"py_modules": [llm_core]}, **options)


class _JobActor:
    """Runs one target in a thread inside a Ray worker; `poll` hands over what it sent so far."""

    def __init__(self, target, args):
        self.stop_event = threading.Event()
        self.outbox: list[tuple] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=drive, args=(target, args, self.stop_event, self._send), daemon=True)
        self.thread.start()

    def _send(self, message: tuple) -> None:
        with self.lock:
            self.outbox.append(message)

    def poll(self) -> list[tuple]:
        with self.lock:
            out, self.outbox = self.outbox, []
        return out

    def stop(self) -> None:
        self.stop_event.set()


def run_on_ray(target, args, stop):
    import ray

    connect()
    cpus = float(os.environ.get("LLM_LAB_RAY_CPUS", 2))
    actor_cls = ray.remote(num_cpus=cpus, max_concurrency=4)(_JobActor)
    actor = actor_cls.remote(target, args)
    stop_sent, answered, last_heard = None, False, 0.0
    try:
        while True:
            if stop is not None and stop.is_set() and stop_sent is None:
                actor.stop.remote()
                stop_sent = time.monotonic()
            if stop_sent is not None and time.monotonic() - max(stop_sent, last_heard) > STOP_GRACE_S:
                return ABANDONED
            try:
                messages = ray.get(actor.poll.remote(), timeout=1.0)
            except ray.exceptions.GetTimeoutError:
                if not answered:
                    yield Phase("waiting for room on the cluster")
                continue
            except ray.exceptions.RayActorError as exc:
                raise WorkerFailed(f"the worker running this job on the cluster died before it finished ({type(exc).__name__}); start it again.") from None
            answered = True
            if messages:
                last_heard = time.monotonic()
            done, result = yield from relay(messages)
            if done:
                return result
            time.sleep(POLL_S)
    finally:
        ray.kill(actor, no_restart=True)
