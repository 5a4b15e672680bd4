"""Sampling: the inference loop, one token per step, with the probabilities in view.

What it is: `shape_probs` (the pure function that turns logits into the distribution actually
sampled from, after temperature, top-k and top-p), and `generate`, a generator that yields one
`SampleStep` per new token: the chosen token, its probability before and after shaping, the top
candidates, the entropy, and the raw logits so a page can re-shape them without running the
model again. Each step draws one uniform random number and `pick_token` walks down the shaped
distribution until the running total passes it, so the same seed gives the same text, and
the draw can be shown. It stops at a stop token or a length limit. With `use_cache` it feeds one token per
step through the model's KV cache; a test proves cached and uncached runs pick the same tokens.

When the text outgrows the context window, the window slides by half a context at a time
(`window_start`): the model then sees the last half-window to full window of tokens. Both the
cached and the uncached paths follow this same rule, so they stay identical, and the cache only
has to be refilled once every half-window.

What it is not: a chat interface or batch generation.

    >>> import torch
    >>> shape_probs(torch.tensor([2.0, 1.0, 0.0]), temperature=0).tolist()  # greedy
    [1.0, 0.0, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from llm_core.model.gpt import GPT, KVCache


def shape_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """The distribution sampled from: softmax(logits / temperature), then top-k, then top-p.

    temperature 0 is the greedy limit (all mass on the highest logit). top_k keeps the k most
    likely tokens; top_p keeps the smallest set of most likely tokens whose probabilities add up
    to at least p. What is cut gets probability 0 and the rest is renormalised.

        >>> logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
        >>> [round(p, 4) for p in shape_probs(logits, top_k=2).tolist()]
        [0.625, 0.375, 0.0, 0.0]
        >>> [round(p, 4) for p in shape_probs(logits, top_p=0.9).tolist()]
        [0.5263, 0.3158, 0.1579, 0.0]
    """
    if temperature < 0:
        raise ValueError("temperature must be zero or positive.")
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).float()
    probs = F.softmax(logits / temperature, dim=-1)
    if top_k is not None and 0 < top_k < probs.size(-1):
        kth = torch.topk(probs, top_k, dim=-1).values[..., -1:]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
        probs = probs / probs.sum(-1, keepdim=True)
    if top_p is not None and 0 < top_p < 1:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the more likely tokens
        keep_sorted = before < top_p  # the first token always stays
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        probs = torch.where(keep, probs, torch.zeros_like(probs))
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def entropy(probs: torch.Tensor) -> float:
    """Shannon entropy in nats (0 for a certain choice, ln V for a uniform guess over V tokens)."""
    return float(torch.special.entr(probs).sum())  # entr(p) = -p ln p, and 0 where p is 0


def window_start(n_tokens: int, block_size: int) -> int:
    """First token the model sees when the text holds n_tokens: the window slides by half-contexts.

        >>> [window_start(n, 8) for n in (8, 9, 12, 13)]
        [0, 4, 4, 8]
    """
    if n_tokens <= block_size:
        return 0
    half = max(1, block_size // 2)
    return -(-(n_tokens - block_size) // half) * half


@dataclass(frozen=True)
class Shaping:
    """How raw logits become the distribution sampled from: temperature, then top-k, then top-p.

    top_k None (or 0) and top_p None (or 1) switch those cuts off; temperature 0 is greedy.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    @property
    def plain(self) -> bool:
        """True when the shaped distribution is the raw softmax (temperature 1, nothing cut)."""
        return self.temperature == 1 and not self.top_k and not (self.top_p and self.top_p < 1)

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        return F.softmax(logits, dim=-1) if self.plain else shape_probs(logits, self.temperature, self.top_k, self.top_p)


NUMPY_PICK_MAX_VOCAB = 2048


