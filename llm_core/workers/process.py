"""A worker job in a local process of its own: records stream back through a pipe.

What it is: `run_in_process(target, args, stop)` starts `drive(target, args, ...)` in a worker
process, passes the stop request on through a multiprocessing Event, and yields what the worker
sends. Workers come from a *forkserver* (where the platform has one; *spawn* elsewhere): a clean
process, started once per server, that has imported torch and the training code and forks a
worker on request. A fork of the server itself would be unsafe (it has threads, and torch's
OpenMP pool in use); the forkserver never runs a torch op, so its forks are safe. Measured on the
2-core machine: a spawned worker took 6.7-33 s to import torch under load 17 (about 2 s when
quiet); a forked one ran its first line 0.08 s after the request.
A worker that dies without saying goodbye (kill -9, the kernel's out-of-memory killer) raises
`WorkerFailed` with one line; one that stays silent for `STOP_GRACE_S` after a stop request (a
long step cannot look at the event) is killed, and the payload is `ABANDONED` (or `NOT_STARTED` when it
had said nothing at all: it was still starting up, and nothing it did is lost). A worker that
keeps talking after the request (the closing evaluation sends a `Phase` per chunk) is finishing,
not stuck, and is left to finish.
Workers run at a lower priority than the server (`WORKER_NICE`, `LLM_LAB_WORKER_NICE`, default
10): a page a learner is waiting for goes before a training run, which only loses the moments the
server is busy. Without it, two trainings on a 2-core server held the cores and a class's page
responses queued behind them (see the README's load test figures). Where Linux shares the CPU by
session first (autogroup), each worker also takes a session of its own at that niceness
(`own_autogroup`), so that it yields to a browser on the same machine too.
What it is not: a pool. Each segment of a job gets a fresh process, which gives its memory back
to the system when it ends. The server may keep one *spare* started ahead (`prewarm()`), which
also starts the forkserver (the one torch import) before the first job needs it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
import types
from dataclasses import dataclass

from llm_core.jobs import ABANDONED, NOT_STARTED
from llm_core.workers import WorkerFailed, drive, relay

STOP_GRACE_S = 1.5  # a worker silent this long after a stop request is ended
NICE_ENV = "LLM_LAB_WORKER_NICE"
WORKER_NICE = 10  # how much lower a worker's CPU priority is than the server's (Linux: 0-19; 0 = the same)
POLL_S = 0.05
AUTOGROUP = "/proc/self/autogroup"  # Linux's session group of this process, and that group's niceness
_start_lock = threading.Lock()


@contextlib.contextmanager
def _bare_main():
    """A spawned child (and the forkserver, when it starts) re-runs the parent's `__main__` file before
    anything else, and `streamlit run` makes app.py that `__main__`: without this the worker would run
    the whole app once more (seconds, and a flood of warnings). For the instant of the start,
    `__main__` is an empty module."""
    with _start_lock:
        real = sys.modules.get("__main__")
        placeholder = types.ModuleType("__main__")
        sys.modules["__main__"] = placeholder
        try:
            yield
        finally:
            if sys.modules.get("__main__") is placeholder:  # unless a script run has set its own meanwhile
                sys.modules["__main__"] = real


def worker_nice() -> int:
    """The niceness increment a worker takes: LLM_LAB_WORKER_NICE, else WORKER_NICE (clamped to 0-19)."""
    try:
        return min(19, max(0, int(os.environ.get(NICE_ENV, WORKER_NICE))))
    except ValueError:
        return WORKER_NICE


def _lower_priority() -> None:
    """Before torch starts its threads (they inherit it): yield the CPU to the server's page runs,
    and to every other session's processes where Linux shares the CPU by session first (`own_autogroup`)."""
    nice = worker_nice()
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice on this platform
        os.nice(nice)
    own_autogroup(nice)


