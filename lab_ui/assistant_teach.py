"""The Fine-tune and align chapter's teaching parts: the recipe in plain words, its sources, the
"Predict, then see" checkpoints, reward hacking named when a run shows it, and fine-tuning's compute
beside pre-training's.

What it is: views the page calls. Every outcome they state is computed from the learner's runs at
that moment (`llm_core.alignment.readings`, `compute`, `assistant.reward_probe`); every published
figure comes from the claims register (`llm_core.literature`).
What it is not: the stages or their measurements (`llm_core.alignment`), or the job controls
(`assistant_jobs`).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from lab_ui import charts, palette, predict
from lab_ui.widgets import plural
from llm_core import literature
from llm_core.alignment import compute, readings
from llm_core.alignment.assistant import change, reward_probe
from llm_core.alignment.judge import prefer, wilson_interval
from llm_core.text.tokenizers import TokenizerError

WEAK_LEASH = 0.1  # a KL coefficient at or under this is "a weak leash" for the prediction
FORMAT_BANDS = ("almost none (under 10%)", "some (10% to 50%)", "most (50% to 90%)", "nearly all (90% or more)")
STYLE_CHOICES = ("“Sure! 11”: the house style, a wrong sum", "“7”: the right sum, no house style")
KL_CHOICES = (0.0, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0)  # the RLHF leash's settings (the slider's)
BETA_CHOICES = (0.03, 0.1, 0.3, 1.0)  # DPO's β settings (the slider's)
LEASH_CHOICES = ("it raises task accuracy", "it leaves task accuracy within the noise", "it lowers task accuracy")


def link(key: str) -> str:
    """A source's short citation linked to its paper (the register's address)."""
    return f"[{literature.cite(key)}]({literature.source(key).url})"


def intro() -> None:
    """The recipe in plain words (the first screen), then its sources in "The details"."""
    st.markdown(
        "**The recipe, in four steps.** "
        "**1. Supervised fine-tuning (SFT):** train the model a little more, on examples of requests with good answers, so it learns to answer instead of continuing text. "
        "**2. Rankings:** people compare two of its answers to the same request and pick the better one, following written instructions. "
        "**3. A reward model** learns to score any answer the way those rankings do. "
        "**4. RLHF (reinforcement learning from human feedback):** the model writes answers, the reward model scores them, and the model is nudged toward answers "
        "that score well, on a leash that keeps it close to where it started. **DPO (direct preference optimisation)** is a shortcut to the same goal: "
        "it learns from the rankings directly. You run every step below yourself, starting from the model chosen in the sidebar."
    )
    with st.expander("The details: where this recipe comes from, and what this chapter does differently"):
        st.markdown(
            f"- The recipe is InstructGPT's ({link('ouyang2022')}): SFT, a reward model trained on people's rankings, then RLHF with "
            f"PPO (proximal policy optimisation, {link('schulman2017')}) and a KL penalty: a cost on how far the tuned model's word probabilities "
            "move from the fine-tuned model's (KL stands for Kullback and Leibler, who defined the measure).\n"
            f"- **The RLHF here is not PPO.** It is REINFORCE ({link('williams1992')}): each sampled answer is made more likely in proportion to how much "
            f"its reward beats the average of the other answers to the same request, the group baseline of GRPO (group relative policy optimisation, "
            f"{link('shao2024')}). Why: PPO reuses each batch of answers for several updates, so it must keep each update small (it clips how far an answer's "
            "probability may move) and it trains a second model to estimate an average answer's reward. Here each batch is used for one update only, so "
            "no such limit is needed, and the group's mean reward replaces that second model: one model fewer to hold and train on a CPU.\n"
            f"- The reward model's pairwise loss comes from {link('bradley1952')}. DPO is {link('rafailov2023')}'s; "
            f"the likelihood term beside it is RPO's (reasoning preference optimisation, {link('pang2024')}).\n"
            f"- Reward over-optimisation: {link('gao2022')}. pass@k, the share of requests where at least one of k sampled answers is good: {link('chen2021')}; "
            f"what RL does to it: {link('yue2025')}. "
            "Each name above links to its paper."
        )


# ---------------------------------------------------------------- predictions


def band(x: float) -> str:
    """The FORMAT_BANDS choice a share falls in.

    >>> band(0.0), band(0.5), band(0.95)
    ('almost none (under 10%)', 'most (50% to 90%)', 'nearly all (90% or more)')
    """
    return FORMAT_BANDS[0] if x < 0.1 else FORMAT_BANDS[1] if x < 0.5 else FORMAT_BANDS[2] if x < 0.9 else FORMAT_BANDS[3]


def format_reveal(stage):
    """The chat-format prediction's answer from the finished SFT stage (None until it has run)."""
    if stage is None or stage.after_closed is None or stage.before_closed is None:
        return None
    n = len(stage.after_closed)
    after, before = sum(stage.after_closed), sum(stage.before_closed)
    i = next((j for j, ok in enumerate(stage.after_closed) if ok and not stage.before_closed[j]), 0)
    prompt, was, now = stage.probe[i].prompt, stage.before[i], stage.after[i]

    def guess_right(guess):
        return guess == band(after / max(1, n))

    answer = (f"After fine-tuning, {after} of {n} held-out requests ({readings.share(after / max(1, n))}) got an answer closed with <|end|>; "
              f"before it, the base model closed {before} of {n}. To “{prompt}” the base model wrote “{was[:40]}” and the fine-tuned model “{now}”.")
    if after > before:
        why = (f"The base model had never met <|end|> (its row in the token table was new), so it wrote on as it always had; fine-tuning's loss covered "
               f"each response and its closing <|end|> on {plural(len(stage.train_set), 'pair')} for {plural(stage.state.step, 'step')}, so it learned where an answer stops.")
    else:
        why = (f"{plural(stage.state.step, 'step')} of fine-tuning did not teach it to close its answers more often than the base model did: "
               "try more steps or a higher learning rate.")
    return lambda guess: predict.Reveal(answer, guess_right(guess), why)


