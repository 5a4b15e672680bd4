"""The Training chapter's lessons: where the training labels come from, and its "Predict, then see" checkpoints.

What it is: `labels_example(corpus, batch, context)` shows, on the learner's own text, that each
position's label is the next token (self-supervised learning), with the count of labelled examples
in one step computed from the settings. `predictions(...)` draws the chapter's three checkpoints:
the validation loss after 30 s of training, what learning rate 10 does, and a 2-layer against a
4-layer model in the same seconds. Each reveal is computed when asked, from runs the learner
started *after* locking the guess (kept on the desk by `training_setup.register_trained`, plus the
live run), so the answer is never seen before the guess; until such a run exists it is pending.
What it is not: the training or the detection (`llm_core.training`), or the checkpoint machinery (`lab_ui.predict`).
"""

from __future__ import annotations

import math

import streamlit as st

from lab_ui import jobs, predict
from lab_ui import training_setup as setup
from lab_ui.widgets import table_html
from llm_core.model.config import TrainConfig
from llm_core.training.diagnosis import in_words, label_pairs, loss_at_seconds, measured_train_loss

VAL_30S, LR_10, DEPTH = "training_val_after_30s", "training_lr_10", "training_depth_same_seconds"
SECONDS = 30.0
CLOSE_ENOUGH = 0.2  # nats: a guess of the 30 s loss this close counts as right
SAME = 0.05  # nats: two models this close reached "about the same" loss
LR_OPTIONS = ["learns faster", "about as fast", "breaks: the loss blows up"]
DEPTH_OPTIONS = ["the 2-layer model", "the 4-layer model", "about the same (within 0.05)"]


def shown(piece: str) -> str:
    """A token as a reader can see it: spaces and line breaks made visible.

    >>> shown(" a"), shown("\\n")
    ('␣a', '↵')
    """
    return piece.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅"


def labels_example(corpus, batch_size: int, context: int, n: int = 10) -> None:
    """Self-supervised learning on the learner's text: input tokens, and under each its label (the next token)."""
    ids = corpus.split.train
    decode = lambda t: corpus.tokenizer.decode([int(t)])  # noqa: E731
    # start just after a line break when one comes early, so the example reads as the beginning of a line
    start = next((i + 1 for i, t in enumerate(ids[:400].tolist()[:-n - 1]) if decode(t).endswith("\n")), 0)
    pairs = label_pairs(ids, n=n, start=start)
    piece = lambda t: shown(decode(t))  # noqa: E731
    rows = [{"position": "the model reads", **{str(i + 1): piece(x) for i, (x, _) in enumerate(pairs)}},
            {"position": "its label: the next token", **{str(i + 1): piece(y) for i, (_, y) in enumerate(pairs)}}]
    st.markdown(
        f"**Where the right answers come from.** Here are {len(pairs)} tokens of *your* training text, and under each one "
        "the answer the model is trained to give there: simply the token that comes next. At every position the model "
        "sees only the tokens up to that point and must guess the next."
    )
    st.html(table_html(rows))
    per_step = batch_size * context
    st.caption(
        f"Nobody wrote these labels: the text is its own answer key, which is why this is called **self-supervised** learning, "
        f"and why any text will do. One window of {context} tokens holds {context} such questions, all checked in one pass "
        f"through the model, so one training step of {batch_size} windows learns from {per_step:,} labelled examples. "
        "Spaces show as ␣ and line breaks as ↵."
    )


# --- runs to reveal from ---------------------------------------------------------------------------

def _runs_since(at: float) -> list[dict]:
    """Summaries of the segments that ended, of runs started after `at` (the guess's lock time)."""
    return [r for r in setup.desk_get(setup.RUNS_KEY) or [] if r.get("started", 0) > at]


def _live_since(at: float):
    """(run, snapshot) of the training job now on the desk, if its run started after `at`."""
    run, job = setup.desk_get(setup.RUN_KEY), jobs.get(setup.JOB_KEY)
    if run is None or job is None or run.created_at <= at:
        return None
    return run, job.snapshot()


def _evals_of_snapshot(snap) -> list[dict]:
    return [dict(step=r.step, elapsed_s=r.elapsed_s, val_loss=r.val_loss) for r in snap.records
            if r.val_loss is not None and math.isfinite(r.val_loss)]


