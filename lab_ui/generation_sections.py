"""The Generate chapter's sections after the step-by-step loop, and its "Predict, then see" checkpoints:
temperature 0.3 and the favourite's probability; whether greedy decoding repeats itself (both asked at
the top of the page, before the step-by-step loop, whose greedy settings would answer the second);
in-context (few-shot) learning measured on the current model; and in the details, one pass over a
window against writing one token at a time (why training reads a whole window at once: measured
ONE_PASS_RUNS times, since one timing on a busy server can land in any band).

Every reveal and every sentence of outcome is computed from the current model when it is shown
(measurements are kept for this user per model and prompt, so a rerun does not re-time them).
The maths is in llm_core.generation (stepper, in_context, parallel); the page keeps the story.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from lab_ui import charts, palette, predict, state
from lab_ui import generation_view as gv
from lab_ui.attention_view import model_fingerprint, training_text
from lab_ui.chips import literal
from lab_ui.widgets import text_block
from llm_core import literature
from llm_core.generation.in_context import QUESTIONS, SEPARATOR, TASKS, examples_for, few_shot_curve, few_shot_prompt, readable
from llm_core.generation.parallel import measure_parallel
from llm_core.generation.sample import Shaping
from llm_core.generation.stepper import longest_repeat, ms_per_token, temperature_effect

COOL = 0.3  # the temperature the first prediction asks about
TEMPERATURE_KEY = "generation_temperature"  # its key: until it is locked the page does not show what temperature does
MEASURED_KEY = "gen_measured"  # session state: {(what, model, inputs): result}


def forget(what: str) -> None:
    """Drop this user's kept measurement of a kind, so it is made again."""
    store = st.session_state.get(MEASURED_KEY, {})
    for old in [k for k in store if k[0] == what]:
        store.pop(old)


def measured(what: str, entry, inputs: tuple, compute):
    """`compute()` once per (what, model, inputs) for this user; a model changed in place is measured again."""
    store = st.session_state.setdefault(MEASURED_KEY, {})
    key = (what, model_fingerprint(entry), inputs)
    if key not in store:
        forget(what)  # keep one result of each kind
        store[key] = compute()
    return store[key]


def name_of(tokenizer, token_id: int) -> str:
    return literal(repr(gv.label(tokenizer, token_id)))


# ---- the stepped text, kept on the desk ------------------------------------------------------------------

STEPS_KEY = "generation_steps"  # desk().data: {"key": [model name, created, prompt, seed], "steps": [[t, k, p, token id], ...]}


def _desk_key(session_key: tuple) -> list:
    return [str(x) if not isinstance(x, (int, float, str)) else x for x in session_key]


def keep_steps(session_key: tuple, session) -> None:
    """Write the settings and token of every step taken on the learner's desk (JSON), so a reload or a second tab
    finds the same text (lab_ui.state keeps the desk's data on disk)."""
    steps = [[s.shaping.temperature, s.shaping.top_k, s.shaping.top_p, int(s.token_id)] for s in session.history]
    state.desk().data[STEPS_KEY] = {"key": _desk_key(session_key), "steps": steps}


def forget_steps() -> None:
    """Reset: the desk keeps no stepped text."""
    state.desk().data.pop(STEPS_KEY, None)


def restore_steps(session_key: tuple, session, limit: int) -> int:
    """Take again, in a new session, the steps kept on the desk for the same model, prompt and seed: the same seed
    draws the same numbers, so the same settings pick the same tokens. Stops at the first token that differs
    (a model changed in place). Returns how many steps were restored."""
    kept = state.desk().data.get(STEPS_KEY)
    if not isinstance(kept, dict) or kept.get("key") != _desk_key(session_key):
        return 0
    for t, k, p, token_id in kept.get("steps", [])[:limit]:
        if session.stopped or session.preview(Shaping(t, k, p)).token_id != token_id:
            break
        session.step(Shaping(t, k, p))
    return len(session.history)