def sft_prediction() -> None:
    stage = (st.session_state.get("as_sft") or (None, None, None))[1]
    reveal = format_reveal(stage)
    predict.checkpoint(
        "assistant_sft_format",
        "The base model has never seen the chat format. Given held-out requests in it, in how many will the fine-tuned model write an answer "
        "and then close it with <|end|>, as the format asks, instead of writing on?",
        predict.choice(list(FORMAT_BANDS), horizontal=False),
        lambda guess: None if reveal is None else reveal(guess),
        pending="Fine-tune (the button below) to see the answer, measured on the base model and on the fine-tuned one.",
    )


def _probe(rm, tokenizer) -> dict | None:
    """`reward_probe` of this reward model, computed once per model (100 additions, three answers each)."""
    key = ("as_rm_probe", id(rm.model))
    if st.session_state.get("as_rm_probe_key") != key:
        try:
            st.session_state.as_rm_probe = reward_probe(rm.model, tokenizer)
        except (TokenizerError, ValueError):
            st.session_state.as_rm_probe = None
        st.session_state.as_rm_probe_key = key
    return st.session_state.as_rm_probe


def ranking_rules(ratings) -> dict[str, int]:
    """How many of the ranked pairs each rule of the instructions decides ("house style", "correct answer", "refusal", "tie")."""
    out: dict[str, int] = {}
    for p in ratings:
        rule = prefer(p.example, p.chosen, p.rejected)[1]
        out[rule] = out.get(rule, 0) + 1
    return out


