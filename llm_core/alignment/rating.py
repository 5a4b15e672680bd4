"""Rankings: pairs of the fine-tuned model's own answers, ranked by a person or by the rater.

What it is: `candidate_pairs` samples two different answers to each of some training prompts;
`rate_pair` ranks one pair by the written instructions (`judge.prefer`), recording who ranked it;
`auto_rate` is the automatic rater the page's "Rate for me" button and the benchmark both call:
it samples pairs and ranks them until it has `n` rankings (pairs the rules cannot separate are
skipped, as the instructions say).
What it is not: the reward model, which learns from these rankings (`preference.py`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from llm_core.alignment.judge import prefer
from llm_core.alignment.preference import Pair
from llm_core.alignment.sampling import sample_responses
from llm_core.alignment.tasks import Example
from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import Tokenizer

MAX_ANSWER_TOKENS = 24  # longer than any built-in answer
RATER = "rater"  # Pair.rated_by for the automatic rater's rankings
PERSON = "you"  # ... and for a person's


def candidate_pairs(model: GPT, tokenizer: Tokenizer, examples: list[Example], n: int, seed: int = 0, temperature: float = 1.0,
                    answers_per_prompt: int = 2, separable_first: bool = False, prompts: int | None = None) -> list[tuple[Example, str, str]]:
    """Up to n (prompt, answer A, answer B) with A != B, from `answers_per_prompt` answers sampled for each of
    `prompts` (default 2n) prompts. With `separable_first`, the pair of a prompt is one the instructions rank, where there is one
    (what the rater does: reading four answers it skips the pairs its rules cannot separate)."""
    pool = random.Random(seed).sample(examples, min(len(examples), prompts or 2 * n))
    generator = torch.Generator().manual_seed(seed)
    out = []
    for ex, answers in zip(pool, sample_responses(model, tokenizer, pool, n=answers_per_prompt, temperature=temperature, max_tokens=MAX_ANSWER_TOKENS, generator=generator)):
        texts = list(dict.fromkeys(s.text for s in answers))
        pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1 :]]
        if separable_first:
            pairs.sort(key=lambda p: prefer(ex, *p)[0] is None)
        if pairs:
            out.append((ex, *pairs[0]))
        if len(out) >= n:
            break
    return out


def rate_pair(example: Example, a: str, b: str, choice: int | None = None, rated_by: str = RATER) -> Pair | None:
    """A Pair (preferred answer first) from a choice (0: a, 1: b; None: skip); the rater chooses by the
    written instructions when `rated_by` is the rater."""
    if rated_by == RATER:
        choice, _ = prefer(example, a, b)
    if choice is None:
        return None
    return Pair(example, a, b, rated_by) if choice == 0 else Pair(example, b, a, rated_by)


@dataclass
class RatingReport:
    pairs: list[Pair]
    looked: int  # pairs sampled and read
    skipped: int  # pairs the rules could not separate


def auto_rate(model: GPT, tokenizer: Tokenizer, examples: list[Example], n: int, seed: int = 0, max_looked: int | None = None) -> RatingReport:
    """The automatic rater: sample pairs from the model and rank them by the instructions until n are ranked."""
    max_looked = max_looked or 10 * n
    pairs, looked, round_ = [], 0, 0
    while len(pairs) < n and looked < max_looked:
        want = min(128, max(8, n - len(pairs)))
        # four answers per prompt: most prompts then give a pair the instructions rank
        batch = candidate_pairs(model, tokenizer, examples, want, seed=seed + 7919 * round_, answers_per_prompt=4, separable_first=True, prompts=max(48, want * 2))
        round_ += 1
        if not batch:
            break
        for ex, a, b in batch:
            if len(pairs) >= n or looked >= max_looked:
                break
            looked += 1
            pair = rate_pair(ex, a, b)
            if pair is not None:
                pairs.append(pair)
    return RatingReport(pairs, looked, looked - len(pairs))
