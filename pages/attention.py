"""Inside the model: every head's attention on your prompt, what the heads seem to do (measured),
where "it" looks in the example sentence (its button waits for that guess: the head explorer would answer
it), and in the details how a head computes its weights, the residual stream and the logit lens, all on
whichever model is current."""

import numpy as np
import streamlit as st

from lab_ui import attention_view as av
from lab_ui import course, predict, state, url_state
from lab_ui.attention_figures import token_strip_html
from lab_ui.chips import literal
from lab_ui.shell import ensure_app_shell
from llm_core import literature
from llm_core.interpret.inspect_model import RECENT, describe_head, it_looks
from llm_core.interpret.walkthrough import DEFAULT_PROMPT as OVERVIEW_PROMPT
from llm_core.text.tokenizers import TokenizerError, UnknownCharacterError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

EXAMPLE = av.EXAMPLE
# The line the Overview walked through the model, so the course looks inside the same sentence. At 51
# characters each one keeps a readable label on the heatmap's axes (95 needed 9-point labels), and the
# browser draws the chapter in about a third less CPU (README: Benchmarks); a learner can type more.
DEFAULT_PROMPT = OVERVIEW_PROMPT
PROMPT_KEY = "attention_prompt"
LENS_COLUMNS = 40  # positions the logit-lens table shows at once


def use_example() -> None:
    st.session_state[PROMPT_KEY] = EXAMPLE


def it_asked(entry) -> bool:
    """Whether the "it" prediction is asked on this model (as av.it_section decides: its tokenizer writes the example,
    and the window it reads holds “animal”, “road” and “it”). Until that guess is locked, the example button waits:
    the head explorer would show where “it” looks."""
    try:
        ids = entry.tokenizer.encode(EXAMPLE)
    except TokenizerError:
        return False
    return it_looks(av.cached_inspection(entry, ids, None), entry.tokenizer) is not None


def follow_the_last(key: str, T: int) -> None:
    """A position slider (`key`) left on the last token moves to the new last one when the prompt changes
    length: a longer prompt would otherwise keep it where the old prompt ended (for the query, with the
    rest shown as never seen). A position the learner chose stays."""
    seen = st.session_state.get(f"{key}::of")
    if seen is not None and seen != T and st.session_state.get(key) == seen - 1:
        st.session_state[key] = T - 1
    st.session_state[f"{key}::of"] = T


@st.fragment
def head_explorer(view, unit: str) -> None:
    """Everything that follows the chosen layer, head and token: only this part redraws when they change."""
    units = f"{unit}s"
    T, L, H = len(view.token_ids), view.n_layer, view.n_head
    st.header("Attention, head by head", anchor="head-by-head")
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
    av.head_chart(view, layer, head, unit)

    st.subheader("All heads at a glance")
    av.grid_chart(view, layer, head, unit)

    st.header(f"Where one {unit} looks", anchor="one-token")
    follow_the_last("attention_query", T)
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
    order = [i for i in np.argsort(-weights[: query + 1], kind="stable")[:5] if weights[i] >= 0.005]  # none that rounds to 0.00
    st.caption(
        f"Darker blue = more weight; the outlined {unit} is the one looking, pale ones come after it and are never seen. "
        "Most weight: " + ", ".join(f"{i}: '{literal(view.pieces[i])}' {weights[i]:.2f}" for i in order)
    )


# ---------------------------------------------------------------- page
entry = state.current()  # read on every run: a model trained a minute ago shows up at once
model, tokenizer, cfg = entry.model, entry.tokenizer, entry.config
unit = "character" if tokenizer.kind == "char" else "token"
units = f"{unit}s"

course.chapter_intro("attention")
st.markdown(
    f"**On this page:** [Attention, head by head](#head-by-head) · [Where one {unit} looks](#one-token) · "
    "[What does “it” look at?](#it) · The details: [how a head computes its weights](#how-a-head-works) · "
    "[the residual stream](#residual-stream) · [the logit lens](#logit-lens)"
)
st.markdown(
    f"Type a prompt and look inside the **current model** (*{entry.name}*: {cfg.n_layer} layers × {cfg.n_head} heads, "
    f"a context of {cfg.block_size} {units}). In every layer, each **head** gives every {unit} a weight for each {unit} "
    f"up to and including itself; the weights add up to 1, and the {unit} takes in a mix of what those {units} carry. "
    f"This is attention, the idea at the heart of the transformer ({literature.cite('vaswani2017')})."
)

