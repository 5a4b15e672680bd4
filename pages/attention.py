"""Inside the model: every head's attention on your prompt, what the heads seem to do (measured),
the logit lens and the residual stream, on whichever model is current."""

import numpy as np
import streamlit as st

from lab_ui import attention_view as av
from lab_ui import course, state, url_state
from lab_ui.attention_figures import contributions_figure, grid_figure, head_figure, lens_figure, residual_figure, token_strip_html
from lab_ui.chips import literal
from lab_ui.shell import ensure_app_shell
from llm_core.interpret.inspect_model import RECENT, describe_head, head_role, lens_summary
from llm_core.text.tokenizers import TokenizerError, UnknownCharacterError, visible_whitespace

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

EXAMPLE = "The animal didn't cross the road because it was too wide"
DEFAULT_PROMPT = "ROMEO: O, she doth teach the torches to burn bright!\nIt seems she hangs upon the cheek of night"
PROMPT_KEY = "attention_prompt"
LENS_COLUMNS = 40  # positions the logit-lens table shows at once


def use_example() -> None:
    st.session_state[PROMPT_KEY] = EXAMPLE


@st.fragment
def head_explorer(view, unit: str) -> None:
    """Everything that follows the chosen layer, head and token: only this part redraws when they change."""
    units = f"{unit}s"
    T, L, H = len(view.token_ids), view.n_layer, view.n_head
    st.header("Attention, head by head")
    pick_layer, pick_head = st.columns(2)
    layer = pick_layer.radio("Layer", list(range(L)), format_func=lambda i: str(i + 1), horizontal=True, key="attention_layer", bind="query-params")
    head = pick_head.radio("Head", list(range(H)), format_func=lambda i: str(i + 1), horizontal=True, key="attention_head", bind="query-params")

    summary = view.head(layer, head)
    words, numbers = st.columns([3, 2])
    with words:
        st.subheader(f"Layer {layer + 1}, head {head + 1}")
        st.markdown(describe_head(summary, unit))
        st.caption(
            "Measured on this prompt, averaged over its positions. The label comes from these numbers (for example at "
            "least half the weight on the previous one), so another model or another prompt can get other words."
        )
    if summary.n_queries >= 2:
        first = "–" if np.isnan(summary.first) else f"{summary.first:.0%}"
        numbers.markdown(
            f"| where it looks, on average | weight |\n|---|---|\n| the previous {unit} | {summary.previous:.0%} |\n| itself | {summary.self_weight:.0%} |\n"
            f"| the last {RECENT} {units} | {summary.recent:.0%} |\n| the first {unit} | {first} |\n"
            f"| spaces & punctuation | {summary.separators:.0%} (even: {summary.separators_baseline:.0%}) |\n"
            f"| spread (0 = one {unit}, 1 = even) | {summary.spread:.2f} |\n| look-back | {summary.distance:.1f} {units} |"
        )
    st.plotly_chart(head_figure(view, layer, head, unit), key="attention_head_map")
    st.caption(
        f"Rows: the {unit} doing the looking (query); columns: the {units} it looks at (keys). Grey cells above the "
        f"diagonal are the **causal mask**: a {unit} never sees later ones, so their weight is exactly 0. "
        "Each row sums to 1. Hover a cell for the exact weight."
    )

    st.subheader("All heads at a glance")
    st.caption(
        "Layers down, heads across, each labelled with what it looks at most on this prompt; the chosen head is outlined "
        "in red. Pick another with the buttons above to enlarge it (the enlarged map shows the exact weights on hover)."
    )
    st.plotly_chart(grid_figure(view, layer, head, [f"<b>L{s.layer + 1} H{s.head + 1}</b><br>{head_role(s, unit)}" for s in view.heads]), key="attention_grid")

    st.header(f"Where one {unit} looks")
    query = st.select_slider(
        f"Pick a {unit}", options=list(range(T)), value=T - 1, format_func=lambda i: f"{i}: {view.pieces[i]}",
        key="attention_query", bind="query-params",  # the URL names it "position: piece", as shown
    )
    averaged = st.radio(
        f"Weights of (layer {layer + 1})", [False, True], horizontal=True, key="attention_token_mode", bind="query-params",
        format_func=lambda avg: "all its heads, averaged" if avg else "the head picked above",  # labels are the URL's values: keep them fixed
    )
    weights = view.attention_from(query, layer, None if averaged else head)
    st.html(token_strip_html(view, weights, query))
    order = np.argsort(-weights[: query + 1], kind="stable")[:5]
    st.caption(
        f"Darker blue = more weight; the red box is the {unit} looking, grey ones come after it and are never seen. "
        "Most weight: " + ", ".join(f"{i}: '{literal(view.pieces[i])}' {weights[i]:.2f}" for i in order)
    )

    st.header("The residual stream")
    st.markdown(
        f"Each {unit}'s vector flows through the model, and every block *adds* what its attention and its MLP computed. "
        f"Below, the length (norm) of the vector after each block and of what each part added: for {unit} {query} "
        f"('{literal(view.pieces[query])}', picked above) and averaged over all {T}."
    )
    left, right = st.columns(2)
    left.plotly_chart(residual_figure(view, query, unit), key="attention_residual")
    right.plotly_chart(contributions_figure(view, query, unit), key="attention_contributions")
    parts = [(float(view.attn_out_norms[i].mean()), f"block {i + 1}'s attention") for i in range(L)]
    parts += [(float(view.mlp_out_norms[i].mean()), f"block {i + 1}'s MLP") for i in range(L)]
    size, name = max(parts)
    st.caption(
        f"On average the vectors grow from {view.residual_norms[0].mean():.1f} after the embeddings to "
        f"{view.residual_norms[-1].mean():.1f} after the last block; the largest single addition is {name} ({size:.1f} on average)."
    )