# ---- temperature ------------------------------------------------------------------------------------

def temperature_help() -> str:
    """The Temperature slider's help: what it does to the odds only once the temperature prediction is locked."""
    told = predict.made(TEMPERATURE_KEY) is not None
    return "0 = greedy: the most likely token." + (" Below 1 sharpens the odds, above 1 flattens them." if told else "")


def temperature_prediction(tokenizer, session) -> None:
    options = {"up": "it goes up", "down": "it goes down", "same": "it stays the same"}

    def reveal(guess: str) -> predict.Reveal | None:
        if session is None:
            return None
        e = temperature_effect(session.pending.logits, COOL)
        change = e.tempered_prob - e.raw_prob
        outcome = "up" if change > 5e-4 else "down" if change < -5e-4 else "same"
        answer = (f"The favourite, {name_of(tokenizer, e.token_id)}, has **{e.raw_prob:.1%}** at temperature 1 and "
                  f"**{e.tempered_prob:.1%}** at temperature {COOL:g}.")
        if outcome == "same":
            why = f"It already had almost all the probability, so there was nothing left to gain (lead over the runner-up: {e.gap:.2f})."
        else:
            why = (f"Dividing the scores (logits) by {COOL:g} turns the favourite's lead over the runner-up, {e.gap:.2f}, into "
                   f"{e.gap / COOL:.2f}, and softmax turns a bigger lead into a bigger share: below 1, temperature sharpens the odds.")
        return predict.Reveal(answer, guess == outcome, why)

    predict.checkpoint(
        "generation_temperature",  # TEMPERATURE_KEY, written out: tests/test_course.py reads the keys from the calls
        "Temperature divides the model's scores before they become probabilities. For the next token after your prompt, "
        f"what happens to the favourite's probability at temperature {COOL:g} instead of 1?",
        predict.choice(list(options), format_func=options.get),
        reveal,
        pending="Type a prompt the model can read: the answer comes from its next token.",
    )


# ---- greedy or sampled ---------------------------------------------------------------------------------

def _greedy_run(entry, prompt_ids: list[int], n: int, seed: int, stop_ids: list[int]) -> list:
    """Greedy ignores the seed and the sliders: one run per prompt and length, kept for this user."""
    return measured("greedy", entry, (tuple(prompt_ids), n, tuple(stop_ids)),
                    lambda: gv.one_run(entry.model, prompt_ids, n, Shaping(0), seed, stop_ids))


def greedy_prediction(entry, session, seed: int, stop_ids: list[int], n: int, unit: str) -> None:
    """Does greedy decoding repeat itself? Asked at the top of the page, before the step-by-step loop, whose
    Temperature 0 (or top-k 1) is greedy decoding and would show the answer."""
    tokenizer = entry.tokenizer
    units = f"{unit}s"
    prompt_ids = session.ids[: session.prompt_length] if session is not None else None

    def reveal(guess: str) -> predict.Reveal | None:
        if prompt_ids is None:
            return None
        ids = [t for t, _, _ in _greedy_run(entry, prompt_ids, n, seed, stop_ids)]
        words, repeated = gv.loop_words(ids, tokenizer, unit)
        rep = longest_repeat(ids)
        if repeated:
            why = ("Greedy always takes the most likely token, so what it writes next is fixed by the text it sees: once a "
                   "stretch comes back, the same choices can follow again, and nothing random breaks the cycle.")
        else:
            why = (f"On this prompt the most likely continuation kept changing within {len(ids)} {units} (longest repeat "
                   f"{rep.length if rep else 0}); greedy still writes exactly this text every time.")
        return predict.Reveal(f"{'Yes' if repeated else 'No'}: {words}.", (guess == "yes") == repeated, why)

    predict.checkpoint(
        "generation_greedy_loop",
        f"Greedy decoding (temperature 0) writes {n} {units} from your prompt, always taking the most likely one. Will it "
        f"write some stretch of at least {gv.REPEAT_MIN} {units} twice (repeat itself)?",
        predict.choice(["yes", "no"], format_func=lambda g: {"yes": "yes, it repeats itself", "no": "no"}[g]),
        reveal,
        pending="Type a prompt the model can read: greedy decoding starts from it.",
    )


