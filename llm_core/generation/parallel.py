"""One pass over a window against one token at a time: why training reads a whole window at once
and generation cannot.

What it is: `measure_parallel(model, prompt_ids)` writes a stretch of text greedily, one token per
model run through the KV cache (and times the same steps without it at evenly spaced lengths: each
is a whole pass over the text so far), then runs the model once over the same text as training does: one forward pass over the window gives a next-token prediction at every
position (the causal mask keeps each position from seeing later ones), and a backward pass after
it is the rest of a training step's work. It times each way and divides by the predictions it
made, and counts at how many positions the single pass's top guess is the token that generation
picked one at a time (the same predictions, computed at once).
What it is not: a benchmark of the engine (`llm_core.bench`), or a training step (no optimizer
update: the weights are never changed).

    >>> from llm_core.model.config import model_preset
    >>> from llm_core.training.loop import build_model
    >>> cost = measure_parallel(build_model(model_preset("nano", 12), seed=0), [1, 2, 3], repeats=1)
    >>> cost.one_pass.predictions_per_run, cost.cached.predictions_per_run, cost.window
    (64, 1, 64)
    >>> cost.matches == cost.generated_in_window
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from llm_core.generation.sample import check_prompt, next_token_logits
from llm_core.model.gpt import GPT, KVCache

MAX_WINDOW = 128  # tokens in the pass: larger contexts would make the uncached generation slow to measure
UNCACHED_SAMPLES = 24  # generation steps timed without the cache (evenly spaced lengths): each is a full pass, slow


@dataclass
class WayCost:
    """One way of making next-token predictions, timed."""

    name: str
    predictions_per_run: int  # next-token predictions one run of the model gives
    runs: int  # model runs it took to make them all
    total_ms: float  # median over the repeats
    predictions: int

    @property
    def ms_per_prediction(self) -> float:
        return self.total_ms / self.predictions


@dataclass
class ParallelCost:
    window: int  # tokens the single pass reads (= its predictions)
    prompt_used: int  # tokens of the prompt the generation started from
    new_tokens: int  # tokens generated one at a time
    one_pass: WayCost
    with_backward: WayCost
    cached: WayCost
    uncached: WayCost
    uncached_steps_timed: int  # generation steps timed without the cache (the rest are estimated from their mean)
    matches: int  # generated positions where the pass's top guess is the token generation picked
    generated_in_window: int  # how many of the window's next tokens were generated (not the prompt's)
    text_ids: list[int]  # the prompt tokens used and the generated ones
    pass_guesses: list[int]  # the pass's top guess at each window position

    def ways(self) -> list[WayCost]:
        return [self.one_pass, self.with_backward, self.cached, self.uncached]


def _sync(model: GPT) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()


def _median_ms(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()  # each fn waits for the device itself
        times.append(1000 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2], out


def _greedy(model: GPT, prompt: list[int], n: int, use_cache: bool) -> list[int]:
    """n tokens written greedily, one model run each, exactly as generation runs the model."""
    ids = list(prompt)
    cache = KVCache(model.config, 1, model.device, dtype=model.wte.weight.dtype) if use_cache else None
    state: dict = {}
    with torch.inference_mode():
        for _ in range(n):
            logits, _ = next_token_logits(model, ids, cache, state)
            ids.append(int(logits.argmax()))
    _sync(model)
    return ids[len(prompt):]


@torch.inference_mode()
def _uncached_steps_ms(model: GPT, text: list[int], start: int, samples: int) -> tuple[float, int]:
    """Mean time of a generation step without the cache (one pass over the text so far, then the pick),
    timed at `samples` evenly spaced lengths from `start` to the end of `text`: (ms, steps timed)."""
    lengths = sorted({round(start + i * (len(text) - 1 - start) / max(1, samples - 1)) for i in range(samples)})
    block = model.config.block_size
    times = []
    for n in lengths:
        context = torch.tensor([text[max(0, n - block) : n]], dtype=torch.long, device=model.device)
        t0 = time.perf_counter()
        logits, _ = model(context)
        int(logits[0, -1].argmax())
        _sync(model)
        times.append(1000 * (time.perf_counter() - t0))
    return sum(times) / len(times), len(lengths)


def measure_parallel(model: GPT, prompt_ids: list[int], repeats: int = 3) -> ParallelCost:
    """Time a single pass over a window against writing the same text one token at a time.

    The window is min(context, MAX_WINDOW) tokens; the generation starts from the prompt's last
    tokens (at most half a window) and writes the rest, so every way reads contexts of about the
    same length. The single passes are timed `repeats` times (the median is kept); each generation
    once, since it is already an average over its many model runs.
    """
    prompt = check_prompt(model, prompt_ids)
    window = min(model.config.block_size, MAX_WINDOW)
    start = prompt[-max(1, window // 2):]
    n_new = window + 1 - len(start)  # the text is one token longer than the window: its last token is the last target
    model.eval()

    # A generation is already an average over its n_new model runs: it is timed once; the single passes `repeats`
    # times. Without the cache every step is a whole pass over the text so far, so only some steps are timed.
    cached_ms, generated = _median_ms(lambda: _greedy(model, start, n_new, True), 1)
    text = start + generated
    step_ms, timed_steps = _uncached_steps_ms(model, text, len(start), UNCACHED_SAMPLES)
    uncached_ms = step_ms * n_new
    inputs = torch.tensor([text[-window - 1 : -1]], dtype=torch.long, device=model.device)
    targets = torch.tensor([text[-window:]], dtype=torch.long, device=model.device)

    def forward_only():
        with torch.inference_mode():
            logits, loss = model(inputs, targets)  # a training step's forward: every position scored at once
        _sync(model)
        return logits

    params = [p for p in model.parameters() if p.requires_grad]

    def forward_backward():
        _, loss = model(inputs, targets)
        grads = torch.autograd.grad(loss, params)  # gradients without touching .grad: the weights stay as they are
        _sync(model)
        return grads

    pass_ms, logits = _median_ms(forward_only, repeats)
    backward_ms, _ = _median_ms(forward_backward, repeats)
    guesses = logits[0].argmax(-1).tolist()
    generated_targets = min(window, n_new)  # the window's last n_new targets are generated tokens
    matches = sum(1 for g, t in zip(guesses[-generated_targets:], text[-generated_targets:]) if g == t)
    return ParallelCost(
        window=window,
        prompt_used=len(start),
        new_tokens=n_new,
        one_pass=WayCost("one pass over the window (forward)", window, 1, pass_ms, window),
        with_backward=WayCost("one pass, forward and backward (a training step's work)", window, 1, backward_ms, window),
        cached=WayCost("one token at a time, with the KV cache", 1, n_new, cached_ms, n_new),
        uncached=WayCost("one token at a time, without the cache", 1, n_new, uncached_ms, n_new),
        uncached_steps_timed=timed_steps,
        matches=matches,
        generated_in_window=generated_targets,
        text_ids=text,
        pass_guesses=guesses,
    )
