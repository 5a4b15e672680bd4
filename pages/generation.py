"""Generation: the inference loop, token by token, with the probabilities in view.

UI only: the loop lives in llm_core.generation.stepper.GenerationSession (kept in st.session_state), the
numbers of a step in llm_core.generation.stepper.step_view, the coloured text in lab_ui.prob_text.
"""

import html
import math
import time

import streamlit as st

from lab_ui import state
from lab_ui.prob_text import Piece, legend_html, prob_text_html
from lab_ui.shell import ensure_app_shell
from llm_core.generation.sample import Shaping, generate
from llm_core.generation.stepper import (
    GenerationSession,
    distinct_ngrams,
    drop_unknown,
    ms_per_token,
    start_ids,
    step_view,
    trailing_loop,
)
from llm_core.text.tokenizers import UnknownCharacterError, visible_whitespace

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

script_started = time.perf_counter()

entry = state.current()
model, tokenizer = entry.model, entry.tokenizer
block = model.config.block_size
half = max(1, block // 2)
vocab = model.config.vocab_size
TOP_N = 20
STOP_NAMES = ("<|end|>", "<|endoftext|>")  # chat models and GPT-2-style tokenizers
stop_ids = [tokenizer.special_tokens[n] for n in STOP_NAMES if n in getattr(tokenizer, "special_tokens", {})]
TOP_K_KEY = f"gen_top_k_{min(vocab, 100)}"  # the slider's range follows the vocabulary


def label(token_id: int) -> str:
    return visible_whitespace(tokenizer.token_text(token_id)) or "∅"


def current_shaping() -> Shaping:
    """The sliders' settings (read from session state, so callbacks and fragment ticks agree)."""
    top_k = int(st.session_state.get(TOP_K_KEY, 0) or 0)
    top_p = float(st.session_state.get("gen_top_p", 0.9))
    return Shaping(float(st.session_state.get("gen_temperature", 0.8)), top_k or None, top_p if top_p < 1 else None)


def max_new() -> int:
    return int(st.session_state.get("gen_max_new", 200))


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


def on_drop(chars: list[str]) -> None:
    st.session_state["gen_prompt"] = drop_unknown(st.session_state.get("gen_prompt", ""), chars)


st.title("Generate, one token at a time")
st.markdown(
    "Generation is a loop: the model gives a probability to **every** possible next token, one is "
    "picked, appended to the text, and the loop runs again, until a stop token or a length limit. "
    f"Here the loop runs on the **current model** (*{entry.name}*, {tokenizer.kind} tokens, vocabulary "
    f"{vocab:,}) one step per click, with the probabilities of each step in view."
)

prompt = st.text_area("Prompt", value="ROMEO:\n", key="gen_prompt", max_chars=5000, height=80)
c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
c1.number_input("Max new tokens", min_value=1, max_value=2000, value=200, step=10, key="gen_max_new", help="Generation stops after this many new tokens.")
seed = int(c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="gen_seed", help="Same seed and same settings: same text."))
c3.select_slider("Play pace (tokens per second)", options=[1, 2, 5, 10, 20], value=5, key="gen_pace")
use_cache = c4.toggle("KV cache", value=True, key="gen_use_cache", help="Reuse the keys and values of earlier tokens (see the KV cache section below). The text is the same either way.")

s1, s2, s3 = st.columns(3)
temperature = s1.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="gen_temperature", help="0 = greedy: always the most likely token. Below 1 sharpens the distribution, above 1 flattens it.")
s2.slider("Top-k (0 = off)", 0, min(vocab, 100), 0, 1, key=TOP_K_KEY, help="Keep only the k most likely tokens.")
s3.slider("Top-p (1 = off)", 0.05, 1.0, 0.9, 0.05, key="gen_top_p", help="Keep the most likely tokens until their probabilities add up to p.")
shaping = current_shaping()
if temperature == 0:
    s1.caption("Greedy: the most likely token every time; the random draw no longer matters.")