def rule_three_words(right: int, n: int, taught: int | None = None) -> str:
    """How often the reward model put the right sum above a wrong one (both in the house style), read with its
    Wilson 95% interval: rule 3 counts as learned only when the interval's lower end is above 50%. `taught`, the
    rankings decided by the correct answer: with none, a preference for the right sum was not learned from them.

    >>> rule_three_words(52, 100)
    '52 of 100 additions (95% interval 42%–62%): no better than chance, so it has not learned rule 3'
    >>> rule_three_words(80, 100)
    '80 of 100 additions (95% interval 71%–87%): it learned rule 3 too'
    >>> rule_three_words(81, 100, taught=0)
    '81 of 100 additions (95% interval 72%–87%), though none of your rankings taught it that: it comes from the fine-tuned model it started from'
    """
    lo, hi = wilson_interval(right, n)

    def pct(v: float) -> str:  # an end next to 50% keeps a decimal, so "50%" never stands for an end above or below it
        return f"{v:.1%}" if round(v * 100) == 50 else f"{v:.0%}"

    counted = f"{right} of {n} additions (95% interval {pct(lo)}–{pct(hi)})"
    if lo > 0.5 and taught == 0:
        return f"{counted}, though none of your rankings taught it that: it comes from the fine-tuned model it started from"
    if lo > 0.5:
        return f"{counted}: it learned rule 3 too"
    if hi < 0.5:
        return f"{counted}: fewer than a coin toss would, so it has not learned rule 3"
    return f"{counted}: no better than chance, so it has not learned rule 3"


def style_count_words(style_wins: int, n: int) -> str:
    """Over every single-digit addition, how often the house style with a wrong sum beat the right bare sum, read
    with its Wilson 95% interval: a count near half is no clear preference either way.

    >>> style_count_words(70, 100)
    'Over all 100 single-digit additions it put the house style with a wrong sum above the right bare sum 70 times (95% interval 60%–78%): it pays more for the house style.'
    >>> style_count_words(53, 100).endswith("(95% interval 43%–62%): about as often as not, so neither clearly.")
    True
    """
    lo, hi = wilson_interval(style_wins, n)
    reading = ("it pays more for the house style" if lo > 0.5 else "it pays more for the right sum" if hi < 0.5 else
               "about as often as not, so neither clearly")
    return (f"Over all {n} single-digit additions it put the house style with a wrong sum above the right bare sum {style_wins} times "
            f"(95% interval {lo:.0%}–{hi:.0%}): {reading}.")


def reward_prediction(ratings) -> None:
    rm = st.session_state.get("as_rm")

    def reveal(guess):
        if rm is None:
            return None
        probe = _probe(rm, rm.tokenizer)
        if probe is None or probe["shown"] is None:
            return predict.Reveal("This reward model cannot read additions (its tokenizer lacks digits): no answer to compute.", None,
                                  "The built-in pairs include additions; restore them to try this.")
        s, n = probe["style_over_sum"], probe["n"]
        shown = probe["shown"]
        style_wins = shown["styled_wrong_reward"] > shown["plain_right_reward"]  # the question's own pair decides the guess
        rules = ranking_rules(ratings)
        answer = (f"It scored “{shown['styled_wrong']}” {shown['styled_wrong_reward']:.2f} and “{shown['plain_right']}” {shown['plain_right_reward']:.2f} "
                  f"for “{shown['prompt']}”: it scores the {'house style' if style_wins else 'right sum'} higher. " + style_count_words(s, n))
        why = (f"The instructions put the house style first (rule 2) and the correct answer only after it (rule 3): of your {plural(len(ratings), 'ranked pair')}, "
               f"{rules.get('house style', 0)} were decided by the house style and {rules.get('correct answer', 0)} by the correct answer. "
               f"Between two answers in the house style it preferred the right sum on {rule_three_words(probe['right_over_wrong'], n, taught=rules.get('correct answer', 0))}.")
        return predict.Reveal(answer, (guess == STYLE_CHOICES[0]) == style_wins, why)

    predict.checkpoint(
        "assistant_reward_style",
        "The reward model learns from the rankings. Shown two answers to “What is 3+4?”, which will it score higher?",
        predict.choice(list(STYLE_CHOICES), horizontal=False),
        reveal,
        pending="Train the reward model (the button below) to see which it scores higher.",
    )


