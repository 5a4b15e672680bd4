"""The shared sidebar: which model is current, its size and training record, and the device.

Shown from the first page on, so its facts are said in plain words (`model_lines`): "each token is a
list of 128 numbers", not "128 wide"; the model's one validation figure (llm_core.training.diagnosis)
comes after what it means, and stays word for word the figure the Train chapter shows."""

from __future__ import annotations

import streamlit as st

from lab_ui import jobs, lab_panel, state
from lab_ui.widgets import plural
from llm_core.training.diagnosis import headline

# What each kind of tokenizer makes its tokens of (lab_ui's tokenizers: llm_core.text.tokenizers).
TOKEN_KINDS = {"char": "single characters", "bpe": "pieces learned by BPE", "tiktoken": "pieces of an OpenAI tokenizer"}


def model_lines(num_params: int, cfg, tokenizer_kind: str, record: dict) -> list[str]:
    """The sidebar's facts about the current model, in plain words.

    >>> from types import SimpleNamespace as NS
    >>> model_lines(804224, NS(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=65, position="rope"), "char",
    ...             {"val_loss": 1.4997, "steps": 2000, "corpus": "tinyshakespeare"})  # doctest: +NORMALIZE_WHITESPACE
    ['804,224 parameters (the numbers it learned)', '4 layers, one after another, each with 4 attention heads',
     'each token is a list of 128 numbers', 'reads up to 128 tokens at once; knows 65 different tokens (single characters)',
     "tells positions apart by turning each token's numbers by its position (rotary positions)",
     'how well it predicts text it never trained on (lower is better): val loss 1.500 on the held-out text, at step 2,000',
     'trained on tinyshakespeare']
    """
    lines = [
        f"{num_params:,} parameters (the numbers it learned)",
        f"{plural(cfg.n_layer, 'layer')}, one after another, each with {plural(cfg.n_head, 'attention head')}",
        f"each token is a list of {cfg.n_embd:,} numbers",
        f"reads up to {plural(cfg.block_size, 'token')} at once; knows {plural(cfg.vocab_size, 'different token')}"
        + (f" ({TOKEN_KINDS[tokenizer_kind]})" if tokenizer_kind in TOKEN_KINDS else ""),
        "tells positions apart by turning each token's numbers by its position (rotary positions)" if cfg.position == "rope"
        else "tells positions apart by adding a learned vector for each position (a position table)",
    ]
    if (figure := headline(record)) is not None:  # the model's one figure, the same on every page (llm_core.training.diagnosis)
        lines.append(f"how well it predicts text it never trained on (lower is better): {figure.text}")
    if record.get("corpus"):
        lines.append(f"trained on {record['corpus']}")
    return lines


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
        st.caption("  \n".join(model_lines(entry.facts.num_params, cfg, entry.tokenizer.kind, entry.record)))
        lab_panel.lineage(entry)
        st.caption(f"Device: {state.device_label()}")
        lab_panel.your_lab(current_page)
        state.keep_desk_in_browser()
    jobs.sidebar_status(current_page)  # live status of this user's background jobs, on every chapter
