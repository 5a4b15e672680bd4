"""One prompt through the whole pipeline, for the Overview: text -> tokens -> vectors -> attention
-> next-token probabilities -> the sampling loop.

What it is: `walk(model, tokenizer, text)` runs the real model once on the prompt (trace path)
and a short generation after it, and returns the numbers each stage of the pipeline shows.
What it is not: the chapters themselves; each stage has its own chapter with the full view.
torch is imported inside `walk`, not at the top: the Overview reads this module before torch is
loaded (its first page on a fresh server is drawn from shipped figures: first_page.py).
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from dataclasses import dataclass

from llm_core.text.tokenizers import Tokenizer

# What the Overview sends through the model: its prompt box's first text, and the continuation's
# length and temperature (box 5). The shipped first page (first_page.py) is made with the same.
DEFAULT_PROMPT = "ROMEO: O, she doth teach the torches to burn bright"
NEW_TOKENS, TEMPERATURE = 80, 0.8


@dataclass
class Walkthrough:
    token_ids: list[int]
    pieces: list[str]  # display text of each token
    truncated: int  # tokens dropped from the front to fit the context window
    vector_preview: list[float]  # the first numbers of the last token's input vector
    vector_size: int
    attention_source: list[tuple[int, float]]  # per layer: (position the last token attends to most, weight), head-averaged
    next_tokens: list[tuple[str, float]]  # most likely next tokens and their probabilities
    tokens_for_90: int  # how many of the likeliest next tokens together hold 90% of the probability
    continuation: str  # a sampled continuation
    new_tokens: int  # tokens in the continuation
    n_layer: int
    n_head: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Walkthrough:
        """The inverse of `to_dict` after a JSON round trip (which turns tuples into lists)."""
        return cls(**{**d, "attention_source": [tuple(a) for a in d["attention_source"]], "next_tokens": [tuple(t) for t in d["next_tokens"]]})


def walk(model, tokenizer: Tokenizer, text: str, new_tokens: int = 60, temperature: float = 0.8, seed: int = 0, top: int = 5) -> Walkthrough:
    """Run `text` through `model`; raises ValueError (with a readable message) for unusable text."""
    import torch

    with torch.no_grad():
        return _walk(model, tokenizer, text, new_tokens, temperature, seed, top)


def _walk(model, tokenizer: Tokenizer, text: str, new_tokens: int, temperature: float, seed: int, top: int) -> Walkthrough:
    import torch

    from llm_core.generation.sample import generate

    if not text:
        raise ValueError("type some text to send through the pipeline.")
    ids = tokenizer.encode(text)
    if not ids:
        raise ValueError("this text gives no tokens.")
    block = model.config.block_size
    truncated = max(0, len(ids) - block)
    ids = ids[truncated:]
    idx = torch.tensor(ids, device=model.device)
    trace = model.trace(idx)
    last = len(ids) - 1
    attention = []
    for layer in trace.attention:  # (H, T, T)
        row = layer[:, last, :].mean(0)  # (T,) averaged over heads
        pos = int(row.argmax())
        attention.append((pos, float(row[pos])))
    probs = torch.softmax(trace.logits[last], -1)
    values, indices = torch.topk(probs, min(top, probs.numel()))
    next_tokens = [(tokenizer.token_text(int(i)), float(v)) for v, i in zip(values, indices)]
    tokens_for_90 = covering(probs.tolist(), 0.9)
    steps = list(generate(model, ids, new_tokens, temperature=temperature, seed=seed, top_n=0, keep_logits=False))
    continuation = tokenizer.decode([s.token_id for s in steps])
    vector = trace.residual[0, last]
    return Walkthrough(
        token_ids=ids,
        pieces=[tokenizer.token_text(i) for i in ids],
        truncated=truncated,
        vector_preview=[round(float(v), 3) for v in vector[:8]],
        vector_size=vector.numel(),
        attention_source=attention,
        next_tokens=next_tokens,
        tokens_for_90=tokens_for_90,
        continuation=continuation,
        new_tokens=len(steps),
        n_layer=model.config.n_layer,
        n_head=model.config.n_head,
    )


def covering(probs: list[float], share: float) -> int:
    """How many of the likeliest outcomes together hold at least `share` of the probability.

    >>> covering([0.1, 0.6, 0.25, 0.05], 0.9)
    3
    >>> covering([1.0, 0.0], 0.9)
    1
    """
    total = 0.0
    for n, p in enumerate(sorted(probs, reverse=True), 1):
        total += p
        if total >= share - 1e-9:
            return n
    return len(probs)


def third_party_imports(source: str) -> list[str]:
    """The packages a Python program imports from outside the standard library (the Overview says
    what the runner needs from this, not from a sentence written by hand).

    >>> third_party_imports("import json, torch\\nfrom safetensors import safe_open\\nimport torch.nn.functional as F")
    ['safetensors', 'torch']
    """
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return sorted(n for n in names if n not in sys.stdlib_module_names)
