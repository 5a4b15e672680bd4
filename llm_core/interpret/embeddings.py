"""Looking at embedding tables: projections to 2-D/3-D, cosine neighbours, and what kind each token is.

What it is: the maths behind the Embeddings chapter, on plain tensors:
  - `pca(matrix, k)`: the k directions along which the rows of a table vary most, and each row's
    coordinates along them (centred, via SVD), with the share of variance each direction explains;
  - `cosine_similarity_matrix(matrix)` and `nearest_neighbours(matrix, index, k)`: which rows point
    the same way as a given row;
  - `token_kind(text)` / `token_kinds(tokenizer)`: a colour group per token (vowel, consonant,
    upper or lower case, digit, punctuation, whitespace, word, ...);
  - `token_table(model)` / `position_table(model)` / `output_table(model)`: the model's tables as
    CPU float tensors (`position_table` is None for rotary positions, which have no table);
  - `letter_group(kind)`: vowel, consonant or something else (what the chapter's prediction asks);
  - `kind_similarity(table, kinds)`: how alike (cosine) tokens of one kind are, against tokens of
    other kinds: what a map's caption says instead of "look, clusters";
  - `change_from_start(trained, start)`: what training changed in a table, when its starting
    values can be rebuilt (a model trained from `build_model(config, seed)` can be). This matters
    because an input table starts as large random numbers and training moves each row only a
    little: the raw trained table still looks mostly random, the change shows what was learned.
What it is not: it never changes a model and never trains one.

    >>> import torch
    >>> table = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> [(i, round(s, 3)) for i, s in nearest_neighbours(table, 0, k=2)]
    [(1, 0.994), (2, 0.0)]
    >>> token_kind("e"), token_kind("K"), token_kind("7"), token_kind(" "), token_kind(" the")
    ('lower-case vowel', 'upper-case consonant', 'digit', 'whitespace', 'word')
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

VOWELS = set("aeiouAEIOU")
# Every kind of token, in legend order (lab_ui.embedding_view gives each a colour and a marker).
KINDS = (
    "lower-case vowel", "lower-case consonant", "upper-case vowel", "upper-case consonant", "digit", "punctuation",
    "whitespace", "other letter", "word", "number", "symbols", "mixed", "byte fragment", "special", "other",
)


def token_kind(text: str, special: bool = False) -> str:
    """The group of one token's text (one of KINDS).

    Single characters: vowel or consonant, split by case (ASCII letters), digit, punctuation,
    whitespace, other letter (é, ж, 日), other. Longer tokens (BPE): whitespace, word (letters,
    perhaps after one space), number, symbols, mixed. Bytes that are not text on their own
    (shown as <0xNN>) are a byte fragment.

    >>> [token_kind(t) for t in ["A", "é", "!", "\\n", "<0xE2>", "ing", " 12", "?!", "a1"]]
    ['upper-case vowel', 'other letter', 'punctuation', 'whitespace', 'byte fragment', 'word', 'number', 'symbols', 'mixed']
    """
    if special:
        return "special"
    if not text:
        return "other"
    if text.startswith("<0x") and text.endswith(">"):
        return "byte fragment"
    if len(text) == 1:
        ch = text
        if ch.isspace():
            return "whitespace"
        if ch.isascii() and ch.isalpha():
            case = "lower" if ch.islower() else "upper"
            return f"{case}-case {'vowel' if ch in VOWELS else 'consonant'}"
        if ch.isalpha():
            return "other letter"
        if ch.isdigit():
            return "digit"
        if ch.isprintable():
            return "punctuation"
        return "other"
    if text.isspace():
        return "whitespace"
    body = text[1:] if text[0] == " " else text
    if body.isalpha():
        return "word"
    if body.isdigit():
        return "number"
    if not any(c.isalnum() or c.isspace() for c in body):
        return "symbols"
    return "mixed"


def letter_group(kind: str) -> str:
    """"vowel", "consonant" or "other" for a kind of token (only single ASCII letters are vowels or consonants).

    >>> letter_group("upper-case vowel"), letter_group("lower-case consonant"), letter_group("punctuation")
    ('vowel', 'consonant', 'other')
    """
    return "vowel" if kind.endswith("vowel") else "consonant" if kind.endswith("consonant") else "other"


def token_kinds(tokenizer) -> list[str]:
    """The kind of every token id of a tokenizer, in id order."""
    special_ids = set(tokenizer.special_tokens.values())
    return [token_kind(tokenizer.token_text(i), special=i in special_ids) for i in range(tokenizer.vocab_size)]


def token_table(model) -> torch.Tensor:
    """The token embedding table (vocab_size, n_embd) as a CPU float32 copy (the model stays untouched)."""
    return model.wte.weight.detach().float().cpu().clone()


def position_table(model) -> torch.Tensor | None:
    """The learned position table (block_size, n_embd), or None when the model uses rotary positions."""
    if getattr(model, "wpe", None) is None:
        return None
    return model.wpe.weight.detach().float().cpu().clone()


def output_table(model) -> torch.Tensor:
    """The output head (vocab_size, n_embd): row i scores token i as the next token. With tied
    embeddings it is the token table itself."""
    head = getattr(model, "head", None)
    weight = head.weight if head is not None else model.wte.weight
    return weight.detach().float().cpu().clone()


def change_from_start(trained: torch.Tensor, start: torch.Tensor, max_ratio: float = 0.8) -> torch.Tensor | None:
    """`trained - start`, or None when `start` cannot be where `trained` began.

    Two unrelated random tables differ by about sqrt(|a|^2 + |b|^2); a trained table differs from
    its own start by much less. A difference above `max_ratio` of that means the wrong start
    (another seed, or a model that was not trained from a rebuilt initialisation).

        >>> start = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
        >>> change_from_start(start + 0.5, start).tolist()
        [[0.5, 0.5], [0.5, 0.5]]
        >>> change_from_start(start + 0.5, torch.tensor([[0.0, -3.0], [3.0, 0.0]])) is None
        True
    """
    if trained.shape != start.shape:
        return None
    delta = trained - start
    unrelated = (trained.pow(2).sum() + start.pow(2).sum()).sqrt()
    if unrelated == 0 or delta.norm() > max_ratio * unrelated:
        return None
    return delta


def relative_change(change: torch.Tensor, start: torch.Tensor) -> float:
    """How far training moved the rows, as a share of their starting length (mean over rows).

        >>> relative_change(torch.tensor([[0.0, 1.0]]), torch.tensor([[4.0, 0.0]]))
        0.25
    """
    return float(change.norm(dim=1).mean() / start.norm(dim=1).mean().clamp_min(1e-12))


@dataclass
class Projection:
    coords: torch.Tensor  # (N, k): each row's coordinate along each principal direction
    explained: torch.Tensor  # (k,): share of the total variance along each direction
    components: torch.Tensor  # (k, D): the directions, unit length


def pca(matrix: torch.Tensor, k: int = 2) -> Projection:
    """Principal component analysis of the rows of `matrix` (N, D), exactly, via SVD.

    Rows are centred first. Each direction's sign is fixed so that its largest-magnitude entry is
    positive, so the same table always gives the same picture. k is capped at min(N, D).

        >>> points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
        >>> p = pca(points, k=2)
        >>> [round(v, 3) for v in p.explained.tolist()]
        [1.0, 0.0]
        >>> [round(v, 3) for v in p.coords[:, 0].tolist()]
        [-2.121, -0.707, 0.707, 2.121]
    """
    if matrix.dim() != 2 or matrix.size(0) < 1:
        raise ValueError("pca needs a 2-D table with at least one row")
    x = matrix.detach().double().cpu()
    x = x - x.mean(0, keepdim=True)
    k = max(1, min(k, x.size(0), x.size(1)))
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    components = vh[:k]
    flip = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    flip[flip == 0] = 1
    components = components * flip
    variance = s.pow(2)
    total = variance.sum()
    explained = variance[:k] / total if total > 0 else torch.zeros(k, dtype=x.dtype)
    return Projection((x @ components.T).float(), explained.float(), components.float())


def cosine_similarity_matrix(matrix: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every pair of rows: (N, N), 1 on the diagonal (0 for zero rows).

        >>> [[round(v, 3) for v in row] for row in cosine_similarity_matrix(torch.tensor([[1.0, 0.0], [1.0, 1.0]])).tolist()]
        [[1.0, 0.707], [0.707, 1.0]]
    """
    x = matrix.detach().float().cpu()
    unit = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def mean_abs_cosine(matrix: torch.Tensor, max_rows: int = 2000) -> float:
    """Average |cosine similarity| between two different rows: near 0 for random directions in
    many dimensions, larger when rows share directions. Only the first `max_rows` rows are used,
    so a 200,000-token table costs no more than a small one.

        >>> round(mean_abs_cosine(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])), 3)  # (0 + .707 + .707) / 3
        0.471
    """
    x = matrix[:max_rows]
    n = x.size(0)
    if n < 2:
        return 0.0
    sims = cosine_similarity_matrix(x).double().abs()
    return float((sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def similarity_by_distance(sims: torch.Tensor, near: int = 4) -> tuple[float, float]:
    """Mean cosine of position pairs 1..`near` apart, and of pairs at least half the context apart:
    what the Embeddings chapter reads from a position-similarity heatmap instead of describing it.

        >>> sims = torch.tensor([[1.0, 0.9, -0.5], [0.9, 1.0, 0.8], [-0.5, 0.8, 1.0]])
        >>> [round(v, 2) for v in similarity_by_distance(sims, near=1)]
        [0.85, -0.5]
    """
    n = sims.size(0)
    distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
    close = (distance >= 1) & (distance <= near)
    far = distance >= max(near + 1, n // 2)
    mean = lambda mask: float(sims[mask].double().mean()) if mask.any() else float("nan")
    return mean(close), mean(far)


def kind_similarity(matrix: torch.Tensor, kinds: list[str], max_rows: int = 2000) -> tuple[float, float] | None:
    """Mean cosine between two different tokens of the same kind, and between tokens of different
    kinds (the first `max_rows` rows; kinds with one token add no same-kind pair). None when either
    kind of pair is missing. Same-kind tokens clearly more alike than others: the table groups them.

        >>> table = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
        >>> [round(v, 2) for v in kind_similarity(table, ["a", "a", "b", "b"])]
        [1.0, 0.1]
    """
    n = min(matrix.size(0), len(kinds), max_rows)
    if n < 2:
        return None
    sims = cosine_similarity_matrix(matrix[:n]).double()
    groups = {k: i for i, k in enumerate(dict.fromkeys(kinds[:n]))}
    labels = torch.tensor([groups[k] for k in kinds[:n]])
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    within, between = same & off_diagonal, ~same
    if not within.any() or not between.any():
        return None
    return float(sims[within].mean()), float(sims[between].mean())


def nearest_neighbours(matrix: torch.Tensor, index: int, k: int = 8) -> list[tuple[int, float]]:
    """The k rows most similar (cosine) to row `index`, itself excluded, most similar first."""
    n = matrix.size(0)
    if not 0 <= index < n:
        raise IndexError(f"row {index} is outside a table of {n} rows")
    x = matrix.detach().float().cpu()
    unit = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sims = unit @ unit[index]
    sims[index] = float("-inf")
    k = max(0, min(k, n - 1))
    values, indices = torch.topk(sims, k)
    return [(int(i), float(v)) for v, i in zip(values, indices)]