# --- the prompt, checked ---
prompt_ids = None
try:
    prompt_ids, start_note = start_ids(tokenizer, prompt)
    if start_note:
        st.info(start_note + " A newline is the start of a line: a neutral place to begin. Type a prompt to steer it.")
except UnknownCharacterError as exc:
    st.warning(f"This model cannot read the prompt: {exc}")
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
    session.use_cache = use_cache
    action = st.session_state.pop("gen_action", None)
    if action == ("step", len(session.history)) and can_step(session):
        session.step(shaping)
else:
    st.session_state["gen_playing"] = False
if not can_step(session):
    st.session_state["gen_playing"] = False
playing = bool(st.session_state.get("gen_playing", False))

if session is not None and session.prompt_length + max_new() > block:
    if session.prompt_length > block:
        st.info(
            f"The prompt alone is {session.prompt_length} tokens, more than the model's context of {block}: the model sees only "
            f"its last part. As the text grows, the window slides forward by half a context ({half} tokens) at a time; "
            "faded text below is what the model no longer sees at the step shown."
        )
    else:
        st.info(
            f"Prompt + max new tokens = {session.prompt_length + max_new()} tokens, more than the model's context of {block}. "
            f"When the text outgrows it, the window slides forward by half a context ({half} tokens): the model then sees only "
            f"the last {half} to {block} tokens. Faded text below is outside the window at the step shown."
        )

b1, b2, b3, _ = st.columns([1, 1, 1, 5])
tokens_now = len(session.history) if session is not None else 0
b1.button("Step", key="gen_step", on_click=on_step, args=(tokens_now,), disabled=playing or not can_step(session), help="Add one token.", width="stretch")
b2.button("Pause" if playing else "Play", key="gen_play", on_click=on_play, args=(not playing,), disabled=session is None or (not playing and not can_step(session)), width="stretch")
b3.button("Reset", key="gen_reset", on_click=on_reset, disabled=session is None, help="Back to the prompt; the same seed replays the same text.", width="stretch")


def step_hover(session: GenerationSession, index: int) -> str:
    s = session.history[index]
    others = ", ".join(f"{label(c.token_id)!r} {c.raw_prob:.0%}" for c in s.candidates[:5])
    return (
        f"step {index + 1}: {label(s.token_id)!r}, probability {s.raw_prob:.1%} "
        f"(sampled at {s.prob:.1%} after temperature/top-k/top-p)\nmost likely: {others}"
    )


def text_pieces(session: GenerationSession, shown: int, context_start: int, ghost: int | None) -> list[Piece]:
    pieces = []
    plen = session.prompt_length
    # The prompt in grey, grouped into two spans: outside and inside the window.
    split = min(context_start, plen)
    if split:
        pieces.append(Piece(tokenizer.decode(session.ids[:split]), faded=True))
    if plen > split:
        pieces.append(Piece(tokenizer.decode(session.ids[split:plen])))
    for i, s in enumerate(session.history):
        pieces.append(Piece(tokenizer.token_text(s.token_id), s.raw_prob, step_hover(session, i), faded=plen + i < context_start, selected=i == shown))
    if ghost is not None:
        pieces.append(Piece(tokenizer.token_text(ghost), None, "the next token, if you press Step now", ghost=True))
    return pieces