prompt = url_state.text_box(st.text_area, "Prompt", PROMPT_KEY, DEFAULT_PROMPT, height=90, max_chars=20_000)
example_waits = predict.made("attention_it") is None and it_asked(entry)
st.button(f"Try the example sentence: “{EXAMPLE}”", on_click=use_example, key="attention_example", disabled=example_waits)
if example_waits and prompt == EXAMPLE:  # loaded before "Guess again": the heads above show it already
    st.caption("The heads here show the example sentence; [What does “it” look at?](#it) below asks about it again once you guess.")
elif example_waits:
    st.caption("This sentence is the question of [What does “it” look at?](#it) below, and the heads here would give its "
               "answer away: lock in your guess there first, then this button loads the sentence.")

if not prompt:
    st.info("Type a prompt to look inside the model.")
    st.stop()
try:
    ids = tokenizer.encode(prompt)
except UnknownCharacterError as exc:
    st.warning(literal(str(exc)))  # the tokenizer's own plain words (which characters, why, what to do)
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

st.header("What does “it” look at?", anchor="it")
av.it_section(entry, unit)

# --- the details
st.header("The details: how a head computes its weights", anchor="how-a-head-works")
position_words = (
    f"It tells positions apart by turning each query and key by an angle that grows with the position (rotary position "
    f"embeddings, RoPE: {literature.cite('su2021')}), so a score depends on how far apart two {units} are."
    if cfg.position == "rope" else
    f"It tells positions apart by a learned vector for each position, added to the {unit}'s embedding before the first block."
)
st.markdown(
    f"Each {unit}'s vector is turned into three: a **query** (what it looks for), a **key** (what it offers) and a **value** "
    f"(what it passes on). A head scores every pair by multiplying a query with a key, number by number, and adding up "
    f"(divided by √{cfg.head_dim}, the square root of the head's size, to keep the scores moderate). The **causal mask** "
    f"removes every later {unit} (its weight is exactly 0), a **softmax** turns each row of scores into weights that add up "
    f"to 1, and the {unit}'s new vector is the weighted mix of the values. {position_words} "
    f"{cfg.n_head} heads do this side by side in each of the {cfg.n_layer} layers."
)

st.header("The details: the residual stream", anchor="residual-stream")
st.markdown(
    f"Each {unit}'s vector flows through the model, and every block *adds* what its attention and its MLP computed "
    f"(the residual stream: {literature.cite('elhage2021')}). Below, the length (norm) of the vector after each block "
    f"and of what each part added, for one {unit} and averaged over all {T}."
)
follow_the_last("attention_residual_token", T)
token = st.select_slider(f"Follow a {unit}", options=list(range(T)), value=T - 1, format_func=lambda i: f"{i}: {view.pieces[i]}",
                         key="attention_residual_token")
av.residual_charts(view, token, unit)

st.header("The details: the logit lens", anchor="logit-lens")
st.markdown(
    f"The model ends with a rescaling of the vector and then the output layer. Both can be applied early, after any "
    f"block, to read what the vector *would* predict as the next {unit} if the model stopped there: the logit lens "
    f"({literature.cite('nostalgebraist2020')})."
)
av.lens_prediction(view, tokenizer, unit)
if predict.made("attention_lens"):
    first, last = 0, T - 1
    if T > LENS_COLUMNS:
        first, last = st.slider("Positions shown", 0, T - 1, (T - LENS_COLUMNS, T - 1), key=f"attention_lens_range::{T}")
        if last - first + 1 > 2 * LENS_COLUMNS:
            st.caption(f"Showing the first {2 * LENS_COLUMNS} of them, so the letters stay readable.")
            last = first + 2 * LENS_COLUMNS - 1
    st.markdown(f"Each row reads the vector at one stage, from the embeddings alone at the top. The last row, after block {L} "
                "(the output), is the model's real prediction.")
    av.lens_chart(view, tokenizer, first, last, unit)
else:
    st.caption("Lock in a guess above to see the logit lens at every position of your prompt.")

with st.expander("Every head, in words"):
    st.caption(
        f"Weights averaged over the prompt's positions 1–{T - 1} (position 0 can only look at itself). 'first' counts "
        f"only positions more than {RECENT} away from the start. Spread: entropy of the weights over the entropy of even "
        "weights. A label needs at least half the weight in one place."
    )
    st.markdown("\n".join(f"- {describe_head(s, unit)}" for s in view.heads))
st.caption(av.sources_line(cfg))

course.chapter_end("attention")