def val_after_30s(at: float):
    """(name, loss, (t0, t1), step, first loss, held-out tokens per evaluation) for the first run after `at` whose
    evaluations reach 30 s of training; else None."""
    candidates = [(r["run"], r["evals"], r.get("first_loss"), r.get("eval_tokens")) for r in _runs_since(at)]
    live = _live_since(at)
    if live is not None:
        run, snap = live
        first = next((t for r in snap.records if (t := measured_train_loss(r)) is not None and math.isfinite(t)), None)
        candidates.append((run.name, _evals_of_snapshot(snap), first, run.eval_tokens))
    for name, evals, first, tokens in candidates:
        found = loss_at_seconds([(e["elapsed_s"], e["val_loss"]) for e in evals], SECONDS)
        if found is not None:
            value, t0, t1 = found
            step = next(e["step"] for e in evals if e["elapsed_s"] >= SECONDS)
            return name, value, (t0, t1), step, first, tokens
    return None


def rerun_when_revealable(run, snap) -> None:
    """Once the live run has reached 30 s of training while a locked 30 s guess waits for it, rerun the
    whole page once (from the status fragment), so the reveal appears at that moment, not at the run's end."""
    made = predict.made(VAL_30S)
    if made is None or made.get("right") is not None or run is None or snap is None or run.created_at <= made["at"]:
        return
    flag = f"tr_revealed_30s_{id(run)}"
    if not st.session_state.get(flag) and any(r.val_loss is not None and r.elapsed_s >= SECONDS for r in snap.records):
        st.session_state[flag] = True
        st.rerun()


# --- the three reveals -----------------------------------------------------------------------------

def _reveal_30s(guess):
    made = predict.made(VAL_30S)
    found = val_after_30s(made["at"]) if made else None
    if found is None or guess is None:
        return None
    name, value, (t0, t1), step, first, tokens = found
    how = f"measured at {t1:.1f} s" if t0 == t1 else f"read between its evaluations at {t0:.1f} s and {t1:.1f} s"
    if tokens:  # the evaluations during training, not the final measurement on all of the held-out text (section 5's figure)
        how += f", on the first {tokens:,} held-out tokens, which every evaluation during training uses"
    start = f"It began at {first:.2f}; " if first is not None else ""
    miss = abs(guess - value)
    return predict.Reveal(
        f"Your run *{name}* had a validation loss of **{value:.2f}** after {SECONDS:g} s of training ({how}, around step {step:,}).",
        miss <= CLOSE_ENOUGH,
        f"{start}in those {SECONDS:g} s it made about {step:,} steps, each one nudging every parameter a little against the loss. "
        f"Your guess was {miss:.2f} {'above' if guess > value else 'below'} it; {close_enough_words(miss)}",
    )


def close_enough_words(miss: float) -> str:
    """How close a guess of the 30 s loss must be to count as right, said in the reveal whether it was or not (a
    newcomer's audit: a miss said only "Your guess was 0.70 above it", the rule appeared only when right).

    >>> close_enough_words(0.7)
    'a guess counts as right within 0.2 of the measured loss, above or below, and this one was not.'
    >>> close_enough_words(0.1)
    'a guess counts as right within 0.2 of the measured loss, above or below, and this one was.'
    """
    rule = f"a guess counts as right within {CLOSE_ENOUGH:g} of the measured loss, above or below"
    return f"{rule}, and this one was." if miss <= CLOSE_ENOUGH else f"{rule}, and this one was not."


def _reveal_lr10(guess):
    made = predict.made(LR_10)
    if made is None:
        return None
    run = next((r for r in _runs_since(made["at"]) if r["lr"] >= 10), None)
    if run is None:
        return None
    usual = TrainConfig.lr
    if run["diagnosis"] == "diverged":
        peak = run.get("peak_loss")
        jump = run.get("loss_jump") or (f"from {run['first_loss']:.2f} to {peak:.2f}" if peak is not None and run.get("first_loss") is not None
                                        else "to a number too large to write")  # a desk kept before loss_jump
        return predict.Reveal(
            f"Your run at learning rate {run['lr']:g} broke: {in_words(run['stop_reason'])}",
            guess == LR_OPTIONS[2],
            f"Each step moved the weights {run['lr'] / usual:,.0f} times further than the usual rate ({usual:g}) does: the steps overshot "
            f"so far that the training loss went {jump}, and the training loop stopped the run.")
    base = next((r for r in reversed(setup.desk_get(setup.RUNS_KEY) or []) if r["lr"] == usual and r["corpus"] == run["corpus"]
                 and (r["layers"], r["width"], r["context"]) == (run["layers"], run["width"], run["context"]) and r.get("val") is not None), None)
    if base is None or run.get("val") is None:
        return predict.Reveal(f"Your run at learning rate {run['lr']:g} did not break: its training ended with \"{in_words(run['stop_reason'])}\".", None,
                              f"To tell faster from as fast, train the same size once at the usual rate ({usual:g}) and compare the two.")
    ahead = base["val"] - run["val"]
    outcome = LR_OPTIONS[0] if ahead > SAME else LR_OPTIONS[1] if abs(ahead) <= SAME else "learns slower"
    return predict.Reveal(f"At learning rate {run['lr']:g} the final validation loss was {run['val']:.3f}; at {usual:g}, {base['val']:.3f}.",
                          guess == outcome, f"It did not break, and it {outcome.replace('learns', 'learned')} than the usual rate on the same model.")


