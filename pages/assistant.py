"""Making an assistant: supervised fine-tuning, a reward model from your rankings, preference tuning."""

from functools import partial

import plotly.graph_objects as go
import streamlit as st

from lab_ui import jobs, state
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import chips_html
from llm_core.alignment.assistant import (
    PreferenceStage,
    RewardStage,
    SFTStage,
    candidate_pairs,
    compare,
    preference_config,
    rate_automatically,
    reward_config,
    sft_config,
)
from llm_core.alignment.finetune import chat_tokenizer, encode_example
from llm_core.alignment.preference import AUTO_RULE, Pair
from llm_core.alignment.tasks import (
    TASK_NAMES,
    Example,
    guess_task,
    is_correct,
    make_examples,
    pairs_from_rows,
    reference_answer,
)
from llm_core.model.config import ConfigError
from llm_core.text.tokenizers import TokenizerError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

SFT_JOB, RM_JOB, PREF_JOB = "assistant_sft", "assistant_rm", "assistant_pref"
POLL_S = 0.5
MAX_EXAMPLES = 5000

st.title("Making an assistant")
st.markdown(
    "A pre-trained model only continues text. Three steps turn it into something that answers: "
    "**supervised fine-tuning** on prompt/response pairs teaches it the format and the tasks; a **reward model** "
    "learns from people's rankings which of two answers is better; **preference tuning** moves the model toward "
    "the answers people prefer. Here each step runs live on the current model, on tasks a tiny model can learn "
    "on a CPU in a minute or two."
)

jobs.collect()
entry = state.current()
st.caption(f"Base model: **{entry.name}** ({entry.model.num_params():,} parameters, {entry.tokenizer.kind} tokenizer). Choose another in the sidebar.")


# ---------------------------------------------------------------- 1. data
st.header("1 · Instruction data")
if "as_examples" not in st.session_state:
    st.session_state.as_examples = make_examples()
examples: list[Example] = st.session_state.as_examples
counts = {TASK_NAMES[t]: sum(e.task == t for e in examples) for t in TASK_NAMES}
st.markdown(
    f"{len(examples):,} pairs made by code, in four tasks: "
    + ", ".join(f"{name} ({n:,})" for name, n in counts.items())
    + ". About a fifth of the addition, upper-case and reverse prompts are held out to test whether the model learned the skill or only the examples; "
    "facts cannot be inferred, so all are trained on."
)
with st.expander("View, edit and add pairs"):
    edited = st.data_editor(
        [{"prompt": e.prompt, "response": e.response} for e in examples],
        num_rows="dynamic",
        width="stretch",
        height=300,
        key="as_editor",
    )
    if st.button("Use these pairs", key="as_use_pairs"):
        fresh, problems = pairs_from_rows(edited, MAX_EXAMPLES)
        if fresh:
            st.session_state.as_examples = fresh
            st.success(f"Using {len(fresh):,} pairs." + (f" {problems} rows were left out (empty, or an answer that does not match its prompt)." if problems else ""))
        else:
            st.warning("No usable pairs: each needs a prompt and a response.")
    if st.button("Restore the built-in pairs", key="as_restore"):
        st.session_state.as_examples = make_examples()
        st.rerun()

try:
    chat_tok = chat_tokenizer(entry.tokenizer, ["What is 3+3?6"])  # a character model may lack digits
    demo_ids, demo_mask = encode_example(chat_tok, "What is 3+3?", "6")
    st.markdown("How one pair is rendered for the model, with special tokens. **Green tokens are learned** (the loss covers only the response); grey ones are context:")
    st.markdown(
        chips_html(
            [(chat_tok.token_text(i), "learned: in the loss" if m else "context: no loss") for i, m in zip(demo_ids, demo_mask)],
            colors=["#bbf7d0" if m else "#e5e7eb" for m in demo_mask],
        ),
        unsafe_allow_html=True,
    )
except TokenizerError:
    st.warning("The current model's tokenizer cannot take the chat tokens (the published GPT tokenizers keep their own). Pick a model trained in LLM Lab.")


def curves(records, keys: list[tuple[str, str]], title: str, height: int = 260):
    fig = go.Figure()
    for key, label in keys:
        xs, ys = [], []
        for r in records:
            value = getattr(r, key, None) if not key.startswith("extras.") else r.extras.get(key[7:])
            if value is not None:
                xs.append(r.step)
                ys.append(value)
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if len(xs) < 30 else "lines", name=label))
    fig.update_layout(title=title, height=height, margin=dict(t=40, b=30, l=40, r=10), xaxis_title="step", legend=dict(orientation="h", y=-0.25))
    return fig


