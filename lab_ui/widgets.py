"""Small reusable pieces of page UI: token chips, friendly errors, page links that exist."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from llm_core.text.tokenizers import visible_whitespace

ROOT = Path(__file__).resolve().parent.parent
PALETTE = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc", "#e5e7eb"]


def chips_html(tokens: list[tuple[str, str]], max_tokens: int = 2000, colors: list[str] | None = None) -> str:
    """HTML for coloured token chips. tokens: (display text, hover text). Everything is escaped.

    `colors` (one CSS colour per token) replaces the alternating palette, e.g. to mark learned tokens.
    """
    spans = []
    for i, (text, hover) in enumerate(tokens[:max_tokens]):
        shown = visible_whitespace(text) or "∅"
        color = colors[i] if colors else PALETTE[i % len(PALETTE)]
        spans.append(
            f'<span class="tok" title="{html.escape(hover, quote=True)}" style="background:{color};'
            f'padding:1px 3px;margin:1px;border-radius:4px;display:inline-block;font-family:monospace;white-space:pre">'
            f"{html.escape(shown)}</span>"
        )
    more = f' <span style="color:#6b7280">… {len(tokens) - max_tokens:,} more</span>' if len(tokens) > max_tokens else ""
    return f'<div class="chips" style="line-height:1.9">{"".join(spans)}{more}</div>'


def token_chips(tokens: list[tuple[str, str]], max_tokens: int = 2000) -> None:
    st.markdown(chips_html(tokens, max_tokens), unsafe_allow_html=True)


def page_link(path: str, label: str, icon: str | None = None) -> None:
    """A link to a chapter, shown only when that chapter's page exists."""
    if (ROOT / path).exists():
        st.page_link(path, label=label, icon=icon)


def table_html(rows: list[dict]) -> str:
    """A small static table as escaped HTML: no pandas (st.dataframe imports it, a third of a
    second on a page's first render) and no markdown (a "$" would start LaTeX).

    >>> table_html([{"what": "cost", "value": "about $2M <est.>"}])  # doctest: +ELLIPSIS
    '<table ...><tr><th ...>what</th><th ...>value</th></tr><tr><td ...>cost</td><td ...>about $2M &lt;est.&gt;</td></tr></table>'
    """
    if not rows:
        return ""
    cell = 'style="border-bottom:1px solid #e5e7eb;padding:6px 10px;text-align:left;vertical-align:top"'
    head = "".join(f"<th {cell}>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td {cell}>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f'<table style="border-collapse:collapse;width:100%;font-size:0.9rem"><tr>{head}</tr>{body}</table>'
