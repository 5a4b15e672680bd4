"""Text coloured by probability: each generated token on a background saying how likely the model
found it, so low-confidence tokens stand out. Pure HTML building: every span comes from
`lab_ui.chips.span` (which escapes), and the Generation chapter puts the result on the page with st.html.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from lab_ui import palette
from lab_ui.chips import span

# (upper bound, background, legend text): one hue, strongest for the unlikeliest tokens and fading to white
# for sure ones, so the order reads in colour-blind vision and in grey too; ink text stays above 4.5:1 on all.
BINS = [
    (0.05, palette.with_alpha(palette.VERMILLION, 0.55), "under 5%"),
    (0.20, palette.with_alpha(palette.VERMILLION, 0.35), "5-20%"),
    (0.50, palette.with_alpha(palette.ORANGE, 0.35), "20-50%"),
    (0.80, palette.with_alpha(palette.YELLOW, 0.35), "50-80%"),
    (1.01, palette.WHITE, "80% or more"),
]

STYLE = (
    "<style>"
    # column-reverse keeps a long text scrolled to its end, where the new tokens appear.
    ".gen-scroll{max-height:340px;overflow-y:auto;display:flex;flex-direction:column-reverse;"
    f"border:1px solid {palette.LIGHT_GREY};border-radius:6px;padding:8px 10px}}"
    ".gen-text{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.92rem;line-height:1.75;"
    "white-space:pre-wrap;word-break:break-word}"
    ".gen-text span{border-radius:3px}"
    f".gen-text .gp{{color:{palette.MUTED}}}"
    ".gen-text .gf{opacity:0.35}"
    f".gen-text .gs{{outline:2px solid {palette.BLUE};outline-offset:0}}"
    f".gen-text .gn{{outline:1px dashed {palette.BLUE};color:{palette.BLUE}}}"
    f".gen-text .nl{{color:{palette.MUTED}}}"
    + "".join(f".gen-text .b{i}{{background:{color}}}" for i, (_, color, _) in enumerate(BINS))
    + ".gen-legend span{display:inline-block;padding:0 6px;margin-right:4px;border-radius:3px;font-size:0.8rem;"
    f"border:1px solid {palette.LIGHT_GREY}}}"
    "</style>"
)


@dataclass
class Piece:
    text: str  # the token's display text (newlines are shown as a mark and a line break)
    prob: float | None = None  # None for prompt tokens (not generated: no colour)
    hover: str = ""
    faded: bool = False  # outside the model's window at the step shown
    selected: bool = False  # the token of the step shown
    ghost: bool = False  # the next token, not yet chosen


def bin_of(prob: float) -> int:
    """Index of the colour bin of a probability.

    >>> [bin_of(p) for p in (0.01, 0.05, 0.3, 0.99, 1.0)]
    [0, 1, 2, 4, 4]
    """
    for i, (upper, _, _) in enumerate(BINS):
        if prob < upper:
            return i
    return len(BINS) - 1


def prob_text_html(pieces: list[Piece], label: str = "The text, coloured by how likely the model found each token") -> str:
    """One block of coloured spans; hovering a generated token shows its `hover` text.

    >>> prob_text_html([Piece("<b>"), Piece("x", 0.01, "p=1%")]).count("<b>")
    0
    """
    spans = []
    for p in pieces:
        classes = []
        if p.prob is None and not p.ghost:
            classes.append("gp")
        elif p.prob is not None:
            classes.append(f"b{bin_of(p.prob)}")
            classes.append("gt")  # a generated token
        if p.ghost:
            classes.append("gn")
        if p.faded:
            classes.append("gf")
        if p.selected:
            classes.append("gs")
        spans.append(span(p.text, " ".join(classes), p.hover, newline_marks=True))
    # Focusable, so a keyboard can scroll a long text too.
    return STYLE + f'<div class="gen-scroll" tabindex="0" role="region" aria-label="{html.escape(label)}"><div class="gen-text">{"".join(spans)}</div></div>'


def legend_html() -> str:
    items = "".join(f'<span style="background:{color}">{html.escape(label)}</span>' for _, color, label in BINS)
    return f'<div class="gen-legend">{items}</div>'