# ---------------------------------------------------------------- page
entry = state.current()  # read on every run: a model trained a minute ago shows up at once
model, tokenizer, cfg = entry.model, entry.tokenizer, entry.config
unit = "character" if tokenizer.kind == "char" else "token"
units = f"{unit}s"

course.chapter_intro("attention")
st.markdown(
    f"Type a prompt and look inside the **current model** (*{entry.name}*: {cfg.n_layer} layers × {cfg.n_head} heads, "
    f"a context of {cfg.block_size} {units}). In every layer each **head** gives every {unit} a set of weights over "
    f"the {units} up to and including itself (a softmax of query·key scores, so each row sums to 1); the {unit}'s "
    "new vector is the weighted mix of their value vectors. Everything below is the real model's numbers on your prompt."
)

prompt = url_state.text_box(st.text_area, "Prompt", PROMPT_KEY, DEFAULT_PROMPT, height=90, max_chars=20_000)
st.button(f"Try the example sentence: “{EXAMPLE}”", on_click=use_example, key="attention_example")
st.caption("What the model does with that sentence is measured at the end of the page, under *What does “it” refer to?*")

if not prompt:
    st.info("Type a prompt to look inside the model.")
    st.stop()
try:
    ids = tokenizer.encode(prompt)
except UnknownCharacterError as exc:
    shown = ", ".join(literal(repr(c)) for c in exc.chars[:12]) + (" …" if len(exc.chars) > 12 else "")
    st.warning(
        f"This model has never seen {len(exc.chars)} of these characters: {shown}. A character-level model has an id "
        "only for the characters of its training text, so it cannot read them."
    )
    if not st.checkbox("Drop the unseen characters and look at the rest", key="attention_drop_unknown"):
        st.stop()
    ids = tokenizer.encode(prompt, errors="skip")
except TokenizerError as exc:
    st.warning(f"This model cannot read that text: {literal(str(exc))}")
    st.stop()
if not ids:
    st.info(f"Nothing is left to read: the prompt gives no {units}.")
    st.stop()

window_start = None
if len(ids) > cfg.block_size:
    st.info(
        f"Your prompt is {len(ids):,} {units}, longer than this model's context of {cfg.block_size}: it reads at most "
        f"{cfg.block_size} at a time and never sees the rest. Showing the last {cfg.block_size}; move the slider to look at another window."
    )
    latest = len(ids) - cfg.block_size
    window_start = st.slider(f"Window starts at {unit}", 0, latest, latest, key=f"attention_window::{len(ids)}::{cfg.block_size}")

