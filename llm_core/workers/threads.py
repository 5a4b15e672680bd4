"""How many torch threads a worker trains with: found by trying, and tried again from time to time.

What it is: `ThreadTuner.observe(step, elapsed_s)` is fed every training record a worker sends
(`drive` does it). It measures optimizer steps per second of training time with each candidate
thread count for a short trial, keeps the fastest (another count must beat the one in use by
15%: one-second trials are noisy), and tries again later: rarely while the same count keeps
winning (10 s, then 20, 40, ... 160 s of training), soon when the speed falls off.
The candidates are torch's count at the start (one per core) and one fewer (on 2 cores: 2 and 1);
it begins with the fewer when the machine is already busy (a load average of at least the number
of cores), because a slow run sends its records seconds apart and each trial takes a record. When
little else runs beside the job in its first second (`others_running`), it keeps all the cores and
holds the first trial back for 40 s of training unless the speed falls off: a trial of the slower
count costs about 2% of a 30 s run.
Why: a job shares the machine's cores with the server, the browser of whoever watches it, and
other jobs. torch's OpenMP threads wait for each other at the end of every op, so when another
process takes one core for a moment, the job's other thread waits too. Measured on the 2-core
machine with the tiny preset: alone, 2 threads train faster than 1; at a load average of 5, the
CLI trained 1.0 steps/s with 2 threads and 6.9 with 1. Which is faster depends on the moment, so
it is measured, not guessed.
What it is not: a change to the training loop or to the CLI: `python -m llm_core.train` keeps
torch's default. `LLM_LAB_WORKER_THREADS=n` fixes a worker's count (no trials).

    >>> counts = []
    >>> tuner = ThreadTuner([2, 1], set_threads=counts.append, trial_s=1.0)
    >>> for second in range(1, 8):  # 10 steps a second with 2 threads, 15 with 1
    ...     tuner.observe(step=second * 10 if tuner.threads == 2 else tuner.step + 15, elapsed_s=float(second))
    >>> tuner.threads, counts
    (1, [2, 1])
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

THREADS_ENV = "LLM_LAB_WORKER_THREADS"
TRIAL_S = 1.0  # seconds of training per candidate in a trial
FIRST_SETTLE_S = 10.0  # seconds of training before the first trial is repeated
LAST_SETTLE_S = 160.0  # the longest wait between trials while the same count keeps winning
FALL_OFF = 0.7  # a speed below this share of the winner's trial speed starts a new trial at once
QUIET_START_S = 40.0  # started on a quiet machine: seconds of training before the first trial, unless the speed falls off
SWITCH_MARGIN = 1.15  # another count must beat the current one by this factor in a trial: one-second trials are noisy


class ThreadTuner:
    def __init__(self, candidates: Sequence[int], set_threads: Callable[[int], None] | None = None, trial_s: float = TRIAL_S,
                 first_settle_s: float = FIRST_SETTLE_S, last_settle_s: float = LAST_SETTLE_S, trial_first: bool = True,
                 others_running: Callable[[], float] | None = None, busy_at: float = 1.0):
        self.candidates = list(dict.fromkeys(int(c) for c in candidates if c >= 1))
        if not self.candidates:
            raise ValueError("a thread tuner needs at least one candidate count.")
        if set_threads is None:
            import torch

            set_threads = torch.set_num_threads
        self._set = set_threads
        self.trial_s, self.first_settle_s, self.last_settle_s = trial_s, first_settle_s, last_settle_s
        self.settle_s = first_settle_s
        self.trial_first = trial_first  # False: keep the first count and only watch its speed until QUIET_START_S
        # others_running(): other processes' runnable threads now; sampled through the first second, it decides
        # trial_first (busy: at least busy_at of them on average) instead of the value given
        self._others_running, self._busy_at, self._others_seen = others_running, busy_at, []
        self.threads = self.candidates[0]
        self.rates: dict[int, float] = {}  # steps per second of each candidate in the latest trial
        self.step, self.elapsed_s = 0, 0.0  # the latest record seen
        self._mark: tuple[int, float] | None = None  # (step, elapsed) where the current measurement began
        self._window: tuple[int, float] = (0, 0.0)  # where the settled speed's latest window began
        self._queue: list[int] = []  # candidates still to try in this trial; empty when settled
        self._trial_order: list[int] = []
        self._winner: int | None = None
        self._warm = False
        self._use(self.threads)

    @classmethod
    def for_this_machine(cls) -> ThreadTuner | None:
        """Candidates: torch's count at start (one per core, or what OMP_NUM_THREADS or a Ray task's CPUs
        say) and one fewer; a fixed count from LLM_LAB_WORKER_THREADS; None when there is nothing to choose."""
        import torch

        fixed = os.environ.get(THREADS_ENV, "").strip()
        if fixed:
            try:
                torch.set_num_threads(max(1, int(fixed)))
                return None
            except ValueError:
                log.warning("%s=%r is not a number of threads; ignored", THREADS_ENV, fixed)
        start = torch.get_num_threads()
        if start <= 1:
            return None
        busy = hasattr(os, "getloadavg") and os.getloadavg()[0] >= (os.cpu_count() or 1)
        probe = others_running if os.path.exists("/proc/loadavg") else None
        # already busy: begin with the count likely faster; whether to try both at once or keep all the cores and
        # try one fewer only later (each trial of the slower count costs speed) is decided by what runs beside the
        # job in its first second (the 1-minute load average still counts a run that ended a minute ago)
        return cls([start - 1, start] if busy else [start, start - 1], trial_first=busy, others_running=probe, busy_at=max(1.0, start / 2))

    def _use(self, n: int) -> None:
        self.threads = n
        self._set(n)

    def observe(self, step: int, elapsed_s: float) -> None:
        """A training record: optimizer steps done and seconds of training so far (evaluations excluded)."""
        if self._mark is None or step < self._mark[0] or elapsed_s < self._mark[1]:
            self._restart(step, elapsed_s)  # the first record, or a new run: measure from here
            return
        self.step, self.elapsed_s = step, elapsed_s
        if not self._warm and self._others_running is not None:
            self._others_seen.append(self._others_running())
        steps, seconds = step - self._mark[0], elapsed_s - self._mark[1]
        if seconds < self.trial_s or steps < 1:
            return
        if not self._warm:  # the first second: allocations and caches warming up, not the thread count
            self._warm = True
            if self._others_seen:
                self.trial_first = sum(self._others_seen) / len(self._others_seen) >= self._busy_at
                if not self.trial_first:  # quiet after all (a lagging load average chose the fewer): all the cores
                    self._use(max(self.candidates))
            if self.trial_first:
                self._start_trial()
            else:  # a quiet machine: the first count's own speed is the yardstick; a fall-off still starts a trial
                self.settle_s = QUIET_START_S
                self._restart(step, elapsed_s)
        elif self._queue:  # a trial: this candidate has had its time
            self.rates[self._queue.pop(0)] = steps / seconds
            if self._queue:
                self._use(self._queue[0])
            else:
                self._settle()
            self._restart(step, elapsed_s)
        elif seconds >= self.settle_s:
            self._start_trial()
        else:  # settled: is the speed of the last few seconds still the winner's?
            w_steps, w_seconds = step - self._window[0], elapsed_s - self._window[1]
            if w_seconds < 3 * self.trial_s:
                return
            self.rates.setdefault(self.threads, w_steps / w_seconds)  # no trial yet: its first window is the yardstick
            if w_steps / w_seconds < FALL_OFF * self.rates.get(self.threads, 0.0):
                self.settle_s = self.first_settle_s  # conditions changed: look again now, and soon after
                self._start_trial()
            else:
                self._window = (step, elapsed_s)

    def _restart(self, step: int, elapsed_s: float) -> None:
        self.step, self.elapsed_s = step, elapsed_s
        self._mark = self._window = (step, elapsed_s)

    def _start_trial(self) -> None:
        self._queue = [self.threads] + [c for c in self.candidates if c != self.threads]  # the current count first: no switch
        self._trial_order = list(self._queue)
        self._restart(self.step, self.elapsed_s)

    def _settle(self) -> None:
        best = max(self.rates, key=self.rates.get)
        incumbent = self._trial_order[0]  # the count in use before the trial (tried first)
        if self.rates[best] < SWITCH_MARGIN * self.rates.get(incumbent, 0.0):
            best = incumbent  # not clearly faster: a switch on noise can cost a third of the speed until the next trial
        self.settle_s = min(2 * self.settle_s, self.last_settle_s) if best == self._winner else self.first_settle_s
        self._winner = best
        if best != self.threads:
            self._use(best)
        log.info("worker threads: %d (steps/s: %s)", best, ", ".join(f"{n}: {r:.2f}" for n, r in self.rates.items()))


def others_running() -> float:
    """Runnable threads on this machine now, less this process's (Linux: /proc/loadavg's 4th field counts
    every runnable thread, this one included, and /proc/self/stat says whether each of ours is running).

    >>> others_running() >= 0
    True
    """
    with open("/proc/loadavg") as f:
        running = int(f.read().split()[3].split("/")[0])
    mine = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                mine += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except OSError:
            continue
    return float(max(0, running - mine))


@contextlib.contextmanager
def tune_per_step(model, tuner: ThreadTuner | None):
    """Feed `tuner` at every training step of `model`, not only at its records: a trial of a thread
    count that turns out very slow then ends after a second, not after a record that may be tens of
    seconds away. A step is the time between two forward passes with gradients on; an interval
    with an evaluation or a sample in it (forward passes without gradients) is left out."""
    if tuner is None:
        yield
        return
    import torch

    clock = dict(last=None, evaluated=False, steps=0, elapsed=0.0)

    def at_forward(*_):
        now = time.perf_counter()
        if not torch.is_grad_enabled():
            clock["evaluated"] = True
            return
        if clock["last"] is not None and not clock["evaluated"]:
            clock["steps"] += 1
            clock["elapsed"] += now - clock["last"]
            tuner.observe(clock["steps"], clock["elapsed"])
        clock["last"], clock["evaluated"] = now, False

    handle = model.register_forward_pre_hook(at_forward)
    try:
        yield
    finally:
        handle.remove()