def progress_line(snap):
    if snap is None:
        return
    latest = snap.latest
    if snap.status == "queued":
        st.info(jobs.describe(snap))
    elif snap.active:
        st.progress(min(max(latest.progress if latest else 0.0, 0.0), 1.0), text=jobs.describe(snap))
    elif snap.error:
        st.error(f"This run failed: {snap.error}")
    elif snap.stop_reason and snap.stop_reason.startswith("diverged"):
        st.warning(snap.stop_reason)


def start(key: str, stage, label: str, on_end) -> None:
    job = stage.make_job(gate=jobs.gate(), time_cap_s=jobs.time_cap_s(), idle_timeout_s=jobs.IDLE_TIMEOUT_S)
    jobs.track(key, job, label, "pages/assistant.py", on_end)
    job.start()


def stop(key: str) -> None:
    job = jobs.get(key)
    if job is not None:
        job.stop()


def active(key: str) -> bool:
    job = jobs.get(key)
    return job is not None and job.snapshot().active


def stage_controls(job_key: str, label: str, on_start, key: str, message_key: str, blocked: bool = False) -> None:
    """A stage's Start and Stop buttons, and the message a refused start left."""
    b1, b2, _ = st.columns([2, 1, 3])
    b1.button(label, type="primary", on_click=on_start, disabled=active(job_key) or blocked, key=f"{key}_start")
    b2.button("Stop", on_click=stop, args=(job_key,), disabled=not active(job_key), key=f"{key}_stop")
    if st.session_state.get(message_key):
        st.warning(st.session_state.pop(message_key))


def live_curves(job_key: str, series: list[tuple[str, str]], title: str, chart_key: str) -> None:
    """A stage's progress and its curves, polled while its job runs."""

    def render(snap):
        progress_line(snap)
        if snap is not None and snap.records:
            st.plotly_chart(curves(snap.records, series, title), key=chart_key)

    jobs.live(job_key, render, interval=POLL_S)


# ---------------------------------------------------------------- 2. SFT
st.header("2 · Supervised fine-tuning")
st.markdown(
    "The model reads each rendered pair and is trained, with the same loop as pre-training, to predict the "
    "response tokens only. Characters the base model never saw (a Shakespeare model knows no digit but 3) and the "
    "three chat tokens get new rows in its embedding table; everything it already knew is kept."
)


def sft_done(stage: SFTStage, job, snap) -> None:
    result = job.result
    if result is None:
        return
    name = state.add_model(f"{stage.base_name} · SFT", result.model, result.tokenizer, result.meta, source="fine-tuned", make_current=False)
    st.session_state.as_sft = (name, stage, result)
    st.session_state.pop("as_rm", None)
    st.session_state.pop("as_pref", None)
    st.session_state.pop("as_candidates", None)
    st.session_state.as_ratings = []


c1, c2, c3 = st.columns(3)
sft_steps = c1.number_input("Steps", 10, 20_000, 600, 50, key="as_sft_steps")
sft_lr = c2.select_slider("Learning rate", [3e-4, 1e-3, 2e-3, 4e-3, 1e-2, 10.0], value=2e-3, key="as_sft_lr")
sft_batch = c3.select_slider("Batch size", [4, 8, 16, 32, 64], value=32, key="as_sft_batch")