def leash_prediction() -> None:
    weak = st.session_state.get("as_rlhf_weak")

    def reveal(guess):
        if weak is None or weak.after is None:
            return None
        d, lo, hi = change(weak.before, weak.after, "accuracy")
        outcome = LEASH_CHOICES[0] if lo > 0 else LEASH_CHOICES[2] if hi < 0 else LEASH_CHOICES[1]
        kl = weak.history[-1].get("kl") if weak.history else None
        wrong_before = sum(readings.styled_but_wrong(e, a) for e, a in zip(weak.before.examples, weak.before.answers))
        wrong_after = sum(readings.styled_but_wrong(e, a) for e, a in zip(weak.after.examples, weak.after.answers))
        answer = (f"With the leash at {weak.cfg.kl_coef:g}, task accuracy went from {readings.share(weak.before.accuracy)} to {readings.share(weak.after.accuracy)} "
                  f"on {weak.after.task_n} held-out requests: {readings.interval_words(d, lo, hi)}, so {outcome[3:]}.")
        drift = f"it drifted {kl:.2f} nats per answer from the fine-tuned model, and " if kl is not None else ""
        if hi < 0:
            why = (f"The reward model pays for “Sure!” more than for the right answer; on a weak leash {drift}its answers in the house style with a wrong "
                   f"task answer went from {wrong_before} to {wrong_after} of {weak.after.task_n}: it chased the style at the cost of the answers.")
        elif lo > 0:
            why = (f"Here {drift}its wrong answers in the house style went from {wrong_before} to {wrong_after}: this reward model also paid for right answers, "
                   "so chasing it helped.")
        else:
            why = (f"In {plural(weak.steps_done, 'step')} {drift}the change is smaller than what {weak.after.task_n} answers can tell from chance; "
                   "more steps would show more.")
        return predict.Reveal(answer, guess == outcome, why)

    predict.checkpoint(
        "assistant_weak_leash",
        f"Run RLHF on a weak leash (KL coefficient {WEAK_LEASH:g} or less). What happens to task accuracy, the share of requests answered right?",
        predict.choice(list(LEASH_CHOICES), horizontal=False),
        reveal,
        pending=(f"Run RLHF with the KL coefficient at {WEAK_LEASH:g} or lower (below) to see the answer from your own run."
                 if st.session_state.get("as_rm") is not None else
                 f"Train a reward model (section 4), then run RLHF with the KL coefficient at {WEAK_LEASH:g} or lower (below) to see the answer from your own run."),
    )


# ---------------------------------------------------------------- reward hacking

WAITS_FOR = {"assistant_weak_leash": "what a weak leash does to task accuracy (section 5)",
             "assistant_reward_style": "which answer the reward model scores higher (section 4)"}


def accuracy_wait(name: str, keys: tuple[str, ...]) -> str | None:
    """What a finished tuning run says about task accuracy answers the weak-leash prediction (and, for RLHF, why it
    happened answers the reward-model one): None when those guesses are locked, else the note to show instead."""
    open_ = [WAITS_FOR[k] for k in keys if predict.made(k) is None]
    if not open_:
        return None
    if "assistant_weak_leash" in keys and predict.made("assistant_weak_leash") is not None:  # its accuracy is shown: only the why waits
        return (f"{name} has finished. Why it happened (what the reward model pays for) waits for your guess about {' and about '.join(open_)}: "
                f"lock {'it' if len(open_) == 1 else 'them'} in to see it.")
    return (f"{name} has finished. What it did to task accuracy waits for your guess about {' and about '.join(open_)}: "
            f"lock {'it' if len(open_) == 1 else 'them'} in to see it.")