def chart_spec(view, title: str) -> dict:
    """A plotly figure as a dict (built directly: ~10x cheaper than the graph_objects helpers)."""
    rows = view.rows
    xs = list(range(len(rows)))
    names = [html.escape(label(r.token_id)) for r in rows]
    ticks = []
    for r, name in zip(rows, names):
        shown = name if r.rank < TOP_N else f"{name} (#{r.rank + 1})"
        ticks.append(f"<span style='color:#9ca3af'>{shown}</span>" if r.cut_by else f"<b>{shown}</b>" if r.chosen else shown)
    custom = [[name, r.raw_prob, r.prob, r.cut_by or "kept", r.running_total] for r, name in zip(rows, names)]
    hover = "%{customdata[0]}<br>raw %{customdata[1]:.2%}<br>shaped %{customdata[2]:.2%} (%{customdata[3]})<extra></extra>"
    data = [
        dict(
            type="bar", x=xs, y=[r.raw_prob for r in rows], name="raw (temperature 1)", customdata=custom, hovertemplate=hover,
            marker=dict(color=["#e5e7eb" if r.cut_by else "#93c5fd" for r in rows], line=dict(color=["#1d4ed8" if r.chosen else "rgba(0,0,0,0)" for r in rows], width=2)),
        ),
        dict(
            type="bar", x=xs, y=[r.prob for r in rows], name="shaped (sampled from)", customdata=custom, hovertemplate=hover,
            marker=dict(color=["#b91c1c" if r.chosen else "#f97316" for r in rows]),
        ),
        dict(
            type="scatter", mode="lines+markers", x=xs, y=[r.running_total for r in rows], yaxis="y2", name="running total (what top-p reads)",
            line=dict(color="#6b7280", width=1.5), marker=dict(size=5, color=["#d1d5db" if r.cut_by else "#6b7280" for r in rows]),
            hovertemplate="running total %{y:.1%}<extra></extra>",
        ),
    ]
    shapes, annotations = [], []
    if view.shaping.top_p and view.shaping.temperature:
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y2", y0=view.shaping.top_p, y1=view.shaping.top_p, line=dict(color="#6b7280", dash="dash", width=1)))
        annotations.append(dict(xref="paper", x=1, yref="y2", y=view.shaping.top_p, text=f"top-p {view.shaping.top_p:.2f}", showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=11, color="#4b5563")))
    chosen_x = next(i for i, r in enumerate(rows) if r.chosen)
    annotations.append(dict(x=chosen_x, y=max(rows[chosen_x].prob, rows[chosen_x].raw_prob), text="picked", showarrow=True, arrowhead=2, ay=-28, font=dict(color="#b91c1c")))
    top = max(max(r.prob for r in rows), max(r.raw_prob for r in rows))
    layout = dict(
        title=dict(text=title, font=dict(size=14)), barmode="group", height=380, margin=dict(t=50, b=40, l=50, r=60),
        xaxis=dict(tickvals=xs, ticktext=ticks, tickfont=dict(family="monospace", size=13)),
        yaxis=dict(title=dict(text="probability"), tickformat=".0%", range=[0, min(1.0, top * 1.18) + 0.01]),
        yaxis2=dict(overlaying="y", side="right", range=[0, 1.05], tickvals=[0, 0.25, 0.5, 0.75, 1], tickformat=".0%", showgrid=False, title=dict(text="running total")),
        legend=dict(orientation="h", y=-0.14), shapes=shapes, annotations=annotations,
    )
    return dict(data=data, layout=layout)


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
        if not can_step(session):
            st.session_state["gen_playing"] = False
            st.rerun()  # redraw the buttons (Play instead of Pause)

    n = len(session.history)
    status = f"**{n}** of {max_new()} new tokens · the model has run **{session.model_calls}** time{'s' if session.model_calls != 1 else ''} in this session"
    if session.stopped:
        status += " · stopped: the model produced its stop token"
    elif n >= max_new():
        status += " · reached the max length (raise it to go on)"
    st.markdown(status)

    shown = n  # index of the step shown: n means the next token, not yet chosen
    slider_key = f"gen_show_{st.session_state['gen_session_serial']}_{n}"
    if n:
        shown = int(st.session_state.get(slider_key, n + 1)) - 1
    if shown == n:
        pending = session.pending
        view = step_view(pending.logits, current_shaping(), pending.draw, TOP_N)
        context_start, context_length = pending.context_start, pending.context_length
        ghost = view.chosen_id if can_step(session) else None
        title = f"Step {n + 1}: the next token. " + (f"Step will pick {label(view.chosen_id)!r}" if can_step(session) else f"the draw would pick {label(view.chosen_id)!r}")
    else:
        past = session.history[shown]
        view = step_view(past.logits, past.shaping, past.draw, TOP_N) if past.logits is not None else None
        context_start, context_length = past.context_start, past.context_length
        ghost = None
        title = f"Step {shown + 1}: picked {label(past.token_id)!r} (temperature {past.shaping.temperature:g}, top-k {past.shaping.top_k or 'off'}, top-p {past.shaping.top_p or 'off'})"

    st.markdown(prob_text_html(text_pieces(session, shown, context_start, ghost)), unsafe_allow_html=True)
    st.markdown(legend_html(), unsafe_allow_html=True)
    st.caption(
        "Colour: the model's probability (at temperature 1) for each token it produced; red tokens are ones it found "
        "unlikely, where a small model tends to go astray. Hover a token for its probability and the alternatives; "
        "pick a step with the slider for its whole distribution. The dashed box is the next token."
    )
    if n:
        st.slider(f"Step shown ({n + 1} = the next token)", 1, n + 1, n + 1, key=slider_key)

    if view is None:
        st.info("This early step's full distribution is no longer kept (memory limit for large vocabularies); hover its token for its top candidates.")
    else:
        left, right = st.columns([3, 1])
        with left:
            st.plotly_chart(chart_spec(view, title), key="gen_chart", config={"displayModeBar": False})
        with right:
            st.metric("Entropy, raw", f"{view.raw_entropy:.2f} nats", help="0 = certain; ln V = a uniform guess over the vocabulary.")
            st.metric("Entropy, shaped", f"{view.entropy:.2f} nats", delta=f"{view.entropy - view.raw_entropy:+.2f}", delta_color="off")
            st.caption(
                f"As uncertain as a fair choice among **{math.exp(view.raw_entropy):.1f}** tokens (raw) or "
                f"**{math.exp(view.entropy):.1f}** (shaped). {view.kept:,} of {view.vocab_size:,} tokens can be picked."
            )
            if view.shaping.temperature:
                st.caption(
                    f"The random draw was **{view.draw:.3f}**: walking down the shaped bars from the most likely, the running "
                    f"total first passes it at {label(view.chosen_id)!r} (rank {view.chosen_rank + 1})."
                )
            else:
                st.caption("Greedy: the most likely token wins; the random draw is not used.")
            st.caption(f"The model saw tokens {context_start + 1}–{context_start + context_length} ({context_length} of its context of {block}).")
        if shown == n:
            st.caption("Move the sliders: the shaped bars change at once, from this step's stored logits, without running the model again.")
        else:
            st.caption("A past step, with the settings it was sampled with. The sliders act on the next token.")
    st.session_state["gen_fragment_ms"] = 1000 * (time.perf_counter() - fragment_started)