def own_autogroup(nice: int, path: str = AUTOGROUP) -> bool:
    """Put this process in a session of its own whose autogroup has niceness `nice`; True if done.

    Where the kernel groups processes by session (CONFIG_SCHED_AUTOGROUP, on by default on desktop
    distributions; `path` exists), it shares the CPU between the groups first, and a process's niceness
    only ranks it inside its own group. A worker at nice 10 in the server's session then still took
    that session's share of the cores from a browser in another session: the learner's own browser on
    a laptop that runs the app, or in benchmarks/load_test.py the eight Chromiums (Playwright starts
    the browser in a session of its own), which got about half of the two cores while two trainings
    ran. In a session of its own at `nice`, the worker yields to every other session as it yields
    to the server. Not done where nothing would come of it (nice 0, no autogroup), nor by a process
    that leads its process group (setsid would fail); a worker still ends with the server: it leaves
    when the pipes to the server close, and Stop and the idle timeout reach it through its event.
    """
    if nice <= 0 or not os.path.exists(path) or not hasattr(os, "setsid"):
        return False
    try:
        os.setsid()
    except OSError:
        return False
    for _ in range(40):  # an unprivileged process may change an autogroup's niceness once per 0.1 s, machine-wide
        try:
            with open(path, "w") as f:
                f.write(str(nice))
            return True
        except BlockingIOError:  # EAGAIN: another worker has just done it
            time.sleep(0.03)
        except OSError:
            return False
    return False


def _worker_main(conn, tasks, stop) -> None:
    """A worker: lower its priority, import what training needs, wait for one (target, args), run it, end."""
    _lower_priority()
    import llm_core.training.training_run  # noqa: F401  (warm before the task comes: torch and the model code)

    try:
        target, args = tasks.recv()
    except (EOFError, OSError):
        return  # a spare nobody took: the server ended or let it go
    finally:
        tasks.close()
    try:
        drive(target, args, stop, conn.send)
    finally:
        conn.close()


@dataclass
class _Worker:
    proc: multiprocessing.Process
    tasks: object  # the server's end of the task pipe
    receive: object  # the server's end of the records pipe
    stop: object  # the worker's stop event


_spare: _Worker | None = None
_spare_lock = threading.Lock()


# what the forkserver imports once, so that every worker forked from it starts with it loaded
PRELOAD = ["llm_core.training.training_run"]


def _context():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _start_worker(name: str) -> _Worker:
    ctx = _context()
    worker_stop = ctx.Event()
    receive, send = ctx.Pipe(duplex=False)
    task_receive, task_send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker_main, args=(send, task_receive, worker_stop), daemon=True, name=name)
    with _bare_main():
        proc.start()
    send.close()  # the worker holds the only writing end: a dead worker reads as end of file
    task_receive.close()
    return _Worker(proc, task_send, receive, worker_stop)


def prewarm() -> None:
    """Start a spare worker unless one is ready (call it when the machine is otherwise idle: its
    start takes a core for a couple of seconds)."""
    global _spare
    with _spare_lock:
        if _spare is None or not _spare.proc.is_alive():
            _spare = _start_worker("llm-lab-spare")


def _take_worker() -> _Worker:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare.proc.is_alive():
        spare.proc.name = "llm-lab-job"
        return spare
    return _start_worker("llm-lab-job")


def run_in_process(target, args, stop):
    worker = _take_worker()
    proc, receive, worker_stop = worker.proc, worker.receive, worker.stop
    try:
        worker.tasks.send((target, args))
    except OSError:  # the spare died just now: a fresh worker
        worker = _start_worker("llm-lab-job")
        proc, receive, worker_stop = worker.proc, worker.receive, worker.stop
        worker.tasks.send((target, args))
    worker.tasks.close()
    stop_seen = last_heard = None
    try:
        while True:
            if stop is not None and stop.is_set() and stop_seen is None:
                worker_stop.set()
                stop_seen = time.monotonic()
            if stop_seen is not None and time.monotonic() - max(stop_seen, last_heard or 0) > STOP_GRACE_S and proc.is_alive():
                proc.kill()
                proc.join(5)
                return ABANDONED if last_heard is not None else NOT_STARTED  # silent from the start: it was still starting up
            if not receive.poll(POLL_S):
                if not proc.is_alive() and not receive.poll(0):
                    raise WorkerFailed(_death(proc))
                continue
            try:
                kind, value = receive.recv()
            except (EOFError, OSError):
                proc.join(5)
                raise WorkerFailed(_death(proc)) from None
            last_heard = time.monotonic()
            done, result = yield from relay([(kind, value)])
            if done:
                return result
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def _death(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        how = f"was ended by signal {-code}" + (" (killed: often out of memory)" if -code == 9 else "")
    else:
        how = f"exited with code {code}"
    return f"the worker running this job {how} before it finished; start it again."