def greedy_waits(shaping: Shaping) -> str | None:
    """Under the sliders: settings that are greedy while the greedy prediction is open point to it first."""
    if sampling_shaping(shaping) == shaping or predict.made("generation_greedy_loop"):
        return None
    return ("Whether greedy decoding repeats itself is the second prediction at the top of the page: lock in your guess "
            "there before you play these settings.")


def greedy_section(entry, session, shaping: Shaping, seed: int, stop_ids: list[int], n: int, unit: str) -> None:
    """Greedy beside sampled, once the greedy prediction (at the top of the page) is locked."""
    model, tokenizer = entry.model, entry.tokenizer
    units = f"{unit}s"
    prompt_ids = session.ids[: session.prompt_length] if session is not None else None
    if session is None:
        st.markdown(f"Type a prompt this model can read (the message at the top of the page says what it cannot): greedy's {n} {units} "
                    "and a sampled text then show here, side by side.")
        return
    if not predict.made("generation_greedy_loop"):
        st.markdown(f"Greedy's {n} {units} and a sampled text, side by side, show here once your guess at the top of the page "
                    "(does greedy decoding repeat itself?) is locked in.")
        return
    sampled_with = sampling_shaping(shaping)
    compare_key = (st.session_state.get("gen_session_key"), sampled_with, n)
    if st.session_state.get("gen_compare") is None or st.session_state.pop("gen_compare_request", False):
        runs = {"greedy": _greedy_run(entry, prompt_ids, n, seed, stop_ids), "sampled": gv.one_run(model, prompt_ids, n, sampled_with, seed, stop_ids)}
        st.session_state["gen_compare"] = (compare_key, runs)
    if predict.made(TEMPERATURE_KEY):
        what = ("**What temperature does.** Sampling draws from the shaped probabilities, so a less likely token is sometimes "
                "picked. Temperature divides the scores before the softmax: below 1 it sharpens them towards greedy, above 1 it "
                "flattens them so rarer tokens come up more often. Top-k and top-p cut the unlikely tail.")
    else:  # what temperature does is the page's first prediction: not answered here before it is locked
        what = ("**Sampling.** Sampling draws from the shaped probabilities, so a less likely token is sometimes picked. "
                "Top-k and top-p cut the unlikely tail; what temperature does is the first prediction at the top of the page.")
    if sampled_with == shaping:
        what += " Below, greedy and your settings each write the same length from your prompt."
    else:
        what += (f" Your settings are greedy ({greedy_because(shaping)}): sampled with them, the text would be greedy's "
                 f"again, with nothing to compare. So the sampled side below uses temperature {sampled_with.temperature:g}"
                 f"{', top-k off' if shaping.top_k == 1 else ''}, with your seed.")
    st.markdown(what)
    st.button(f"Generate {n} {units} both ways again, with the current settings", key="gen_compare_btn",
              on_click=lambda: st.session_state.update(gen_compare_request=True))
    gv.show_comparison(tokenizer, prompt_ids, *st.session_state["gen_compare"], compare_key, seed, unit)


def greedy_because(shaping: Shaping) -> str:
    """Why these settings always take the most likely token, in words."""
    return "temperature 0" if shaping.temperature == 0 else "top-k 1 keeps only the most likely token"


