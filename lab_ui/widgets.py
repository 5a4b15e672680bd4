"""Small reusable pieces of page UI: token chips (drawn by lab_ui.chips), page links that exist, static tables,
text boxes (text shown as it is, without the code highlighter)."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from lab_ui import palette
from lab_ui.chips import token_chips_html
from lab_ui.theme import CODE_BACKGROUND

# `chips_html` is the name pages/assistant.py imports; it is lab_ui.chips.token_chips_html.
chips_html = token_chips_html

ROOT = Path(__file__).resolve().parent.parent


def token_chips(tokens: list[tuple[str, str]], max_tokens: int = 2000) -> None:
    """Chips for (text, hover) pairs, through the one chip renderer (lab_ui.chips), as HTML (never Markdown)."""
    st.html(token_chips_html(tokens, max_tokens))


def plural(n: int, word: str) -> str:
    """A count with its noun, singular or plural.

    >>> plural(1, "pair"), plural(2041, "step")
    ('1 pair', '2,041 steps')
    """
    return f"{n:,} {word}" + ("" if n == 1 else "s")


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
    return f'<table class="lab-plain" style="border-collapse:collapse;width:100%;font-size:0.9rem"><tr>{head}</tr>{body}</table>'  # lab_ui/theme.py: on a phone


def text_block_html(text: str) -> str:
    """Text shown as it is (a prompt, a sample, token ids, a command), in a monospaced box, as escaped
    HTML: what `st.code(..., language=None)` shows, without its highlighter. `st.code` makes every
    browser fetch and run 1.5 MB of JavaScript the first time a page shows one (about 0.3 s of a
    browser's CPU: a class's eight browsers on the server's two cores pay it together); these boxes
    highlight nothing, so they need none of it. No copy button: select the text instead. Long lines
    wrap, as lab_ui/theme.py makes code blocks do (a box that scrolls sideways is out of the keyboard's reach).

    >>> text_block_html("a <b> & c")  # doctest: +ELLIPSIS
    '<pre class="lab-text" ...>a &lt;b&gt; &amp; c</pre>'
    """
    return (f'<pre class="lab-text" style="font-family:\'Source Code Pro\',monospace;font-size:0.85rem;line-height:1.5;'
            f'background:{CODE_BACKGROUND};color:{palette.INK};border-radius:0.5rem;padding:0.75rem 1rem;margin:0;white-space:pre-wrap;overflow-wrap:anywhere">'
            f"{html.escape(text, quote=False)}</pre>")


def text_block(text: str, where=None) -> None:
    """`text_block_html(text)` drawn (in `where`, a column or container, when given)."""
    (where or st).html(text_block_html(text))
