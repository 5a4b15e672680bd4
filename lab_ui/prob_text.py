"""Text coloured by probability: each generated token on a background saying how likely the model
found it, so low-confidence tokens stand out. Pure HTML building: every span comes from
`lab_ui.chips.span` (which escapes), and the Generation chapter puts the result on the page with st.html.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from lab_ui.chips import span

# (upper bound, background, legend text): red for unlikely tokens, fading to white for sure ones.
BINS = [
    (0.05, "#f87171", "under 5%"),
    (0.20, "#fdba74", "5-20%"),
    (0.50, "#fde68a", "20-50%"),
    (0.80, "#d9f99d", "50-80%"),
    (1.01, "#f0fdf4", "80% or more"),
]

STYLE = (
    "<style>"
    # column-reverse keeps a long text scrolled to its end, where the new tokens appear.
    ".gen-scroll{max-height:340px;overflow-y:auto;display:flex;flex-direction:column-reverse;"
    "border:1px solid #e5e7eb;border-radius:6px;padding:8px 10px}"
    ".gen-text{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.92rem;line-height:1.75;"
    "white-space:pre-wrap;word-break:break-word}"
    ".gen-text span{border-radius:3px}"
    ".gen-text .gp{color:#6b7280}"
    ".gen-text .gf{opacity:0.35}"
    ".gen-text .gs{outline:2px solid #1d4ed8;outline-offset:0}"
    ".gen-text .gn{outline:1px dashed #1d4ed8;color:#1d4ed8}"
    ".gen-text .nl{color:#9ca3af}"
    + "".join(f".gen-text .b{i}{{background:{color}}}" for i, (_, color, _) in enumerate(BINS))
    + ".gen-legend span{display:inline-block;padding:0 6px;margin-right:4px;border-radius:3px;font-size:0.8rem}"
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


def prob_text_html(pieces: list[Piece]) -> str:
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
    return STYLE + f'<div class="gen-scroll"><div class="gen-text">{"".join(spans)}</div></div>'


def legend_html() -> str:
    items = "".join(f'<span style="background:{color}">{html.escape(label)}</span>' for _, color, label in BINS)
    return f'<div class="gen-legend">{items}</div>'
