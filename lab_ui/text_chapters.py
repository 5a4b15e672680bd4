"""Shared resources and small UI pieces for the Tokenization and Embeddings chapters.

Server-wide caches (read-only, shared by every user): LLM Lab's own BPE trained once on Tiny
Shakespeare, BPE training runs replayed merge by merge, and freshly initialised "untrained
twins" of a model's shape. Plus `Piece`s as token chips (unknown characters crossed out, line breaks kept).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from lab_ui import state
from lab_ui.chips import Chip, show_chips
from llm_core.model.config import ModelConfig
from llm_core.text import bpe
from llm_core.text.tokenizers import BPETokenizer, CharTokenizer
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


def pieces_chips(pieces: list[Piece]) -> list[Chip]:
    """Chips for `Piece`s: hover shows id and bytes, a chip that ends a line is followed by a line
    break, and characters without an id are crossed out in red."""
    return [Chip(p.text, p.hover, kind="unknown" if p.token_id is None else "", line_break=p.text.endswith("\n")) for p in pieces]


def show_pieces(pieces: list[Piece], total: int | None = None) -> None:
    show_chips(pieces_chips(pieces), hidden=(total or 0) - len(pieces))


def merge_curve_figure(replay: BPEReplay, k: int) -> go.Figure:
    """Tokens in the training text and vocabulary size after each merge, merge `k` marked."""
    counts, n = replay.token_counts, len(replay.steps)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    xs = list(range(n + 1))
    fig.add_trace(go.Scatter(x=xs, y=counts, name="tokens in the training text", line=dict(color="#2563eb"),
                             hovertemplate="after %{x} merges: %{y:,} tokens<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=xs, y=replay.vocab_sizes, name="vocabulary size", line=dict(color="#f59e0b", dash="dot"),
                             hovertemplate="after %{x} merges: vocabulary %{y:,}<extra></extra>"), secondary_y=True)
    fig.add_trace(go.Scatter(x=[k], y=[counts[k]], mode="markers", marker=dict(size=12, color="#dc2626"),
                             name=f"merge {k}", hovertemplate="merge %{x}: %{y:,} tokens<extra></extra>"), secondary_y=False)
    fig.add_vline(x=k, line=dict(color="#dc2626", width=1, dash="dash"))
    fig.update_layout(height=330, margin=dict(t=30, l=0, r=0, b=0), legend=dict(orientation="h", y=1.12),
                      xaxis_title="merges learned")
    fig.update_yaxes(title_text="tokens in the training text", secondary_y=False)
    fig.update_yaxes(title_text="vocabulary size", secondary_y=True)
    return fig