def pick_token(probs: torch.Tensor, draw: float) -> int:
    """The token a uniform random number `draw` in [0, 1) selects from `probs` (V,).

    Walk down the tokens from the most likely, adding up their probabilities, and stop at the
    first whose running total passes `draw`: each token is picked with exactly its probability,
    and one random number per step is all the randomness there is. Greedy (one-hot) probabilities
    pick their token whatever the draw.

        >>> probs = torch.tensor([0.2, 0.5, 0.3])  # running totals, most likely first: 0.5, 0.8, 1.0
        >>> [pick_token(probs, u) for u in (0.1, 0.49, 0.5, 0.79, 0.95)]
        [1, 1, 2, 2, 0]

    Float32 probabilities on the CPU over a small vocabulary take the same walk in NumPy (16 against
    27 microseconds for 65 characters, paid once per generated token; over GPT-2's 50,257 tokens
    NumPy's sort is the slower); `tests/test_sample.py` pins the two to the same picks.
    """
    if probs.dtype == torch.float32 and probs.device.type == "cpu" and probs.dim() == 1 and probs.numel() <= NUMPY_PICK_MAX_VOCAB and not probs.requires_grad:
        p = probs.numpy()
        if not np.isnan(p).any():  # a diverged model's NaNs: PyTorch's sort places them as the walk below expects
            order = np.argsort(-p, kind="stable")  # most likely first; equal probabilities in token order, as torch.sort(stable=True)
            running = np.cumsum(p[order], dtype=np.float64).astype(np.float32)  # summed in double, as torch.cumsum on the CPU
            position = int(np.searchsorted(running, draw * running[-1], side="right"))
            if position >= running.size:
                position = int(np.count_nonzero(p > 0)) - 1
            return int(order[position])
    return pick_token_torch(probs, draw)


def pick_token_torch(probs: torch.Tensor, draw: float) -> int:
    """`pick_token` in PyTorch: any dtype and device."""
    sorted_probs, order = torch.sort(probs.float(), descending=True, stable=True)
    running = sorted_probs.cumsum(0)
    position = int(torch.searchsorted(running, draw * running[-1], right=True))
    if position >= running.numel():
        # Only a draw rounded up to the total lands past the end; step back to the last token with
        # probability above 0. (Before the end, the running total only passes the draw at such a
        # token: tokens with probability 0 come last and do not raise it.)
        position = int((sorted_probs > 0).sum()) - 1
    return int(order[position])


@dataclass
class Candidate:
    token_id: int
    raw_prob: float  # probability at temperature 1, before any cut
    prob: float  # probability after temperature, top-k and top-p (0 when cut)


@dataclass
class SampleStep:
    index: int  # 0 for the first generated token
    token_id: int
    prob: float  # probability of the chosen token in the shaped distribution
    raw_prob: float  # its probability at temperature 1 with nothing cut
    entropy: float  # entropy of the shaped distribution (nats)
    raw_entropy: float  # entropy at temperature 1 (nats)
    candidates: list[Candidate] = field(default_factory=list)  # the most likely tokens, by raw probability
    logits: torch.Tensor | None = None  # (V,) raw logits of this step, for re-shaping without the model
    context_start: int = 0  # index (in the whole token list) of the first token the model saw
    context_length: int = 0  # how many tokens the model saw
    stopped: str | None = None  # set on the last step: "stop token" or "length"
    draw: float = math.nan  # the uniform random number that picked the token (see pick_token)
    shaping: Shaping | None = None  # the temperature, top-k and top-p it was sampled with


def next_token_logits(model: GPT, ids: list[int], cache: KVCache | None, cache_state: dict) -> tuple[torch.Tensor, int]:
    """Logits (V,) for the token after `ids`, using and updating the KV cache when given."""
    start = window_start(len(ids), model.config.block_size)
    if cache is None:
        logits, _ = model(torch.tensor([ids[start:]], dtype=torch.long, device=model.device))
        return logits[0, -1], start
    if cache_state.get("start") != start:
        cache.reset()  # the window moved: refill the cache from the new window start
        cache_state["start"] = start
    fresh = ids[start + cache.length :]
    if len(fresh) == 1:
        return model.decode_next(fresh[0], cache), start
    logits, _ = model(torch.tensor([fresh], dtype=torch.long, device=model.device), kv_cache=cache)
    return logits[0, -1], start


