"""Two models on the same text: their next-token distributions and the difference, samples with one
seed, the loss each pays token by token, and one head's attention where their shapes agree.

What it is: measurements that take two (model, tokenizer) pairs and return plain numbers, and the
sentences that say what differs, computed from those numbers (never canned). Models with
different tokenizers are compared through what their tokens spell: a next token by its text, a
loss spread over the characters of its token.
What it is not: a judgement of which model is "better" in general: every figure is about one text.

    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> common_prefix("the cat sat", "the car sat")
    6
    >>> spread_over_characters([(0, 2), (2, 3)], [4.0, 1.0], 3).tolist()
    [2.0, 2.0, 1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from llm_core.generation.sample import generate
from llm_core.text.tokenizers import Tokenizer, visible_whitespace

LN2 = math.log(2)


@dataclass
class TokenShift:
    """One next token (by its text), with the probability each model gives it."""

    text: str
    p_a: float
    p_b: float

    @property
    def change(self) -> float:
        return self.p_b - self.p_a

    @property
    def shown(self) -> str:
        return visible_whitespace(self.text)


@dataclass
class NextTokenComparison:
    rows: list[TokenShift]  # the tokens either model ranks in its top n, most probable (either model) first
    total_variation: float  # half the summed |p_b - p_a| over every token text: 0 identical, 1 disjoint
    top_a: TokenShift
    top_b: TokenShift
    same_tokenizer: bool

    @property
    def gained(self) -> TokenShift:
        return max(self.rows, key=lambda r: r.change)

    @property
    def lost(self) -> TokenShift:
        return min(self.rows, key=lambda r: r.change)


def same_tokenizer(tok_a: Tokenizer, tok_b: Tokenizer) -> bool:
    return tok_a.to_dict() == tok_b.to_dict()


@torch.no_grad()
def next_token_probs(model, tokenizer: Tokenizer, text: str) -> dict[str, float]:
    """P(next token | text) of every token, keyed by the token's text (tokens that spell the same text add up)."""
    ids = tokenizer.encode(text)
    if not ids:
        raise ValueError("the prompt gives no tokens.")
    ids = ids[-model.config.block_size:]
    logits, _ = model(torch.tensor([ids], device=model.device))
    probs = torch.softmax(logits[0, -1].float(), dim=-1).cpu().numpy()
    out: dict[str, float] = {}
    for i, p in enumerate(probs):
        key = tokenizer.token_bytes(i).decode("utf-8", errors="replace")
        out[key] = out.get(key, 0.0) + float(p)
    return out


def compare_next_token(model_a, tok_a, model_b, tok_b, text: str, top: int = 10) -> NextTokenComparison:
    pa, pb = next_token_probs(model_a, tok_a, text), next_token_probs(model_b, tok_b, text)
    keys = set(pa) | set(pb)
    tv = 0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in keys)
    chosen = set(sorted(pa, key=pa.get, reverse=True)[:top]) | set(sorted(pb, key=pb.get, reverse=True)[:top])
    rows = sorted((TokenShift(k, pa.get(k, 0.0), pb.get(k, 0.0)) for k in chosen), key=lambda r: -max(r.p_a, r.p_b))
    top_a = max(rows, key=lambda r: r.p_a)
    top_b = max(rows, key=lambda r: r.p_b)
    return NextTokenComparison(rows, tv, top_a, top_b, same_tokenizer(tok_a, tok_b))


def shown_points(t) -> int:
    """A token's change from A to B in percentage points, from its two percentages as shown (rounded), so that
    11% → 14% reads +3, never +4.

    >>> from types import SimpleNamespace
    >>> shown_points(SimpleNamespace(p_a=0.114, p_b=0.144))
    3
    """
    return round(t.p_b * 100) - round(t.p_a * 100)


def next_token_sentence(c: NextTokenComparison, a: str = "A", b: str = "B") -> str:
    """What changed between the two distributions, from the numbers.

    >>> c = NextTokenComparison([TokenShift("e", 0.5, 0.1), TokenShift(" ", 0.2, 0.7)], 0.45, TokenShift("e", 0.5, 0.1), TokenShift(" ", 0.2, 0.7), True)
    >>> print(next_token_sentence(c))  # doctest: +NORMALIZE_WHITESPACE
    A's most likely next token is 'e' (50%), B's is '·' (70%). '·' gained the most (20% → 70%, +50 points) and
    'e' lost the most (50% → 10%, -40 points); the two distributions differ by a total variation of 0.45
    (0 = identical, 1 = no overlap).
    """
    same = c.top_a.text == c.top_b.text
    first = (f"Both models' most likely next token is '{c.top_a.shown}' ({c.top_a.p_a:.0%} for {a}, {c.top_b.p_b:.0%} for {b})." if same
             else f"{a}'s most likely next token is '{c.top_a.shown}' ({c.top_a.p_a:.0%}), {b}'s is '{c.top_b.shown}' ({c.top_b.p_b:.0%}).")
    g, lo = c.gained, c.lost
    parts = []
    points = lambda t: f"{shown_points(t):+d} points"
    if g.change > 0.005:
        parts.append(f"'{g.shown}' gained the most ({g.p_a:.0%} → {g.p_b:.0%}, {points(g)})")
    if lo.change < -0.005:
        parts.append(f"'{lo.shown}' lost the most ({lo.p_a:.0%} → {lo.p_b:.0%}, {points(lo)})")
    moved = (" and ".join(parts) + "; the") if parts else "No token moved by more than half a point; the"
    return f"{first} {moved[0].upper() + moved[1:]} two distributions differ by a total variation of {c.total_variation:.2f} (0 = identical, 1 = no overlap)."