def start_sft():
    if active(SFT_JOB):
        return
    try:
        cfg = sft_config(max_steps=int(sft_steps), lr=float(sft_lr), muon_lr=0.01 * float(sft_lr) / 2e-3, batch_size=int(sft_batch), eval_every=max(1, int(sft_steps) // 4))
        stage = SFTStage(entry.model, entry.tokenizer, st.session_state.as_examples, cfg, base_name=entry.name)
    except (ConfigError, TokenizerError, ValueError) as exc:
        st.session_state.as_message = f"Fine-tuning cannot start: {exc}"
        return
    start(SFT_JOB, stage, f"Fine-tuning {entry.name}", partial(sft_done, stage))


stage_controls(SFT_JOB, "Fine-tune", start_sft, "as_sft", "as_message")
live_curves(SFT_JOB, [("train_loss", "train loss (responses)"), ("val_loss", "held-out loss")], "Fine-tuning loss", "as_sft_chart")

sft = st.session_state.get("as_sft")
if sft:
    name, stage, result = sft
    before, after = stage.before, stage.after
    m1, m2, m3 = st.columns(3)
    m1.metric("Exact match, base model", f"{before.accuracy:.0%}")
    m2.metric("Exact match, after SFT", f"{after.accuracy:.0%}", f"{(after.accuracy - before.accuracy) * 100:+.0f} points")
    m3.metric("Training time", f"{result.record['elapsed_s']:.0f} s", f"{result.record['steps']:,} steps")
    st.caption(
        f"On {len(stage.probe)} held-out prompts ({', '.join(f'{k}: {v:.0%}' for k, v in after.by_task().items())} after SFT). "
        f"Greedy answers. The fine-tuned model is saved in your model list as **{name}**."
    )
    st.dataframe(
        [
            {"prompt": e.prompt, "right answer": e.response, "base model": ("✓ " if is_correct(e, b) else "✗ ") + b, "after SFT": ("✓ " if is_correct(e, a) else "✗ ") + a}
            for e, b, a in zip(after.examples, before.answers, after.answers)
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Held-out sums are mostly wrong even after fine-tuning: a tiny model memorises the addition table it saw rather than "
        "learning arithmetic, yet answers just as confidently. That is a hallucination in miniature: the model imitates the pattern of an answer."
    )

# ---------------------------------------------------------------- 3. reward model
st.header("3 · A reward model from your rankings")
if not sft:
    st.info("Fine-tune first: the pairs to rank are sampled from the fine-tuned model.")
else:
    name, stage, result = sft
    st.markdown(
        "Below are two answers the fine-tuned model sampled for the same prompt. Pick the better one. A reward model (the "
        "fine-tuned transformer with a one-number head) then learns from your choices, with the pairwise loss "
        "−log σ(r(better) − r(worse)), to score answers the way you do."
    )
    st.session_state.setdefault("as_ratings", [])
    ratings: list[Pair] = st.session_state.as_ratings

    def new_candidates():
        st.session_state.as_candidates = candidate_pairs(result.model, result.tokenizer, stage.train_set, 24, seed=len(ratings) + 17)
        st.session_state.as_cursor = 0

    if "as_candidates" not in st.session_state:
        with st.spinner("Sampling answers to rank…"):
            new_candidates()
    candidates = st.session_state.as_candidates
    cursor = st.session_state.get("as_cursor", 0)

    def rate(choice: int | None):
        i = st.session_state.get("as_cursor", 0)
        if i >= len(st.session_state.as_candidates):
            return
        ex, a, b = st.session_state.as_candidates[i]
        if choice is not None:
            st.session_state.as_ratings.append(Pair(ex, a, b, "you") if choice == 0 else Pair(ex, b, a, "you"))
        st.session_state.as_cursor = i + 1

    def rate_for_me(n: int = 20):
        """The automatic rater goes through sampled pairs until it has rated n (or looked at 10n)."""
        rated, looked, i = 0, 0, st.session_state.get("as_cursor", 0)
        pool = st.session_state.as_candidates
        while rated < n and looked < 10 * n:
            if i >= len(pool):
                pool = candidate_pairs(result.model, result.tokenizer, stage.train_set, 24, seed=len(st.session_state.as_ratings) + 1000 + looked)
                st.session_state.as_candidates, i = pool, 0
                if not pool:
                    break
            pair = rate_automatically([pool[i]])[0]
            if pair is not None:
                st.session_state.as_ratings.append(pair)
                rated += 1
            looked, i = looked + 1, i + 1
        st.session_state.as_cursor = i
        st.session_state.as_auto_note = (
            f"The automatic rater looked at {looked} sampled pairs: it rated {rated} and skipped {looked - rated} "
            "where neither answer (or both) was right."
        )

    if cursor < len(candidates):
        ex, a, b = candidates[cursor]
        st.markdown(f"**Prompt:** `{ex.prompt}`")
        ca, cb = st.columns(2)
        ca.code(a or "(empty answer)", language=None)
        cb.code(b or "(empty answer)", language=None)
        r1, r2, r3, r4 = st.columns(4)
        r1.button("A is better", on_click=rate, args=(0,), key="as_rate_a", width="stretch")
        r2.button("B is better", on_click=rate, args=(1,), key="as_rate_b", width="stretch")
        r3.button("Skip (neither)", on_click=rate, args=(None,), key="as_rate_skip", width="stretch")
        r4.button("Rate 20 pairs for me", on_click=rate_for_me, key="as_rate_auto", width="stretch", help=f"The automatic rater {AUTO_RULE}.")
    else:
        st.button("Sample more pairs to rank", on_click=new_candidates, key="as_more")
    if st.session_state.get("as_auto_note"):
        st.caption(st.session_state.pop("as_auto_note"))
    st.caption(f"Rated: {len(ratings)} pairs ({sum(p.rated_by == 'you' for p in ratings)} by you, {sum(p.rated_by == 'auto' for p in ratings)} by the automatic rater, which {AUTO_RULE}).")

    def rm_done(rm_stage: RewardStage, job, snap) -> None:
        if job.result is not None:
            st.session_state.as_rm = (rm_stage, job.result)
            st.session_state.as_use_rm = True  # a new reward model is offered for labelling at once

    def start_rm():
        if active(RM_JOB):
            return
        try:
            rm_stage = RewardStage(result, list(st.session_state.as_ratings), reward_config())
        except (ValueError, ConfigError) as exc:
            st.session_state.as_rm_message = str(exc)
            return
        start(RM_JOB, rm_stage, "Training the reward model", partial(rm_done, rm_stage))

    stage_controls(RM_JOB, "Train the reward model", start_rm, "as_rm", "as_rm_message", blocked=len(ratings) < 4)
    if len(ratings) < 4:
        st.caption("Rate at least 4 pairs; a quarter of them are held out to test the reward model. 20 or more give a meaningful test.")
    live_curves(RM_JOB, [("train_loss", "pairwise loss"), ("extras.accuracy", "batch accuracy")], "Reward model training", "as_rm_chart")
    rm = st.session_state.get("as_rm")
    if rm:
        rm_stage, rm_result = rm
        st.metric("Held-out pairs ranked like you", f"{rm_result.accuracy:.0%}", f"{rm_result.n_held_out} pairs held out; chance is 50%", delta_color="off")
        st.dataframe(
            [{"prompt": p.example.prompt, "preferred": p.chosen, "reward": round(rc, 2), "other": p.rejected, "reward ": round(rr, 2), "ranked like you": "✓" if rc > rr else "✗"} for p, rc, rr in rm_result.examples],
            hide_index=True,
            width="stretch",
        )

# ---------------------------------------------------------------- 4. preference tuning
st.header("4 · Preference tuning")
if not sft:
    st.info("Fine-tune first.")
else:
    name, stage, result = sft
    ratings = st.session_state.get("as_ratings", [])
    rm = st.session_state.get("as_rm")
    st.markdown(
        "Direct preference optimisation (DPO) tunes a copy of the fine-tuned model so that, compared with the frozen fine-tuned "
        "model, it makes preferred answers more likely and rejected ones less likely. The comparison with the frozen model acts as a "
        "leash: the KL divergence between the two (plotted) says how far the tuned model has moved. A likelihood term on the preferred "
        "answers is added, because plain DPO made this tiny model's answers shorter and worse."
    )
    st.caption(
        "What we measured on the bundled tiny model (600 steps of SFT, then the defaults here): held-out answers sampled at "
        "temperature 1 were right 58% of the time after SFT and 37-48% after preference tuning, with 40 to 200 ratings, with or "
        "without the reward model's labels. With a few dozen rankings of a small model, tuning toward them overfits them and "
        "costs general skill; on the weaker nano model, whose answers are right less often, preference tuning raised the rate (30% to 50% in our tests). Real systems rank many "
        "thousands of pairs. Watch the KL: the further the tuned model moves, the more it tends to lose."
    )
    c0, c1, c2, c3 = st.columns(4)
    pref_lr = c0.select_slider("Learning rate", [3e-5, 1e-4, 3e-4, 1e-3], value=1e-4, key="as_pref_lr")
    beta = c1.select_slider("β (leash strength: higher stays closer)", [0.03, 0.1, 0.3, 1.0], value=0.1, key="as_beta")
    use_rm = c2.toggle("Let the reward model label more pairs", value=rm is not None, disabled=rm is None, key="as_use_rm", help="RLHF's point: a reward model trained on a few human rankings labels many more comparisons.")
    extra = c3.number_input("Pairs it looks at", 20, 1000, 200, 20, help="Sampled from the fine-tuned model; the reward model keeps the half it is surest about.", disabled=rm is None or not use_rm, key="as_extra")

    def pref_done(p_stage: PreferenceStage, job, snap) -> None:
        res = job.result
        if res is None:
            return
        pname = state.add_model(f"{name} · preference-tuned", res.model, res.tokenizer, res.meta, source="fine-tuned", make_current=False)
        st.session_state.as_pref = (pname, p_stage, res)

    def start_pref():
        if active(PREF_JOB):
            return
        try:
            p_stage = PreferenceStage(
                result, list(st.session_state.get("as_ratings", [])), stage.held_out, stage.train_set,
                reward=rm[1] if (rm and use_rm) else None, extra_pairs=int(extra), beta=float(beta), cfg=preference_config(lr=float(pref_lr)),
            )
        except (ValueError, ConfigError) as exc:
            st.session_state.as_pref_message = str(exc)
            return
        start(PREF_JOB, p_stage, "Preference tuning", partial(pref_done, p_stage))

    stage_controls(PREF_JOB, "Tune toward the preferences", start_pref, "as_pref", "as_pref_message")

    def render_pref(snap):
        progress_line(snap)
        if snap is not None and snap.records:
            left, right = st.columns(2)
            left.plotly_chart(curves(snap.records, [("extras.margin", "preference margin"), ("extras.accuracy", "batch: preferred ranked higher")], "Preference margin"), key="as_pref_margin")
            right.plotly_chart(curves(snap.records, [("extras.kl", "KL(tuned ‖ fine-tuned), nats per token")], "Distance from the fine-tuned model"), key="as_pref_kl")

    jobs.live(PREF_JOB, render_pref, interval=POLL_S)
    pref = st.session_state.get("as_pref")
    if pref:
        pname, p_stage, p_res = pref
        m1, m2, m3 = st.columns(3)
        m1.metric("Sampled answers right, before", f"{p_stage.before.accuracy:.0%}")
        m2.metric("Sampled answers right, after", f"{p_stage.after.accuracy:.0%}", f"{(p_stage.after.accuracy - p_stage.before.accuracy) * 100:+.0f} points")
        m3.metric("KL at the end", f"{p_res.record['kl_last']:.3f}" if p_res.record.get("kl_last") is not None else "–")
        st.caption(
            f"Answers sampled at temperature 1 on {len(p_stage.probe)} held-out prompts, judged by the stated rule (the right answer is preferred). "
            f"Trained on {p_res.record['pairs_rated']} rated pairs and {p_res.record['pairs_from_reward_model']} labelled by the reward model. "
            f"Saved in your model list as **{pname}**."
        )
        st.dataframe(
            [
                {"prompt": e.prompt, "right answer": e.response, "sampled, fine-tuned": ("✓ " if is_correct(e, b) else "✗ ") + b, "sampled, preference-tuned": ("✓ " if is_correct(e, a) else "✗ ") + a}
                for e, b, a in zip(p_stage.after.examples, p_stage.before.answers, p_stage.after.answers)
            ],
            hide_index=True,
            width="stretch",
        )

# ---------------------------------------------------------------- 5. compare
st.header("5 · Base → fine-tuned → preference-tuned")
if not sft:
    st.info("Fine-tune first; each stage then appears here and in your model list (sidebar), for every chapter.")
else:
    name, stage, result = sft
    stages = {"base": (stage.base, result.tokenizer), "SFT": (result.model, result.tokenizer)}
    pref = st.session_state.get("as_pref")
    if pref:
        stages["preference-tuned"] = (pref[2].model, pref[2].tokenizer)
    prompt = st.text_input("Your own prompt for all stages", value="Upper: rose", key="as_compare_prompt", max_chars=60)
    extra_rows = []
    if prompt.strip():
        missing = [c for c in prompt if result.tokenizer.kind == "char" and c not in getattr(result.tokenizer, "stoi", {})]
        if missing:
            st.warning(f"The fine-tuned model has no id for {', '.join(repr(c) for c in dict.fromkeys(missing))}; leave those out.")
        else:
            extra_rows = [Example(guess_task(prompt.strip()), prompt.strip(), reference_answer(Example(guess_task(prompt.strip()), prompt.strip(), "")) or "?")]
    # Greedy answers of every stage take about a second: computed once per set of models and prompt,
    # not on every click elsewhere on the page.
    cache_key = (tuple(id(m) for m, _ in stages.values()), tuple(e.prompt for e in extra_rows))
    if st.session_state.get("as_compare_key") != cache_key:
        st.session_state.as_compare_rows = compare(stages, extra_rows + stage.probe[:12])
        st.session_state.as_compare_key = cache_key
    rows = st.session_state.as_compare_rows
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption("Greedy answers. ✓ marks an answer equal to the right one.")