if session is not None:
    live_view()

# --- greedy vs sampling ---
st.header("Greedy or sampled?")
st.markdown(
    "**Why greedy loops.** Greedy decoding always takes the most likely token, so each choice is a fixed "
    "function of the text the model sees. Once a phrase comes back, the context that produced it comes back "
    "too, the same choices follow, and nothing random is there to break the cycle.\n\n"
    "**Why temperature adds variety.** Sampling draws from the whole distribution, so a less likely token "
    "is sometimes picked and the text moves somewhere new. Temperature divides the logits before the softmax: "
    "below 1 it sharpens the distribution towards greedy, above 1 it flattens it so rarer tokens come up more "
    "often: more variety and, too hot, nonsense. Top-k and top-p cut the unlikely tail to keep the variety sensible."
)
compare_n = min(max_new(), 300)
if session is not None:
    st.button(f"Generate {compare_n} tokens both ways", key="gen_compare_btn", on_click=lambda: st.session_state.update(gen_compare_request=True))
    compare_key = (st.session_state.get("gen_session_key"), shaping, compare_n)
    if st.session_state.pop("gen_compare_request", False):
        runs = {}
        for name, s in (("greedy", Shaping(0)), ("sampled", shaping)):
            steps = generate(model, session.ids[: session.prompt_length], compare_n, s.temperature, s.top_k, s.top_p, seed=seed, stop_ids=stop_ids, top_n=5, keep_logits=False)
            runs[name] = [(step.token_id, step.raw_prob, [(c.token_id, c.raw_prob) for c in step.candidates]) for step in steps]
        st.session_state["gen_compare"] = (compare_key, runs)
    stored = st.session_state.get("gen_compare")
    if stored is not None:
        made_with, runs = stored
        if made_with != compare_key:
            st.caption("Made with other settings or another prompt than the current ones; press the button again to update.")
        cols = st.columns(2)
        for col, (name, run) in zip(cols, runs.items()):
            ids = [t for t, _, _ in run]
            period, covered = trailing_loop(ids)
            with col:
                s = Shaping(0) if name == "greedy" else made_with[1]
                st.subheader("Greedy (temperature 0)" if name == "greedy" else f"Sampled (temperature {s.temperature:g}, top-k {s.top_k or 'off'}, top-p {s.top_p or 'off'}, seed {seed})")
                pieces = [Piece(tokenizer.decode(session.ids[: session.prompt_length]))]
                for i, (t, p, cands) in enumerate(run):
                    others = ", ".join(f"{label(c)!r} {q:.0%}" for c, q in cands)
                    pieces.append(Piece(tokenizer.token_text(t), p, f"{label(t)!r} {p:.1%}\nmost likely: {others}"))
                st.markdown(prob_text_html(pieces), unsafe_allow_html=True)
                loop = f"ends in a loop: the last {covered} tokens repeat a {period}-token cycle" if period else "does not end in a loop"
                avg = sum(p for _, p, _ in run) / max(1, len(run))
                st.caption(f"Distinct 4-token sequences: **{distinct_ngrams(ids):.0%}** · {loop} · average probability {avg:.0%}")

