"""What a training run says about itself, read from its own records: the one figure that stands for a
model, the two levels a loss is judged against, the run's behaviour named, and where its labels come from.

What it is: pure functions over a run's records (the `Metrics` a run yields, or the `history` dicts a
checkpoint's record keeps), so the live page, the sidebar, a model list and the tests read one answer:
- `headline(record)`: the model's one validation figure, with what it was measured on. A loss measured on
  a handful of held-out tokens (a closing evaluation cut short by Stop) never becomes it: the last full
  evaluation does, and says at which step it was measured.
- `uniform_loss(vocab)` and `unigram_entropy(ids, vocab)`: the loss of guessing every token equally
  likely, and of knowing only how often each token occurs (the entropy of the training text's token
  frequencies). A model that learned anything beats the first; one that learned more than letter counts
  beats the second.
- `diagnose(points, ...)`: overfitting, divergence, stalling, or healthy learning, each with a sentence
  computed from the points and what to try next.
- `label_pairs(ids, n)`: self-supervised labels: each position's label is simply the next token.
What it is not: the training loop (`loop.py`, which has its own divergence stop) or anything drawn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HEADLINE_MIN_TOKENS = 4096  # a closing evaluation on fewer held-out tokens (and not all of them) is too noisy to stand for a model
MIN_EVALS = 3  # evaluations needed before a run's shape is named
OVERFIT_RISE = 0.03  # nats the validation loss must climb above its best (and 2% of it) to count as rising
STALL_FALL = 0.02  # a loss that fell less than this fraction over the last third of the run is not moving
STALL_MIN_STEPS = 60


# --- the headline figure ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    value: float  # the validation loss, nats per token
    step: int | None  # the step it was measured at
    tokens: int | None  # held-out tokens it was measured on (None: not recorded, the whole split for the CLI)
    text: str  # e.g. "val loss 1.912 on all 111,488 held-out tokens, at step 1,200"


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def headline(record: dict) -> Headline | None:
    """The model's one validation figure and what it was measured on; None when no full one exists.

    >>> headline({"val_loss": 1.9123, "val_tokens": 111488, "val_tokens_total": 111488, "steps": 1200}).text
    'val loss 1.912 on all 111,488 held-out tokens, at step 1,200'
    >>> h = headline({"val_loss": 4.03, "val_tokens": 128, "val_tokens_total": 111488, "steps": 1160, "live_val_tokens": 16384,
    ...               "history": [{"step": 1100, "val_loss": 2.95}]})
    >>> h.value, h.text
    (2.95, 'val loss 2.950 on 16,384 held-out tokens, at step 1,100 (the last full evaluation; the model has 1,160 steps)')
    >>> headline({"val_loss": 1.4997, "steps": 2000}).text  # a record of the command line: the whole held-out split
    'val loss 1.500 on the held-out text, at step 2,000'
    >>> headline({"val_loss": 4.03, "val_tokens": 128, "val_tokens_total": 111488, "steps": 3}) is None
    True
    >>> headline({"val_loss": float("nan"), "steps": 3}) is None
    True
    """
    steps = record.get("steps")
    value = _finite(record.get("val_loss"))
    tokens, total = record.get("val_tokens"), record.get("val_tokens_total")
    step = record.get("val_step", steps)
    if value is not None and (tokens is None or (total is not None and tokens >= total) or tokens >= HEADLINE_MIN_TOKENS):
        if tokens is None:
            on = "on the held-out text"
        elif total is not None and tokens >= total:
            on = f"on all {tokens:,} held-out tokens"
        else:
            on = f"on {tokens:,} held-out tokens" + (f" (a random sample of {total:,})" if total and record.get("val_kind") != "live" else "")
        return Headline(value, step, tokens, f"val loss {value:.3f} {on}{_at(step, steps)}")
    full = [h for h in record.get("history") or [] if _finite(h.get("val_loss")) is not None]
    if not full:
        return None
    last = full[-1]
    live = record.get("live_val_tokens")
    on = f"on {live:,} held-out tokens" if live else "on the held-out text"
    value = round(float(last["val_loss"]), 4)
    return Headline(value, last["step"], live, f"val loss {value:.3f} {on}{_at(last['step'], steps)}")


def _at(step, steps) -> str:
    if step is None:
        return ""
    if steps is not None and step != steps:
        return f", at step {step:,} (the last full evaluation; the model has {steps:,} steps)"
    return f", at step {step:,}"


def in_words(reason: str | None) -> str:
    """A stop reason with any non-finite number written in words (the loop says "the loss became nan").

    >>> in_words("diverged: the loss became nan (not a finite number); the last good weights were restored.")
    'diverged: the loss became not a number (not a finite number); the last good weights were restored.'
    >>> in_words("the loss became -inf"), in_words(None)
    ('the loss became minus infinity', '')
    """
    words = {"nan": "not a number", "-inf": "minus infinity", "inf": "infinity"}
    return re.sub(r"(?<![\w-])(-inf|inf|nan)(?!\w)", lambda m: words[m.group(1)], reason or "")


# --- the reference levels --------------------------------------------------------------------------

def uniform_loss(vocab_size: int) -> float:
    """The loss of guessing every token equally likely: ln(vocabulary size).

    >>> round(uniform_loss(65), 3)
    4.174
    """
    return math.log(vocab_size)


def unigram_entropy(ids: Iterable[int], vocab_size: int | None = None) -> float:
    """The loss of knowing only how often each token occurs: the entropy (in nats) of the text's token
    frequencies. A tensor of ids is counted with torch's bincount; any iterable works.

    >>> round(unigram_entropy([0, 0, 1, 1]), 3), unigram_entropy([5, 5, 5])
    (0.693, 0.0)
    """
    if hasattr(ids, "bincount"):  # a torch tensor: count in C
        counts = [int(c) for c in ids.bincount(minlength=vocab_size or 0).tolist() if c]
    else:
        tally: dict[int, int] = {}
        for i in ids:
            tally[int(i)] = tally.get(int(i), 0) + 1
        counts = list(tally.values())
    n = sum(counts)
    if n == 0:
        return 0.0
    return max(0.0, -sum(c / n * math.log(c / n) for c in counts))


# --- naming what a run shows -----------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    step: int
    train: float | None
    val: float | None


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # diverged | overfitting | stalled | learning | early
    title: str  # a few words ("Overfitting")
    sentence: str  # what the run shows, computed from its points
    next_step: str  # what to try next ("" when nothing needs changing)
    since_step: int | None = None  # where it began (the best validation step for overfitting)

    @property
    def named(self) -> bool:
        """True for the behaviours a learner should act on."""
        return self.kind in ("diverged", "overfitting", "stalled")


def points_of(records: Iterable) -> list[Point]:
    """Metrics records or history dicts as Points, one per step (the last record of a step wins).

    >>> points_of([{"step": 10, "train_loss": 2.0, "val_loss": None}, {"step": 10, "train_loss": 2.0, "val_loss": 2.1}])
    [Point(step=10, train=2.0, val=2.1)]
    """
    out: list[Point] = []
    for r in records:
        get = r.get if isinstance(r, dict) else (lambda k, r=r: getattr(r, k, None))
        step = get("step")
        if step is None:
            continue
        train, val = measured_train_loss(r), get("val_loss")
        p = Point(int(step), None if train is None else float(train), None if val is None else float(val))
        if out and out[-1].step == p.step:
            merged = Point(p.step, p.train if p.train is not None else out[-1].train, p.val if p.val is not None else out[-1].val)
            out[-1] = merged
        else:
            out.append(p)
    return out


def measured_train_loss(record) -> float | None:
    """A record's training loss, or None where none was measured. The loop ends a run as "diverged" the
    moment a loss it measured is not finite, so a non-finite loss on the closing record of a run that
    did not diverge is no measurement at all: a run stopped before its first step has no batch whose
    loss it could report (issue: a Stop right after Train was named divergence "at step 0").

    >>> measured_train_loss(dict(step=0, train_loss=float("nan"), done=True, stop_reason="stopped by user")) is None
    True
    >>> measured_train_loss(dict(step=4, train_loss=float("nan"), done=True, stop_reason="diverged: the loss became nan"))
    nan
    >>> measured_train_loss(dict(step=4, train_loss=2.5))
    2.5
    """
    get = record.get if isinstance(record, dict) else (lambda k: getattr(record, k, None))
    train = get("train_loss")
    if train is None:
        return None
    train = float(train)
    if not math.isfinite(train) and get("done") and not (get("stop_reason") or "").startswith("diverged"):
        return None
    return train


def _smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing means over `window` values (a batch's loss is noisy).

    >>> _smooth([1.0, 3.0, 2.0, 4.0], 2)
    [1.0, 2.0, 2.5, 3.0]
    """
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _lr_advice(lr: float | None, usual_lr: float | None, higher: bool) -> str:
    if lr is not None and usual_lr is not None and lr > 3 * usual_lr and higher:
        return f"a lower learning rate (yours is {lr:g}, {lr / usual_lr:.0f}x the usual {usual_lr:g}: a rate too large for the model makes the loss hover instead of falling)"
    if higher:
        return "a higher learning rate" + (f" (yours is {lr:g}; the usual is {usual_lr:g})" if lr is not None and usual_lr is not None and lr < usual_lr else "")
    return "a lower learning rate" + (f" (a third of yours, {lr / 3:.2g}, is a good next try)" if lr is not None else "")


