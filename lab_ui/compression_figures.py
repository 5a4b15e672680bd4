"""What the Compression and cost chapter draws: bits per character, the text coloured by the bits
the model spent on each character, the precomputed held-out result, and the log-scale compute chart.

Pure HTML/plotly building (every piece of user text escaped); the page puts it on screen.
"""

from __future__ import annotations

import html
import json

import plotly.graph_objects as go

from llm_core.compression import costs
from llm_core.model.anatomy import human_bytes
from llm_core.paths import ASSETS

# (upper bound in bits, background, legend): white for characters the model saw coming, red for surprises.
BIT_BINS = [
    (1.0, "#f0fdf4", "under 1 bit"),
    (2.0, "#d9f99d", "1-2 bits"),
    (4.0, "#fde68a", "2-4 bits"),
    (8.0, "#fdba74", "4-8 bits"),
    (float("inf"), "#f87171", "8 bits or more"),
]
STYLE = (
    "<style>.bits-text{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.9rem;line-height:1.7;"
    "white-space:pre-wrap;word-break:break-word;max-height:320px;overflow-y:auto;border:1px solid #e5e7eb;"
    "border-radius:6px;padding:8px 10px}.bits-text span{border-radius:2px}"
    ".bits-legend span{display:inline-block;padding:0 6px;margin-right:4px;border-radius:3px;font-size:0.8rem}</style>"
)


def bin_of(bits: float) -> int:
    """
    >>> [bin_of(b) for b in (0.2, 1.5, 3, 7.9, 20)]
    [0, 1, 2, 3, 4]
    """
    return next(i for i, (upper, _, _) in enumerate(BIT_BINS) if bits < upper)


def bits_html(pieces: list[tuple[str, float]], max_pieces: int = 6000) -> str:
    """The text, each piece on a background saying how many bits it cost; hover shows the figure.

    >>> bits_html([("a", 0.5), ("<", 9.0)])  # doctest: +ELLIPSIS
    '<style>...<div class="bits-text"><span style="background:#f0fdf4" title="0.50 bits">a</span><span style="background:#f87171" title="9.00 bits">&lt;</span></div>'
    """
    spans = [
        f'<span style="background:{BIT_BINS[bin_of(b)][1]}" title="{b:.2f} bits">{html.escape(p)}</span>'
        for p, b in pieces[:max_pieces]
    ]
    more = f'<span title="not shown">… ({len(pieces) - max_pieces:,} more)</span>' if len(pieces) > max_pieces else ""
    return STYLE + '<div class="bits-text">' + "".join(spans) + more + "</div>"


def legend_html() -> str:
    return '<div class="bits-legend">' + "".join(f'<span style="background:{c}">{html.escape(t)}</span>' for _, c, t in BIT_BINS) + "</div>"


def surprises(pieces: list[tuple[str, float]], count: int = 5, context: int = 12) -> list[dict]:
    """The `count` most expensive pieces with a little text before them, for a table."""
    order = sorted(range(len(pieces)), key=lambda i: -pieces[i][1])[:count]
    rows = []
    for i in sorted(order, key=lambda i: -pieces[i][1]):
        before = "".join(p for p, _ in pieces[max(0, i - context) : i])
        rows.append({"after": repr(before), "came": repr(pieces[i][0]), "bits": f"{pieces[i][1]:.1f}"})
    return rows


def bits_figure(rows: list[tuple[str, float]], title: str) -> go.Figure:
    """Horizontal bars of bits per character, one per method, the model's highlighted."""
    colors = ["#2563eb" if name.startswith("model") else "#9ca3af" for name, _ in rows]
    fig = go.Figure(go.Bar(x=[b for _, b in rows], y=[n for n, _ in rows], orientation="h", marker_color=colors,
                           text=[f"{b:.2f}" for _, b in rows], textposition="outside"))
    fig.update_layout(title=title, xaxis_title="bits per character (lower is better; plain text is 8)", height=90 + 34 * len(rows),
                      margin=dict(t=40, l=0, r=30, b=40), yaxis=dict(autorange="reversed"))
    return fig


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


def compute_chart(rows: list[dict]) -> go.Figure:
    """Training compute (FLOPs) on a log axis: this app's model, measured, beside published models."""
    fig = go.Figure(go.Bar(
        x=[r["name"] for r in rows], y=[r["flops"] for r in rows],
        marker_color=["#2563eb" if r.get("ours") else "#9ca3af" for r in rows],
        text=[f"{r['flops']:.1e}" for r in rows], textposition="outside",
        hovertext=[r["note"] for r in rows], hoverinfo="text+y",
    ))
    fig.update_layout(title="Training compute, log scale: every step up is 10x", yaxis_type="log", yaxis_title="FLOPs",
                      height=380, margin=dict(t=40, l=0, r=0, b=0), yaxis=dict(exponentformat="power"))
    return fig


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
