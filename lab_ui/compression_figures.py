"""What the Compression and cost chapter draws: bits per character, the text coloured by the bits
the model spent on each character, the precomputed held-out result, and the log-scale compute chart,
each chart with the caption and the table lab_ui.charts shows beside it.

Pure HTML/plotly building (every piece of user text escaped); the page puts it on screen.
"""

from __future__ import annotations

import html
import json
import math
import textwrap

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from lab_ui import palette
from llm_core.compression import costs
from llm_core.model.anatomy import human_bytes
from llm_core.paths import ASSETS


def _cividis(x: float) -> str:
    r, g, b = (int(v) for v in sample_colorscale(palette.SEQUENTIAL_ALT, [x])[0][4:-1].split(","))
    return f"#{r:02x}{g:02x}{b:02x}"


# (upper bound in bits, background, legend): no colour for characters the model saw coming, then cividis
# from light to dark for costlier ones (it reads in order in grey too, and for colour-blind readers).
BIT_BINS = [
    (1.0, palette.WHITE, "under 1 bit"),
    (2.0, _cividis(1.0), "1-2 bits"),
    (4.0, _cividis(0.75), "2-4 bits"),
    (8.0, _cividis(0.35), "4-8 bits"),
    (float("inf"), _cividis(0.0), "8 bits or more"),
]


def ink_on(background: str) -> str:
    """The text colour (ink or white) that reads best on `background`: at least 4.5:1 on every bin.

    >>> all(palette.contrast(ink_on(bg), bg) >= 4.5 for _, bg, _ in BIT_BINS)
    True
    """
    return max((palette.INK, palette.WHITE), key=lambda ink: palette.contrast(ink, background))


STYLE = (
    "<style>.bits-text{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.9rem;line-height:1.7;"
    f"white-space:pre-wrap;word-break:break-word;max-height:320px;overflow-y:auto;border:1px solid {palette.GREY};"
    "border-radius:6px;padding:8px 10px}.bits-text span{border-radius:2px}"
    f".bits-legend span{{display:inline-block;padding:0 6px;margin-right:4px;border-radius:3px;font-size:0.8rem;border:1px solid {palette.LIGHT_GREY}}}</style>"
)


def bin_of(bits: float) -> int:
    """
    >>> [bin_of(b) for b in (0.2, 1.5, 3, 7.9, 20)]
    [0, 1, 2, 3, 4]
    """
    return next(i for i, (upper, _, _) in enumerate(BIT_BINS) if bits < upper)


def bits_html(pieces: list[tuple[str, float]], max_pieces: int = 6000) -> str:
    """The text, each piece on a background saying how many bits it cost; hover shows the figure.

    >>> out = bits_html([("a", 0.5), ("<", 9.0)])
    >>> out.split('tabindex="0">')[1]  # doctest: +NORMALIZE_WHITESPACE
    '<span style="background:#FFFFFF;color:#1F2328" title="0.50 bits">a</span><span
    style="background:#00224e;color:#FFFFFF" title="9.00 bits">&lt;</span></div>'
    """
    spans = [
        f'<span style="background:{BIT_BINS[bin_of(b)][1]};color:{ink_on(BIT_BINS[bin_of(b)][1])}" title="{b:.2f} bits">{html.escape(p)}</span>'
        for p, b in pieces[:max_pieces]
    ]
    more = f'<span title="not shown">… ({len(pieces) - max_pieces:,} more)</span>' if len(pieces) > max_pieces else ""
    label = "your text, each character on a background that says how many bits the model spent on it (a scrolling box)"
    return STYLE + f'<div class="bits-text" role="region" aria-label="{label}" tabindex="0">' + "".join(spans) + more + "</div>"


def legend_html() -> str:
    return '<div class="bits-legend">' + "".join(f'<span style="background:{c};color:{ink_on(c)}">{html.escape(t)}</span>' for _, c, t in BIT_BINS) + "</div>"


def surprises(pieces: list[tuple[str, float]], count: int = 5, context: int = 12) -> list[dict]:
    """The `count` most expensive pieces with a little text before them, for a table; "at character" tells
    apart two rows with the same text (a name that comes back costs about as much again).

    >>> surprises([("a", 0.5), ("b", 9.0), ("a", 0.4), ("b", 8.0)], count=2, context=1)
    [{'at character': 2, 'after': "'a'", 'came': "'b'", 'bits': '9.0'}, {'at character': 4, 'after': "'a'", 'came': "'b'", 'bits': '8.0'}]
    """
    starts = [0]
    for piece, _ in pieces:
        starts.append(starts[-1] + len(piece))
    order = sorted(range(len(pieces)), key=lambda i: -pieces[i][1])[:count]
    rows = []
    for i in sorted(order, key=lambda i: -pieces[i][1]):
        before = "".join(p for p, _ in pieces[max(0, i - context) : i])
        rows.append({"at character": starts[i] + 1, "after": repr(before), "came": repr(pieces[i][0]), "bits": f"{pieces[i][1]:.1f}"})
    return rows