def stronger(advice: str, used: float, choices: tuple[float, ...]) -> str:
    """A tighter leash to try: the next one or two settings above this run's, never the one just used.

    Only called when the run lost task accuracy against the fine-tuned model (reward hacking), hence "which got more answers right".

    >>> stronger("a stronger KL leash", 0.5, KL_CHOICES)
    'a stronger KL leash (this run: 0.5; 1 or 2 keeps it closer to the fine-tuned model, which got more answers right)'
    >>> stronger("a stronger KL leash", 1.0, KL_CHOICES)
    'a stronger KL leash (this run: 1; 2 keeps it closer to the fine-tuned model, which got more answers right)'
    >>> stronger("a larger β, the leash", 1.0, BETA_CHOICES)
    'a larger β, the leash (this run: 1, already the strongest on offer)'
    """
    above = [c for c in choices if c > used][:2]
    if not above:
        return f"{advice} (this run: {used:g}, already the strongest on offer)"
    return f"{advice} (this run: {used:g}; {' or '.join(f'{c:g}' for c in above)} keeps it closer to the fine-tuned model, which got more answers right)"


def hacking_warning(name: str, stage, reinforcement: bool) -> str | None:
    """Name reward hacking when the run shows it (`readings.reward_hacking`); returns the sentence shown, or None."""
    if stage is None or stage.after is None or stage.before is None:
        return None
    found = readings.reward_hacking(stage.before, stage.after)
    if found is None:
        return None
    examples = "; ".join(f"“{p}” → “{a}”" for p, a in found.examples)
    measured = (f"{name} answers in the house style more often ({readings.share(found.preferred_before)} → {readings.share(found.preferred_after)}, "
                f"{readings.interval_words(*found.preferred)}) but gets fewer task answers right ({readings.share(found.accuracy_before)} → "
                f"{readings.share(found.accuracy_after)}, {readings.interval_words(*found.accuracy)}). Answers in the house style with a wrong task answer went from "
                f"{found.styled_wrong_before} to {found.styled_wrong_after} of {found.ordinary}" + (f", for example {examples}." if examples else "."))
    if reinforcement:
        rewards = [h["reward"] for h in stage.history if "reward" in h]
        score = f" The reward model's mean score rose from {rewards[0]:.2f} to {rewards[-1]:.2f} meanwhile." if len(rewards) > 1 else ""
        text = (f"**Reward hacking.** {measured}{score} The reward model learned from rankings that put “Sure!” before the right answer, so it pays for the "
                f"style more than for the sum, and the model found that out. **What to try:** {stronger('a stronger KL leash', stage.cfg.kl_coef, KL_CHOICES)}, "
                "or a better reward model: more rankings, so it also learns rule 3 (between two answers in the house style, the right one wins).")
    else:
        text = (f"**The same trade as reward hacking, without a reward model.** {measured} DPO learned from the rankings that “Sure!” wins more often than "
                f"the right answer. **What to try:** {stronger('a larger β, the leash', stage.pair.beta, BETA_CHOICES)}, or more rankings, so that pairs "
                "decided by the right answer weigh more.")
    st.warning(text, icon=":material/report:")
    return text


# ---------------------------------------------------------------- fine-tuning against pre-training


def compute_rows(sft, rm, rlhf, dpo) -> list[compute.ComputeRow]:
    """The learner's pre-training (from the base model's record) and stages, then the published figures."""
    name, stage, result = sft
    pre = compute.pretraining_row(stage.base_name, stage.base_config, stage.base_pretraining)
    tuned_config = result.model.config
    rows = [pre] if pre is not None else []
    rows.append(compute.stage_row("SFT", tuned_config, result.record["tokens_seen"], result.record["elapsed_s"], pre))
    if rm is not None:
        rows.append(compute.stage_row("reward model", tuned_config, rm.tokens_seen, rm.elapsed_s, pre))
    if rlhf is not None:
        rows.append(compute.stage_row("RLHF", tuned_config, rlhf.batch_tokens, rlhf.state.elapsed_s, pre))
    if dpo is not None:
        rows.append(compute.stage_row("DPO", tuned_config, dpo.state.tokens_seen, dpo.state.elapsed_s, pre))
    return rows + compute.published_rows()


