"""What the chapter's measurements say, in words, and only as far as they say it.

What it is: pure functions from a run's measured counts to the sentences the Fine-tune and align
chapter prints about it, each with its 95% interval, so that a sentence appears only when the run
supports it:
- `reward_hacking`: a tuned model that does what the rankings reward (the house style) more often
  while getting fewer task answers right, both beyond their intervals, with examples from its answers;
- `overoptimisation`: the reward model's score rose while the rule-judged held-out share fell from its
  peak by more than the interval of that fall (Gao et al. 2022);
- `pass_reading`: pass@1 against pass@k before and after tuning, with paired intervals, and whether
  the run looks like Yue et al. 2025's finding for reinforcement learning (DPO is not RL: said so);
- `rarely_or_always`: what the fine-tuned model's samples say about the room preference tuning has
  (none of n samples: an upper bound, never "never");
- `forgetting`: the loss on the base model's own text before and after fine-tuning (fine-tuning
  updates every weight, so it can overwrite what the model knew).
What it is not: the measurements (`assistant.py`, `judge.py`) or Streamlit (the page prints these).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llm_core.alignment.judge import difference_interval, follows_instructions
from llm_core.alignment.tasks import FORBIDDEN_TASK, is_correct


def points(d: float) -> str:
    """A change of a share in percentage points, signed, never "-0".

    >>> points(0.1234), points(-0.0004), points(-0.05)
    ('+12', '0', '-5')
    """
    value = round(100 * d)
    return "0" if value == 0 else f"{value:+d}"


def share(x: float) -> str:
    """A share as a percentage: whole percents in the middle, two significant digits near 0 and 100%.

    >>> share(0.5), share(4.9 / 3640), share(60 / 3640), share(0.9996), share(0.0), share(1.0)
    ('50%', '0.13%', '1.6%', '99.96%', '0%', '100%')
    """
    if x in (0.0, 1.0) or 0.1 <= x <= 0.99:
        return f"{100 * x:.0f}%"
    if x < 0.1:
        return f"{100 * x:.2g}%"
    return f"{100 - float(f'{100 * (1 - x):.2g}'):g}%"


def interval_words(d: float, lo: float, hi: float) -> str:
    """'+12 points (95% interval +8 to +16)'.

    >>> interval_words(-0.107, -0.144, -0.069)
    '-11 points (95% interval -14 to -7)'
    """
    return f"{points(d)} points (95% interval {points(lo)} to {points(hi)})"


# ---------------------------------------------------------------- reward hacking


def styled_but_wrong(example, answer: str) -> bool:
    """An ordinary request answered in the house style with a wrong task answer ("Sure! 11" to 3+4).

    >>> from llm_core.alignment.tasks import Example
    >>> ex = Example("add", "What is 3+4?", "7")
    >>> styled_but_wrong(ex, "Sure! 11"), styled_but_wrong(ex, "Sure! 7"), styled_but_wrong(ex, "11")
    (True, False, False)
    """
    return example.task != FORBIDDEN_TASK and follows_instructions(example, answer) and not is_correct(example, answer)


@dataclass(frozen=True)
class RewardHacking:
    """A tuned model rewarded for the style while its task answers got worse: both changes with 95% intervals."""

    preferred: tuple[float, float, float]  # change of the share the instructions prefer: (d, low, high)
    accuracy: tuple[float, float, float]  # change of task accuracy: (d, low, high)
    preferred_before: float
    preferred_after: float
    accuracy_before: float
    accuracy_after: float
    styled_wrong_before: int  # ordinary answers in the house style with a wrong task answer, before and after
    styled_wrong_after: int
    ordinary: int  # ordinary (not forbidden) prompts: the denominator of the two counts above
    examples: tuple[tuple[str, str], ...]  # (prompt, answer) of the tuned model: styled, wrong


def reward_hacking(before, after, max_examples: int = 3) -> RewardHacking | None:
    """The tuned model's `after` against the fine-tuned model's `before` (Assessments on the same prompts):
    a RewardHacking when the preferred share rose and task accuracy fell, both beyond their 95% intervals."""
    pd = difference_interval(before.preferred_count, before.n, after.preferred_count, after.n)
    ad = difference_interval(before.correct_count, before.task_n, after.correct_count, after.task_n)
    if not (pd[1] > 0 and ad[2] < 0):
        return None
    wrong_before = sum(styled_but_wrong(e, a) for e, a in zip(before.examples, before.answers))
    styled_wrong = [(e, a) for e, a in zip(after.examples, after.answers) if styled_but_wrong(e, a)]
    styled_wrong.sort(key=lambda ea: ea[0].task != "add")  # additions first: the sum is the easiest to check by eye
    return RewardHacking(
        pd, ad, before.preferred_share, after.preferred_share, before.accuracy, after.accuracy, wrong_before, len(styled_wrong),
        after.task_n, tuple((e.prompt, a) for e, a in styled_wrong[:max_examples]),
    )


# ---------------------------------------------------------------- over-optimisation


def overoptimisation(history: list[dict]) -> dict | None:
    """The RLHF history's held-out measurements (`held_out_preferred` of `held_out_n` answers) against its
    mean reward: a dict of the figures when the reward rose while the share fell from its peak by more
    than the 95% interval of that fall; None otherwise (or when the history does not say how many answers).

    >>> h = [dict(step=1, reward=0.1, held_out_preferred=0.8, held_out_n=64), dict(step=5, reward=0.5), dict(step=10, reward=0.9, held_out_preferred=0.5, held_out_n=64)]
    >>> o = overoptimisation(h); (o["peak_step"], o["peak"], o["last"], o["high"] < 0)
    (1, 0.8, 0.5, True)
    >>> overoptimisation(h[:2] + [dict(step=10, reward=0.9, held_out_preferred=0.72, held_out_n=64)]) is None  # 8 points of 64: inside the noise
    True
    """
    evals = [h for h in history if "held_out_preferred" in h and h.get("held_out_n")]
    rewards = [h["reward"] for h in history if "reward" in h]
    if len(evals) < 2 or len(rewards) < 2:
        return None
    reward_up = rewards[-1] - rewards[0]
    peak, last = max(evals[:-1], key=lambda h: h["held_out_preferred"]), evals[-1]
    n1, n2 = int(peak["held_out_n"]), int(last["held_out_n"])
    d, lo, hi = difference_interval(round(peak["held_out_preferred"] * n1), n1, round(last["held_out_preferred"] * n2), n2)
    if reward_up <= 0 or hi >= 0:
        return None
    return dict(reward_up=reward_up, peak=peak["held_out_preferred"], peak_step=peak["step"], last=last["held_out_preferred"], last_step=last["step"],
                n=n2, change=d, low=lo, high=hi)


# ---------------------------------------------------------------- pass@1 against pass@k


def paired_interval(before: list[float], after: list[float]) -> tuple[float, float, float]:
    """(mean change, low, high): the 95% interval of a mean of paired per-prompt changes (Student's t).

    >>> [round(v, 3) for v in paired_interval([0.0, 0.5, 0.5, 1.0], [0.5, 1.0, 0.5, 1.0])]
    [0.25, -0.209, 0.709]
    """
    diffs = [a - b for a, b in zip(after, before)]
    n = len(diffs)
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = sum(diffs) / n
    if n == 1:
        return mean, -1.0, 1.0
    from scipy.stats import t  # here: only this sentence needs it

    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _per_prompt(passes: dict) -> tuple[list[float], list[float]] | None:
    """Per-prompt pass@1 (c/k) and pass@k (any good) from the good-answer counts a pass@k measurement keeps."""
    goods, k = passes.get("good"), passes.get("k")
    if not goods or not k:
        return None
    return [c / k for c in goods], [1.0 if c > 0 else 0.0 for c in goods]


def direction(lo: float, hi: float, up: str = "rose", down: str = "fell", flat: str = "did not measurably change") -> str:
    return up if lo > 0 else down if hi < 0 else flat


def pass_reading(method: str, before: dict, after: dict, reinforcement: bool) -> str:
    """pass@1 and pass@k of `method` against the fine-tuned model's, on the same prompts, in words.

    `reinforcement`: whether the method is reinforcement learning (RLHF is; DPO samples nothing and is
    not). Yue et al. 2025's reading (RL raises pass@1 without raising pass@k at large k) is offered only
    for RL, and only as far as this run's figures agree with it."""
    k = before["k"]
    head = (f"{method}: pass@1 {share(before['pass@1'])} → {share(after['pass@1'])}, pass@{k} {share(before[f'pass@{k}'])} → {share(after[f'pass@{k}'])}")
    pb, pa = _per_prompt(before), _per_prompt(after)
    if pb is None or pa is None or len(pb[0]) != len(pa[0]):
        return head + " (no per-prompt counts kept: no interval)."
    d1 = paired_interval(pb[0], pa[0])
    dk = paired_interval(pb[1], pa[1])
    out = f"{head}: pass@1 {direction(d1[1], d1[2])} ({interval_words(*d1)}), pass@{k} {direction(dk[1], dk[2])} ({interval_words(*dk)}), on {len(pb[0])} prompts."
    if not reinforcement:
        return out + f" {method} is not reinforcement learning (it samples no answers), so the finding about RL below does not apply to it."
    if d1[1] > 0 and dk[1] <= 0:
        return out + (f" That is the pattern Yue et al. 2025 report for reinforcement learning: answers the model could already give "
                      f"(its pass@{k}) became its usual answer (pass@1), without new ones.")
    if d1[1] > 0 and dk[1] > 0:
        return out + (f" Yue et al. 2025 found RL raises pass@1 but not pass@k at large k (up to 256); this run measured k = {k} only, "
                      f"and pass@{k} rose too, so it does not show that ceiling.")
    return out + " pass@1 did not rise beyond the noise, so this run does not show the sharpening Yue et al. 2025 report for RL."


# ---------------------------------------------------------------- room for preference tuning


def upper_bound_of_none(n: int) -> float:
    """95% upper bound of a share seen 0 times in n tries (exact: 1 - 0.05^(1/n), about 3/n).

    >>> round(upper_bound_of_none(100), 4), upper_bound_of_none(0)
    (0.0295, 1.0)
    """
    return 1.0 if n <= 0 else 1.0 - 0.05 ** (1.0 / n)


def rarely_or_always(good: int, n: int) -> str | None:
    """A sentence when the fine-tuned model's `n` sampled answers leave preference tuning little to work
    with: none preferred (with the upper bound that 0 of n allows), or almost all. None otherwise.

    >>> rarely_or_always(0, 300)[:60]
    'None of 300 sampled answers did what the instructions prefer'
    >>> rarely_or_always(30, 300) is None
    True
    """
    if n <= 0:
        return None
    if good == 0:
        return (f"None of {n} sampled answers did what the instructions prefer (so the fine-tuned model does it in at most "
                f"{share(upper_bound_of_none(n))} of its answers, 95% upper bound). RLHF learns from the model's own samples: "
                "a behaviour it almost never samples is almost never rewarded, so fine-tune on examples of it first.")
    from llm_core.alignment.judge import wilson_interval

    lo, _ = wilson_interval(good, n)
    if lo >= 0.9:
        return (f"{good} of {n} sampled answers ({share(good / n)}) already do what the instructions prefer: "
                "preference tuning has little left to choose between.")
    return None


# ---------------------------------------------------------------- forgetting


def forgetting(corpus: str, tokens: int, before: float, after: float) -> str:
    """What fine-tuning did to the loss on the base model's own held-out text (nats per token).

    >>> forgetting("tinyshakespeare", 8192, 1.52, 1.71)[:90]
    'On 8,192 tokens of held-out tinyshakespeare text, the loss rose from 1.52 to 1.71 nats per'
    >>> forgetting("tinyshakespeare", 8192, 1.52, 1.71).split(": ", 1)[1]
    'fine-tuning updates every weight, and it overwrote some of what the model knew about that text.'
    """
    rel = (after - before) / before if before > 0 else 0.0
    verb = "rose" if after > before + 0.005 else "fell" if after < before - 0.005 else "stayed"
    change = f" (+{100 * rel:.0f}%)" if verb == "rose" else f" ({100 * rel:.0f}%)" if verb == "fell" else ""
    tail = {
        "rose": "fine-tuning updates every weight, and it overwrote some of what the model knew about that text.",
        "fell": "fine-tuning updates every weight; this time it did not cost the model its old text.",
        "stayed": "fine-tuning updates every weight, but this time the old text is predicted as well as before.",
    }[verb]
    moved = f"{verb} from {before:.2f} to {after:.2f}" if verb != "stayed" else f"stayed at {after:.2f} (from {before:.2f})"
    return f"On {tokens:,} tokens of held-out {corpus} text, the loss {moved} nats per token{change}: {tail}"