def sampling_shaping(shaping: Shaping) -> Shaping:
    """The settings the comparison samples with: the slider's, unless they are greedy (temperature 0 or top-k 1), which
    would compare greedy with itself; then temperature 1 (and top-k off), top-p as set.

    >>> sampling_shaping(Shaping(0.0, None, 0.9)), sampling_shaping(Shaping(0.8, 1, None)), sampling_shaping(Shaping(0.8, 5, 0.9))
    (Shaping(temperature=1.0, top_k=None, top_p=0.9), Shaping(temperature=1.0, top_k=None, top_p=None), Shaping(temperature=0.8, top_k=5, top_p=0.9))
    """
    if shaping.temperature == 0 or shaping.top_k == 1:
        return Shaping(1.0, None, shaping.top_p)
    return shaping


# ---- in-context learning ---------------------------------------------------------------------------------

BANDS = {"lot": "it rises a lot (at least doubles)", "little": "it rises a little", "none": "it stays about the same, or falls"}


def band(gain: float) -> str:
    """Which of BANDS a gain (probability with examples / without) falls in.

    >>> [band(g) for g in (3.0, 1.4, 1.02, 0.5)]
    ['lot', 'little', 'none', 'none']
    """
    return "lot" if gain >= 2 else "little" if gain >= 1.1 else "none"


def in_context_section(entry, unit: str) -> None:
    st.markdown(
        "A large model can often do a new task from a few worked examples written into its prompt, with no training at "
        f"all: few-shot, or in-context, learning ({literature.cite('brown2020')}). Asked with no examples it is zero-shot. "
        "Does this model do it? Measured below on the current model: the same questions, with and without examples."
    )
    model, tokenizer = entry.model, entry.tokenizer
    usable = [k for k, t in TASKS.items() if readable(tokenizer, t)]
    if not usable:
        st.info("This model's tokenizer cannot write the task's words, so there is nothing to measure here.")
        return
    task_key = st.radio("The task", usable, format_func=lambda k: f"{TASKS[k].name} (king{SEPARATOR}{TASKS[k].answer('king')})",
                        horizontal=True, key="gen_icl_task")
    task = TASKS[task_key]
    shown = few_shot_prompt(task, "king", examples_for("king", 2, seed=0))
    st.caption("A question with two worked examples before it, as the model reads it (it should continue with the answer):")
    text_block(shown)

    def curve():
        return measured("few-shot", entry, (task_key,), lambda: few_shot_curve(model, tokenizer, task_key))

    def reveal(guess: str) -> predict.Reveal:
        c = curve()
        g = c.gain
        answer = (f"The right answer's first {unit} has **{c.zero.first_prob:.1%}** with no examples and **{c.most.first_prob:.1%}** "
                  f"with {c.most.shots} (averaged over {len(c.zero.questions)} questions). Greedy decoding would write the whole answer "
                  f"for {c.zero.exact} of {len(c.zero.questions)} questions without examples and {c.most.exact} with {c.most.shots}.")
        if c.zero.first_prob == 0:
            why = f"With no examples the right first {unit} had practically no chance; with {c.most.shots} it has {c.most.first_prob:.1%}."
        elif band(g) == "none":
            why = (f"The examples did not help: this model does not pick the task up from its prompt. It learned to continue "
                   f"the text it was trained on, {training_text(entry.record)}, and with {model.num_params():,} parameters "
                   "it does nothing more with a few examples.")
        else:
            why = f"The examples made the right first {unit} {g:.1f} times likelier: the model used the pattern in its prompt."
        return predict.Reveal(answer, guess == band(g), why)

    predict.checkpoint(
        "generation_few_shot",
        f"The model is asked {QUESTIONS} such questions, first alone (zero-shot), then with 1, 2 and 4 worked examples before each "
        f"(few-shot). With the most examples, what happens to the probability of the right answer's first {unit}?",
        predict.choice(list(BANDS), format_func=BANDS.get, horizontal=False),
        reveal,
    )
    if not predict.made("generation_few_shot"):
        return
    c = curve()
    chance = 1 / c.vocab_size
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p.shots for p in c.points], y=[p.first_prob for p in c.points], mode="lines+markers",
                             name=f"right first {unit}", line=dict(color=palette.BLUE), marker=dict(symbol="circle", size=9)))
    fig.add_hline(y=chance, line=dict(color=palette.GREY, dash="dash"), annotation_text=f"a random pick: 1 in {c.vocab_size}",
                  annotation_font_color=palette.MUTED)
    fig.update_layout(title=f"Probability of the right answer's first {unit}, by examples in the prompt",
                      xaxis=dict(title="worked examples in the prompt", tickvals=[p.shots for p in c.points]),
                      yaxis=dict(title=f"probability (averaged over {len(c.zero.questions)} questions)", rangemode="tozero"),
                      height=360, margin=dict(l=10, r=10, t=50, b=10))
    gpt3 = literature.value("gpt3_params")
    params = model.num_params()
    change = ("about the same." if band(c.gain) == "none" else "up from practically nothing." if math.isinf(c.gain)
              else f"{c.gain:.1f} times likelier.")
    caption = (f"From {c.zero.first_prob:.1%} with no examples to {c.most.first_prob:.1%} with {c.most.shots}: " + change
               + (f" Prompts with {', '.join(map(str, c.skipped_shots))} examples did not fit the context window." if c.skipped_shots else ""))
    charts.chart(fig, key="gen_icl_chart", caption=caption, table=[
        {"examples": p.shots, f"right first {unit} (mean probability)": f"{p.first_prob:.4f}",
         "whole right answer (mean probability)": f"{p.answer_prob:.2e}", "greedy wrote the answer": f"{p.exact} of {len(p.questions)}"}
        for p in c.points])
    lesson = (f"This model has {params:,} parameters; GPT-3 has {gpt3:,.0f} ({literature.cite('gpt3_params')}), "
              f"{gpt3 / params:,.0f} times more. {literature.cite('brown2020')} found that larger models make increasingly "
              "efficient use of examples in the prompt (their Figure 1.2): learning from a few examples is something models "
              "acquire with scale, not something every language model does.")
    if band(c.gain) == "none":
        st.markdown(f"**Why measure a model that cannot do it?** Because that is the lesson. {lesson}")
    else:
        st.markdown(f"**Even this small model used its examples.** {lesson}")


