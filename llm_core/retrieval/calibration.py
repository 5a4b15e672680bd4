"""How sure a model is of its answer, and whether that sureness means anything.

What it is: `answer_with_confidence` (the greedy answer to a chat prompt, with the probability the
model gave to that whole answer, its end token included, and the entropy of the first answer
token), `reliability_bins` and `expected_calibration_error` (Guo et al. 2017: the gap between
confidence and accuracy, averaged over equal-width confidence bins weighted by how many answers
fall in each), and `abstention_curve` (answer only when confidence reaches a threshold: how many
questions are still answered, and how many of those are right).
What it is not: training, or a claim about large models (those are cited, not measured, here).

    >>> conf, right = [0.9, 0.8, 0.3, 0.1], [True, False, False, False]
    >>> round(expected_calibration_error(conf, right, n_bins=2), 4)  # high bin |0.5-0.85|, low bin |0-0.2|
    0.275
    >>> abstention_curve(conf, right, [0.0, 0.5, 0.95])
    [(0.0, 1.0, 0.25), (0.5, 0.5, 0.5), (0.95, 0.0, None)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from llm_core.alignment.finetune import END, render_prompt
from llm_core.generation.sample import generate
from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import Tokenizer


@dataclass(frozen=True)
class ScoredAnswer:
    text: str  # the answer, without the end token
    confidence: float  # probability of the whole answer (product over its tokens and the end token)
    first_entropy: float  # entropy (nats) of the distribution over the first answer token
    token_probs: tuple[float, ...]  # probability of each chosen token, the end token last when reached


def sequence_confidence(token_probs) -> float:
    """Probability of a whole answer: the product of its tokens' probabilities.

    >>> round(sequence_confidence([0.5, 0.8, 1.0]), 4)
    0.4
    """
    return math.exp(sum(math.log(max(p, 1e-30)) for p in token_probs))


@torch.no_grad()
def answer_with_confidence(model: GPT, tokenizer: Tokenizer, prompt: str, max_tokens: int = 24) -> ScoredAnswer:
    """The greedy answer to `prompt` in the chat format, and how much probability the model gave it."""
    ids = tokenizer.encode(render_prompt(prompt))
    end = tokenizer.special_tokens[END]
    room = model.config.block_size - len(ids)
    if room <= 0:
        raise ValueError(f"the prompt ({len(ids)} tokens) leaves no room for an answer in the model's context of {model.config.block_size}.")
    steps = list(generate(model, ids, min(max_tokens, room), temperature=0.0, stop_ids=[end], top_n=1, keep_logits=False))
    probs = tuple(s.raw_prob for s in steps)
    out = [s.token_id for s in steps]
    if out and out[-1] == end:
        out = out[:-1]
    return ScoredAnswer(tokenizer.decode(out), sequence_confidence(probs), steps[0].raw_entropy if steps else math.nan, probs)


def reliability_bins(confidence, correct, n_bins: int = 10) -> list[dict]:
    """Equal-width bins over [0, 1]: for each non-empty bin its range, count, mean confidence and accuracy.

    >>> [(b["count"], b["confidence"], b["accuracy"]) for b in reliability_bins([0.9, 0.8, 0.3, 0.1], [True, False, False, False], 2)]
    [(2, 0.2, 0.0), (2, 0.85, 0.5)]
    """
    if len(confidence) != len(correct):
        raise ValueError("confidence and correct must have the same length.")
    bins = [[] for _ in range(n_bins)]
    for c, ok in zip(confidence, correct):
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"a confidence must lie in [0, 1] (got {c}).")
        bins[min(int(c * n_bins), n_bins - 1)].append((c, bool(ok)))
    out = []
    for i, items in enumerate(bins):
        if items:
            out.append(dict(low=i / n_bins, high=(i + 1) / n_bins, count=len(items),
                            confidence=round(sum(c for c, _ in items) / len(items), 10), accuracy=round(sum(ok for _, ok in items) / len(items), 10)))
    return out


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE = sum over bins of (answers in bin / all answers) x |accuracy in bin - mean confidence in bin|."""
    n = len(confidence)
    if n == 0:
        raise ValueError("no answers to measure calibration on.")
    return sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability_bins(confidence, correct, n_bins))


def abstention_curve(confidence, correct, thresholds) -> list[tuple[float, float, float | None]]:
    """(threshold, coverage, accuracy of the answered) when the model says "I don't know" below the threshold."""
    n = len(confidence)
    out = []
    for t in thresholds:
        answered = [ok for c, ok in zip(confidence, correct) if c >= t]
        out.append((t, len(answered) / n if n else 0.0, sum(answered) / len(answered) if answered else None))
    return out
