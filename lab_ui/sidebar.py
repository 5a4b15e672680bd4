"""The shared sidebar: which model is current, its size and training record, and the device."""

from __future__ import annotations

import streamlit as st

from lab_ui import jobs, lab_panel, state
from llm_core.training.diagnosis import headline


def render(current_page: str | None = None) -> None:
    """`current_page`: the URL path of the chapter being shown (its own live views are not repeated here)."""
    jobs.collect()  # a background job that ended (e.g. a training run) registers its model before we show it
    state.open_link()  # a share link's model, a teacher's lab file
    entry = state.current()
    cfg = entry.config
    with st.sidebar:
        lab_panel.notices()
        st.subheader("Current model")
        names = list(state.models())
        if len(names) > 1:
            # The key follows the current model, so a model made current by a page shows here at once.
            key = f"sidebar_model_choice::{entry.name}::{len(names)}"
            st.selectbox(
                "Model used by every chapter",
                names,
                index=names.index(entry.name),
                key=key,
                on_change=lambda: state.set_current(st.session_state[key]),
            )
        else:
            st.markdown(f"**{entry.name}**")
        record = entry.record
        lines = [
            f"{entry.facts.num_params:,} parameters",
            f"{cfg.n_layer} layers · {cfg.n_head} heads · {cfg.n_embd} wide",
            f"context {cfg.block_size} tokens · vocabulary {cfg.vocab_size} ({entry.tokenizer.kind})",
            f"positions: {'rotary' if cfg.position == 'rope' else 'learned table'}",
        ]
        if (figure := headline(record)) is not None:  # the model's one figure, the same on every page (llm_core.training.diagnosis)
            lines.append(figure.text)
        if record.get("corpus"):
            lines.append(f"trained on {record['corpus']}")
        st.caption("  \n".join(lines))
        lab_panel.lineage(entry)
        st.caption(f"Device: {state.device_label()}")
        lab_panel.your_lab(current_page)
        state.keep_desk_in_browser()
    jobs.sidebar_status(current_page)  # live status of this user's background jobs, on every chapter