view = av.cached_inspection(entry, ids, window_start)
T, L, H = len(view.token_ids), view.n_layer, view.n_head
if view.window.truncated:
    st.caption(f"The model reads {units} {view.window.start}–{view.window.end - 1} of the {view.window.n_tokens}; positions below count from the window's start.")
if T == 1:
    st.info(f"A single {unit} can only look at itself: every head gives it weight 1. Type more to see the heads differ.")

head_explorer(view, unit)

if T >= 2:
    roles = [head_role(s, unit) for s in view.heads]
    counts = {r: roles.count(r) for r in dict.fromkeys(roles)}
    st.markdown(
        f"**On this prompt, what the {L * H} heads look at most:** " + "; ".join(f"{r}: {n}" for r, n in counts.items()) + "."
    )
with st.expander("Every head's measurements", expanded=False):
    rows = [
        {
            "layer": s.layer + 1, "head": s.head + 1, "looks mostly at": head_role(s, unit),
            f"previous {unit}": s.previous, "itself": s.self_weight, f"last {RECENT}": s.recent,
            f"first {unit}": s.first, "spaces & punctuation": s.separators, "(if spread evenly)": s.separators_baseline,
            "spread (0–1)": s.spread, f"look-back ({units})": s.distance,
        }
        for s in view.heads
    ]
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        k: st.column_config.NumberColumn(format="%.2f") for k in rows[0] if k not in ("layer", "head", "looks mostly at")
    })
    st.caption(
        f"Weights averaged over the prompt's positions 1–{T - 1} (position 0 can only look at itself). 'first' counts "
        f"only positions more than {RECENT} away from the start. Spread: entropy of the weights over the entropy of even "
        "weights. A label needs at least half the weight in one place."
    )
    st.markdown("\n".join(f"- {describe_head(s, unit)}" for s in view.heads))

# --- logit lens
st.header("Logit lens: the prediction forming layer by layer")
st.markdown(
    f"The model's final norm and output layer can be applied early, after any block, to read what the vector "
    f"*would* predict as the next {unit} if the model stopped there. The last row is the model's real prediction; "
    "green = how sure the top guess is. Hover a cell for the token that really comes next."
)
first, last = 0, T - 1
if T > LENS_COLUMNS:
    first, last = st.slider("Positions shown", 0, T - 1, (T - LENS_COLUMNS, T - 1), key=f"attention_lens_range::{T}")
    if last - first + 1 > 2 * LENS_COLUMNS:
        st.caption(f"Showing the first {2 * LENS_COLUMNS} of them, so the letters stay readable.")
        last = first + 2 * LENS_COLUMNS - 1
top_pieces = np.array([[visible_whitespace(tokenizer.token_text(int(i))) for i in row] for row in view.lens_top_ids], dtype=object)
st.plotly_chart(lens_figure(view, first, last, top_pieces, unit), key="attention_lens")
if T >= 2:
    lens = lens_summary(view)
    stages = ["the embeddings alone"] + [f"block {i}" for i in range(1, L + 1)]
    st.markdown(
        f"Averaged over the {T - 1} positions whose next {unit} is in the prompt, the real next {unit} gets "
        + ", ".join(f"**{p:.0%}** after {s}" for p, s in zip(lens.next_prob, stages))
        + f". The top guess is right {lens.top1_correct[0]:.0%} of the time from the embeddings alone and "
        f"{lens.top1_correct[-1]:.0%} of the time at the output."
    )

# --- the example sentence
st.header("What does “it” refer to?")
st.markdown(
    f"In *“{EXAMPLE}”*, “it” is the road: roads are wide, an animal would be *tired*. Large models learn, over many "
    "layers and a great deal of text, to move information about the right noun onto “it”, and some of their heads "
    f"put visible weight there. This model is far smaller: it reads {units}, has {L} layers and "
    f"{model.num_params():,} parameters, and learned from {av.training_text(entry.record)}. Nothing in that teaches it that roads are wide. What its heads do on your "
    f"prompt is measured above, and a weight on a word is not understanding: at most it shows where information could flow."
)
av.show_it_measurement(view, tokenizer, unit)

course.chapter_end("attention")
