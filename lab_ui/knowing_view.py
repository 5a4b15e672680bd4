"""Views of the "Knowing and not knowing" chapter: the closed book's measured confidence, the open
book's measured accuracy, each chart's caption and table computed from the rows measured now, and
the two "Predict, then see" reveals.

Everything here reads rows measured on the models in front of the learner (the shipped ones or
their own fine-tunes: llm_core.retrieval); nothing is stored or canned. The figures are in
lab_ui.knowing_figures; the measuring in llm_core.retrieval.
"""

from __future__ import annotations

import math
from statistics import mean

import streamlit as st

from lab_ui import charts, predict
from lab_ui import knowing_figures as fig
from llm_core.retrieval.calibration import abstention_curve


def pct(x: float | None) -> str:
    """A share in whole percent, never "nan" or "-0%".

    >>> pct(0.4328), pct(None), pct(float("nan")), pct(-0.0001)
    ('43%', 'unknown', 'unknown', '0%')
    """
    if x is None or not math.isfinite(x):
        return "unknown"
    return "0%" if round(x * 100) == 0 else f"{x * 100:.0f}%"


def declines(text: str) -> bool:
    """Did an answer say it does not know (or say nothing)?

    >>> declines("I don't know"), declines("  "), declines("Verdowus")
    (True, True, False)
    """
    return not text.strip() or "know" in text.lower()


# ---- prediction 1: the closed book on people it never saw -------------------------------------
CONFIDENT_CHOICES = ["It says it does not know", "It answers, but unsure (under 50% confident)", "It answers, and sure (50% or more)"]


def unknown_outcome(rows, world) -> dict:
    """The closed book on the unknown people: how many it declined, its mean confidence, a blind guess's chance."""
    unknown = [r for r in rows if r.seen == 0]
    answered = [r for r in unknown if not declines(r.answer.text)]
    known_right = [r.answer.confidence for r in rows if r.seen and r.correct]
    conf = mean(r.answer.confidence for r in answered) if answered else None
    outcome = 0 if len(unknown) - len(answered) > len(unknown) / 2 else (1 if conf is None or conf < 0.5 else 2)
    return dict(n=len(unknown), answered=len(answered), right=sum(r.correct for r in unknown), conf=conf,
                conf_known=mean(known_right) if known_right else None, chance=mean(1 / len(world.values(r.fact.attribute)) for r in unknown),
                outcome=CONFIDENT_CHOICES[outcome])


def unknown_reveal(guess: str, rows, world) -> predict.Reveal | None:
    o = unknown_outcome(rows, world)
    if not o["n"]:
        return None
    declined = o["n"] - o["answered"]
    answer = (f"Asked {o['n']} questions about people it never saw, it answered {o['answered']} of them (and said it does not know {declined} time{'s' if declined != 1 else ''}), "
              f"with a mean confidence of {pct(o['conf'])}; {o['right']} of the {o['n']} answers were right.")
    if o["conf"] is not None and o["conf"] > 1.5 * o["chance"]:
        why = (f"It was trained to answer questions of this form, never to check whether it knows the person: a blind pick among the world's possible answers "
               f"deserves about {pct(o['chance'])} confidence, yet it gave its answers {pct(o['conf'])}" +
               (f" (its right answers about people it knew: {pct(o['conf_known'])})." if o["conf_known"] is not None else "."))
    else:
        why = f"Its confidence stayed near that of a blind pick among the world's possible answers ({pct(o['chance'])}): this model is unsure where it should be."
    return predict.Reveal(answer, guess == o["outcome"], why)


# ---- prediction 2: the open book on the same people ---------------------------------------------
def open_book_tolerance(n: int) -> int:
    """How far a guess may be from the count and still count as right (a tenth of the questions, at least 1).

    >>> open_book_tolerance(90), open_book_tolerance(5)
    (9, 1)
    """
    return max(1, round(n / 10))


def open_book_reveal(guess: int, cmp, k: int) -> predict.Reveal | None:
    if cmp is None or not cmp.open:
        return None
    n, right, closed = len(cmp.open), sum(r.correct for r in cmp.open), sum(r.correct for r in cmp.closed)
    g = cmp.figures
    answer = (f"With the top {k} chunks of the encyclopedia in its prompt, the reader got {right} of {n} right; "
              f"the closed-book model, from its weights alone, {closed} of {n}.")
    if right >= closed:
        why = (f"BM25 put a chunk that holds the answer among the top {k} for {pct(g['recall'])} of the questions, and the reader copies the answer out of it; "
               f"when those chunks are left out, it gets {pct(g['miss_em'])} right.")
    else:
        why = (f"The reader in use does not read well yet: even with the right chunk among the top {k} for {pct(g['recall'])} of the questions, "
               "it copies the answer less often than the closed book guesses.")
    return predict.Reveal(answer, abs(int(guess) - right) <= open_book_tolerance(n), why)


# ---- section 2: the closed book's measurements --------------------------------------------------
def seen_caption(by_seen: dict) -> str:
    seen = [n for n in by_seen if n]
    never_em, never_conf = by_seen.get(0, (None, None))
    most = max(seen)
    return (f"Seen once, the closed book got {pct(by_seen[min(seen)][0])} of those facts right and seen {most} times {pct(by_seen[most][0])}; never seen, "
            f"{pct(never_em)}, yet its mean confidence on never-seen facts was still {pct(never_conf)} (seen {most} times: {pct(by_seen[most][1])}).")


def seen_table(by_seen: dict) -> list[dict]:
    return [dict(times_seen=n, right=round(em, 4), mean_confidence=None if c is None else round(c, 4)) for n, (em, c) in by_seen.items()]