def every_piece(pieces: list[tuple[str, float]]) -> list[dict]:
    """Every piece with where it starts and what it cost: the coloured text's figures as a table (no hover needed).

    >>> every_piece([("a", 0.5), ("\\n", 3.25)])
    [{'at character': 1, 'piece': "'a'", 'bits': '0.50'}, {'at character': 2, 'piece': "'\\\\n'", 'bits': '3.25'}]
    """
    rows, at = [], 1
    for piece, bits in pieces:
        rows.append({"at character": at, "piece": repr(piece), "bits": f"{bits:.2f}"})
        at += len(piece)
    return rows


def plain_bits(plain: float) -> str:
    """What storing the text as it is costs a character, in words: 8 for one byte a character, more for UTF-8 text
    whose characters take several bytes (an emoji takes 4).

    >>> plain_bits(8.0), plain_bits(8 * 42 / 11)
    ('plain text takes 8', 'this text as it is (UTF-8) takes 30.55')
    """
    return "plain text takes 8" if abs(plain - 8) < 0.005 else f"this text as it is (UTF-8) takes {plain:.2f}"


def bits_figure(rows: list[tuple[str, float]], title: str) -> go.Figure:
    """Horizontal bars of bits per character, one per method, named on the axis; the model's in the palette's blue."""
    colors = [palette.BLUE if name.startswith("model") else palette.GREY for name, _ in rows]
    fig = go.Figure(go.Bar(x=[b for _, b in rows], y=[n for n, _ in rows], orientation="h", marker_color=colors,
                           text=[f"{b:.2f}" for _, b in rows], textposition="outside", cliponaxis=False))
    # The axis title stays short (on a phone a longer one was cut off): what plain text costs is in the caption.
    # The values sit outside their bars, with room on the right not to be clipped.
    fig.update_layout(title=title, xaxis_title="bits per character (lower is better)", height=110 + 34 * len(rows),
                      margin=dict(t=40, l=0, r=40, b=40), yaxis=dict(autorange="reversed"))
    return fig


def bits_caption(rows: list[tuple[str, float]], plain: float = 8.0) -> str:
    """What to notice in a bits-per-character chart, from its bars.

    >>> bits_caption([("model (m)", 2.1), ("gzip -9", 3.2), ("xz -9e", 2.9)])
    'The model (m) needs 2.10 bits per character, 0.80 fewer than the best of the others (xz -9e, 2.90); plain text takes 8.'
    >>> bits_caption([("model (m)", 3.5), ("gzip -9", 3.2)])
    'The model (m) needs 3.50 bits per character, 0.30 more than the best of the others (gzip -9, 3.20); plain text takes 8.'
    """
    model = next((r for r in rows if r[0].startswith("model")), rows[0])
    others = [r for r in rows if r is not model]
    if not others:
        return f"The {model[0]} needs {model[1]:.2f} bits per character; {plain_bits(plain)}."
    best = min(others, key=lambda r: r[1])
    gap = model[1] - best[1]
    how = "as many as" if abs(gap) < 0.005 else f"{abs(gap):.2f} {'fewer' if gap < 0 else 'more'} than"
    return f"The {model[0]} needs {model[1]:.2f} bits per character, {how} the best of the others ({best[0]}, {best[1]:.2f}); {plain_bits(plain)}."


def bits_table(rows: list[tuple[str, float]], n_chars: int) -> list[dict]:
    return [{"method": name, "bits per character": round(b, 4), "bytes for the text": round(b * n_chars / 8)} for name, b in rows]


