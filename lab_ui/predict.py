"""Predict, then see: a checkpoint where the learner commits to a guess before the model shows the
real outcome.

A chapter calls `checkpoint(key, question, ask, reveal)`:
- `ask(widget_key, disabled)` draws the guess widget (a radio, a slider, a number box) with that key
  and returns its value. Before the guess is locked the learner can change it freely.
- "Lock in my guess" stores the guess on the learner's desk (lab_ui.course's progress, so a reload
  or a second tab finds it) and from then on the widget shows it, disabled.
- `reveal(guess)` is then called on every run, with the stored guess: it computes the real outcome
  at that moment from the current model or run (never stored) and returns a `Reveal`: the answer in
  words, whether the guess was right, and one sentence of why, computed from the result. It may
  return None while the outcome cannot be computed yet (a run still to be made): the checkpoint then
  says what to do (`pending`), and scores the guess once the outcome exists.
- "Guess again" clears the guess.

The score (predictions made, and right) is the course's: lab_ui.course.score() and the Overview's
route read it. A checkpoint's key must be listed in its chapter's `predictions` in
assets/teaching/course.toml (tests/test_course.py checks both ways).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lab_ui import course


@dataclass
class Reveal:
    answer: str  # the real outcome, in words, computed now ("GPT-2 needs 23 tokens for the German sentence and 12 for the English")
    right: bool | None  # was the guess right? None: no right or wrong (the reveal says how close it was)
    why: str  # one sentence, computed from the result, that says why it came out so


def _guess_key(key: str) -> str:
    return f"predict_{key}_guess"


def _jsonable(value: Any) -> Any:
    """A guess as it is kept on the desk (lists for tuples; numbers and strings as they are)."""
    return json.loads(json.dumps(value, default=str))


def made(key: str) -> dict | None:
    """The learner's locked guess for `key`, if any: {"guess", "right", "chapter", "at"}."""
    return course.progress()["predictions"].get(key)


def _lock(key: str, chapter_key: str) -> None:
    course.progress()["predictions"][key] = {"guess": _jsonable(st.session_state.get(_guess_key(key))), "right": None, "chapter": chapter_key, "at": time.time()}


def _clear(key: str) -> None:
    course.progress()["predictions"].pop(key, None)
    st.session_state.pop(_guess_key(key), None)


def _chapter_of(key: str) -> str:
    for c in course.chapters():
        if key in c.predictions:
            return c.key
    raise KeyError(f"prediction {key!r} is not listed in any chapter's `predictions` in {course.COURSE_FILE.name}")


def checkpoint(
    key: str,
    question: str,
    ask: Callable[[str, bool], Any],
    reveal: Callable[[Any], Reveal | None],
    pending: str = "The answer appears here once the model has what it needs.",
    answered_by: str = "computed from the model",
) -> Reveal | None:
    """Draw one "Predict, then see" checkpoint; returns the reveal once the guess is locked and the outcome known.
    `answered_by` says where the answer comes from ("read from the sweep shipped with the app" where nothing runs now)."""
    chapter_key = _chapter_of(key)
    record = made(key)
    widget_key = _guess_key(key)
    if record is not None and st.session_state.get(widget_key) != record["guess"]:
        st.session_state[widget_key] = record["guess"]  # a reload, or another tab: the locked guess comes back
    with st.container(border=True):
        st.markdown(f"**Predict, then see.** {question}")
        guess = ask(widget_key, record is not None)
        if record is None:
            st.button("Lock in my guess", key=f"predict_{key}_lock", on_click=_lock, args=(key, chapter_key), type="primary",
                      disabled=guess is None, help=f"Your guess is kept; then the answer, {answered_by}, shows what really happens.")
            st.caption(f"Make your guess first: the answer is {answered_by} once you lock it in.")
            return None
        result = reveal(record["guess"])
        if result is None:
            st.info(pending)
        else:
            record["right"] = result.right
            verdict = {True: ":material/check_circle: **Right.**", False: ":material/cancel: **Not this time.**", None: ":material/insights: **Here is what happened.**"}[result.right]
            st.markdown(f"{verdict} {result.answer}")
            st.markdown(f"**Why:** {result.why}")
        st.button("Guess again", key=f"predict_{key}_again", on_click=_clear, args=(key,))
        return result


# ---- ready-made guess widgets (the `ask` argument) ---------------------------------------------
# Options and values must survive JSON (strings, numbers): the locked guess is kept on the desk as JSON.

def choice(options: list, label: str = "Your guess", format_func: Callable = str, horizontal: bool = True) -> Callable[[str, bool], Any]:
    """A radio with nothing chosen until the learner picks."""
    def ask(widget_key: str, disabled: bool):
        return st.radio(label, options, index=None, key=widget_key, disabled=disabled, horizontal=horizontal, format_func=format_func)
    return ask


def number(label: str, min_value: float, max_value: float, step: float, fmt: str | None = None) -> Callable[[str, bool], Any]:
    """A number box, empty until the learner types."""
    def ask(widget_key: str, disabled: bool):
        return st.number_input(label, min_value=min_value, max_value=max_value, value=None, step=step, format=fmt, key=widget_key,
                               disabled=disabled, placeholder="type your guess")
    return ask


def slider(label: str, min_value: float, max_value: float, start: float, step: float, fmt: str | None = None) -> Callable[[str, bool], Any]:
    """A slider (it always has a value: `start` until moved)."""
    def ask(widget_key: str, disabled: bool):
        if widget_key not in st.session_state:
            st.session_state[widget_key] = start
        return st.slider(label, min_value=min_value, max_value=max_value, step=step, format=fmt, key=widget_key, disabled=disabled)
    return ask
