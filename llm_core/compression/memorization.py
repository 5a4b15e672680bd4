"""What "lossy" means in practice: does the model give back its training text when prompted with it?

What it is: greedy decoding (always the most likely next token) reproduces a passage exactly as
long as the model's top prediction is the true next token at every step. `correct_predictions`
finds, in one batched pass over a text, where the top prediction is right; the longest runs of
right predictions are the passages the model can recite, and the typical run is how far it gets
before it says something plausible but different. `probe` then checks a prompt by really
generating greedily through the Generate chapter's loop and comparing with the text.

    >>> longest_runs([True, True, False, True, True, True, False], 2)
    [(3, 3), (0, 2)]

What it is not: an extraction attack (Carlini et al. 2021 sample far more and rank by likelihood).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_core.generation.sample import generate
from llm_core.model.gpt import GPT
from llm_core.text.data import eval_windows
from llm_core.text.tokenizers import Tokenizer


@dataclass
class Probe:
    prompt: str
    truth: str  # the real continuation
    output: str  # the model's greedy continuation
    matched_tokens: int  # tokens equal before the first difference
    matched_chars: int  # the same in characters

    @property
    def reproduced(self) -> bool:
        return self.output == self.truth


@torch.inference_mode()
def correct_predictions(model: GPT, ids: list[int], batch_windows: int = 32) -> torch.Tensor:
    """Bool (N,): whether the top prediction for token i+1 is right, windows of the context length (as the validation loss)."""
    data = torch.as_tensor(ids, dtype=torch.long)
    x, y = eval_windows(data, model.config.block_size)  # (W, T) each
    out = []
    for i in range(0, len(x), batch_windows):
        logits, _ = model(x[i : i + batch_windows].to(model.device))
        out.append((logits.argmax(-1).cpu() == y[i : i + batch_windows]).reshape(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def longest_runs(correct, count: int) -> list[tuple[int, int]]:
    """The `count` longest runs of True as (start, length), longest first (ties: earliest first)."""
    runs, start = [], None
    for i, ok in enumerate(list(correct) + [False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            runs.append((start, i - start))
            start = None
    return sorted(runs, key=lambda r: (-r[1], r[0]))[:count]


def mean_run(correct) -> float:
    """Average number of right top predictions in a row, starting from every position (0 where the first is wrong)."""
    c = torch.as_tensor(correct, dtype=torch.bool).tolist()
    total, run = 0, 0
    for ok in reversed(c):
        run = run + 1 if ok else 0
        total += run
    return total / max(1, len(c))


@torch.inference_mode()
def probe(model: GPT, tokenizer: Tokenizer, ids: list[int], start: int, prompt_tokens: int = 64, continuation_tokens: int = 80) -> Probe:
    """Prompt with ids[start - prompt_tokens : start], generate greedily, compare with what follows."""
    prompt = ids[max(0, start - prompt_tokens) : start]
    truth = ids[start : start + continuation_tokens]
    out = [s.token_id for s in generate(model, prompt, max_new_tokens=len(truth), temperature=0, top_n=0, keep_logits=False)]
    matched = 0
    for a, b in zip(out, truth):
        if a != b:
            break
        matched += 1
    return Probe(tokenizer.decode(prompt), tokenizer.decode(truth), tokenizer.decode(out), matched, len(tokenizer.decode(truth[:matched])))
