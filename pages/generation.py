"""Generation: the inference loop, token by token, with the probabilities in view. The loop is
llm_core.generation.stepper.GenerationSession (kept in st.session_state); the views are lab_ui.generation_view,
the later sections and the chapter's predictions lab_ui.generation_sections."""

import time

import streamlit as st

from lab_ui import course, predict, state, table_fit, url_state
from lab_ui import generation_sections as sections
from lab_ui import generation_view as gv
from lab_ui.assistant_chat import chat_prompt_box
from lab_ui.chips import literal
from lab_ui.prob_text import legend_html, prob_text_html
from lab_ui.shell import ensure_app_shell
from llm_core import literature
from llm_core.generation.sample import Shaping
from llm_core.generation.stepper import GenerationSession, drop_unknown, start_ids, step_view
from llm_core.text.tokenizers import UnknownCharacterError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

script_started = time.perf_counter()

entry = state.current()
model, tokenizer = entry.model, entry.tokenizer
block = model.config.block_size
vocab = model.config.vocab_size
TOP_N = 20
DEFAULT_PROMPT = "ROMEO:\n"
# The default prompt and this many new tokens fit the context: the page does not open with a note
# that its own defaults outgrow it (a longer max length then shows the window sliding).
DEFAULT_MAX_NEW = max(1, min(200, block - len(DEFAULT_PROMPT) - 1))
STOP_NAMES = ("<|end|>", "<|endoftext|>")  # chat models and GPT-2-style tokenizers
stop_ids = [tokenizer.special_tokens[n] for n in STOP_NAMES if n in getattr(tokenizer, "special_tokens", {})]
TOP_K_KEY = "gen_top_k"  # one key whatever the vocabulary, so a link keeps it (the range follows the vocabulary)

label = lambda token_id: gv.label(tokenizer, token_id)  # how a token is shown


def current_shaping() -> Shaping:
    """The sliders' settings (read from session state, so callbacks and fragment ticks agree)."""
    top_k = int(st.session_state.get(TOP_K_KEY, 0) or 0)
    top_p = float(st.session_state.get("gen_top_p", 0.9))
    return Shaping(float(st.session_state.get("gen_temperature", 0.8)), top_k or None, top_p if top_p < 1 else None)


def max_new() -> int:
    return int(st.session_state.get("gen_max_new", DEFAULT_MAX_NEW))


def can_step(session: GenerationSession | None) -> bool:
    return session is not None and not session.stopped and len(session.history) < max_new()


# --- callbacks: they only record what to do; the script does it before drawing anything ---


# Each click carries the state it was drawn against, so a click Streamlit delivers twice (a run
# interrupted and its trigger replayed) cannot add two tokens or undo a Pause.
def on_step(tokens_when_drawn: int) -> None:
    st.session_state["gen_action"] = ("step", tokens_when_drawn)


def on_play(play: bool) -> None:
    st.session_state["gen_playing"] = play


def on_reset() -> None:
    st.session_state.pop("gen_session", None)
    st.session_state["gen_playing"] = False
    sections.forget_steps()


def on_drop(chars: list[str]) -> None:
    st.session_state["gen_prompt"] = drop_unknown(st.session_state.get("gen_prompt", ""), chars)


course.chapter_intro("generation")
table_fit.inject()
unit = "character" if tokenizer.kind == "char" else "token"
st.markdown(
    "**On this page:** [Step by step](#step-by-step) · [Greedy or sampled?](#greedy-or-sampled) · "
    "[Examples in the prompt](#in-context) · The details: [the KV cache](#kv-cache) · "
    "[one pass, a prediction at every position](#one-pass)"
)
st.markdown(
    "Generation is a loop: the model gives a probability to **every** possible next token, one is "
    "picked, appended to the text, and the loop runs again, until a stop token or a length limit. "
    "How one is picked is up to you: always the most likely (greedy), or at random, with temperature, "
    f"top-k ({literature.cite('fan2018')}) and top-p ({literature.cite('holtzman2020')}) shaping the odds. "
    f"Here the loop runs on the **current model** (*{entry.name}*, {tokenizer.kind} tokens, vocabulary "
    f"{vocab:,}) one step per click, with the probabilities of each step in view."
)
# Filled once the session exists (the reveals read its prompt and next token): both predictions come before the loop,
# whose sliders set to greedy would show whether greedy repeats itself.
predict_slot = st.container()

st.header("Step by step", anchor="step-by-step")

