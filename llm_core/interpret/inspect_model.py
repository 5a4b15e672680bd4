"""Look inside a model on one prompt: attention patterns, what each head seems to do, the logit
lens and the residual stream, all measured from the trace path (`GPT.trace`).

What it is: `choose_window` picks which `block_size` tokens of a long prompt the model reads;
`inspect_ids` runs one window through the trace path and keeps, as numpy arrays, every layer's
and head's attention, each layer's top next-token guess (the logit lens), the size of each
token's vector after each block and the size of what each block's attention and MLP added.
`summarize_heads` measures where each head looks (previous token, itself, the first token,
spaces and punctuation, the last few tokens, how spread out) and `describe_head` turns those
measurements into words, so a different model or prompt gets different, still-true words.
What it is not: a proof of what a head "does" in general. Every number is measured on one prompt;
a head that looks at the previous character here may do something else on other text.

    >>> import numpy as np
    >>> att = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=float)  # (T, T): one head
    >>> s = summarize_head(att, ["a", "b", "c"], layer=0, head=0)
    >>> round(s.previous, 2), round(s.self_weight, 2)
    (1.0, 0.0)
    >>> head_role(s, "character")
    'previous character'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from llm_core.text.tokenizers import Tokenizer, visible_whitespace

RECENT = 3  # "the last few tokens": offsets 1..RECENT before the query
STRONG = 0.5  # a head "does" something when at least half its attention goes there, on average


@dataclass(frozen=True)
class Window:
    """Which tokens of the prompt the model reads: positions start..end-1 of n_tokens."""

    start: int
    end: int
    n_tokens: int

    @property
    def truncated(self) -> bool:
        return self.end - self.start < self.n_tokens

    @property
    def length(self) -> int:
        return self.end - self.start


def choose_window(n_tokens: int, block_size: int, start: int | None = None) -> Window:
    """The `block_size` tokens the model reads; by default the last ones. `start` is clamped.

    >>> choose_window(10, 128)
    Window(start=0, end=10, n_tokens=10)
    >>> choose_window(300, 128), choose_window(300, 128, start=5), choose_window(300, 128, start=999)
    (Window(start=172, end=300, n_tokens=300), Window(start=5, end=133, n_tokens=300), Window(start=172, end=300, n_tokens=300))
    """
    if n_tokens < 0 or block_size < 1:
        raise ValueError("n_tokens must be >= 0 and block_size >= 1")
    latest = max(0, n_tokens - block_size)
    start = latest if start is None else min(max(0, int(start)), latest)
    return Window(start, min(n_tokens, start + block_size), n_tokens)


def is_separator(piece: str) -> bool:
    """A token made only of whitespace and punctuation (no letter or digit).

    >>> [is_separator(p) for p in (" ", "\\n", ",", "a", " the", "")]
    [True, True, True, False, False, False]
    """
    return bool(piece) and not any(c.isalnum() for c in piece)


@dataclass
class HeadSummary:
    """Where one head looks, averaged over the queries of one prompt (weights, each 0..1).

    NaN means "cannot be measured on a prompt this short".
    """

    layer: int
    head: int
    self_weight: float  # on the query token itself
    previous: float  # on the token just before
    recent: float  # on the RECENT tokens before (offsets 1..RECENT)
    first: float  # on the first token, for queries far enough away that it is not "recent"
    separators: float  # on tokens that are only spaces or punctuation
    separators_baseline: float  # what `separators` would be if the head spread its attention evenly
    spread: float  # mean entropy / entropy of even attention over the visible tokens: 0 = one token, 1 = even
    distance: float  # mean look-back in tokens (sum of weight x offset)
    n_queries: int  # queries the averages are over (positions 1..T-1)


def summarize_head(att: np.ndarray, pieces: list[str], layer: int, head: int) -> HeadSummary:
    """Measure one head's attention `att` (T, T), causal rows that sum to 1, over queries 1..T-1."""
    T = att.shape[0]
    nan = float("nan")
    if T < 2:
        return HeadSummary(layer, head, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    rows = att[1:].astype(np.float64)  # (T-1, T): query 0 can only look at itself
    queries = np.arange(1, T)
    offsets = queries[:, None] - np.arange(T)[None, :]  # (T-1, T): how far back each key is
    visible = offsets >= 0
    self_weight = float(np.diagonal(att).astype(np.float64)[1:].mean())
    previous = float(np.diagonal(att, -1).astype(np.float64).mean())
    recent = float((rows * ((offsets >= 1) & (offsets <= RECENT))).sum(1).mean())
    far = queries > RECENT
    first = float(rows[far, 0].mean()) if far.any() else nan
    sep = np.array([is_separator(p) for p in pieces], dtype=np.float64)  # (T,)
    separators = float((rows * sep[None, :]).sum(1).mean())
    separators_baseline = float((np.cumsum(sep)[1:] / (queries + 1)).mean())
    plogp = np.where(rows > 0, rows * np.log(np.where(rows > 0, rows, 1.0)), 0.0)
    entropy = -plogp.sum(1)  # (T-1,) nats
    spread = float((entropy / np.log(queries + 1)).mean())
    distance = float((rows * np.where(visible, offsets, 0)).sum(1).mean())
    return HeadSummary(layer, head, self_weight, previous, recent, first, separators, separators_baseline, spread, distance, T - 1)


def summarize_heads(attention: np.ndarray, pieces: list[str]) -> list[HeadSummary]:
    """One summary per head of `attention` (L, H, T, T), layer by layer."""
    L, H = attention.shape[:2]
    return [summarize_head(attention[li, h], pieces, li, h) for li in range(L) for h in range(H)]


ROLES = ("previous", "self", "first", "separators", "recent", "broad", "mixed", "too short")


def role_of(s: HeadSummary) -> str:
    """Which of ROLES the head's measurements show, checked in that order.

    "previous", "self", "first": at least half the head's weight goes there on average;
    "separators": at least half on spaces and punctuation, and twice what even attention gives;
    "recent": at least 60% on the last RECENT tokens; "broad": spread of at least 0.75.
    """
    if s.n_queries < 2:
        return "too short"
    if s.previous >= STRONG:
        return "previous"
    if s.self_weight >= STRONG:
        return "self"
    if not math.isnan(s.first) and s.first >= STRONG:
        return "first"
    if s.separators >= STRONG and s.separators >= 2 * s.separators_baseline:
        return "separators"
    if s.recent >= 0.6:
        return "recent"
    if s.spread >= 0.75:
        return "broad"
    return "mixed"


def head_role(s: HeadSummary, unit: str = "token") -> str:
    """A short label for what the head mostly does on this prompt, from its measurements.

    >>> nan = float("nan")
    >>> head_role(HeadSummary(0, 0, 0.1, 0.1, 0.3, 0.7, 0.1, 0.2, 0.4, 9.0, 20))
    'first token'
    >>> head_role(HeadSummary(0, 0, 0.1, 0.2, 0.3, 0.1, 0.2, 0.2, 0.9, 9.0, 20), "character")
    'broad'
    >>> head_role(HeadSummary(0, 0, nan, nan, nan, nan, nan, nan, nan, nan, 0))
    'too short to tell'
    """
    return {
        "previous": f"previous {unit}", "self": "itself", "first": f"first {unit}", "separators": "spaces & punctuation",
        "recent": f"last few {unit}s", "broad": "broad", "mixed": "mixed", "too short": "too short to tell",
    }[role_of(s)]


def describe_head(s: HeadSummary, unit: str = "token") -> str:
    """One honest sentence per head, built from its measurements. `unit`: "character" or "token".

    >>> nan = float("nan")
    >>> describe_head(HeadSummary(1, 2, 0.05, 0.81, 0.9, 0.0, 0.1, 0.2, 0.2, 1.2, 40), "character")
    'Layer 2, head 3 looks mostly at the previous character: 81% of its attention on average (itself 5%, the last 3 characters 90%, the first character 0%); it looks back 1.2 characters on average.'
    """
    name = f"Layer {s.layer + 1}, head {s.head + 1}"
    role = role_of(s)
    if role == "too short":
        return f"{name}: the prompt is too short to say where it looks; type a longer one."
    units = f"{unit}s"
    lead = {
        "previous": f"looks mostly at the previous {unit}: {s.previous:.0%} of its attention on average",
        "self": f"looks mostly at the {unit} itself: {s.self_weight:.0%} of its attention on average",
        "first": f"looks mostly at the first {unit} of the window: {s.first:.0%} of its attention on average",
        "separators": (
            f"looks mostly at spaces and punctuation: {s.separators:.0%} of its attention, "
            f"where spreading evenly would give {s.separators_baseline:.0%}"
        ),
        "recent": f"looks at the last {RECENT} {units}: {s.recent:.0%} of its attention on average",
        "broad": f"spreads its attention widely: spread {s.spread:.2f}, where 1 means perfectly even",
        "mixed": "shows no single simple pattern on this prompt",
    }[role]
    parts = []
    if role != "self":
        parts.append(f"itself {s.self_weight:.0%}")
    if role != "previous":
        parts.append(f"the previous {unit} {s.previous:.0%}")
    if role != "recent":
        parts.append(f"the last {RECENT} {units} {s.recent:.0%}")
    if role != "first" and not math.isnan(s.first):
        parts.append(f"the first {unit} {s.first:.0%}")
    return f"{name} {lead} ({', '.join(parts)}); it looks back {s.distance:.1f} {units} on average."


@dataclass
class Inspection:
    """Everything the Attention chapter shows for one window of a prompt, as numpy arrays."""

    token_ids: list[int]  # the window's ids
    pieces: list[str]  # display text of each token, whitespace made visible
    window: Window
    attention: np.ndarray  # (L, H, T, T) float32, exactly the trace path's weights
    heads: list[HeadSummary]  # L*H summaries, layer-major
    lens_top_ids: np.ndarray  # (L+1, T) each layer's most likely next token (row 0: the embeddings alone)
    lens_top_probs: np.ndarray  # (L+1, T) its probability
    lens_next_probs: np.ndarray  # (L+1, T) probability of the token that really comes next; NaN at the last position
    lens_final_probs: np.ndarray  # (L+1, T) probability each stage gives the output's top guess at that position
    residual_norms: np.ndarray  # (L+1, T) length of each token's vector after the embeddings and after each block
    attn_out_norms: np.ndarray  # (L, T) length of what each block's attention added
    mlp_out_norms: np.ndarray  # (L, T) length of what each block's MLP added

    @property
    def n_layer(self) -> int:
        return self.attention.shape[0]

    @property
    def n_head(self) -> int:
        return self.attention.shape[1]

    def head(self, layer: int, head: int) -> HeadSummary:
        return self.heads[layer * self.n_head + head]

    def attention_from(self, query: int, layer: int, head: int | None = None) -> np.ndarray:
        """Weights (T,) from token `query` onto every token; `head=None` averages the layer's heads."""
        rows = self.attention[layer, :, query, :]  # (H, T)
        return rows.mean(0) if head is None else rows[head]


@torch.no_grad()
def inspect_ids(model, tokenizer: Tokenizer, ids: list[int], window_start: int | None = None) -> Inspection:
    """Run one window of `ids` through `model.trace` and keep what the chapter shows.

    Raises ValueError for an empty prompt.
    """
    if not ids:
        raise ValueError("the prompt gives no tokens.")
    window = choose_window(len(ids), model.config.block_size, window_start)
    window_ids = [int(i) for i in ids[window.start : window.end]]
    trace = model.trace(torch.tensor(window_ids, device=model.device))
    attention = trace.attention.cpu().numpy()  # (L, H, T, T)
    lens_probs = torch.softmax(trace.lens_logits, dim=-1)  # (L+1, T, V)
    top_probs, top_ids = lens_probs.max(dim=-1)  # (L+1, T)
    final_probs = lens_probs.gather(-1, top_ids[-1][None, :, None].expand(lens_probs.size(0), -1, 1))[..., 0]  # (L+1, T)
    following = torch.tensor(window_ids[1:], device=lens_probs.device)  # (T-1,)
    next_probs = torch.full(top_probs.shape, float("nan"))  # (L+1, T)
    if len(window_ids) > 1:
        next_probs[:, :-1] = lens_probs[:, :-1].gather(-1, following[None, :, None].expand(lens_probs.size(0), -1, 1))[..., 0].cpu()
    # Raw token texts for the separator test (visible_whitespace would turn " " into "·").
    raw = [tokenizer.token_text(i) for i in window_ids]
    return Inspection(
        token_ids=window_ids,
        pieces=[visible_whitespace(p) for p in raw],
        window=window,
        attention=attention,
        heads=summarize_heads(attention, raw),
        lens_top_ids=top_ids.cpu().numpy(),
        lens_top_probs=top_probs.cpu().numpy(),
        lens_next_probs=next_probs.numpy(),
        lens_final_probs=final_probs.cpu().numpy(),
        residual_norms=trace.residual.norm(dim=-1).cpu().numpy(),
        attn_out_norms=trace.attn_out.norm(dim=-1).cpu().numpy(),
        mlp_out_norms=trace.mlp_out.norm(dim=-1).cpu().numpy(),
    )


def word_positions(tokenizer: Tokenizer, ids: list[int], word: str) -> list[list[int]]:
    """Token positions covering each whole-word occurrence of `word` (case-sensitive), in order.

    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("it is a bit")
    >>> word_positions(tok, tok.encode("it is a bit"), "it")
    [[0, 1]]
    """
    pieces = [tokenizer.token_bytes(int(i)) for i in ids]
    ends = np.cumsum([len(p) for p in pieces])
    starts = ends - np.array([len(p) for p in pieces])
    joined = b"".join(pieces)
    found = []
    for m in re.finditer(rb"(?<![A-Za-z0-9])" + re.escape(word.encode("utf-8")) + rb"(?![A-Za-z0-9])", joined):
        covering = [i for i in range(len(pieces)) if starts[i] < m.end() and ends[i] > m.start()]
        if covering:
            found.append(covering)
    return found


def attention_between(attention: np.ndarray, queries: list[int], keys: list[int]) -> np.ndarray:
    """(L, H): for each head, the weight the `queries` put on the `keys` in total, averaged over queries.

    >>> att = np.zeros((1, 1, 3, 3)); att[0, 0] = [[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]]
    >>> attention_between(att, [1, 2], [0]).round(2).tolist()
    [[0.35]]
    """
    if not queries or not keys:
        raise ValueError("need at least one query and one key position")
    return attention[:, :, queries][:, :, :, keys].sum(-1).mean(-1)


@dataclass
class LensSummary:
    """How the next-token prediction forms, layer by layer (row 0: the embeddings alone)."""

    next_prob: np.ndarray  # (L+1,) mean probability of the token that really comes next
    top1_correct: np.ndarray  # (L+1,) share of positions whose top guess is the real next token


def lens_summary(view: Inspection) -> LensSummary:
    """Average the logit lens over the positions that have a real next token (all but the last)."""
    if len(view.token_ids) < 2:
        nan = np.full(view.lens_top_ids.shape[0], np.nan)
        return LensSummary(nan, nan.copy())
    following = np.array(view.token_ids[1:])  # (T-1,)
    correct = view.lens_top_ids[:, :-1] == following[None, :]  # (L+1, T-1)
    return LensSummary(view.lens_next_probs[:, :-1].mean(1), correct.mean(1))


@dataclass
class LensForming:
    """How one position's prediction forms: each stage's top guess and the probability it gives the final one."""

    position: int
    final_id: int  # the output's top guess (the model's real prediction)
    top_ids: np.ndarray  # (L+1,) each stage's top guess; row 0 is the embeddings alone
    final_probs: np.ndarray  # (L+1,) probability each stage gives the final guess
    first_on_top: int  # the first stage whose top guess is the final one (L = only at the output)


def lens_forming(view: Inspection, position: int = -1) -> LensForming:
    """Read the logit lens at one position (default: the last, the model's guess for what follows the prompt)."""
    T = len(view.token_ids)
    position = position % T
    top = view.lens_top_ids[:, position]
    final = int(top[-1])
    first = int(np.flatnonzero(top == final)[0])
    return LensForming(position, final, top.copy(), view.lens_final_probs[:, position].copy(), first)


@dataclass
class ItLooks:
    """Where the tokens of "it" look in a sentence naming an animal and a road, head by head (each (L, H))."""

    it_positions: list[int]
    animal_positions: list[int]
    road_positions: list[int]
    on_animal: np.ndarray
    on_road: np.ndarray
    nearby: np.ndarray  # on "it" itself and the RECENT tokens before it

    def averages(self) -> dict[str, float]:
        """Each place's weight averaged over every head: {"animal", "road", "nearby"}."""
        return {"animal": float(self.on_animal.mean()), "road": float(self.on_road.mean()), "nearby": float(self.nearby.mean())}

    def most(self) -> str:
        """The place ("animal", "road" or "nearby") that gets the most weight on average."""
        averages = self.averages()
        return max(averages, key=averages.get)

    def strongest(self, place: str) -> tuple[int, int, float]:
        """(layer, head, weight) of the head that puts the most weight on `place`."""
        grid = {"animal": self.on_animal, "road": self.on_road, "nearby": self.nearby}[place]
        layer, head = np.unravel_index(int(grid.argmax()), grid.shape)
        return int(layer), int(head), float(grid[layer, head])


def it_looks(view: Inspection, tokenizer: Tokenizer) -> ItLooks | None:
    """Measure where "it" looks in a window holding "animal", "road" and "it" (the last of each); None otherwise.

    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("the animal and road it")
    >>> att = np.tril(np.ones((1, 1, 22, 22))); att /= att.sum(-1, keepdims=True)  # one head, even weights
    >>> view = Inspection(tok.encode("the animal and road it"), [], None, att, [], *[None] * 7)
    >>> looks = it_looks(view, tok)
    >>> looks.it_positions, round(looks.averages()["animal"], 3), looks.most()
    ([20, 21], 0.279, 'animal')
    """
    its = word_positions(tokenizer, view.token_ids, "it")
    animals = word_positions(tokenizer, view.token_ids, "animal")
    roads = word_positions(tokenizer, view.token_ids, "road")
    if not (its and animals and roads):
        return None
    queries = its[-1]
    before = list(range(max(0, queries[0] - RECENT), queries[-1] + 1))
    return ItLooks(
        queries, animals[-1], roads[-1],
        attention_between(view.attention, queries, animals[-1]),
        attention_between(view.attention, queries, roads[-1]),
        attention_between(view.attention, queries, before),
    )


def tile_heads(attention: np.ndarray, gap: int) -> np.ndarray:
    """All heads' patterns (L, H, T, T) as one (L*(T+gap)-gap, H*(T+gap)-gap) image, NaN in the gaps.

    >>> tile_heads(np.ones((2, 2, 1, 1)), gap=1).tolist()
    [[1.0, nan, 1.0], [nan, nan, nan], [1.0, nan, 1.0]]
    """
    L, H, T, _ = attention.shape
    step = T + gap
    tiled = np.full((L * step - gap, H * step - gap), np.nan, dtype=np.float32)
    for layer in range(L):
        for head in range(H):
            tiled[layer * step : layer * step + T, head * step : head * step + T] = attention[layer, head]
    return tiled