def diagnose(records: Iterable, uniform: float, unigram: float | None = None, stop_reason: str | None = None,
             lr: float | None = None, usual_lr: float | None = None, val_on: str = "", gap: bool = True) -> Diagnosis:
    """Name what a run shows, from its records (steps with a training loss, and a validation loss at
    each evaluation), the uniform-guess loss, the unigram entropy of its text and how it stopped.

    Divergence: the loop stopped it (`stop_reason` "diverged: ..."), a loss became infinite or NaN, or
    the loss went well above a uniform guess or shot up from its best. Overfitting: the validation
    loss rose above its best while the training loss kept falling. Stalling: after enough steps the
    loss barely moved over the last third of the run and is still about where knowing only the token
    frequencies would put it.

    `val_on` says what the validation losses were measured on ("on 16,384 held-out tokens"), when a
    page also shows a figure measured on other text; `gap=False` leaves out the sentence comparing
    the last evaluation's two losses (a page that shows other readings beside it words its own).

    >>> pts = [dict(step=s, train_loss=t, val_loss=v) for s, t, v in
    ...        [(20, 2.6, 2.66), (40, 2.2, 2.44), (60, 2.0, 2.40), (80, 1.8, 2.37), (100, 1.7, 2.43), (120, 1.4, 2.54), (140, 1.2, 2.68)]]
    >>> d = diagnose(pts, uniform=3.95, unigram=3.18)
    >>> d.kind, d.since_step
    ('overfitting', 80)
    >>> d.sentence
    'The validation loss rose from 2.37 at step 80 to 2.68 at step 140 while the training loss kept falling (1.80 to 1.20): the model is learning its training text by heart.'
    >>> diagnose(pts[:4], uniform=3.95, unigram=3.18).kind
    'learning'
    >>> diagnose([dict(step=3, train_loss=26.9, val_loss=None)], 4.08, 3.28, "diverged: the loss jumped to 26.96, over 3x a uniform guess (4.08); the last good weights were restored.").sentence
    'The run diverged at step 3: the loss jumped to 26.96, over 3x a uniform guess (4.08).'
    >>> flat = [dict(step=s, train_loss=4.07 - s / 2000, val_loss=4.07 - s / 2000) for s in range(20, 220, 20)]
    >>> diagnose(flat, uniform=4.08, unigram=3.28, lr=1e-4, usual_lr=4e-3).kind
    'stalled'
    """
    pts = points_of(records)
    reason = stop_reason or ""
    trains = [(p.step, p.train) for p in pts if p.train is not None]
    evals = [(p.step, p.train, p.val) for p in pts if p.val is not None]
    if reason.startswith("diverged"):
        what = in_words(reason.removeprefix("diverged:").split(";")[0].strip())
        at = pts[-1].step if pts else 0
        return Diagnosis("diverged", "Divergence", f"The run diverged at step {at:,}: {what}.",
                         f"Try {_lr_advice(lr, usual_lr, higher=False)}.", at)
    bad = next(((s, v) for s, v in trains + [(s, v) for s, _, v in evals] if not math.isfinite(v)), None)
    if bad is not None:
        return Diagnosis("diverged", "Divergence", f"The loss became {'infinite' if math.isinf(bad[1]) else 'not a number'} at step {bad[0]:,}.",
                         f"Try {_lr_advice(lr, usual_lr, higher=False)}.", bad[0])

    # divergence that the loop's own stop did not catch: far above a uniform guess, or a climb from its best
    first_step = pts[0].step if pts else 0
    above = [(s, v) for s, v in trains[1:] + [(s, v) for s, _, v in evals] if v > uniform * 1.1 and s > first_step]
    if above:
        s, v = max(above, key=lambda sv: sv[1])
        now = evals[-1][2] if evals else trains[-1][1]
        back = f"; it has come back down to {now:.2f} since, but the steps it took were too big" if now < v - 0.3 else ""
        return Diagnosis("diverged", "Divergence", f"The loss shot up to {v:.2f} at step {s:,}, worse than guessing every token equally likely ({uniform:.2f}){back}.",
                         f"Try {_lr_advice(lr, usual_lr, higher=False)}.", s)
    if len(trains) >= 6:
        window = max(2, min(10, len(trains) // 5))
        smooth = _smooth([v for _, v in trains], window)
        best_i = min(range(len(smooth)), key=smooth.__getitem__)
        rise = smooth[-1] - smooth[best_i]
        if best_i < len(smooth) - window and rise > max(0.5, 0.25 * smooth[best_i]):
            return Diagnosis("diverged", "Divergence",
                             f"The training loss shot up from {smooth[best_i]:.2f} (around step {trains[best_i][0]:,}) to {smooth[-1]:.2f} (step {trains[-1][0]:,}).",
                             f"Try {_lr_advice(lr, usual_lr, higher=False)}.", trains[best_i][0])

    if len(evals) >= MIN_EVALS:
        best = min(evals, key=lambda e: e[2])
        last = evals[-1]
        rise = last[2] - best[2]
        if best is not last and rise > max(OVERFIT_RISE, 0.02 * best[2]) and best[1] is not None and last[1] is not None and last[1] < best[1] - 0.02:
            return Diagnosis(
                "overfitting", "Overfitting",
                f"The validation loss{_on(val_on)} rose from {best[2]:.2f} at step {best[0]:,} to {last[2]:.2f} at step {last[0]:,} while the training loss "
                f"kept falling ({best[1]:.2f} to {last[1]:.2f}): the model is learning its training text by heart.",
                f"Try more text, a smaller model, or stopping earlier: around step {best[0]:,}, where the validation loss was lowest.", best[0])

    series = [(s, v) for s, _, v in evals] if len(evals) >= MIN_EVALS else list(zip((s for s, _ in trains), _smooth([v for _, v in trains], 5)))
    if series and series[-1][0] >= STALL_MIN_STEPS and len(series) >= MIN_EVALS:
        end_step, end = series[-1]
        third = next(((s, v) for s, v in series if s >= end_step * 2 / 3), series[0])
        if third[0] < end_step:
            fell = third[1] - end
            floor = unigram if unigram is not None else uniform
            high = end > floor - 0.5 * max(uniform - floor, 0.0)
            if fell < STALL_FALL * end and high:
                level = (f", about where knowing only how often each token occurs puts it ({unigram:.2f})" if unigram is not None
                         else f", close to a uniform guess ({uniform:.2f})")
                more = "" if lr is not None and usual_lr is not None and lr > 3 * usual_lr else " or more steps"
                return Diagnosis("stalled", "Stalling",
                                 f"The loss has hardly moved: {third[1]:.2f} at step {third[0]:,}, {end:.2f} at step {end_step:,}{level}.",
                                 f"Try {_lr_advice(lr, usual_lr, higher=True)}{more}.", third[0])

    if len(evals) >= 2 or len(trains) >= 6:
        first = evals[0][2] if len(evals) >= 2 else trains[0][1]
        now = evals[-1][2] if len(evals) >= 2 else trains[-1][1]
        which = "validation" if len(evals) >= 2 else "training"
        gap_text = f" {_gap_words(evals[-1][2], evals[-1][1])}" if gap and evals and evals[-1][1] is not None else ""
        beats = ""
        if unigram is not None and now < unigram:
            beats = f" It already beats knowing only how often each token occurs ({unigram:.2f})."
        on = _on(val_on) if which == "validation" else ""
        return Diagnosis("learning", "Learning", f"The {which} loss{on} went from {first:.2f} to {now:.2f}.{beats}{gap_text}", "", None)
    return Diagnosis("early", "Too early to tell", "Too few measurements yet to say how this run is going.", "", None)


def _on(val_on: str) -> str:
    return f" ({val_on})" if val_on else ""


def _gap_words(val: float, train: float) -> str:
    """The validation loss beside the training loss, in words (never a signed zero).

    >>> _gap_words(2.31, 2.10), _gap_words(2.10, 2.104), _gap_words(1.9, 2.1)
    ('The validation loss is 0.21 above the training loss.', 'The validation loss is level with the training loss.', 'The validation loss is 0.20 below the training loss.')
    """
    gap = val - train
    if abs(gap) < 0.005:
        return "The validation loss is level with the training loss."
    return f"The validation loss is {abs(gap):.2f} {'above' if gap > 0 else 'below'} the training loss."


def loss_at_seconds(evals: Sequence[tuple[float, float]], seconds: float) -> tuple[float, float, float] | None:
    """The validation loss after `seconds` of training, from (elapsed seconds, loss) evaluations: linear
    between the two around it (or the first one after it); with the two times it came from. None while
    no evaluation has reached that time.

    >>> loss_at_seconds([(22.5, 2.4), (37.5, 2.1)], 30)
    (2.25, 22.5, 37.5)
    >>> loss_at_seconds([(31.0, 2.2)], 30), loss_at_seconds([(7.5, 3.0)], 30)
    ((2.2, 31.0, 31.0), None)
    """
    after = [(t, v) for t, v in evals if t >= seconds]
    if not after:
        return None
    t1, v1 = min(after)
    before = [(t, v) for t, v in evals if t < seconds]
    if not before:
        return v1, t1, t1
    t0, v0 = max(before)
    return v0 + (seconds - t0) / (t1 - t0) * (v1 - v0), t0, t1


# --- where the labels come from --------------------------------------------------------------------

def label_pairs(ids: Sequence[int], n: int = 12, start: int = 0) -> list[tuple[int, int]]:
    """(input token, its label) for `n` positions from `start`: each label is the token that comes next.
    No one writes these labels: the text is its own answer key (self-supervised learning).

    >>> label_pairs([5, 6, 7, 8], n=3)
    [(5, 6), (6, 7), (7, 8)]
    >>> label_pairs([5, 6], n=10)
    [(5, 6)]
    """
    ids = [int(i) for i in ids[start:start + n + 1]]
    return list(zip(ids[:-1], ids[1:]))