prompt = url_state.text_box(st.text_area, "Prompt", "gen_prompt", DEFAULT_PROMPT, max_chars=5000, height=80)
prompt = chat_prompt_box(tokenizer, prompt, "gen_prompt")  # a fine-tuned model reads its chat format
c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
c1.number_input("Max new tokens", min_value=1, max_value=2000, value=DEFAULT_MAX_NEW, step=10, key="gen_max_new", bind="query-params", help="Generation stops after this many new tokens.")
seed = int(c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="gen_seed", bind="query-params", help="Same seed and same settings: same text."))
c3.select_slider("Play pace (tokens per second)", options=[1, 2, 5, 10, 20], value=5, key="gen_pace")
use_cache = c4.toggle("KV cache", value=True, key="gen_use_cache", help="Reuse the keys and values of earlier tokens (see the KV cache section below). The text is the same either way.")

s1, s2, s3 = st.columns(3)  # until the temperature prediction is locked, nothing says what temperature does to the odds
temperature = s1.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="gen_temperature", bind="query-params", help=sections.temperature_help())
s2.slider("Top-k (0 = off)", 0, min(vocab, 100), 0, 1, key=TOP_K_KEY, bind="query-params", help="Keep only the k most likely tokens.")
s3.slider("Top-p (1 = off)", 0.05, 1.0, 0.9, 0.05, key="gen_top_p", bind="query-params", help="Keep the most likely tokens until their probabilities add up to p.")
shaping = current_shaping()
if temperature == 0:
    s1.caption("Greedy: the most likely token every time; the random draw no longer matters.")
if (waits := sections.greedy_waits(shaping)) is not None:  # greedy settings would answer the prediction at the top
    st.caption(waits)

# --- the prompt, checked ---
prompt_ids = None
try:
    prompt_ids, start_note = start_ids(tokenizer, prompt)
    if start_note:
        st.info(start_note + " A newline is the start of a line: a neutral place to begin. Type a prompt to steer it.")
except UnknownCharacterError as exc:
    st.warning(literal(str(exc)) + " The chapter Train a model makes one: choose the tokenizer BPE there.")
    st.button("Drop the unseen characters", key="gen_drop", on_click=on_drop, args=(list(exc.chars),))
except ValueError as exc:
    st.warning(str(exc))

# --- the session: one per (model, prompt, seed); kept across reruns ---
session: GenerationSession | None = None
if prompt_ids is not None:
    key = (entry.name, entry.created, prompt, seed)
    session = st.session_state.get("gen_session")
    if session is None or st.session_state.get("gen_session_key") != key:
        session = GenerationSession(model, prompt_ids, seed=seed, use_cache=use_cache, top_n=TOP_N, stop_ids=stop_ids)
        st.session_state["gen_session"], st.session_state["gen_session_key"] = session, key
        st.session_state["gen_session_serial"] = st.session_state.get("gen_session_serial", 0) + 1
        st.session_state["gen_playing"] = False
        st.session_state["gen_restored"] = sections.restore_steps(key, session, max_new())  # a reload, a second tab: the text so far
    session.use_cache = use_cache
    action = st.session_state.pop("gen_action", None)
    if action == ("step", len(session.history)) and can_step(session):
        session.step(shaping)
        sections.keep_steps(key, session)
else:
    st.session_state["gen_playing"] = False
if not can_step(session):
    st.session_state["gen_playing"] = False
playing = bool(st.session_state.get("gen_playing", False))

if session is not None and session.prompt_length + max_new() > block:
    st.info(gv.context_note(session.prompt_length, max_new(), block))

b1, b2, b3, _ = st.columns([1, 1, 1, 5])
tokens_now = len(session.history) if session is not None else 0
b1.button("Step", key="gen_step", on_click=on_step, args=(tokens_now,), disabled=playing or not can_step(session), help="Add one token.", width="stretch")
b2.button("Pause" if playing else "Play", key="gen_play", on_click=on_play, args=(not playing,), disabled=session is None or (not playing and not can_step(session)), width="stretch")
b3.button("Reset", key="gen_reset", on_click=on_reset, disabled=session is None, help="Back to the prompt; the same seed replays the same text.", width="stretch")


