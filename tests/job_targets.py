"""Module-level generator functions for worker-job tests: a spawned worker imports them by name."""

import time
from dataclasses import dataclass


@dataclass
class Rec:
    step: int
    sample: str | None = None
    val_loss: float | None = None
    stop_reason: str | None = None


def ticking(stop, n=None, period=0.01, every_sample=None):
    """A metrics generator that checks the stop event each 'step', like train() does; returns a payload."""
    i = 0
    while n is None or i < n:
        if stop is not None and stop.is_set():
            yield Rec(i, stop_reason="stopped by user")
            return {"steps": i, "weights": b"\x00" * 8}
        time.sleep(period)
        i += 1
        yield Rec(i, sample=f"text {i}" if every_sample and i % every_sample == 0 else None)
    yield Rec(i, stop_reason="reached the step limit")
    return {"steps": i, "weights": b"\x00" * 8}


def one_long_step(stop, seconds):
    """One step that cannot look at the stop request (like a huge model's backward pass)."""
    yield Rec(0)
    time.sleep(seconds)
    yield Rec(1, stop_reason="reached the step limit")
    return {"steps": 1}


def failing(stop):
    yield Rec(1)
    raise ValueError("the corpus has 3 tokens; it needs at least 1,300.")


class CountingStage:
    """A stage as `llm_core.workers.stages` runs it: steps that change its state, a measurement, a result."""

    name = "counting"

    def __init__(self, n: int, period: float = 0.01, measure_s: float = 0.0, fail_in_measure: bool = False):
        self.n, self.period, self.measure_s, self.fail_in_measure = n, period, measure_s, fail_in_measure
        self.done = 0
        self.total = None
        self.measured_in = None

    def steps(self, stop):
        while self.done < self.n:
            if stop is not None and stop.is_set():
                yield Rec(self.done, stop_reason="stopped by user")
                return
            time.sleep(self.period)
            self.done += 1
            yield Rec(self.done)

    def measure(self):
        import os

        time.sleep(self.measure_s)
        if self.fail_in_measure:
            raise ValueError("the held-out set is empty.")
        self.total, self.measured_in = self.done * 10, os.getpid()

    def finish(self, last, reason):
        return {"total": self.total, "last_step": getattr(last, "step", None), "reason": reason}


def silent_start(stop, seconds):
    """A worker that says nothing for `seconds` (like one still importing torch) and cannot look at the stop."""
    time.sleep(seconds)
    yield Rec(1, stop_reason="reached the step limit")
    return {"steps": 1}


def closing_phase(stop, ticks=500):
    """Records that end at the step limit, then a closing phase (like the final evaluation) of `ticks`
    hundredths of a second that ends early at a stop."""
    from llm_core.jobs import Phase

    yield Rec(1)
    yield Rec(2, stop_reason="reached the step limit")
    yield Phase("measuring the final loss: 0 of 1,000 held-out tokens", 0.0)
    for i in range(1, ticks):
        if stop is not None and stop.is_set():
            break
        time.sleep(0.01)
        yield Phase(f"measuring the final loss: {i * 1000 // ticks} of 1,000 held-out tokens", i / ticks)
    return {"steps": 2}


def niceness(stop):
    """The worker's own niceness and that of every thread it has after a parallel torch op (its OpenMP pool)."""
    import os

    import torch

    torch.set_num_threads(2)
    torch.randn(256, 256) @ torch.randn(256, 256)  # starts torch's worker threads, if any
    threads = {}
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/stat") as f:
            threads[int(task)] = int(f.read().rsplit(")", 1)[1].split()[16])  # field 19: nice
    yield Rec(1, stop_reason="reached the step limit")
    autogroup = open("/proc/self/autogroup").read().strip() if os.path.exists("/proc/self/autogroup") else None
    return {"nice": os.nice(0), "threads": threads, "autogroup": autogroup, "session": os.getsid(0)}
