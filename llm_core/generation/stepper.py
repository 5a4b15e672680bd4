"""A generation you drive one click at a time: the sampling loop, paused between tokens.

What it is: `GenerationSession` holds a model, the token list, the KV cache and the random
generator, and keeps the model's logits for the *next* token ready (`pending`). `preview(shaping)`
says which token the next step would pick under any temperature, top-k and top-p without running
the model again; `step(shaping)` commits it and runs the model once for the token after. It uses
the same step function as `sample.generate`, so clicking Step n times with a seed gives exactly
the text `generate` gives with that seed, and it keeps going past the context window (the window
slides by half a context, as in `generate`).

Around it, the numbers the Generation chapter shows: `step_view` (the candidates of one step,
raw beside shaped, with what top-k and top-p cut and the running total top-p looks at),
`start_ids` (what an empty or unreadable prompt starts from), `trailing_loop` and
`distinct_ngrams` (how repetitive a text is: greedy decoding loops) and `ms_per_token` (what one
token costs with and without the KV cache at a given length).

What it is not: a chat interface, batch generation or a sampler with other rules (repetition
penalties, beam search).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from llm_core.generation.sample import (
    SampleStep,
    Shaping,
    check_prompt,
    entropy,
    new_rng,
    next_draw,
    next_token_logits,
    pick_token,
    sample_step,
    window_start,
)
from llm_core.model.gpt import GPT, KVCache
from llm_core.text.tokenizers import Tokenizer, TokenizerError

# Logits of past steps are kept for re-display up to this many numbers in all (4 bytes each):
# every step of a character model, the last few dozen steps of a 50k-token GPT-2 vocabulary.
KEEP_LOGIT_NUMBERS = 4_000_000


@dataclass
class Pending:
    """What the next step will use: the model's logits for the next token and the random draw."""

    logits: torch.Tensor  # (V,) float32 on the CPU
    draw: float
    context_start: int
    context_length: int
    model_ms: float  # how long the model call took


class GenerationSession:
    """A generation in progress, advanced one token per `step()`.

        >>> from llm_core.model.config import model_preset
        >>> from llm_core.training.loop import build_model
        >>> session = GenerationSession(build_model(model_preset("nano", 10), seed=0), [1, 2], seed=0)
        >>> step = session.step(Shaping(temperature=0))  # greedy
        >>> len(session.ids), session.model_calls, step.token_id == int(session.history[0].logits.argmax())
        (3, 2, True)
    """

    def __init__(self, model: GPT, prompt_ids: list[int], seed: int | None = 0, use_cache: bool = True, top_n: int = 20, stop_ids=()):
        self.model = model.decoding_model()  # a small model on a GPU: a CPU copy, faster one token at a time
        self.ids = check_prompt(model, prompt_ids)
        self.prompt_length = len(self.ids)
        self.seed = seed
        self.top_n = top_n
        self.stop_ids = frozenset(int(s) for s in stop_ids)
        self.history: list[SampleStep] = []
        self.model_calls = 0  # every forward or decode of the model by this session
        self._generator = new_rng(seed)
        self._use_cache = use_cache
        self._cache: KVCache | None = None
        self._cache_state: dict = {}
        self._kept_logit_numbers = 0
        self.model.eval()
        self.pending = self._prepare()

    @property
    def use_cache(self) -> bool:
        return self._use_cache

    @use_cache.setter
    def use_cache(self, value: bool) -> None:
        """Switch the KV cache on or off for the following steps (the text does not change)."""
        if bool(value) != self._use_cache:
            self._use_cache = bool(value)
            self._cache, self._cache_state = None, {}

    @property
    def generated(self) -> list[int]:
        return self.ids[self.prompt_length :]

    @property
    def stopped(self) -> bool:
        """True once a stop token has been produced."""
        return bool(self.history) and self.history[-1].stopped == "stop token"

    def preview(self, shaping: Shaping) -> SampleStep:
        """The step `step(shaping)` would take now: computed from the kept logits, no model call."""
        p = self.pending
        return sample_step(p.logits, p.draw, shaping, len(self.history), p.context_start, p.context_length, self.top_n)

    def step(self, shaping: Shaping) -> SampleStep:
        """Append one token sampled with `shaping`, then run the model once for the next one."""
        if self.stopped:
            raise ValueError("the model already produced its stop token; reset to start again.")
        chosen = self.preview(shaping)
        if chosen.token_id in self.stop_ids:
            chosen.stopped = "stop token"
        self.ids.append(chosen.token_id)
        self.history.append(chosen)
        self._forget_old_logits()
        self.pending = self._prepare()
        return chosen

    def _prepare(self) -> Pending:
        model = self.model
        if self._use_cache and self._cache is None:
            self._cache = KVCache(model.config, 1, model.device, dtype=model.wte.weight.dtype)
        t0 = time.perf_counter()
        with torch.inference_mode():
            logits, start = next_token_logits(model, self.ids, self._cache if self._use_cache else None, self._cache_state)
            logits = logits.float().cpu()
        elapsed_ms = 1000 * (time.perf_counter() - t0)
        self.model_calls += 1
        return Pending(logits, next_draw(self._generator), start, len(self.ids) - start, elapsed_ms)

    def _forget_old_logits(self) -> None:
        vocab = self.model.config.vocab_size
        self._kept_logit_numbers += vocab
        oldest = 0
        while self._kept_logit_numbers > KEEP_LOGIT_NUMBERS and oldest < len(self.history) - 1:
            if self.history[oldest].logits is not None:
                self.history[oldest].logits = None
                self._kept_logit_numbers -= vocab
            oldest += 1