# ---------------------------------------------------------------- samples


def sample_text(model, tokenizer: Tokenizer, text: str, n_tokens: int, temperature: float, seed: int, stop_ids=()) -> str:
    """A continuation drawn with a fixed seed (the same seed gives the same random draws to both models)."""
    ids = tokenizer.encode(text)[-model.config.block_size:]
    out = [s.token_id for s in generate(model, ids, n_tokens, temperature=temperature, seed=seed, stop_ids=stop_ids, top_n=0, keep_logits=False)]
    if out and out[-1] in set(stop_ids):
        out = out[:-1]
    return tokenizer.decode(out)


def common_prefix(x: str, y: str) -> int:
    n = 0
    for cx, cy in zip(x, y):
        if cx != cy:
            break
        n += 1
    return n


def samples_sentence(x: str, y: str, a: str = "A", b: str = "B") -> str:
    """Where two continuations part, from the texts.

    >>> samples_sentence("the cat", "the dog")
    "With the same seed, A and B write the same first 4 characters, then part: A goes on with 'cat', B with 'dog'."
    """
    n = common_prefix(x, y)
    if x == y:
        return f"With the same seed, {a} and {b} write exactly the same {len(x)} characters."
    if n == 0:
        return f"With the same seed, {a} and {b} differ from the first character: {a} starts '{visible_whitespace(x[:12])}', {b} '{visible_whitespace(y[:12])}'."
    return (f"With the same seed, {a} and {b} write the same first {n} characters, then part: "
            f"{a} goes on with '{visible_whitespace(x[n:n + 12])}', {b} with '{visible_whitespace(y[n:n + 12])}'.")


# ---------------------------------------------------------------- loss per token


@dataclass
class TokenLosses:
    pieces: list[str]  # the text of each token that was predicted (the first token is given, not predicted)
    spans: list[tuple[int, int]]  # its characters in the text
    bits: list[float]  # -log2 P(token | the tokens before it)
    covered: int  # characters of the text read (a text longer than the context window is cut)


@torch.no_grad()
def token_losses(model, tokenizer: Tokenizer, text: str) -> TokenLosses:
    """The surprise, in bits, of every token of `text` after the ones before it (at most one context window)."""
    ids = tokenizer.encode(text)[: model.config.block_size + 1]
    if len(ids) < 2:
        raise ValueError("the text needs at least two tokens for a loss.")
    logits, _ = model(torch.tensor([ids[:-1]], device=model.device))
    logp = torch.log_softmax(logits[0].float(), dim=-1)
    target = torch.tensor(ids[1:], device=logp.device)
    bits = (-logp.gather(1, target[:, None])[:, 0] / LN2).cpu().tolist()
    pieces = [tokenizer.token_bytes(i).decode("utf-8", errors="replace") for i in ids]
    starts, pos = [], 0
    for p in pieces:
        starts.append(pos)
        pos += len(p)
    spans = [(starts[i], starts[i] + len(pieces[i])) for i in range(1, len(ids))]
    return TokenLosses(pieces[1:], spans, bits, pos)


def spread_over_characters(spans: list[tuple[int, int]], bits: list[float], n_chars: int) -> np.ndarray:
    """Each token's bits split evenly over its characters; NaN where no token was predicted."""
    out = np.full(n_chars, np.nan)
    for (s, e), b in zip(spans, bits):
        if e > s and s < n_chars:
            out[s:min(e, n_chars)] = b / (e - s)
    return out


@dataclass
class LossComparison:
    text: str  # the characters both models read
    per_char_a: np.ndarray  # bits per character, spread from each model's tokens
    per_char_b: np.ndarray
    a: TokenLosses
    b: TokenLosses
    same_tokenizer: bool

    @property
    def bits_per_char(self) -> tuple[float, float]:
        both = ~(np.isnan(self.per_char_a) | np.isnan(self.per_char_b))
        return float(np.mean(self.per_char_a[both])), float(np.mean(self.per_char_b[both]))

    def biggest_gaps(self, n: int = 1, width: int = 8) -> list[tuple[int, float]]:
        """(start, bits B minus A summed over `width` characters) of the windows where the two differ most."""
        diff = np.nan_to_num(self.per_char_b - self.per_char_a)
        if len(diff) <= width:
            return [(0, float(diff.sum()))]
        sums = np.convolve(diff, np.ones(width), mode="valid")
        order = np.argsort(-np.abs(sums))
        picked: list[tuple[int, float]] = []
        for i in order:
            if all(abs(int(i) - j) >= width for j, _ in picked):
                picked.append((int(i), float(sums[i])))
            if len(picked) == n:
                break
        return picked


