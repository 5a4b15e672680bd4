"""Shared resources and small UI pieces for the Tokenization and Embeddings chapters.

Server-wide caches (read-only, shared by every user): LLM Lab's own BPE trained once on Tiny
Shakespeare, BPE training runs replayed merge by merge, and freshly initialised "untrained
twins" of a model's shape. Plus `Piece`s as token chips (unknown characters crossed out, line
breaks kept) whose id and bytes show on hover and on a tap (phones have no hover), and the same
information as text in a table (`pieces_table`); the merge curve and the sentence that says what
it shows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from lab_ui import palette, state
from lab_ui.chips import Chip, chips_html
from llm_core.model.config import ModelConfig
from llm_core.text import bpe, shipped_bpe
from llm_core.text.tokenizers import BPETokenizer, CharTokenizer, visible_whitespace
from llm_core.text.tokenview import BPEReplay, Piece, hex_bytes, replay_bpe
from llm_core.training.loop import build_model

SHAKESPEARE_MERGES = shipped_bpe.MERGES  # LLM Lab's BPE for the comparison: 256 bytes + 1000 merges
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


def _run(text: str, n_merges: int, merges: list[bpe.Merge], replay: BPEReplay | None = None) -> BPERun:
    tokenizer = BPETokenizer([m.pair for m in merges])
    tokenizer.merge_counts = [m.count for m in merges]
    return BPERun(tokenizer, replay or replay_bpe(text, merges), n_merges, len(text))


def _train(text: str, n_merges: int) -> BPERun:
    return _run(text, n_merges, bpe.train_merges(text, n_merges))


@st.cache_resource(show_spinner="Loading LLM Lab's BPE on Tiny Shakespeare…")
def shakespeare_bpe() -> BPERun:
    """Read from the file `python -m llm_core.text.shipped_bpe` made from this corpus (the same merges
    and replay as training here, without 1-3 s of a chapter's first visit); trained here if it is not that file's."""
    text = state.corpus(shipped_bpe.CORPUS)
    shipped = shipped_bpe.load(text, SHAKESPEARE_MERGES)
    return _run(text, SHAKESPEARE_MERGES, *shipped) if shipped else _train(text, SHAKESPEARE_MERGES)


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


# A chip's id and bytes as a label under the pointer: on hover with a mouse, and on a tap on a phone
# (mobile browsers give a tapped element that looks clickable, cursor:pointer, the :hover state).
TAP_STYLE = (
    "<style>"
    ".chips.tapinfo .tok[title]{cursor:pointer;position:relative}"
    ".chips.tapinfo .tok[title]:hover::after{content:attr(title);position:absolute;left:0;top:100%;z-index:20;"
    f"background:{palette.INK};color:#FFFFFF;padding:2px 6px;border-radius:4px;white-space:nowrap;font-size:12px;"
    "font-family:sans-serif;line-height:1.4}"
    "</style>"
)


def pieces_chips(pieces: list[Piece]) -> list[Chip]:
    """Chips for `Piece`s: hover (or tap) shows id and bytes, a chip that ends a line is followed by a
    line break, and characters without an id are crossed out in red."""
    return [Chip(p.text, p.hover, kind="unknown" if p.token_id is None else "", line_break=p.text.endswith("\n")) for p in pieces]


def show_pieces(pieces: list[Piece], total: int | None = None) -> None:
    st.html(TAP_STYLE + chips_html(pieces_chips(pieces), hidden=(total or 0) - len(pieces), container="tapinfo"))


def pieces_table(pieces: list[Piece]) -> list[dict]:
    """The chips' hover information as rows: what a screen reader or a phone reads instead of hovering.

    >>> pieces_table([Piece(7, " a", b" a"), Piece(None, "é", "é".encode())])
    [{'#': 1, 'token': '·a', 'id': '7', 'bytes': '20 61'}, {'#': 2, 'token': 'é', 'id': 'no id', 'bytes': 'C3 A9'}]
    """
    return [{"#": n, "token": visible_whitespace(p.text) or "∅", "id": "no id" if p.token_id is None else str(p.token_id),
             "bytes": hex_bytes(p.raw)} for n, p in enumerate(pieces, 1)]


def merge_curve_figure(replay: BPEReplay, k: int) -> go.Figure:
    """Tokens in the training text and vocabulary size after each merge, merge `k` marked."""
    counts, n = replay.token_counts, len(replay.steps)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    xs = list(range(n + 1))
    fig.add_trace(go.Scatter(x=xs, y=counts, name="tokens in the training text", line=dict(color=palette.BLUE),
                             hovertemplate="after %{x} merges: %{y:,} tokens<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=xs, y=replay.vocab_sizes, name="vocabulary size", line=dict(color=palette.ORANGE, dash="dot"),
                             hovertemplate="after %{x} merges: vocabulary %{y:,}<extra></extra>"), secondary_y=True)
    fig.add_trace(go.Scatter(x=[k], y=[counts[k]], mode="markers", marker=dict(size=12, color=palette.VERMILLION, symbol="diamond"),
                             name=f"merge {k}", hovertemplate="merge %{x}: %{y:,} tokens<extra></extra>"), secondary_y=False)
    fig.add_vline(x=k, line=dict(color=palette.VERMILLION, width=1, dash="dash"))
    fig.update_layout(height=330, margin=dict(t=30, l=0, r=0, b=0), legend=dict(orientation="h", y=1.12),
                      xaxis_title="merges learned")
    fig.update_yaxes(title_text="tokens in the training text", secondary_y=False)
    low, high = min(replay.vocab_sizes), max(replay.vocab_sizes)
    # Its own range and no gridlines of its own: aligned to the left axis's gridlines, plotly extended it below
    # 256 (a tick at 204, a vocabulary no byte-level BPE can have).
    fig.update_yaxes(title_text="vocabulary size (tokens)", secondary_y=True, range=[low, max(high, low + 1)], showgrid=False, tickmode="auto")
    return fig


def merge_curve_caption(replay: BPEReplay, k: int) -> str:
    """What the merge curve shows, measured: how much shorter the text is after k merges, and how the
    merges' savings shrink (the first merge against the k-th).

    >>> from llm_core.text import bpe
    >>> r = replay_bpe("aaab aaab", bpe.train_merges("aaab aaab", 2))
    >>> merge_curve_caption(r, 2)
    'After 2 merges the training text is 5 tokens instead of 9 bytes (44% shorter); merge 1 saved 2 tokens, merge 2 saved 2.'
    """
    counts = replay.token_counts
    if k == 0:
        return f"Before any merge the training text is {counts[0]:,} tokens, one per byte; move the slider to add merges."
    saved = [counts[i - 1] - counts[i] for i in range(1, len(counts))]
    return (f"After {k:,} merges the training text is {counts[k]:,} tokens instead of {counts[0]:,} bytes "
            f"({1 - counts[k] / counts[0]:.0%} shorter); merge 1 saved {saved[0]:,} tokens, merge {k:,} saved {saved[k - 1]:,}.")


def merge_curve_table(replay: BPEReplay) -> list[dict]:
    return [{"merges": i, "tokens in the training text": c, "vocabulary size": v} for i, (c, v) in enumerate(zip(replay.token_counts, replay.vocab_sizes))]