@dataclass
class CandidateRow:
    rank: int  # 0 = the most likely token at temperature 1
    token_id: int
    raw_prob: float  # softmax of the raw logits (temperature 1)
    tempered_prob: float  # after temperature only
    running_total: float  # cumulative probability after temperature and top-k, in rank order: what top-p reads
    prob: float  # the final shaped probability (0 when cut)
    cut_by: str | None  # None (kept), "greedy", "top-k" or "top-p"
    chosen: bool


@dataclass
class StepView:
    rows: list[CandidateRow]  # the most likely tokens in rank order, plus the chosen one if it ranks lower
    chosen_id: int
    chosen_rank: int
    shaping: Shaping
    draw: float
    raw_entropy: float
    entropy: float
    kept: int  # how many tokens of the whole vocabulary can still be picked
    vocab_size: int


def step_view(logits: torch.Tensor, shaping: Shaping, draw: float, top_n: int = 20) -> StepView:
    """Everything a chart of one step shows, for any shaping, from the step's raw logits.

    The token picked is the one `draw` selects (see `sample.pick_token`), so re-shaping the same
    logits with other sliders shows which token the same random number would have picked.

        >>> view = step_view(torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])), Shaping(top_p=0.9), draw=0.2)
        >>> [(r.token_id, round(r.prob, 3), r.cut_by) for r in view.rows]
        [(0, 0.526, None), (1, 0.316, None), (2, 0.158, None), (3, 0.0, 'top-p')]
        >>> view.chosen_id, view.kept
        (0, 3)
    """
    logits = logits.float().cpu()
    vocab = logits.numel()
    raw = F.softmax(logits, -1)
    final = shaping.probs(logits)
    if shaping.temperature == 0:
        tempered = final
    else:
        tempered = F.softmax(logits / shaping.temperature, -1)
    order = torch.sort(raw, descending=True, stable=True).indices
    rank_of = torch.empty_like(order)
    rank_of[order] = torch.arange(vocab)
    after_k = tempered.clone()
    k = shaping.top_k if shaping.top_k and 0 < shaping.top_k < vocab else None
    if k is not None and shaping.temperature != 0:
        after_k[order[k:]] = 0
        after_k = after_k / after_k.sum()
    running = after_k[order].cumsum(0)  # in rank order
    chosen = pick_token(final, draw)
    shown = order[: min(top_n, vocab)].tolist()
    if chosen not in shown:
        shown.append(chosen)
    rows = []
    for token in shown:
        rank = int(rank_of[token])
        if final[token] > 0:
            cut = None
        elif shaping.temperature == 0:
            cut = "greedy"
        elif k is not None and rank >= k:
            cut = "top-k"
        else:
            cut = "top-p"
        rows.append(CandidateRow(rank, token, float(raw[token]), float(tempered[token]), float(running[rank]), float(final[token]), cut, token == chosen))
    return StepView(rows, chosen, int(rank_of[chosen]), shaping, draw, entropy(raw), entropy(final), int((final > 0).sum()), vocab)


NEWLINE_START = "\n"


def start_ids(tokenizer: Tokenizer, text: str) -> tuple[list[int], str | None]:
    """The ids a generation starts from, and a note when they are not simply the prompt's.

    An empty prompt starts from a newline (the start of a line: a neutral place to begin) when the
    tokenizer can write one; otherwise a ValueError explains. Unseen characters raise the tokenizer's UnknownCharacterError (with `.chars`).

        >>> from llm_core.text.tokenizers import CharTokenizer
        >>> start_ids(CharTokenizer.from_text("ab\\n"), "")
        ([0], 'The prompt is empty, so generation starts from a newline.')
        >>> start_ids(CharTokenizer.from_text("ab"), "")
        Traceback (most recent call last):
        ...
        ValueError: The prompt is empty and this model's vocabulary has no newline to start from: type a few characters to continue.
    """
    if text:
        ids = tokenizer.encode(text)
        if ids:
            return ids, None
    try:
        ids = tokenizer.encode(NEWLINE_START)
    except TokenizerError:
        ids = []
    if not ids:
        raise ValueError("The prompt is empty and this model's vocabulary has no newline to start from: type a few characters to continue.")
    return ids, "The prompt is empty, so generation starts from a newline."


def drop_unknown(text: str, chars) -> str:
    """`text` without the characters in `chars`.

    >>> drop_unknown("héllo ☃", ["é", "☃"])
    'hllo '
    """
    unwanted = set(chars)
    return "".join(c for c in text if c not in unwanted)