def sample_step(
    logits: torch.Tensor,
    draw: float,
    shaping: Shaping,
    index: int = 0,
    context_start: int = 0,
    context_length: int = 0,
    top_n: int = 10,
    keep_logits: bool = True,
) -> SampleStep:
    """One step of the loop after the model has run: shape the logits, let `draw` pick a token.

    The single step function shared by `generate` and `stepper.GenerationSession`, so a text made
    one click at a time is the text `generate` makes with the same seed.
    """
    if logits.dtype != torch.float32 or logits.device.type != "cpu":
        logits = logits.float().cpu()
    raw = F.softmax(logits, dim=-1)
    probs = raw if shaping.plain else shaping.probs(logits)
    token = pick_token(probs, draw)
    prob = float(probs[token])
    candidates = []
    if top_n:
        top = torch.topk(raw, min(top_n, raw.numel()))
        candidates = [Candidate(int(i), float(p), float(probs[i])) for p, i in zip(top.values, top.indices)]
    return SampleStep(
        index=index,
        token_id=token,
        prob=prob,
        raw_prob=prob if probs is raw else float(raw[token]),
        entropy=entropy(probs) if top_n else math.nan,
        raw_entropy=entropy(raw) if top_n else math.nan,
        candidates=candidates,
        logits=logits if keep_logits else None,
        context_start=context_start,
        context_length=context_length,
        draw=draw,
        shaping=shaping,
    )


def check_prompt(model: GPT, prompt_ids: list[int]) -> list[int]:
    """The prompt as a list of ints; ValueError (a readable message) if it cannot be continued."""
    if not prompt_ids:
        raise ValueError("the prompt is empty: give at least one token to continue from.")
    vocab = model.config.vocab_size
    if any(not 0 <= int(t) < vocab for t in prompt_ids):
        raise ValueError(f"the prompt holds token ids outside this model's vocabulary of {vocab}.")
    return [int(t) for t in prompt_ids]


def new_rng(seed: int | None) -> torch.Generator:
    generator = torch.Generator(device="cpu")
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return generator


def next_draw(generator: torch.Generator) -> float:
    """One uniform random number in [0, 1): the only randomness a step uses."""
    return float(torch.rand((), generator=generator))


@torch.inference_mode()
def generate(
    model: GPT,
    prompt_ids: list[int],
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: tuple[int, ...] | list[int] = (),
    use_cache: bool = True,
    top_n: int = 10,
    keep_logits: bool = True,
):
    """Yield one `SampleStep` per new token until a stop token or `max_new_tokens`.

    The same seed gives the same tokens. `top_n` candidates (by raw probability) are reported
    per step; `top_n=0` and `keep_logits=False` make the loop lean for benchmarks.
    """
    ids = check_prompt(model, prompt_ids)
    model = model.decoding_model()  # a small model on a GPU: a CPU copy, faster one token at a time
    if max_new_tokens < 0:
        raise ValueError("max_new_tokens must be zero or positive.")
    shaping = Shaping(temperature, top_k, top_p)
    if temperature < 0:
        raise ValueError("temperature must be zero or positive.")
    model.eval()
    generator = new_rng(seed)
    cache = KVCache(model.config, 1, model.device, dtype=model.wte.weight.dtype) if use_cache else None
    cache_state: dict = {}
    stop = set(int(s) for s in stop_ids)
    for index in range(max_new_tokens):
        logits, start = next_token_logits(model, ids, cache, cache_state)
        step = sample_step(logits, next_draw(generator), shaping, index, start, len(ids) - start, top_n, keep_logits)
        ids.append(step.token_id)
        step.stopped = "stop token" if step.token_id in stop else ("length" if index == max_new_tokens - 1 else None)
        yield step
        if step.stopped:
            return
