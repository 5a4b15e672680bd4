"""Token chips: the one place where token text becomes HTML on a page.

Every chapter that draws tokens as coloured boxes (Overview, Tokenization, Attention's strip, the
assistant's chat tokens) builds `Chip`s and calls `chips_html`/`show_chips`; the Generation
chapter's probability-coloured text builds its spans with `span` too. Text and hover strings are
escaped here and nowhere else, and pages put the result on screen with `st.html` (never through
Markdown), so a user's `**bold**`, `<b>`, `$x$` or `[a](javascript:x)` is shown as typed.

Not here: which colour a token gets (the caller's business) and Streamlit widgets.

>>> chips_html([Chip("<b>x</b>", hover='say "hi"'), Chip(" ", kind="unknown")])  # doctest: +ELLIPSIS
'<style>...</style><div class="chips"><span class="tok" title="say &quot;hi&quot;" style="background:#fde68a">&lt;b&gt;x&lt;/b&gt;</span><span class="tok unknown">·</span></div>'
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import streamlit as st

from llm_core.text.tokenizers import visible_whitespace

PALETTE = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc", "#e5e7eb"]

# One stylesheet for every chip on every page (sent with each block: st.html blocks are independent).
STYLE = (
    "<style>"
    ".chips{line-height:1.9}"
    ".chips .tok{padding:1px 3px;margin:1px;border-radius:4px;display:inline-block;font-family:monospace;white-space:pre}"
    ".chips .tok.unknown{background:#fee2e2;color:#b91c1c;border:1px dashed #b91c1c;text-decoration:line-through}"
    ".chips .tok.future{color:#6E7781;border:1px dotted #6E7781}"  # greyed, yet 4.6:1 on white (WCAG AA), and dotted: not by colour alone
    ".chips .tok.query{outline:2px solid #D55E00}"  # Okabe-Ito vermillion (lab_ui/palette.py)
    ".chips .more{color:#6b7280}"
    "</style>"
)


@dataclass(frozen=True)
class Chip:
    text: str  # the token's text as it is; whitespace is shown as · ↵ →, the empty string as ∅
    hover: str = ""
    background: str | None = None  # a CSS colour; None: the palette colour of the chip's position
    color: str | None = None  # the text colour; None: the page's
    kind: str = ""  # "unknown" (no id: crossed out in red), "future" (greyed), "query" (outlined)
    weight: float | None = None  # written as data-weight, for whoever reads the page (tests, tools)
    line_break: bool = False  # start a new line after this chip


def span(text: str, classes: str = "", hover: str = "", style: str = "", data: dict | None = None, newline_marks: bool = False) -> str:
    """One escaped span: the building block of chips and of the Generation chapter's coloured text.
    `newline_marks`: each newline shows as a grey ↵ and a line break (no raw newline in the HTML).

    >>> span('<i x="1">', "tok", hover="a\\nb")
    '<span class="tok" title="a&#10;b">&lt;i x=&quot;1&quot;&gt;</span>'
    >>> span("a\\nb", newline_marks=True)
    '<span>a<span class="nl">↵</span><br>b</span>'
    """
    attrs = f' class="{html.escape(classes, quote=True)}"' if classes else ""
    for name, value in (data or {}).items():
        attrs += f' data-{name}="{html.escape(str(value), quote=True)}"'
    if hover:
        attrs += f' title="{attribute(hover)}"'
    if style:
        attrs += f' style="{html.escape(style, quote=True)}"'
    body = html.escape(text)
    if newline_marks:
        body = body.replace("\n", '<span class="nl">↵</span><br>')
    return f"<span{attrs}>{body}</span>"


def attribute(text: str) -> str:
    """Text for an HTML attribute: escaped, newlines kept as character references."""
    return html.escape(text, quote=True).replace("\n", "&#10;")


def chip_span(chip: Chip, index: int) -> str:
    style = []
    if chip.kind != "unknown" and (chip.background or not chip.kind):
        style.append(f"background:{chip.background or PALETTE[index % len(PALETTE)]}")
    if chip.color:
        style.append(f"color:{chip.color}")
    data = {"weight": f"{chip.weight:.6f}"} if chip.weight is not None else None
    out = span(visible_whitespace(chip.text) or "∅", f"tok {chip.kind}".strip(), chip.hover, ";".join(style), data)
    return out + ("<br>" if chip.line_break else "")


def chips_html(chips: list[Chip], hidden: int = 0, container: str = "", line_height: float | None = None) -> str:
    """A block of chips; `hidden` more tokens exist but are not drawn (said after the last chip).

    `container` adds a class to the block (e.g. "attention-strip") for pages and tests to find it.
    """
    more = f' <span class="more">… {hidden:,} more (not drawn)</span>' if hidden > 0 else ""
    classes = f"chips {container}".strip()
    style = f' style="line-height:{line_height}"' if line_height else ""
    return f'{STYLE}<div class="{classes}"{style}>{"".join(chip_span(c, i) for i, c in enumerate(chips))}{more}</div>'


def show_chips(chips: list[Chip], hidden: int = 0, container: str = "", line_height: float | None = None) -> None:
    # st.html, not st.markdown: token text must never be read as Markdown or LaTeX ($, *, _, [..](..)).
    st.html(chips_html(chips, hidden, container, line_height))


def token_chips_html(tokens: list[tuple[str, str]], max_tokens: int = 2000, colors: list[str] | None = None) -> str:
    """Chips for (text, hover) pairs, at most `max_tokens` drawn; `colors` (one per token) replaces the palette."""
    chips = [Chip(text, hover, colors[i] if colors else None) for i, (text, hover) in enumerate(tokens[:max_tokens])]
    return chips_html(chips, hidden=len(tokens) - max_tokens)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")


def literal(text: str) -> str:
    """Text to put inside a Markdown sentence (a caption, a metric) so that it is shown as typed:
    every Markdown, HTML and LaTeX character is backslash-escaped.

    >>> literal("**bold** <b>x</b> $1")
    '\\\\*\\\\*bold\\\\*\\\\* \\\\<b\\\\>x\\\\</b\\\\> \\\\$1'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