def answers_table(rows) -> list[dict]:
    return [dict(person=r.fact.person, question=r.fact.question, times_seen=r.seen, answer=r.answer.text.strip(), true_answer=r.fact.value,
                 confidence=round(r.answer.confidence, 4), right=r.correct) for r in rows]


def hist_caption(rows) -> str:
    unknown = [r.answer.confidence for r in rows if r.seen == 0]
    known = [r.answer.confidence for r in rows if r.seen]
    sure = sum(c >= 0.5 for c in unknown)
    return (f"Answers about unknown people (hatched) had a mean confidence of {pct(mean(unknown) if unknown else None)} against {pct(mean(known) if known else None)} "
            f"for known people; {sure} of {len(unknown)} answers about unknown people were given at 50% or more.")


def reliability_caption(bins: list[dict], ece: float) -> str:
    filled = [b for b in bins if b["count"]]
    if not filled:
        return "No answers to bin."
    over = sum(b["accuracy"] < b["confidence"] for b in filled)
    fullest = max(filled, key=lambda b: b["count"])
    return (f"{over} of {len(filled)} filled bins lie below the dotted diagonal (more confident than right); in the fullest, {fullest['count']} answers at a mean "
            f"confidence of {pct(fullest['confidence'])} were {pct(fullest['accuracy'])} right; the expected calibration error is {ece:.3f}.")


def bins_table(bins: list[dict]) -> list[dict]:
    return [dict(low=round(b["low"], 2), high=round(b["high"], 2), answers=b["count"], mean_confidence=None if b["confidence"] is None else round(b["confidence"], 4),
                 accuracy=None if b["accuracy"] is None else round(b["accuracy"], 4)) for b in bins]


def abstention_caption(threshold: float, coverage: float, accuracy: float | None, base: float, n: int) -> str:
    if accuracy is None:
        return f"Saying \"I don't know\" below {threshold:.2f}, the model answers none of the {n} questions."
    return (f"Saying \"I don't know\" below {threshold:.2f}, the model answers {pct(coverage)} of the {n} questions and {pct(accuracy)} of those answers are right "
            f"(answering everything: {pct(base)}).")


def closed_book_results(rows, s: dict, name: str) -> None:
    """Section 2 once the guess is locked: the figures, the sentence and the four charts."""
    m = st.columns(4)
    m[0].metric("Right on known people", f"{s['em_known']:.0%}")
    m[1].metric("Right on unknown people", f"{s['em_unknown']:.0%}")
    m[2].metric("Mean confidence, unknown & wrong", pct(s["conf_wrong_unknown"]))
    m[3].metric("Expected calibration error", f"{s['ece']:.3f}")
    st.markdown(
        f"On {s['n_unknown']} questions about people it never saw, **{name}** got {s['em_unknown']:.0%} right, yet gave its wrong "
        f"answers a mean probability of {pct(s['conf_wrong_unknown'])} (its right answers about known people: {pct(s['conf_right_known'])}). "
        f"How often a fact was seen decides whether it is known: seen once, {s['by_seen'][1][0]:.0%} right; seen 16 times, {s['by_seen'][16][0]:.0%}.")
    with st.expander("The details: how confidence is measured"):
        st.markdown(f"Confidence is the probability the model gives its whole greedy answer; the entropy of its first answer character averaged "
                    f"{s['entropy_unknown']:.2f} nats for unknown people and {s['entropy_known']:.2f} for known ones.")
    c1, c2 = st.columns(2)
    charts.chart(fig.seen_bars(s["by_seen"]), key="kn_seen", caption=seen_caption(s["by_seen"]), table=seen_table(s["by_seen"]), where=c1)
    charts.chart(fig.confidence_hist(rows), key="kn_hist", caption=hist_caption(rows), table=answers_table(rows), where=c2)
    charts.chart(fig.reliability(s["bins"], s["ece"]), key="kn_rel", caption=reliability_caption(s["bins"], s["ece"]), table=bins_table(s["bins"]), where=c1)
    threshold = c2.slider("Abstain below this confidence", 0.0, 1.0, 0.5, 0.05, key="kn_threshold", bind="query-params")
    conf, right = [r.answer.confidence for r in rows], [r.correct for r in rows]
    curve = abstention_curve(conf, right, [i / 50 for i in range(51)])
    _, cov, acc = abstention_curve(conf, right, [threshold])[0]
    charts.chart(fig.abstention(curve, threshold), key="kn_abstain", caption=abstention_caption(threshold, cov, acc, sum(right) / len(right), len(rows)),
                 table=[dict(threshold=t, coverage=round(c, 4), accuracy=None if a is None else round(a, 4)) for t, c, a in curve], where=c2)


def compare_results(g: dict, k: int) -> None:
    """Section 5 once the guess is locked: closed against open book on every unknown person."""
    n = st.columns(4)
    n[0].metric("Closed book, exact match", f"{g['closed_book_em']:.0%}")
    n[1].metric("Open book, exact match", f"{g['open_book_em']:.0%}")
    n[2].metric(f"BM25 recall@{k}", f"{g['recall']:.0%}")
    n[3].metric("Open book when retrieval misses", f"{g['miss_em']:.0%}")
    st.markdown(
        f"On all {g['n']} questions about unknown people: closed book {g['closed_book_em']:.0%} right (wrong answers at "
        f"{pct(g['closed_book_conf_wrong'])} mean confidence), open book {g['open_book_em']:.0%} with the top {k} chunks "
        f"(recall@{k} {g['recall']:.0%}). When the chunks that hold the answer are left out, the reader gets "
        f"{g['miss_em']:.0%} right at {pct(g['miss_conf'])} mean confidence: wrong context in, wrong answer out.")