@st.fragment(run_every=1.0 / st.session_state.get("gen_pace", 5) if playing else None)
def live_view() -> None:
    """The text, the step shown and its chart. Re-run alone on every Play tick."""
    fragment_started = time.perf_counter()
    session = st.session_state.get("gen_session")
    if session is None:
        return
    if st.session_state.get("gen_playing"):
        if can_step(session):
            session.step(current_shaping())
            sections.keep_steps(st.session_state["gen_session_key"], session)
        if not can_step(session):
            st.session_state["gen_playing"] = False
            st.rerun()  # redraw the buttons (Play instead of Pause)

    n = len(session.history)
    status = f"**{n}** of {max_new()} new tokens · the model has run **{session.model_calls}** time{'s' if session.model_calls != 1 else ''} in this session"
    if session.stopped:
        status += " · stopped: the model produced its stop token"
    elif n >= max_new():
        status += " · reached the max length (raise it to go on)"
    st.markdown(status + (f" · {st.session_state['gen_restored']} kept from before (on your desk)" if st.session_state.get("gen_restored") and n else ""))

    shown = n  # index of the step shown: n means the next token, not yet chosen
    slider_key = f"gen_show_{st.session_state['gen_session_serial']}_{n}"
    if n:
        shown = int(st.session_state.get(slider_key, n + 1)) - 1
    if shown == n:
        pending = session.pending
        view = step_view(pending.logits, current_shaping(), pending.draw, TOP_N)
        context_start, context_length = pending.context_start, pending.context_length
        ghost = view.chosen_id if can_step(session) else None
        pick = gv.plot_text(repr(label(view.chosen_id)))
        title = f"Step {n + 1}: the next token. " + (f"Step will pick {pick}" if can_step(session) else f"the draw would pick {pick}")
    else:
        past = session.history[shown]
        view = step_view(past.logits, past.shaping, past.draw, TOP_N) if past.logits is not None else None
        context_start, context_length = past.context_start, past.context_length
        ghost = None
        sh = past.shaping
        title = f"Step {shown + 1}: picked {gv.plot_text(repr(label(past.token_id)))} (temperature {sh.temperature:g}, top-k {sh.top_k or 'off'}, top-p {sh.top_p or 'off'})"

    st.html(prob_text_html(gv.text_pieces(tokenizer, session, shown, context_start, ghost)))
    st.html(legend_html())
    st.caption(
        "Colour: the model's probability (at temperature 1) for each token it produced; the darker the orange, the less "
        "likely it found the token. Hover (or tap) a token for its probability and the alternatives"
        + ("; pick a step with the slider below for its whole distribution" if n else "") + ". The dashed box is the next token."
    )
    if n:
        st.slider(f"Step shown ({n + 1} = the next token)", 1, n + 1, n + 1, key=slider_key)

    if view is None:
        st.info("This early step's full distribution is no longer kept (memory limit for large vocabularies); hover its token for its top candidates.")
    else:
        left, right = st.columns([3, 1])
        shaped_shown = predict.made(sections.TEMPERATURE_KEY) is not None  # the shaped bars wait for that guess
        gv.step_chart(tokenizer, view, title, TOP_N, where=left, shaped=shaped_shown)
        with right:
            gv.show_step_numbers(view, label(view.chosen_id), context_start, context_length, block, shaped=shaped_shown)
        if not shaped_shown:
            st.caption("The sliders choose how Step picks. What they do to the odds shows here once your guess about temperature is locked in above.")
        elif shown == n:
            st.caption("Move the sliders: the shaped bars change at once, from this step's stored logits, without running the model again.")
        else:
            st.caption("A past step, with the settings it was sampled with. The sliders act on the next token.")
    st.session_state["gen_fragment_ms"] = 1000 * (time.perf_counter() - fragment_started)


if session is not None:
    live_view()

with predict_slot:
    sections.temperature_prediction(tokenizer, session)
    sections.greedy_prediction(entry, session, seed, stop_ids, min(max_new(), 300), unit)

st.header("Greedy or sampled?", anchor="greedy-or-sampled")
sections.greedy_section(entry, session, shaping, seed, stop_ids, min(max_new(), 300), unit)

st.header("Examples in the prompt: in-context learning", anchor="in-context")
sections.in_context_section(entry, unit)

st.header("The details: the KV cache", anchor="kv-cache")
sections.kv_cache_section(model, session)

st.header("The details: one pass, a prediction at every position", anchor="one-pass")
sections.one_pass_section(entry, session, unit)

st.session_state["gen_script_ms"] = 1000 * (time.perf_counter() - script_started)

course.chapter_end("generation")
