"""Background jobs: run a generator of progress records in a thread or a worker, behind a gate.

What it is: `Job` runs any generator of records (for example `llm_core.train.train(...)`, which
yields `Metrics`) in a plain `threading.Thread`; `Job.worker(...)` runs a module-level generator
function in a worker process (spawned, never forked) or on a Ray cluster (`llm_core.workers`),
and the same thread then only relays what the worker sends. The thread keeps the records, the text samples
some records carry, the status and an error message behind a lock; a page reads a consistent
copy with `snapshot()` as often as it likes. A job stops within one training step when asked (a
`threading.Event` the generator checks), at a wall-clock cap, or when nobody has looked at it
for a while (`touch()` says someone is watching). An exception becomes a one-line message, never
a traceback on a page. A stopped job can be started again: the same generator factory is called
once more, so a factory that keeps its own state (a `TrainState`) resumes where it stopped.
`JobGate` is the server-wide limit on how many jobs run at once; the others wait in order and
can ask for their place in the queue.

A worker job's function is `target(stop_event, *args)`: a generator defined at module level whose
arguments pickle (the server made them) and whose records are plain dataclasses. What it
*returns* (the generator's return value: bytes, numbers, strings, lists and dicts only, e.g.
safetensors bytes of the weights) reaches `finish(last_record, stop_reason, payload)` in the
server. A `Phase` record ("measuring the final loss", 40%) updates the job's phase instead of
joining its records. A worker that dies (killed, out of memory) ends the job with a one-line
message; one that does not stop within `STOP_GRACE_S` of a stop request is ended.

What it is not: anything Streamlit. This module never imports streamlit, so it is tested without
a browser; `lab_ui/jobs.py` keeps the gate per server and the jobs per user.

    >>> def count(stop):
    ...     for i in range(3):
    ...         yield i
    >>> job = Job(count, finish=lambda last, reason: last * 10)
    >>> job.start(); job.join(5)
    True
    >>> snap = job.snapshot()
    >>> snap.status, snap.records, job.result
    ('finished', (0, 1, 2), 20)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running", "stopping", "finishing")


@dataclass(frozen=True)
class Phase:
    """What a job is doing between records (e.g. its closing evaluation), with a fraction done."""

    text: str
    fraction: float | None = None


ABANDONED = "abandoned"  # a worker's payload when it had to be ended: what it was doing is lost
NOT_STARTED = "not started"  # a worker's payload when it was ended before it said anything (still starting up)


class JobError(RuntimeError):
    """A job was asked to do something its state does not allow (e.g. start twice)."""


class WorkerFailed(RuntimeError):
    """A job's worker sent an error or died; the message is already one line for a person."""


