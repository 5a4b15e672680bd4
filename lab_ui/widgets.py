"""Small reusable pieces of page UI: token chips (drawn by lab_ui.chips), page links that exist, static tables."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from lab_ui.chips import token_chips_html

# `chips_html` is the name pages/assistant.py imports; it is lab_ui.chips.token_chips_html.
chips_html = token_chips_html

ROOT = Path(__file__).resolve().parent.parent


def token_chips(tokens: list[tuple[str, str]], max_tokens: int = 2000) -> None:
    """Chips for (text, hover) pairs, through the one chip renderer (lab_ui.chips), as HTML (never Markdown)."""
    st.html(token_chips_html(tokens, max_tokens))


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