# --- the KV cache ---
st.header("The KV cache")
st.markdown(
    "To score the next token, attention needs the keys and values of every visible token in every layer. "
    "**Without a cache** the model recomputes them all for each new token, so each token costs a pass over the "
    "whole window. **With the KV cache** it keeps them and computes only the new token's: one token through the "
    "network per step. When the text outgrows the context window, the window slides by half a context and the "
    "cache is refilled once for the tokens still visible. The toggle above switches it for the steps you take; "
    "the text is the same either way."
)
if session is not None:
    last_ms = session.pending.model_ms
    st.caption(f"The last model call of this session took {last_ms:.1f} ms ({'with' if session.use_cache else 'without'} the cache).")
    if st.button(f"Measure at the current length ({len(session.ids)} tokens)", key="gen_measure"):
        st.session_state["gen_cost"] = (len(session.ids), ms_per_token(model, session.ids))
    measured = st.session_state.get("gen_cost")
    if measured is not None:
        length, cost = measured
        m1, m2, m3 = st.columns(3)
        m1.metric("With the cache", f"{cost.cached_ms:.2f} ms/token")
        m2.metric("Without the cache", f"{cost.uncached_ms:.2f} ms/token")
        m3.metric("Speed-up", f"{cost.uncached_ms / cost.cached_ms:.1f}x")
        st.caption(
            f"Measured at {length} tokens: the model looks at {cost.context_tokens} of them (median of 7 runs; other users on "
            f"this server make timings noisy). With the cache, each slide of the window costs a refill of {cost.refill_ms:.1f} ms "
            f"every {cost.refill_every} tokens."
        )

st.session_state["gen_script_ms"] = 1000 * (time.perf_counter() - script_started)