def compare_losses(model_a, tok_a, model_b, tok_b, text: str) -> LossComparison:
    la, lb = token_losses(model_a, tok_a, text), token_losses(model_b, tok_b, text)
    n = min(la.covered, lb.covered, len(text))
    return LossComparison(text[:n], spread_over_characters(la.spans, la.bits, n), spread_over_characters(lb.spans, lb.bits, n), la, lb, same_tokenizer(tok_a, tok_b))


def losses_sentence(c: LossComparison, a: str = "A", b: str = "B", width: int = 8) -> str:
    """Which model finds the text easier, and where the gap is largest, from the per-character bits."""
    bpc_a, bpc_b = c.bits_per_char
    easier = a if bpc_a < bpc_b else b
    start, gap = c.biggest_gaps(1, width)[0]
    where = visible_whitespace(c.text[start:start + width])
    who = b if gap < 0 else a
    return (f"Over these {len(c.text):,} characters {a} needs {bpc_a:.2f} bits per character and {b} {bpc_b:.2f}: "
            f"{easier} finds the text easier. The largest gap is at '{where}' (characters {start + 1}-{start + width}), where {who} needs "
            f"{abs(gap):.1f} bits fewer in all.")


# ---------------------------------------------------------------- attention


def shapes_agree(model_a, tok_a, model_b, tok_b, text: str | None = None) -> str | None:
    """None when one head of each can be compared on the same tokens, else why not: the same layers and
    heads, and the text split into the same pieces by both tokenizers (a fine-tuned model's tokenizer
    adds tokens, but splits text without them as its base did)."""
    ca, cb = model_a.config, model_b.config
    if (ca.n_layer, ca.n_head) != (cb.n_layer, cb.n_head):
        return f"A has {ca.n_layer} layers x {ca.n_head} heads and B {cb.n_layer} x {cb.n_head}: there is no head of one that is a head of the other"
    if same_tokenizer(tok_a, tok_b):
        return None
    try:
        pieces = [[t.token_bytes(i) for i in t.encode(text or "")] for t in (tok_a, tok_b)]
    except ValueError:
        pieces = [[], [b"?"]]
    if text is None or pieces[0] != pieces[1]:
        return "the two models split this text into different tokens, so their attention patterns are over different positions"
    return None


@torch.no_grad()
def attention_pair(model_a, model_b, tokenizer: Tokenizer, text: str, layer: int, head: int, tokenizer_b: Tokenizer | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The (T, T) attention of one head in each model on the same tokens, and the tokens' display texts."""
    block = min(model_a.config.block_size, model_b.config.block_size)
    ids_a = tokenizer.encode(text)[:block]
    ids_b = (tokenizer_b or tokenizer).encode(text)[:block]
    if not ids_a:
        raise ValueError("the prompt gives no tokens.")
    att_a = model_a.trace(torch.tensor(ids_a, device=model_a.device)).attention[layer, head].float().cpu().numpy()
    att_b = model_b.trace(torch.tensor(ids_b, device=model_b.device)).attention[layer, head].float().cpu().numpy()
    return att_a, att_b, [visible_whitespace(tokenizer.token_text(i)) for i in ids_a]


def attention_sentence(att_a: np.ndarray, att_b: np.ndarray, pieces: list[str], a: str = "A", b: str = "B") -> str:
    """How far one head's pattern moved between the models, and its largest single change.

    >>> print(attention_sentence(np.array([[1.0, 0.0], [0.9, 0.1]]), np.array([[1.0, 0.0], [0.2, 0.8]]), ["x", "y"]))  # doctest: +NORMALIZE_WHITESPACE
    The head's weights differ by 0.35 on average per query (half the summed absolute difference, 0 = the same pattern,
    1 = none shared). The largest change: from 'y' onto 'y', A puts 0.10 and B 0.80.
    """
    diff = att_b - att_a
    per_query = 0.5 * np.abs(diff).sum(axis=1).mean()
    q, k = np.unravel_index(int(np.argmax(np.abs(diff))), diff.shape)
    return (f"The head's weights differ by {per_query:.2f} on average per query (half the summed absolute difference, 0 = the same pattern, 1 = none shared). "
            f"The largest change: from '{pieces[q]}' onto '{pieces[k]}', {a} puts {att_a[q, k]:.2f} and {b} {att_b[q, k]:.2f}.")
