"""Predict, then see: a guess is locked, the reveal is computed from what it is given at that
moment, the score is kept on the desk, and a reload finds the guess and the score again."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lab_ui import course

ROOT = Path(__file__).resolve().parent.parent

# A checkpoint in a plain script, with a key the course declares (assets/teaching/course.toml).
SCRIPT = """
import streamlit as st
from lab_ui import predict

KEY = "{key}"
truth = st.session_state.get("truth", 3)  # what "the model" gives right now

def reveal(guess):
    return predict.Reveal(f"The model gave {{truth}}.", guess == truth, f"because {{truth}} is what it computed just now")

predict.checkpoint(KEY, "How many?", predict.choice([1, 2, 3, 4]), reveal)
"""


def first_key() -> str:
    return next(k for c in course.route() for k in c.predictions)


def script() -> str:
    return SCRIPT.format(key=first_key())


def text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def desk_predictions(at: AppTest) -> dict:
    from lab_ui.state import find_desk

    return find_desk(at.session_state["lab_desk_id"]).data["course"]["predictions"]


def test_nothing_is_revealed_before_the_guess_is_locked():
    at = AppTest.from_string(script(), default_timeout=60).run()
    assert not at.exception, at.exception
    lock = at.button(key=f"predict_{first_key()}_lock")
    assert lock.disabled  # no guess chosen yet
    at.radio(key=f"predict_{first_key()}_guess").set_value(2).run()
    assert "The model gave" not in text(at) and not at.button(key=f"predict_{first_key()}_lock").disabled


def test_a_locked_guess_is_scored_from_the_outcome_computed_now_and_kept_on_the_desk():
    key = first_key()
    at = AppTest.from_string(script(), default_timeout=60).run()
    at.radio(key=f"predict_{key}_guess").set_value(2).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception
    assert "Not this time" in text(at) and "The model gave 3." in text(at)
    assert desk_predictions(at)[key]["guess"] == 2 and desk_predictions(at)[key]["right"] is False
    assert at.radio(key=f"predict_{key}_guess").disabled
    # The outcome is computed on every run, never stored: when "the model" changes, so does the reveal.
    at.session_state["truth"] = 2
    at.run()
    assert "Right." in text(at) and desk_predictions(at)[key]["right"] is True
    # Guess again clears it.
    at.button(key=f"predict_{key}_again").click().run()
    assert key not in desk_predictions(at) and "The model gave" not in text(at)


def test_a_reload_finds_the_guess_and_the_score():
    key = first_key()
    at = AppTest.from_string(script(), default_timeout=60).run()
    at.radio(key=f"predict_{key}_guess").set_value(3).run()
    at.button(key=f"predict_{key}_lock").click().run()
    again = AppTest.from_string(script(), default_timeout=60)
    again.session_state["lab_desk_id"] = at.session_state["lab_desk_id"]  # what this browser's cookie gives a reload (AppTest has no cookies)
    again.run()
    assert not again.exception, again.exception
    assert again.radio(key=f"predict_{key}_guess").value == 3 and "Right." in text(again)
    from lab_ui.state import find_desk

    made, right, total = course.score(find_desk(again.session_state["lab_desk_id"]).data["course"])
    assert (made, right) == (1, 1) and total >= 1
