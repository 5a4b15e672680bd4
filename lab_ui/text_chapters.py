"""Shared resources and small UI pieces for the Tokenization and Embeddings chapters.

Server-wide caches (read-only, shared by every user): LLM Lab's own BPE trained once on Tiny
Shakespeare, BPE training runs replayed merge by merge, and freshly initialised "untrained
twins" of a model's shape. Plus token chips that show unknown characters and keep line breaks.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass

import streamlit as st

from lab_ui import state
from lab_ui.widgets import PALETTE
from llm_core.model.config import ModelConfig
from llm_core.text import bpe
from llm_core.text.tokenizers import BPETokenizer, CharTokenizer, visible_whitespace
from llm_core.text.tokenview import BPEReplay, Piece, replay_bpe
from llm_core.training.loop import build_model

SHAKESPEARE_MERGES = 1000  # LLM Lab's BPE for the comparison: 256 bytes + 1000 merges
MAX_TRAIN_CHARS = 100_000  # "train on your text": longer text is cut so training takes well under a second
MAX_TRAIN_MERGES = 1000


@dataclass
class BPERun:
    """One BPE training run: the tokenizer, and every merge replayed on the training text."""

    tokenizer: BPETokenizer
    replay: BPEReplay
    requested: int  # merges asked for; fewer are learned when no pair occurs twice any more
    n_chars: int

    @property
    def learned(self) -> int:
        return len(self.replay.steps)


def _train(text: str, n_merges: int) -> BPERun:
    merges = bpe.train_merges(text, n_merges)
    tokenizer = BPETokenizer([m.pair for m in merges])
    tokenizer.merge_counts = [m.count for m in merges]
    return BPERun(tokenizer, replay_bpe(text, merges), n_merges, len(text))


@st.cache_resource(show_spinner="Training LLM Lab's BPE on Tiny Shakespeare (once per server)…")
def shakespeare_bpe() -> BPERun:
    return _train(state.corpus("tinyshakespeare"), SHAKESPEARE_MERGES)


@st.cache_resource(show_spinner="Training BPE on your text…", max_entries=8)
def bpe_on_text(text: str, n_merges: int) -> BPERun:
    """BPE trained on a user's text (the caller caps its size and the number of merges)."""
    return _train(text[:MAX_TRAIN_CHARS], min(n_merges, MAX_TRAIN_MERGES))


def char_tokenizer() -> tuple[CharTokenizer, str]:
    """The character tokenizer to compare: the current model's if it reads characters, else the bundled model's."""
    entry = state.current()
    if entry.tokenizer.kind == "char":
        return entry.tokenizer, entry.name
    return state.bundled().tokenizer, "Shakespeare (bundled)"


@st.cache_resource(show_spinner=False, max_entries=6)
def _untrained(config_items: tuple, seed: int):
    config = ModelConfig(**dict(config_items))
    return build_model(config, seed=seed).eval()


def untrained_twin(config: ModelConfig, seed: int):
    """A freshly initialised model of the same shape (shared, read-only: never train it)."""
    return _untrained(tuple(dataclasses.asdict(config).items()), int(seed))


def pieces_html(pieces: list[Piece], total: int | None = None) -> str:
    """Token chips for `Piece`s: hover shows id and bytes, whitespace is visible, a chip that ends a
    line is followed by a line break, and characters without an id are marked in red. Escaped."""
    spans = []
    for i, piece in enumerate(pieces):
        shown = html.escape(visible_whitespace(piece.text) or "∅")
        hover = html.escape(piece.hover, quote=True)
        if piece.token_id is None:
            style = "background:#fee2e2;color:#b91c1c;border:1px dashed #b91c1c;text-decoration:line-through"
            cls = "tok unknown"
        else:
            style = f"background:{PALETTE[i % len(PALETTE)]}"
            cls = "tok"
        spans.append(
            f'<span class="{cls}" title="{hover}" style="{style};padding:1px 3px;margin:1px;border-radius:4px;'
            f'display:inline-block;font-family:monospace;white-space:pre">{shown}</span>'
        )
        if piece.text.endswith("\n"):
            spans.append("<br>")
    more = ""
    if total is not None and total > len(pieces):
        more = f' <span style="color:#6b7280">… {total - len(pieces):,} more (not drawn)</span>'
    return f'<div class="chips" style="line-height:1.9">{"".join(spans)}{more}</div>'


def show_pieces(pieces: list[Piece], total: int | None = None) -> None:
    # st.html, not st.markdown: user text in chips must never be read as Markdown or LaTeX ($, *, _).
    st.html(pieces_html(pieces, total))