def heldout_result(fingerprint: str) -> dict | None:
    """The precomputed held-out figures for a model, if `benchmarks/compression.py --write-asset` made them for exactly these weights."""
    for path in sorted((ASSETS / "compression").glob("*-heldout.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("fingerprint") == fingerprint:
            return data
    return None


# A model's name on the compute chart's axis: wrapped at this many characters a line. The bars run across, names down the
# axis: turned on their side under upright bars, the names overlapped and were cut off on a phone (390 px).
NAME_LINE = 18


def axis_name(name: str, width: int = NAME_LINE) -> str:
    """A model's name for the compute chart's axis: escaped (plotly reads <b> and <br> in labels), on lines of at most
    `width` characters (a longer word cut); the full name is in the chart's table.

    >>> axis_name("1T (dense, shape estimated)"), axis_name("a<b")
    ('1T (dense, shape<br>estimated)', 'a&lt;b')
    """
    return "<br>".join(html.escape(line, quote=False) for line in textwrap.wrap(name, width) or [name])


def compute_chart(rows: list[dict]) -> go.Figure:
    """Training compute (FLOPs) on a log axis: this app's model, measured, beside published models, as bars across with
    the names down the axis, so they read at any width."""
    decades = [math.log10(r["flops"]) for r in rows]
    low = 3 * math.floor(min(decades) / 3)  # on a gridline (one every 10^3), below the smallest bar
    high = max(decades) + 0.1 * (max(decades) - low)  # room on the right for the largest bar's value
    fig = go.Figure(go.Bar(
        y=[axis_name(r["name"]) for r in rows], x=[r["flops"] for r in rows], orientation="h",
        marker_color=[palette.BLUE if r.get("ours") else palette.GREY for r in rows],
        text=[f"{r['flops']:.1e}" for r in rows], textposition="outside", cliponaxis=False,
        hovertext=[r["note"] for r in rows], hoverinfo="text+x",
    ))
    fig.update_layout(title="Training compute, log scale:<br>each gridline is 1,000x the one before", height=80 + 46 * len(rows),
                      margin=dict(t=60, l=0, r=50, b=40),
                      xaxis=dict(type="log", exponentformat="power", dtick=3, range=[low, high],  # a gridline every 10^3, as the title says
                                 title="training compute (FLOPs)"),  # spelled out where the chapter first uses it
                      yaxis=dict(autorange="reversed"))  # yours first, at the top
    return fig


def compute_caption(rows: list[dict]) -> str:
    """What to notice in the compute chart, from its bars.

    >>> compute_caption([dict(name="mine", flops=2e13, ours=True), dict(name="Big", flops=8e23), dict(name="Small", flops=1e21)])
    'mine took 2.0e+13 FLOPs; Big took 4.0e+10 times as much, Small 5.0e+07 times.'
    """
    ours = next(r for r in rows if r.get("ours"))
    others = sorted((r for r in rows if not r.get("ours")), key=lambda r: -r["flops"])
    if not others:
        return f"{ours['name']} took {ours['flops']:.1e} FLOPs."
    first, rest = others[0], others[1:]
    tail = "".join(f", {r['name']} {r['flops'] / ours['flops']:.1e} times" for r in rest[-1:])
    return f"{ours['name']} took {ours['flops']:.1e} FLOPs; {first['name']} took {first['flops'] / ours['flops']:.1e} times as much{tail}."


def compute_rows(name: str, flops: float, seconds: float | None) -> list[dict]:
    """This model's training FLOPs (and seconds here) beside each size class's 6ND."""
    rows = [dict(name=name, flops=flops, ours=True, note=f"measured: {flops:.2e} FLOPs" + (f" in {seconds:.0f} s on this machine" if seconds else ""))]
    for cls in costs.SIZE_CLASSES:
        tokens = cls.tokens or costs.CHINCHILLA_TOKENS_PER_PARAM * cls.params
        label = "published tokens" if cls.tokens else "tokens assumed 20 per parameter"
        rows.append(dict(name=cls.name, flops=costs.train_flops(cls.params, tokens), note=f"6 x {cls.params:.3g} x {tokens:.3g} ({label}); {cls.source}"))
    return rows


def description_rows(weights: float, text: float, coded_rate: float, classical: dict[str, float], unit: str = "char") -> list[dict]:
    """Rows of the lossless description-length table: the text, the weights, the coded text, the sums."""
    rows = [
        {"": "the text itself", "size": human_bytes(text)},
        {"": "model: weights file", "size": human_bytes(weights)},
        {"": f"model: coded text ({8 * coded_rate:.2f} bits/{unit})", "size": human_bytes(text * coded_rate)},
        {"": "model: weights + coded text (lossless)", "size": human_bytes(weights + text * coded_rate)},
    ]
    rows += [{"": f"{name} (lossless)", "size": human_bytes(text * rate)} for name, rate in classical.items()]
    return rows
