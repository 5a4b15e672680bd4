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
