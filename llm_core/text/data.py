"""Corpora and batches: text in, (inputs, targets) tensors out.

What it is: loading the bundled corpora from `assets/corpora` (or text the user gives), checking
that it is usable text, the deterministic train/validation split (the last 10% of the tokens are
held out), random training batches, and the ordered windows that cover the held-out split once
for an exact validation loss.
What it is not: tokenization (see `tokenizers.py`) or training (see `train.py`).

    >>> split = TokenSplit.from_ids(list(range(100)))
    >>> len(split.train), len(split.val)
    (90, 10)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from llm_core.paths import ASSETS

CORPORA_DIR = ASSETS / "corpora"
VAL_FRACTION = 0.1
MAX_TEXT_BYTES = 20_000_000  # 20 MB of text is plenty for a CPU; larger uploads are refused politely


class DataError(ValueError):
    """Text that cannot be trained on; the message says why, for the person who gave it."""


def bundled_corpora() -> dict[str, Path]:
    """Name -> path of every corpus shipped in assets/corpora."""
    return {p.stem: p for p in sorted(CORPORA_DIR.glob("*.txt"))}


def load_corpus(name: str) -> str:
    corpora = bundled_corpora()
    if name not in corpora:
        raise DataError(f"no bundled corpus called {name!r}; available: {', '.join(corpora) or 'none'}.")
    return corpora[name].read_text(encoding="utf-8")


def text_from_bytes(raw: bytes, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Decode an uploaded file as UTF-8 text, refusing binaries and oversized files with a reason."""
    if len(raw) > max_bytes:
        raise DataError(f"the file is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB of text.")
    if b"\x00" in raw[:65536]:
        raise DataError("this looks like a binary file (it contains NUL bytes), not text.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"this file is not UTF-8 text (undecodable byte at position {exc.start}).") from None
    return text


def check_trainable(n_tokens: int, block_size: int) -> None:
    """Refuse a corpus too short to give both a training and a validation window."""
    need = 2 * (block_size + 1) * 10  # the held-out 10% must hold at least one full window
    if n_tokens < need:
        raise DataError(
            f"the corpus has {n_tokens:,} tokens; with a context of {block_size} it needs at least {need:,} "
            f"so that the held-out 10% holds a full window. Add text or lower the context length."
        )


@dataclass
class TokenSplit:
    """Token ids of one corpus, split into the first 90% (train) and the last 10% (val)."""

    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64

    @classmethod
    def from_ids(cls, ids, val_fraction: float = VAL_FRACTION) -> TokenSplit:
        ids = torch.as_tensor(ids, dtype=torch.long)
        n_val = int(len(ids) * val_fraction)
        return cls(train=ids[: len(ids) - n_val], val=ids[len(ids) - n_val :])


def random_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None):
    """Random windows: inputs x (B, T) and targets y (B, T), y being x shifted left by one token."""
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size + 1)
    windows = data[starts[:, None] + offsets[None, :]]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


def eval_windows(data: torch.Tensor, block_size: int, max_tokens: int | None = None):
    """Consecutive windows (N, T) that predict every held-out token exactly once (a short tail is dropped)."""
    if max_tokens is not None:
        data = data[: max_tokens + 1]
    n = (len(data) - 1) // block_size
    x = data[: n * block_size].view(n, block_size)  # (N, T)
    y = data[1 : n * block_size + 1].view(n, block_size)  # (N, T)
    return x, y