def depth_pair(at: float):
    """The latest (2-layer, 4-layer) runs after `at` that differ only in depth and ran the same seconds; else None."""
    runs = [r for r in _runs_since(at) if r.get("seconds") and r.get("val") is not None and r["diagnosis"] != "diverged"]
    for four in reversed([r for r in runs if r["layers"] == 4]):
        for two in reversed([r for r in runs if r["layers"] == 2]):
            same = ("seconds", "corpus", "tokenizer", "width", "heads", "context", "lr")
            if all(two[k] == four[k] for k in same):
                return two, four
    return None


def _reveal_depth(guess):
    made = predict.made(DEPTH)
    pair = depth_pair(made["at"]) if made else None
    if pair is None:
        return None
    two, four = pair
    gap = four["val"] - two["val"]
    outcome = DEPTH_OPTIONS[2] if abs(gap) <= SAME else DEPTH_OPTIONS[0] if gap > 0 else DEPTH_OPTIONS[1]
    ratio = two["steps"] / max(four["steps"], 1)
    if outcome == DEPTH_OPTIONS[0]:
        why = "that outweighed the depth: at this budget, more steps beat more layers"
    elif outcome == DEPTH_OPTIONS[1]:
        why = "yet each of the deeper model's steps learned more, which outweighed making fewer of them"
    else:
        why = "the extra steps and the extra layers about cancelled out"
    return predict.Reveal(
        f"In {two['seconds']:g} s of training: 2 layers reached **{two['val']:.3f}** in {two['steps']:,} steps; 4 layers reached **{four['val']:.3f}** in {four['steps']:,} steps "
        "(each run's final validation loss, the figure kept for its model).",
        guess == outcome,
        f"The 2-layer model made {ratio:.1f}x as many steps in the same time; {why}.")


def predictions(vocab_size: int, uniform: float, unigram: float) -> None:
    """The chapter's three checkpoints, side by side, before the Train button."""
    c1, c2, c3 = st.columns(3)
    with c1:
        predict.checkpoint(
            "training_val_after_30s",  # = VAL_30S (tests/test_course.py reads the key as written)
            f"With the settings above, what will the validation loss be after {SECONDS:g} s of training? A guess within {CLOSE_ENOUGH:g} of the "
            f"measured loss, above or below, counts as right. For scale: guessing every one of "
            f"the {vocab_size:,} tokens equally likely scores {uniform:.2f}; knowing only how often each token occurs scores {unigram:.2f}.",
            predict.number("Your guess: the validation loss after 30 s", 0.0, 20.0, 0.05, "%.2f"), _reveal_30s,
            pending=f"Lock in your guess, then press **Train** for at least {SECONDS:g} s: the answer appears when your run has trained that long.",
        )
    with c2:
        predict.checkpoint(
            "training_lr_10",  # = LR_10 (tests/test_course.py reads the key as written)
            f"The learning rate is the size of each step's nudge. At learning rate 10, {10 / TrainConfig.lr:,.0f} times the usual {TrainConfig.lr:g}, "
            "will the model learn faster, about as fast, or will training break?",
            predict.choice(LR_OPTIONS, horizontal=False), _reveal_lr10,
            pending="Set the learning rate to 10 (the slider's right end) and press **Train**: the answer appears when that run ends.",
        )
    with c3:
        predict.checkpoint(
            "training_depth_same_seconds",  # = DEPTH (tests/test_course.py reads the key as written)
            "Same width, same context, same seconds of training: which reaches the lower validation loss, a model with 2 layers or one with 4?",
            predict.choice(DEPTH_OPTIONS, horizontal=False), _reveal_depth,
            pending="Train twice for the same number of seconds, with the same width and context: once with **Layers** at 4 (the tiny preset) "
                    "and once at 2. The answer appears when both runs have ended.",
        )