# ---- the details: the KV cache ----------------------------------------------------------------------------

def kv_cache_section(model, session) -> None:
    st.markdown(
        "To score the next token, attention needs the keys and values of every visible token in every layer. "
        "**Without a cache** the model recomputes them all for each new token, so each token costs a pass over the "
        "whole window. **With the KV (key-value) cache** it keeps them and computes only the new token's: one token through "
        "the network per step. When the text outgrows the context window, the window slides by half a context and the "
        "cache is refilled once for the tokens still visible. The toggle above switches it for the steps you take; "
        "the text is the same either way."
    )
    if session is None:
        return
    st.caption(f"The last model call of this session took {session.pending.model_ms:.1f} ms "
               f"({'with' if session.use_cache else 'without'} the cache).")
    if st.button(f"Measure at the current length ({len(session.ids)} tokens)", key="gen_measure"):
        st.session_state["gen_cost"] = (len(session.ids), ms_per_token(model, session.ids, repeats=gv.KV_REPEATS), gv.KV_REPEATS)
    if st.session_state.get("gen_cost") is not None:
        gv.show_kv_cost(*st.session_state["gen_cost"])


# ---- the details: one pass against one token at a time ---------------------------------------------------------

SPEED_BANDS = {"same": "about the same (under 2 times)", "few": "2 to 10 times faster", "tens": "10 to 100 times faster",
               "hundreds": "more than 100 times faster"}


def speed_band(ratio: float) -> str:
    """Which of SPEED_BANDS a speed ratio falls in.

    >>> [speed_band(r) for r in (1.5, 7, 40, 300)]
    ['same', 'few', 'tens', 'hundreds']
    """
    return "same" if ratio < 2 else "few" if ratio < 10 else "tens" if ratio < 100 else "hundreds"


