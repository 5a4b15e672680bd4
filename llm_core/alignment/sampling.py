"""Many answers at once: batched sampling of chat responses, for rating, RLHF and evaluation.

What it is: `sample_responses` draws `n` answers to each of many prompts from a chat model in a
few batched forward passes (prompts of equal length share a batch, so no padding is needed, and a
KV cache makes each new token one short step). It returns the answers as text and as token ids
(the response and its closing `<|end|>`), which the RL stage scores and trains on.
What it is not: the step-by-step sampler the Generate chapter shows (`generation/sample.py`): this
one keeps no probabilities, only what RLHF and the judges need.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_core.alignment.finetune import END, render_prompt
from llm_core.alignment.tasks import Example
from llm_core.model.gpt import GPT, KVCache
from llm_core.text.tokenizers import Tokenizer


@dataclass
class Sampled:
    example: Example
    prompt_ids: list[int]
    response_ids: list[int]  # sampled tokens, ending with <|end|> when the model closed its answer
    text: str  # the response without <|end|>


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of `probs` (B, V), on probs' device.

    A generator made for another device (the callers' seeded CPU generators, with the model on a
    GPU) draws there: torch.multinomial refuses a generator of another device type, and drawing on
    the generator's device gives one seed the same answers wherever the model runs.

    >>> g = torch.Generator().manual_seed(0)
    >>> draw(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), g).tolist()
    [1, 0]
    """
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), 1, generator=generator).squeeze(-1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def sample_responses(
    model: GPT,
    tokenizer: Tokenizer,
    examples: list[Example],
    n: int = 1,
    temperature: float = 1.0,
    max_tokens: int = 24,
    generator: torch.Generator | None = None,
) -> list[list[Sampled]]:
    """n sampled responses for each example (temperature 0: greedy), in the order of `examples`."""
    end = tokenizer.special_tokens[END]
    was_training = model.training
    model.eval()
    encoded = [tokenizer.encode(render_prompt(ex.prompt)) for ex in examples]
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    out: list[list[Sampled]] = [[] for _ in examples]
    device = model.device
    for length, indices in by_length.items():
        room = min(max_tokens, model.config.block_size - length)
        if room <= 0:
            raise ValueError("a prompt leaves no room for an answer in the context window.")
        rows = [i for i in indices for _ in range(n)]
        x = torch.tensor([encoded[i] for i in rows], device=device)  # (B, L)
        cache = KVCache(model.config, len(rows), device, dtype=model.wte.weight.dtype)
        logits, _ = model(x, kv_cache=cache)
        logits = logits[:, -1].float()  # (B, V)
        new = torch.full((len(rows), room), end, dtype=torch.long, device=device)
        done = torch.zeros(len(rows), dtype=torch.bool, device=device)
        for t in range(room):
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                token = draw(torch.softmax(logits / temperature, -1), generator)
            token = torch.where(done, torch.full_like(token, end), token)
            new[:, t] = token
            done |= token == end
            if bool(done.all()) or t == room - 1:
                break
            logits, _ = model(token[:, None], kv_cache=cache)
            logits = logits[:, -1].float()
        for r, i in enumerate(rows):
            ids = new[r].tolist()
            if end in ids:
                ids = ids[: ids.index(end) + 1]
            text = tokenizer.decode([t for t in ids if t != end])
            out[i].append(Sampled(examples[i], encoded[i], ids, text))
    model.train(was_training)
    return out