def compute_caption(rows: list[compute.ComputeRow]) -> str:
    ours = {r.stage: r for r in rows if r.ours}
    published = {r.run: r for r in rows if not r.ours}
    pre, sft = ours.get("pre-training"), ours.get("SFT")
    parts = []
    if pre is not None and sft is not None:
        seconds = (f" ({sft.seconds:.0f} s against {pre.seconds:.0f} s of wall time; seconds also depend on what else the machine was doing, FLOPs do not)"
                   if sft.seconds and pre.seconds else "")
        parts.append(f"Your fine-tuning (SFT) took {sft.flops:.2g} FLOPs, {readings.share(sft.share_of_pretraining)} of your model's pre-training ({pre.flops:.2g}){seconds}.")
    elif sft is not None:
        parts.append(f"Your fine-tuning (SFT) took {sft.flops:.2g} FLOPs; the model it started from does not record a pre-training run of its own, so there is no ratio.")
    others = [r for r in ours.values() if r.stage not in ("pre-training", "SFT") and r.share_of_pretraining is not None]
    if others:
        parts.append("Then " + ", ".join(f"the {r.stage} {readings.share(r.share_of_pretraining)}" for r in others) + ".")
    i_sft, i_rl = published["InstructGPT 175B: SFT"], published["InstructGPT 175B: PPO-ptx (RLHF)"]
    parts.append(f"InstructGPT's SFT took {readings.share(i_sft.share_of_pretraining)} of GPT-3's pre-training and its RLHF {readings.share(i_rl.share_of_pretraining)} "
                 f"({literature.cite('instructgpt_sft_pfs_days')}).")
    if pre is not None and sft is not None and sft.share_of_pretraining > 10 * i_sft.share_of_pretraining:
        tokens = pre.how.split(" x ")[-1]
        parts.append(f"Yours is a much bigger share because this pre-training was tiny ({tokens}, against GPT-3's {literature.value('gpt3_tokens') / 1e9:,.0f} billion): "
                     "at full scale, fine-tuning is a rounding error beside pre-training.")
    return " ".join(parts)


def compute_chart(rows: list[compute.ComputeRow]):
    labels = [r.run for r in rows]
    fig = go.Figure()
    for pre_training, color, name in ((True, palette.BLUE, "pre-training"), (False, palette.ORANGE, "fine-tuning")):
        picked = [r for r in rows if (r.stage == "pre-training") == pre_training]
        fig.add_bar(y=[r.run for r in picked], x=[r.flops for r in picked], orientation="h", name=name, marker_color=color,
                    marker_pattern_shape=["" if r.ours else "/" for r in picked], text=[f"{r.flops:.2g}" for r in picked], textposition="outside")
    fig.update_layout(title="Training compute: your runs (plain bars) and published ones (hatched)", barmode="overlay", height=80 + 34 * len(rows),
                      xaxis=dict(type="log", title="training compute (FLOPs, floating-point operations; each step on the axis is 10x)"),
                      yaxis=dict(categoryorder="array", categoryarray=labels[::-1]), margin=dict(t=40, b=40, l=10, r=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def compute_section(sft, rm, rlhf, dpo) -> list[compute.ComputeRow]:
    rows = compute_rows(sft, rm, rlhf, dpo)
    table = [{"run": r.run, "stage": r.stage, "FLOPs": f"{r.flops:.3g}", "time": f"{r.seconds:.0f} s here" if r.seconds else
              (f"{r.gpu_hours:,.0f} GPU-hours" if r.gpu_hours else "not published"),
              "share of its pre-training": readings.share(r.share_of_pretraining) if r.share_of_pretraining is not None else "",
              "how it is counted": r.how} for r in rows]
    charts.chart(compute_chart(rows), key="as_compute_chart", caption=compute_caption(rows), table=table, table_label="The figures and how each is counted")
    return rows