class JobGate:
    """At most `capacity` jobs run at once on this server; the others wait first come, first served.

        >>> gate = JobGate(1)
        >>> a, b = gate.enqueue(), gate.enqueue()
        >>> gate.wait(a), gate.position(a), gate.position(b)
        (True, 0, 1)
        >>> gate.release(a); gate.wait(b), gate.position(b)
        (True, 0)
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("a gate needs room for at least one job.")
        self.capacity = capacity
        self._cond = threading.Condition()
        self._running: set[int] = set()
        self._waiting: deque[int] = deque()
        self._next = 0

    def enqueue(self) -> int:
        """Join the queue; the returned ticket is used for `wait`, `position` and `release`."""
        with self._cond:
            self._next += 1
            self._waiting.append(self._next)
            return self._next

    def wait(self, ticket: int, cancel: threading.Event | None = None, poll_s: float = 0.1) -> bool:
        """Block until this ticket may run (True), or until `cancel` is set (False, and it leaves the queue)."""
        with self._cond:
            try:
                while True:
                    if ticket in self._running:
                        return True
                    if cancel is not None and cancel.is_set():
                        return False
                    if self._waiting and self._waiting[0] == ticket and len(self._running) < self.capacity:
                        self._waiting.popleft()
                        self._running.add(ticket)
                        self._cond.notify_all()
                        return True
                    self._cond.wait(poll_s)
            finally:
                if ticket in self._waiting and ticket not in self._running:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()

    def release(self, ticket: int) -> None:
        """Give the slot (or the place in the queue) back; releasing twice is harmless."""
        with self._cond:
            self._running.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def position(self, ticket: int) -> int | None:
        """0 while running, 1 for the next in line, 2 after it, ...; None when neither."""
        with self._cond:
            if ticket in self._running:
                return 0
            try:
                return self._waiting.index(ticket) + 1
            except ValueError:
                return None

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state at one moment; safe to read from any thread."""

    name: str
    status: str  # idle | queued | running | stopping | finishing | finished | failed
    records: tuple  # every record the generator yielded (thinned evenly when a run is very long)
    samples: tuple  # (step, text) for each record that carried a sample, oldest first
    latest: object | None  # the last record, or None before the first
    queue_position: int | None  # 1 = next in line; None unless queued
    error: str | None  # a one-line message when the job failed
    stop_reason: str | None  # why the last segment ended (None while it runs)
    segment: int  # how many times the job has been started (resumes included)
    running_s: float  # wall-clock seconds the current or last segment has run (queue time excluded)
    time_cap_s: float | None
    stop_latency_s: float | None = None  # seconds from stop() to the generator's end, when a stop was asked
    phase: Phase | None = None  # the latest Phase record of this segment, if any
    stopped_by: str | None = None  # user | cap | idle, when a stop was asked
    phase_current: bool = False  # the phase came after the latest record: it is what the job is doing now

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class Job:
    """Runs `make_steps(stop_event)` (any iterable of records) in a background thread.

    `finish(last_record, stop_reason)` runs in the same thread once the records end (not after an
    error); what it returns is `job.result` (e.g. a frozen copy of a trained model). Records are
    read with `getattr`, so any object works; a record's `sample` (text) and `step` attributes,
    when present, feed `samples`, and its `stop_reason` becomes the job's.
    """

    def __init__(
        self,
        make_steps: Callable[[threading.Event], Iterable],
        *,
        finish: Callable[[object, str | None], object] | None = None,
        gate: JobGate | None = None,
        time_cap_s: float | None = None,
        idle_timeout_s: float | None = None,
        name: str = "job",
        max_records: int = 4000,
        clock: Callable[[], float] = time.monotonic,
        watch_every_s: float = 0.2,
    ):
        self.name = name
        self._make_steps = make_steps
        self._clock = clock  # injectable: tests move time forward instead of sleeping
        self._watch_every_s = watch_every_s
        self._takes_payload = False
        self.payload = None
        self._finish = finish
        self._gate = gate
        self.time_cap_s = time_cap_s
        self.idle_timeout_s = idle_timeout_s
        self._max_records = max_records
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._ended.set()  # not started: nothing to wait for
        self._thread: threading.Thread | None = None
        self._status = "idle"
        self._records: list = []
        self._samples: list = []
        self._error: str | None = None
        self._stop_reason: str | None = None
        self._stop_cause: str | None = None  # user | cap | idle
        self._segment = 0
        self._ticket: int | None = None
        self._run_started: float | None = None
        self._run_ended: float | None = None
        self._stop_asked: float | None = None
        self._stop_latency: float | None = None
        self._last_seen = clock()
        self._phase: Phase | None = None
        self._records_total = 0  # records received this segment (thinning does not lower it)
        self._phase_at = -1  # _records_total when the latest phase came
        self._stop_phase: Phase | None = None  # what the job was doing (a phase after its records) when a stop was asked
        self.result = None

    @classmethod
    def worker(cls, target: Callable, args_fn: Callable[[], tuple], *, backend: str | None = None,
               finish: Callable[[object, str | None, object], object] | None = None, **options) -> Job:
        """A job whose records come from `target(stop, *args_fn())` run by a worker (see the module doc).

        `backend`: "process" (the default), "ray" or "thread" (same code, in this process).
        `args_fn` is called at every start, so a resumed job gets the state its last segment returned.
        `finish(last, reason, payload)` runs in this process with the target's return value.
        """
        from llm_core.workers import run_target

        job = cls(lambda stop: run_target(target, args_fn(), stop, backend), **options)
        job._finish, job._takes_payload = finish, True
        return job

    # --- called from the page's thread ---

    def start(self) -> None:
        """Start (or resume) in a new thread; raises JobError if it is already active."""
        with self._lock:
            if self._status in ACTIVE:
                raise JobError(f"{self.name} is already {self._status}.")
            self._stop.clear()
            self._ended.clear()
            self._status = "queued" if self._gate else "running"
            self._error = self._stop_reason = self._stop_cause = None
            self._segment += 1
            self._run_started = None if self._gate else self._clock()
            self._run_ended = self._stop_asked = self._stop_latency = None
            self._phase, self.payload = None, None
            self._records_total, self._phase_at, self._stop_phase = 0, -1, None
            self._last_seen = self._clock()
            # Queue here, in the caller's thread: the queue follows the order of start() calls, and
            # the place in it shows at once.
            self._ticket = self._gate.enqueue() if self._gate is not None else None
            self._thread = threading.Thread(target=self._run, name=f"job:{self.name}", daemon=True)
            self._thread.start()

    def stop(self, cause: str = "user") -> None:
        """Ask the job to stop; the generator sees it at its next step. Harmless when not running."""
        with self._lock:
            if self._status not in ACTIVE or self._stop.is_set():
                return
            self._stop_cause = cause
            self._stop_asked = self._clock()
            self._stop_phase = self._phase if self._phase_current() else None
            if self._status == "running":
                self._status = "stopping"
            self._stop.set()

    def _phase_current(self) -> bool:
        return self._phase is not None and self._phase_at == self._records_total

    def touch(self) -> None:
        """Someone is watching: postpones the idle stop."""
        self._last_seen = self._clock()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the current segment to end; True if it has."""
        return self._ended.wait(timeout)

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            position = None
            if self._status == "queued" and self._gate is not None and self._ticket is not None:
                position = self._gate.position(self._ticket) or None
            if self._run_started is None:
                running_s = 0.0
            else:
                running_s = (self._run_ended or self._clock()) - self._run_started
            return JobSnapshot(
                name=self.name,
                status=self._status,
                records=tuple(self._records),
                samples=tuple(self._samples),
                latest=self._records[-1] if self._records else None,
                queue_position=position,
                error=self._error,
                stop_reason=self._stop_reason,
                segment=self._segment,
                running_s=running_s,
                time_cap_s=self.time_cap_s,
                stop_latency_s=self._stop_latency,
                phase=self._phase,
                stopped_by=self._stop_cause,
                phase_current=self._phase_current(),
            )

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    # --- the background thread ---

    def _run(self) -> None:
        from llm_core.model.device import TRAINING_THREADS, use_threads  # here: the first page reads this module before torch is loaded

        use_threads(TRAINING_THREADS)  # this thread may be made by a page thread that runs on one
        watchdog = threading.Thread(target=self._watch, name=f"watchdog:{self.name}", daemon=True)
        watchdog.start()
        last, admitted = None, self._gate is None
        try:
            if self._gate is not None:
                admitted = self._gate.wait(self._ticket, self._stop)
                if not admitted:
                    self._end(None, self._reason_for_stop(default="left the queue before it started"))
                    return
                with self._lock:
                    if self._status == "queued":
                        self._status = "running"
                    self._run_started = self._clock()
            steps = iter(self._make_steps(self._stop))
            while True:
                try:
                    record = next(steps)
                except StopIteration as end:
                    self.payload = end.value  # a generator's return value (a worker's payload)
                    break
                if isinstance(record, Phase):
                    with self._lock:
                        self._phase, self._phase_at = record, self._records_total
                    continue
                with self._lock:
                    self._records.append(record)
                    self._records_total += 1
                    sample = getattr(record, "sample", None)
                    if sample:
                        self._samples.append((getattr(record, "step", len(self._records)), sample))
                    if len(self._records) > self._max_records:
                        self._thin()
                last = record
            reason = self._reason_for_stop(default=getattr(last, "stop_reason", None) or "finished")
            if self._stop_cause == "user" and (self.payload == NOT_STARTED or (self.payload == ABANDONED and last is None)):  # nothing was made to lose
                reason = "stopped by user before its first step (its worker process was still starting up)"
            elif self.payload in (ABANDONED, NOT_STARTED):
                reason += "; the worker did not stop in time and was ended, so the work since the last start is lost"
            with self._lock:
                self._status = "finishing"
                self._run_ended = self._clock()
                if self._stop_asked is not None:
                    self._stop_latency = max(0.0, self._run_ended - self._stop_asked)
            if self._finish is None:
                result = None
            elif self._takes_payload:
                result = self._finish(last, reason, None if self.payload in (ABANDONED, NOT_STARTED) else self.payload)
            else:
                result = self._finish(last, reason)
            with self._lock:
                self.result = result
            self._end(None, reason)
        except Exception as exc:  # the page gets a message; the log gets the traceback
            log.exception("job %s failed", self.name)
            self._end(error_message(exc), None)
        finally:
            if self._gate is not None and self._ticket is not None:
                self._gate.release(self._ticket)
            self._ended.set()

    def _reason_for_stop(self, default: str) -> str:
        cause = self._stop_cause
        if cause == "cap":
            return f"stopped at this server's limit of {self.time_cap_s:g} s per run (press Resume to go on)"
        if cause == "idle":
            return f"stopped because nobody looked at it for {self.idle_timeout_s:g} s"
        if cause == "user" and self._run_started is None:
            return "stopped by user before it began"
        if cause == "user" and default == "finished":  # the generator ended without a reason of its own
            return "stopped by user"
        if cause == "user" and self._stop_phase is not None and not default.startswith(("stopped", "diverged")):
            # the records had ended (e.g. the step limit) and the job was finishing its last phase (the closing evaluation)
            return f"stopped by user while {self._stop_phase.text.split(':')[0]}, after training had {default}"
        return default

    def _end(self, error: str | None, reason: str | None) -> None:
        with self._lock:
            self._status = "failed" if error else "finished"
            self._error = error
            self._stop_reason = reason
            if self._run_ended is None and self._run_started is not None:
                self._run_ended = self._clock()

    def _thin(self) -> None:
        """Halve the kept records, keeping every evaluation (records with a val_loss) and the last one."""
        kept = [r for i, r in enumerate(self._records) if i % 2 == 0 or getattr(r, "val_loss", None) is not None]
        if kept[-1] is not self._records[-1]:
            kept.append(self._records[-1])
        self._records = kept

    def _watch(self) -> None:
        """Stop the job at its wall-clock cap, or when nobody has touched it for idle_timeout_s."""
        while not self._ended.wait(self._watch_every_s):
            now = self._clock()
            with self._lock:
                started = self._run_started
            if self.time_cap_s and started is not None and now - started >= self.time_cap_s:
                self.stop("cap")
            elif self.idle_timeout_s and now - self._last_seen >= self.idle_timeout_s:
                self.stop("idle")


def error_message(exc: BaseException) -> str:
    """One line for a person: the message of errors written for people, the type and message otherwise."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (ValueError, WorkerFailed)) and text:
        return text
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return "the training ran out of memory: choose a smaller model, context or batch."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