# On a busy 2-core server one measurement of the ratio can land in any band (five in a row gave 2.3, 2.8, 4.1, 5.6
# and 29.4): the question is measured this many times, the middle result is shown, and a guess is right when its band
# holds any of the middle results (the fastest and the slowest left out).
ONE_PASS_RUNS = 5


def speed_ratio(cost) -> float:
    """How many times more a prediction costs written one at a time with the KV cache than in the single pass."""
    return cost.cached.ms_per_prediction / cost.one_pass.ms_per_prediction


def ratio_spread(ratios: list[float]) -> tuple[float, float, float]:
    """The middle ratio, and the lowest and highest once the fastest and the slowest are left out (from 5 on).

    >>> ratio_spread([2.3, 29.4, 4.1, 2.8, 5.6]), ratio_spread([3.0])
    ((4.1, 2.8, 5.6), (3.0, 3.0, 3.0))
    """
    r = sorted(ratios)
    middle = r[1:-1] if len(r) >= 5 else r
    return r[len(r) // 2], middle[0], middle[-1]


def bands_between(low: float, high: float) -> list[str]:
    """The SPEED_BANDS a range of ratios reaches into.

    >>> bands_between(2.8, 5.6), bands_between(1.6, 2.3), bands_between(50, 500)
    (['few'], ['same', 'few'], ['tens', 'hundreds'])
    """
    keys = list(SPEED_BANDS)
    return keys[keys.index(speed_band(low)): keys.index(speed_band(high)) + 1]


def times(ratio: float) -> str:
    """A ratio as the page prints it: one decimal below 10, whole numbers above.

    >>> [times(r) for r in (1.64, 9.96, 29.4, 1234.5)]
    ['1.6', '10', '29', '1,234']
    """
    return f"{ratio:.1f}" if round(ratio, 1) < 10 else f"{ratio:,.0f}"


def one_pass_section(entry, session, unit: str) -> None:
    st.markdown(
        f"Writing must go one {unit} at a time: each new {unit} needs the one before it. Training does not: its text is "
        f"all there, so one run of the model over a window (a forward pass) predicts the next {unit} at **every** position at once (the "
        "causal mask of the Attention chapter keeps each position from seeing the ones after it). Both are measured below "
        "on the current model."
    )
    model, tokenizer = entry.model, entry.tokenizer
    units = f"{unit}s"
    prompt_ids = session.ids[: session.prompt_length] if session is not None else None
    window = min(model.config.block_size, 128)

    def costs() -> list:
        def measure():
            with st.spinner(f"Timing each way {ONE_PASS_RUNS} times on the current model…"):
                return [measure_parallel(model, prompt_ids) for _ in range(ONE_PASS_RUNS)]
        return measured("one-pass", entry, (tuple(prompt_ids),), measure)

    def middle_run():
        """The measurement with the middle ratio (the one the reveal and the chart show), and the spread of all of them."""
        runs = costs()
        ratios = [speed_ratio(c) for c in runs]
        median, low, high = ratio_spread(ratios)
        return runs[ratios.index(median)], median, low, high

    def reveal(guess: str) -> predict.Reveal | None:
        if prompt_ids is None:
            return None
        c, ratio, low, high = middle_run()
        spread = f"{times(low)} times" if times(low) == times(high) else f"{times(low)} to {times(high)} times"
        answer = (f"The single pass took **{c.one_pass.ms_per_prediction:.3f} ms** per prediction ({c.window} predictions from "
                  f"one run of the model); writing took **{c.cached.ms_per_prediction:.2f} ms** per {unit} with the KV cache "
                  f"({times(ratio)} times more) and {c.uncached.ms_per_prediction:.2f} ms without it. That is the middle of "
                  f"{ONE_PASS_RUNS} measurements: timings vary on a busy machine (other users share this server)"
                  + (f"; leaving out the fastest and the slowest, they gave {spread}." if ONE_PASS_RUNS >= 5 else f"; they gave {spread}."))
        reached = bands_between(low, high)
        why = (f"Each step of writing runs the whole model for one {unit}, reading every weight to use it once; the pass shares "
               f"that work across all {c.window} positions. And it makes the same predictions: its top guess matched the "
               f"{unit} written one at a time at {c.matches} of {c.generated_in_window} positions.")
        if len(reached) > 1:
            why += (" The measurements reach into " + " and ".join(f"“{SPEED_BANDS[b]}”" for b in reached)
                    + ", so a guess of either counts as right.")
        return predict.Reveal(answer, guess in reached, why)

    predict.checkpoint(
        "generation_one_pass",
        f"Training reads a window of {window} {units} in one run of the model and gets a prediction at every position. "
        f"Writing needs one run per new {unit}. Per prediction, how much faster is the single pass than writing with the KV cache?",
        predict.choice(list(SPEED_BANDS), format_func=SPEED_BANDS.get, horizontal=False),
        reveal,
        pending="Type a prompt the model can read: the text is written from it.",
    )
    if prompt_ids is None or not predict.made("generation_one_pass"):
        return
    st.button("Measure again", key="gen_one_pass_again", on_click=forget, args=("one-pass",))
    c = middle_run()[0]
    ways = c.ways()
    labels = [f"{w.name}<br>{w.predictions_per_run} prediction{'s' if w.predictions_per_run > 1 else ''} per run" for w in ways]
    fig = go.Figure(go.Bar(
        y=labels, x=[w.ms_per_prediction for w in ways], orientation="h", name="time per prediction",
        marker=dict(color=[palette.BLUE, palette.BLUE, palette.ORANGE, palette.ORANGE], pattern_shape=["", "/", "", "x"]),
        text=[f"{w.ms_per_prediction:.3g} ms" for w in ways], textposition="outside",
    ))
    low, high = min(w.ms_per_prediction for w in ways), max(w.ms_per_prediction for w in ways)
    decades = [10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    fig.update_layout(title=f"Time per predicted {unit} on this model (lower is faster)",
                      xaxis=dict(title=f"milliseconds per predicted {unit} (log scale)", type="log", tickvals=decades,
                                 ticktext=[f"{d:g} ms" for d in decades], range=[math.log10(low) - 0.3, math.log10(high) + 0.6]),
                      yaxis=dict(autorange="reversed"), height=340, margin=dict(l=10, r=10, t=50, b=10))
    charts.chart(
        fig, key="gen_one_pass_chart",
        caption=(f"The middle of {ONE_PASS_RUNS} measurements. One pass over {c.window} {units}: {c.one_pass.ms_per_prediction:.3f} ms per prediction "
                 f"({c.with_backward.ms_per_prediction:.3f} ms with the backward pass that training adds); writing {c.new_tokens} "
                 f"{units} one at a time: {c.cached.ms_per_prediction:.2f} ms each with the KV cache, "
                 f"{c.uncached.ms_per_prediction:.2f} ms without it (timed at {c.uncached_steps_timed} of the {c.new_tokens} steps)."),
        table=[{"way": w.name, "predictions per run of the model": w.predictions_per_run, "runs": w.runs,
                "total (ms)": f"{w.total_ms:.2f}", "per prediction (ms)": f"{w.ms_per_prediction:.4f}"} for w in ways],
    )
    with st.expander(f"The pass's prediction at every position ({c.window} of them)"):
        text = c.text_ids[-c.window - 1:]
        st.table([{"position": i, f"{unit} read": gv.label(tokenizer, text[i]), "pass's top guess for the next": gv.label(tokenizer, g),
                   f"the next {unit} written": gv.label(tokenizer, text[i + 1])} for i, g in enumerate(c.pass_guesses)][:40])
        st.caption(f"The first 40 of {c.window}. Generation started from the last {c.prompt_used} {units} of your prompt and wrote "
                   f"{c.new_tokens} greedily; times depend on what else this computer is doing.")
