"""The Fine-tune and align chapter's ranking desk: two sampled answers labelled A and B, the written
instructions beside them, native buttons (keyboard-reachable: Tab to a button, Enter or Space to press
it) and the automatic rater.

What it is: `ranking_desk(result, stage)`, drawn once the fine-tuned model exists; rankings go to
`st.session_state.as_ratings`, each recording who ranked it (you or the rater).
What it is not: the rules (`llm_core.alignment.judge`) or the rater (`llm_core.alignment.rating`).
"""

from __future__ import annotations

import streamlit as st

from lab_ui.widgets import plural, text_block
from llm_core.alignment.judge import INSTRUCTIONS
from llm_core.alignment.rating import PERSON, RATER, auto_rate, candidate_pairs, rate_pair

CANDIDATES = 24  # pairs sampled at a time for ranking by hand


def ranking_desk(result, stage) -> None:
    ratings = st.session_state.setdefault("as_ratings", [])
    st.markdown(
        f"Two answers the fine-tuned model sampled for the same request, drawn from {plural(len(stage.prompts), 'request')}, "
        f"{stage.unseen_prompts} of them requests fine-tuning never saw (RLHF practises on the same ones). Rank them by the instructions beside or below, "
        "as a labeller would: press **A is better** or **B is better** (Tab moves between the buttons, Enter presses one)."
    )

    def new_candidates():
        st.session_state.as_candidates = candidate_pairs(result.model, result.tokenizer, stage.prompts, CANDIDATES, seed=len(st.session_state.as_ratings) + 17)
        st.session_state.as_cursor = 0

    def rate(choice):
        i = st.session_state.get("as_cursor", 0)
        if i < len(st.session_state.as_candidates):
            pair = rate_pair(*st.session_state.as_candidates[i], choice=choice, rated_by=PERSON)
            st.session_state.as_ratings += [pair] if pair else []
            st.session_state.as_cursor = i + 1

    def rate_for_me(n: int):
        report = auto_rate(result.model, result.tokenizer, stage.prompts, n, seed=1000 + len(st.session_state.as_ratings))
        st.session_state.as_ratings += report.pairs
        read = plural(report.looked, "sampled pair")
        st.session_state.as_auto_note = f"The rater read {read}: it ranked {report.looked - report.skipped} and skipped {report.skipped} that the instructions do not separate."

    if "as_candidates" not in st.session_state:
        new_candidates()
    left, right = st.columns([3, 2])
    with right:
        st.markdown("**Labelling instructions**")
        st.markdown("\n".join(f"{line}  " for line in INSTRUCTIONS))
    with left:
        cursor, candidates = st.session_state.get("as_cursor", 0), st.session_state.as_candidates
        if cursor < len(candidates):
            ex, a, b = candidates[cursor]
            st.markdown(f"**Request** (pair {cursor + 1} of {len(candidates)})")
            text_block(ex.prompt)
            ca, cb = st.columns(2)
            ca.markdown("**Answer A**")
            text_block(a or "(empty answer)", where=ca)
            cb.markdown("**Answer B**")
            text_block(b or "(empty answer)", where=cb)
            r1, r2, r3 = st.columns(3)
            r1.button("A is better", on_click=rate, args=(0,), key="as_rate_a", width="stretch")
            r2.button("B is better", on_click=rate, args=(1,), key="as_rate_b", width="stretch")
            r3.button("Skip", on_click=rate, args=(None,), key="as_rate_skip", width="stretch", help="The instructions do not separate them (rule 4).")
        else:
            st.button("Sample more pairs to rank", on_click=new_candidates, key="as_more")
    n_auto = st.select_slider("Rankings the automatic rater adds", [20, 50, 120, 200, 400], value=120, key="as_auto_n")
    st.button(f"Rate {n_auto} pairs for me", on_click=rate_for_me, args=(int(n_auto),), key="as_rate_auto", help="The rater follows exactly the instructions above.")
    if note := st.session_state.pop("as_auto_note", None):
        st.caption(note)
    by_you, by_rater = sum(p.rated_by == PERSON for p in ratings), sum(p.rated_by == RATER for p in ratings)
    st.caption(f"Ranked: {plural(len(ratings), 'pair')}, {by_you} by you and {by_rater} by the automatic rater.")
