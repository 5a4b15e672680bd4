"""The Knowing chapter's reveals and captions on made-up answers: which choice the measurement makes right,
and what they say when there is nothing to measure (no "nan" in a sentence)."""

from __future__ import annotations

from types import SimpleNamespace as NS

from lab_ui import knowing_view as view

WORLD = NS(values=lambda attribute: ["a", "b", "c", "d"])  # four possible answers: a blind pick deserves 25%


def row(seen: int, text: str, confidence: float, correct: bool):
    return NS(seen=seen, correct=correct, answer=NS(text=text, confidence=confidence), fact=NS(attribute="town", person="P", question="Q?", value="a"))


def test_confident_answers_on_unknown_people_make_the_sure_choice_right_and_name_the_blind_pick():
    rows = [row(0, "b", 0.8, False), row(0, "c", 0.7, False), row(0, "a", 0.9, True), row(3, "a", 0.95, True)]
    o = view.unknown_outcome(rows, WORLD)
    assert (o["n"], o["answered"], o["right"], round(o["conf"], 2), o["chance"]) == (3, 3, 1, 0.8, 0.25)
    reveal = view.unknown_reveal("It answers, and sure (50% or more)", rows, WORLD)
    assert reveal.right and "a mean confidence of 80%" in reveal.answer and "about 25% confidence" in reveal.why and "95%" in reveal.why


def test_a_model_that_says_it_does_not_know_makes_that_choice_right():
    rows = [row(0, "I don't know", 0.9, False), row(0, " ", 0.1, False), row(0, "b", 0.2, False)]
    reveal = view.unknown_reveal("It says it does not know", rows, WORLD)
    assert reveal.right and "it answered 1 of them (and said it does not know 2 times)" in reveal.answer
    assert "near that of a blind pick" in reveal.why  # 20% against a blind pick's 25%


def test_the_open_book_guess_counts_within_a_tenth_of_the_questions():
    cmp = NS(open=[NS(correct=i < 80) for i in range(90)], closed=[NS(correct=i < 2) for i in range(90)],
             figures=dict(recall=1.0, miss_em=0.02))
    assert view.open_book_reveal(71, cmp, 3).right and not view.open_book_reveal(70, cmp, 3).right
    reveal = view.open_book_reveal(80, cmp, 3)
    assert "the reader got 80 of 90 right; the closed-book model, from its weights alone, 2 of 90" in reveal.answer and "100%" in reveal.why
    assert view.open_book_reveal(5, None, 3) is None


def test_captions_read_unknown_instead_of_nan():
    assert "unknown" in view.seen_caption({0: (0.0, None), 1: (0.5, 0.6), 16: (1.0, 0.9)})
    assert view.reliability_caption([], 0.0) == "No answers to bin."
    assert "none of the 10 questions" in view.abstention_caption(0.99, 0.0, None, 0.5, 10)