def trailing_loop(ids: list[int], min_tokens: int = 12) -> tuple[int, int]:
    """(period, covered): the end of `ids` repeats a cycle of `period` tokens over its last
    `covered` tokens (at least two full cycles and `min_tokens`); (0, 0) when it does not loop.

        >>> trailing_loop(list("xyzabcabcabcabc"), min_tokens=6)
        (3, 12)
        >>> trailing_loop(list("the cat sat on a mat"))
        (0, 0)
    """
    n = len(ids)
    best = (0, 0)
    for period in range(1, n // 2 + 1):
        run = 0
        while run < n - period and ids[n - 1 - run] == ids[n - 1 - run - period]:
            run += 1
        covered = run + period
        if run >= period and covered >= min_tokens and covered > best[1]:
            best = (period, covered)
    return best


def distinct_ngrams(ids: list[int], n: int = 4) -> float:
    """Fraction of the text's n-grams that are different from each other (1.0 = no repeats).

        >>> distinct_ngrams(list("abababab"), n=2)  # 7 pairs, only 'ab' and 'ba'
        0.2857142857142857
    """
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


@dataclass
class TokenCost:
    context_tokens: int  # tokens the model looks at for this next token
    cached_ms: float  # one token through the KV cache (the keys and values of the rest are stored)
    uncached_ms: float  # the whole window through the model again
    refill_ms: float  # refilling the cache with half a window after the window slides
    refill_every: int  # tokens between two refills (half a context)


@torch.inference_mode()
def ms_per_token(model: GPT, ids: list[int], repeats: int = 7) -> TokenCost:
    """Median time of computing the next token's logits after `ids`, with and without the cache, on the model
    generation runs (a small model on a GPU: its CPU copy, `GPT.decoding_model`)."""
    ids = check_prompt(model, ids)
    model = model.decoding_model()
    block = model.config.block_size
    context = ids[window_start(len(ids), block) :]
    cache = KVCache(model.config, 1, model.device, dtype=model.wte.weight.dtype)
    window = torch.tensor([context], dtype=torch.long, device=model.device)
    half = max(1, block // 2)
    refill = torch.tensor([ids[-half:]], dtype=torch.long, device=model.device)

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(1000 * (time.perf_counter() - t0))
        return sorted(times)[len(times) // 2]

    def uncached():
        model(window)

    if len(context) > 1:
        model(window[:, :-1], kv_cache=cache)  # store keys and values of all but the last token
    filled = cache.length

    def cached():
        cache.length = filled
        model.decode_next(context[-1], cache)

    def refilled():
        cache.reset()
        model(refill, kv_cache=cache)

    cached_ms, uncached_ms = timed(cached), timed(uncached)
    refill_ms = timed(refilled)
    return TokenCost(len(context), cached_ms, uncached_ms, refill_ms, half)


@dataclass
class TemperatureEffect:
    """What a temperature does to the most likely token of one step's logits."""

    token_id: int  # the most likely token at temperature 1
    raw_prob: float  # its probability at temperature 1
    tempered_prob: float  # its probability at `temperature`
    gap: float  # how far its logit is above the runner-up's (0 when there is no runner-up)
    temperature: float


def temperature_effect(logits: torch.Tensor, temperature: float) -> TemperatureEffect:
    """The top token's probability at temperature 1 and at `temperature` (> 0), and its logit lead.

        >>> e = temperature_effect(torch.tensor([2.0, 1.0, 0.0]), 0.5)
        >>> round(e.raw_prob, 3), round(e.tempered_prob, 3), e.gap
        (0.665, 0.867, 1.0)
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive (0 is greedy: the top token gets everything).")
    logits = logits.float().cpu()
    top2 = torch.topk(logits, min(2, logits.numel()))
    token = int(top2.indices[0])
    gap = float(top2.values[0] - top2.values[1]) if logits.numel() > 1 else 0.0
    return TemperatureEffect(token, float(F.softmax(logits, -1)[token]), float(F.softmax(logits / temperature, -1)[token]), gap, temperature)


@dataclass
class Repeat:
    """A stretch of `length` tokens written at `first_at` and again at `again_at` (positions in the text)."""

    length: int
    first_at: int
    again_at: int


def longest_repeat(ids: list[int]) -> Repeat | None:
    """The longest stretch of tokens that occurs twice in `ids` (the two may overlap); None if no token repeats.

        >>> longest_repeat(list("the sea, and the sea, and"))
        Repeat(length=12, first_at=0, again_at=13)
        >>> longest_repeat(list("abc")) is None
        True
    """
    best = None
    n = len(ids)
    for shift in range(1, n):  # compare the text with itself shifted: equal runs are repeats
        run = 0
        for i in range(n - shift):
            run = run + 1 if ids[i] == ids[i + shift] else 0
            if run and (best is None or run > best.length):
                best = Repeat(run, i - run + 1, i - run + 1 + shift)
    return best
