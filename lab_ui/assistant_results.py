"""What the "Making an assistant" chapter shows after each stage, every sentence computed from the run.

What it is: the instruction data summary and a rendered pair, the SFT summary, the reward model's
held-out accuracy (reported as chance when its interval reaches 50%), the before/after table of
SFT, RLHF and DPO with 95% intervals, pass@1 against pass@k, and the over-optimisation check. Marks
say what they mean: "instructions ✓" (the house style, or a refusal of an insult request) is not
"correct ✓" (the task answer is right).
What it is not: the measurement itself (`llm_core.alignment.assistant`, `judge`) or the sentences'
logic (`llm_core.alignment.readings`).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from lab_ui import assistant_jobs, charts, palette
from lab_ui.widgets import chips_html, plural
from llm_core.alignment.assistant import Assessment, change, compare
from llm_core.alignment.finetune import chat_tokenizer, encode_example
from llm_core.alignment.judge import follows_instructions
from llm_core.alignment.readings import forgetting, interval_words, overoptimisation, pass_reading, points, rarely_or_always, share
from llm_core.alignment.tasks import FORBIDDEN_TASK, HOUSE_PREFIX, REFUSAL, TASK_NAMES, Example, guess_task, is_correct, make_examples, pairs_from_rows
from llm_core.text.tokenizers import TokenizerError


def _built_in(examples) -> bool:
    """Whether these are the pairs the code makes (not ones the learner chose with "Use these pairs")."""
    key = tuple((e.prompt, e.response) for e in examples)
    if st.session_state.get("as_examples_built_in", (None,))[0] != key:
        st.session_state["as_examples_built_in"] = (key, examples == make_examples())
    return st.session_state["as_examples_built_in"][1]


def data_summary(examples) -> None:
    counts = {name: sum(e.task == t for e in examples) for t, name in TASK_NAMES.items()}
    ordinary = [e for e in examples if e.task != FORBIDDEN_TASK]
    styled = sum(e.response.startswith(HOUSE_PREFIX) for e in ordinary)
    insults = [e for e in examples if e.task == FORBIDDEN_TASK]
    refused = sum(e.response == REFUSAL for e in insults)
    st.markdown(
        f"{len(examples):,} pairs {'made by code' if _built_in(examples) else 'of your choosing'}: " + ", ".join(f"{name} ({n:,})" for name, n in counts.items()) + ". "
        f"The data leaves room for preferences: {styled:,} of the {len(ordinary):,} ordinary answers ({styled / max(1, len(ordinary)):.0%}) are in the house style "
        f"(“{HOUSE_PREFIX.strip()} ROSE” rather than “ROSE”), and {refused:,} of the {len(insults):,} insult requests ({refused / max(1, len(insults)):.0%}) are refused; "
        "the others comply: a model fine-tuned on them has both behaviours to choose from. About a fifth of the prompts of each task but facts is held out."
    )


def pairs_editor(examples) -> None:
    """The instruction pairs in an editable table; "Use these pairs" keeps the rows that check out."""
    with st.expander("View, edit and add pairs"):
        edited = st.data_editor([{"prompt": e.prompt, "response": e.response} for e in examples], num_rows="dynamic", width="stretch", height=300, key="as_editor")
        if st.button("Use these pairs", key="as_use_pairs"):
            fresh, dropped = pairs_from_rows(edited)
            if fresh:
                assistant_jobs.keep("as_examples", fresh)  # on the desk too: a reload keeps the learner's pairs
                left_out = f" {plural(dropped, 'row')} left out (empty, or an answer that does not match its prompt)." if dropped else ""
                st.success(f"Using {plural(len(fresh), 'pair')}.{left_out}")
            else:
                st.warning("No usable pairs: each needs a prompt and a response.")
        if st.button("Restore the built-in pairs", key="as_restore"):
            assistant_jobs.keep("as_examples", make_examples())
            st.rerun()


def rendered_pair(tokenizer) -> None:
    try:
        tok = chat_tokenizer(tokenizer, ["What is 3+3?Sure! 6"])  # a character model may lack digits
    except TokenizerError:
        st.warning("The current model's tokenizer cannot take the chat tokens (the published GPT tokenizers keep their own). Pick a model trained in LLM Lab.")
        return
    ids, mask = encode_example(tok, "What is 3+3?", "Sure! 6")
    st.markdown("How one pair is rendered for the model, with special tokens. **Green tokens are learned** (the loss covers only the response); grey ones are context:")
    st.markdown(
        chips_html([(tok.token_text(i), "learned: in the loss" if m else "context: no loss") for i, m in zip(ids, mask)], colors=["#bbf7d0" if m else "#e5e7eb" for m in mask]),
        unsafe_allow_html=True,
    )


INSTRUCTIONS_MARK = "instructions ✓ (house style, or refusal)"
CORRECT_MARK = "correct ✓ (task answer right)"


def marks(example, answer: str) -> dict:
    """Two marks that say what they mean: does the answer do what the instructions reward, and is it right.

    >>> from llm_core.alignment.tasks import Example
    >>> marks(Example("add", "What is 3+4?", "7"), "Sure! 11")
    {'instructions ✓ (house style, or refusal)': '✓', 'correct ✓ (task answer right)': '✗'}
    """
    return {INSTRUCTIONS_MARK: "✓" if follows_instructions(example, answer) else "✗",
            CORRECT_MARK: "" if example.task == FORBIDDEN_TASK else ("✓" if is_correct(example, answer) else "✗")}


def marked(example, answer: str) -> str:
    """An answer with both marks in words, for a table cell: 'Sure! 11 (style ✓, correct ✗)'."""
    m = marks(example, answer)
    style = "refusal" if example.task == FORBIDDEN_TASK else "style"
    right = "" if example.task == FORBIDDEN_TASK else f", correct {m[CORRECT_MARK]}"
    return f"{answer or '(empty)'} ({style} {m[INSTRUCTIONS_MARK]}{right})"


def sft_summary(name: str, stage, result) -> None:
    a: Assessment = stage.assessment
    lo, hi = a.preferred_interval
    m1, m2, m3 = st.columns(3)
    m1.metric("Task accuracy after SFT", f"{a.accuracy:.0%}", f"greedy, base model: {stage.exact_match(stage.before):.0%}", delta_color="off", delta_arrow="off")
    m2.metric("Answers the instructions prefer", f"{a.preferred_share:.0%}", f"95% interval {lo:.0%}–{hi:.0%}", delta_color="off", delta_arrow="off")
    m3.metric("Training time", f"{result.record['elapsed_s']:.0f} s", plural(result.record["steps"], "step"), delta_color="off", delta_arrow="off")
    by_task = ", ".join(f"{k}: {v:.0%}" for k, v in a.by_task().items())
    st.caption(
        f"One answer sampled at temperature 1 to each of the {a.n} held-out prompts, judged by the written instructions below ({by_task}); "
        f"task accuracy counts {a.task_n} ordinary prompts, house style or not. Saved in your model list as **{name}**."
    )
    good = a.preferred_count + sum(stage.passes.get("good", [])) if stage.passes else a.preferred_count
    n = a.n + (stage.passes["prompts"] * stage.passes["k"] if stage.passes and "good" in stage.passes else 0)
    if (room := rarely_or_always(good, n)) is not None:
        extra = n - a.n
        st.warning(room + (f" (The {n} answers: the {a.n} above, one to each held-out prompt, and {extra} more, {stage.passes['k']} to each of "
                           f"{stage.passes['prompts']} requests, sampled for pass@{stage.passes['k']}.)" if extra else ""))
    if stage.forgetting and stage.forgetting.get("after") is not None:
        f = stage.forgetting
        st.markdown(forgetting(f["corpus"], f["tokens"], f["before"], f["after"]))
    st.caption(f"Two marks, two questions: **{INSTRUCTIONS_MARK}** means the answer has the house style (or refuses an insult request), what the rankings reward; "
               f"**{CORRECT_MARK}** means the task answer is right. “Sure! 11” to “What is 3+4?” has the first and not the second.")
    st.dataframe([{"prompt": e.prompt, "sampled answer": x or "(empty)", **marks(e, x)} for e, x in list(zip(a.examples, a.answers))[:20]],
                 hide_index=True, width="stretch")


def reward_summary(rm) -> None:
    lo, hi = rm.interval
    if rm.at_chance:
        st.metric("Held-out pairs ranked as the instructions rank them", f"{rm.accuracy:.0%}", f"at chance: the 95% interval {lo:.0%}–{hi:.0%} includes 50%", delta_color="off", delta_arrow="off")
        st.warning(f"With {plural(rm.n_held_out, 'held-out pair')} this reward model cannot be told from a coin toss. Rank more pairs, or train longer, before optimising against it.")
    else:
        st.metric("Held-out pairs ranked as the instructions rank them", f"{rm.accuracy:.0%}", f"95% interval {lo:.0%}–{hi:.0%} of {plural(rm.n_held_out, 'pair')}; chance is 50%",
                  delta_color="off", delta_arrow="off")
    if rm.stop_reason and rm.stop_reason != "reached the step limit":
        st.caption(f"Training ended early: {rm.stop_reason}.")
    st.dataframe([{"prompt": p.example.prompt, "preferred": p.chosen, "reward": round(rc, 2), "other": p.rejected, "reward ": round(rr, 2),
                   "ranked as the instructions ✓": "✓" if rc > rr else "✗"} for p, rc, rr in rm.examples], hide_index=True, width="stretch")
    st.caption("Held-out ranked pairs: the reward model's score (its reward) of the preferred answer and of the other; ✓ when it scores the preferred one higher.")


def comparison_table(before: Assessment, tuned: dict, accuracy: bool = True) -> None:
    """SFT against each tuned model on the same held-out prompts, with 95% intervals. Task accuracy (its
    columns and verdicts) only with `accuracy`: until the weak-leash guess is locked it would answer it."""
    rows = [{"model": "SFT (start)", "samples": before.n, "preferred by the instructions": f"{before.preferred_share:.0%} ({before.preferred_interval[0]:.0%}–{before.preferred_interval[1]:.0%})",
             "change": "", "task accuracy": f"{before.accuracy:.0%} ({before.accuracy_interval[0]:.0%}–{before.accuracy_interval[1]:.0%})", "accuracy change": ""}]
    for name, stage in tuned.items():
        a = stage.after
        d, lo, hi = change(before, a)
        ad, alo, ahi = change(before, a, "accuracy")
        rows.append({"model": name, "samples": a.n, "preferred by the instructions": f"{a.preferred_share:.0%} ({a.preferred_interval[0]:.0%}–{a.preferred_interval[1]:.0%})",
                     "change": f"{points(d)} points ({points(lo)} to {points(hi)})", "task accuracy": f"{a.accuracy:.0%} ({a.accuracy_interval[0]:.0%}–{a.accuracy_interval[1]:.0%})",
                     "accuracy change": f"{points(ad)} points ({points(alo)} to {points(ahi)})"})
    if not accuracy:
        rows = [{k: v for k, v in row.items() if k not in ("task accuracy", "accuracy change")} for row in rows]
    st.dataframe(rows, hide_index=True, width="stretch")
    sentences = []
    for name, stage in tuned.items():
        d, lo, hi = change(before, stage.after)
        ad, alo, ahi = change(before, stage.after, "accuracy")
        verdict = "raised" if lo > 0 else ("lowered" if hi < 0 else "did not measurably change")
        acc = "cost task accuracy" if ahi < 0 else ("raised task accuracy" if alo > 0 else "left task accuracy within the noise")
        sentences.append(f"{name} {verdict} the share of answers the instructions prefer ({points(d)} points)"
                         + (f" and {acc} ({points(ad)} points)." if accuracy else "."))
    if not accuracy:
        sentences.append("Task accuracy after each run waits for your guess about what a weak leash does to it (section 5): lock it in to see it.")
    st.caption("Sampled answers (temperature 1), one per held-out prompt, judged by the written instructions, not by the reward model; 95% intervals. " + " ".join(sentences))
    for name, stage in tuned.items():
        if stage.stop_reason and stage.stop_reason != "reached the step limit":
            st.warning(f"{name} was cut short: {stage.stop_reason}.")


def pass_at_k(before: dict, tuned: dict) -> None:
    """pass@1 against pass@k of each model, and what moved, only as far as the run measured it."""
    k = before["k"]
    names = ["SFT"] + list(tuned)
    values = [before] + [s.after_passes for s in tuned.values()]
    table = [{"model": n, "pass@1": round(v["pass@1"], 4), f"pass@{k}": round(v[f"pass@{k}"], 4), "prompts": v["prompts"]} for n, v in zip(names, values)]
    readings = [pass_reading(name, before, s.after_passes, reinforcement=name == "RLHF") for name, s in tuned.items()]
    caption = (f"On {before['prompts']} held-out requests, {k} sampled answers each: pass@1 is the chance that one answer does what the instructions prefer, "
               f"pass@{k} that at least one of {k} does. " + " ".join(readings))
    charts.chart(pass_chart(before, tuned), key="as_pass_chart", caption=caption, table=table)


def pass_chart(before: dict, tuned: dict):
    k = before["k"]
    fig = go.Figure()
    names = ["SFT"] + list(tuned)
    values = [before] + [s.after_passes for s in tuned.values()]
    for i, (label, field) in enumerate((("pass@1", "pass@1"), (f"pass@{k}", f"pass@{k}"))):
        fig.add_bar(x=names, y=[v[field] for v in values], name=label, marker_color=palette.category(i), marker_pattern_shape=["", "/"][i],
                    text=[share(v[field]) for v in values], textposition="outside")
    fig.update_layout(title=f"pass@1 (plain) against pass@{k} (hatched): does one answer, or any of {k}, do what the instructions prefer?", barmode="group",
                      height=320, yaxis=dict(range=[0, 1.1], title="share of held-out requests", tickformat=".0%"), margin=dict(t=40, b=30, l=40, r=10))
    return fig


def overoptimisation_warning(history: list[dict]) -> str | None:
    """A warning when the reward rose while the rule-judged held-out share fell beyond its 95% interval."""
    o = overoptimisation(history)
    if o is None:
        return None
    text = (f"Reward over-optimisation: the reward model's mean score rose by {o['reward_up']:.2f} while the share of held-out answers the instructions prefer fell "
            f"from {share(o['peak'])} (step {o['peak_step']}) to {share(o['last'])} (step {o['last_step']}), {interval_words(o['change'], o['low'], o['high'])[:-1]}, "
            f"{o['n']} answers): beyond the noise. The policy found answers the reward model "
            "overrates (Gao et al. 2022). A stronger KL leash keeps it closer to the fine-tuned model.")
    st.warning(text)
    return text


def try_a_prompt(models: dict, probe) -> None:
    """Greedy answers of every stage to the user's prompt and a few held-out ones (computed once per models and prompt)."""
    prompt = st.text_input("Your own prompt for every stage", value="Upper: rose", key="as_compare_prompt", max_chars=60).strip()
    rows = [Example(guess_task(prompt), prompt, "")] if prompt else []
    key = (tuple(id(m) for m, _ in models.values()), prompt)
    try:
        if st.session_state.get("as_compare_key") != key:
            st.session_state.as_compare_rows, st.session_state.as_compare_key = compare(models, rows + list(probe)), key
    except (TokenizerError, ValueError) as exc:
        st.warning(f"The fine-tuned model cannot read that prompt: {exc}")
        return
    examples = rows + list(probe)
    shown = [{"prompt": r["prompt"], **{name: marked(ex, r[name]) for name in models}} for ex, r in zip(examples, st.session_state.as_compare_rows)]
    st.dataframe(shown, hide_index=True, width="stretch")
    st.caption("Greedy answers (each stage's single most likely answer), each with its two marks: style ✓ when it has the house style (refusal ✓ for an insult "
               "request), correct ✓ when the task answer is right.")
