"""Plotly figures of the Attention chapter, built from an `llm_core.interpret.inspect_model.Inspection`.

Kept apart from the page so tests and the redraw benchmark can build them without a browser.
No Streamlit and no model maths here: the numbers come from the inspection unchanged (the
attention heatmap's z is the trace path's weights, which a test checks). Colours come from
lab_ui.palette only: heatmaps in cividis (brighter = more weight), lines and bars told apart by
dashes, markers and patterns as well as by colour.
"""

from __future__ import annotations

import functools
import html

import numpy as np
import plotly.graph_objects as go

from lab_ui import palette
from lab_ui.chips import Chip, chips_html
from llm_core.interpret.inspect_model import Inspection, tile_heads

MASK_COLOUR = palette.LIGHT_GREY
# A half-width chart's legend: beside the chart it took half the width. It sits at the bottom of the whole figure
# (yref "container"), so that plotly makes room for it below the tick labels: placed under the plot area
# (y=-0.12 of it), it covered the labels that a narrow chart turns on their side.
BELOW = dict(orientation="h", yanchor="bottom", y=0, x=0, yref="container")
HEATMAP_SCALE = palette.SEQUENTIAL_ALT  # cividis: reads in order in colour-blind vision and in grey


def short(piece: str, limit: int = 8) -> str:
    """Long token texts cut for an axis label."""
    return piece if len(piece) <= limit else piece[: limit - 1] + "…"


def tick_font(n: int) -> int:
    """A font size that keeps n labels on one axis readable."""
    return 13 if n <= 30 else 11 if n <= 60 else 9 if n <= 100 else 8


def causal_mask_path(T: int) -> str:
    """SVG path of the cells above the diagonal of a T x T heatmap (cell (q, k) centred on x=k, y=q).

    Row q hides keys q+1..T-1: x from q+0.5 to T-0.5. The path runs along the top edge, down the
    right edge and back up the staircase just above the diagonal. Empty for T < 2.

    >>> causal_mask_path(2)
    'M 0.5,-0.5 L 1.5,-0.5 L 1.5,0.5 L 0.5,0.5 Z'
    """
    if T < 2:
        return ""
    points = [(0.5, -0.5), (T - 0.5, -0.5), (T - 0.5, T - 1.5)]
    for k in range(T - 2, -1, -1):
        points += [(k + 0.5, k + 0.5), (k + 0.5, k - 0.5)]
    points = points[:-1]  # the last stair step ends where the path began
    return "M " + " L ".join(f"{x:g},{y:g}" for x, y in points) + " Z"


# The head map's box is square (lab_ui.charts.chart's `aspect`): its plot of square cells is the box less the
# title's 90 px above and the colour bar beside it, so little is left blank at any page width.
HEAD_MAP_ASPECT = 1.0

# Plotly sizes text in pixels and the server does not know the page's width. On a phone (a 358 px box) the
# head map's 16 px title ran past the right edge and its 11 px labels, one per cell of about 5 px, overlapped;
# the grid's two-line tile titles, about 85 px apart, ran into each other. Each box is a CSS container
# (lab_ui.charts.chart's `box_css`), so the CSS below sizes that text to the box the browser has.
NARROW_TITLE_PX = 600  # a box narrower than this gets the head map's title at 12 px
GRID_TITLE_PX = 135  # a grid tile narrower than this shows only its first title line, "L1 H2"


# Below MIN_CELL_PX a cell (51 characters on a phone: 5 px), no label per cell can be read: the head map then shows, instead
# of one label per cell, a ruler of every `ruler_step`-th position with its text ("10 s"; across: "10" over "s"), on
# axes of its own (xaxis2, yaxis2) laid over the heatmap's. The CSS below shows one set or the other by the box's width
# (the server does not know it), so the desktop view keeps a label per cell and no ruler.
MIN_CELL_PX = 9  # a cell's label is as large as the cell: under 9 px, hard to read
RULER_PX = 20  # the ruler's labels at least this far apart in the narrowest box it is made for
PHONE_BOX_PX = 358  # a phone's (390 px) chart box
TOUCHING = 0.55  # em a monospace character, for labels that may touch their neighbours (0.6 wide)
RULER_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)


def ruler_step(T: int, chrome: int = 147, box: int = PHONE_BOX_PX) -> int:
    """Every how many positions the narrow head map's ruler has a label: RULER_PX apart or more in a `box` px box
    (`chrome`: `chrome_px`).

    >>> ruler_step(51), ruler_step(95), ruler_step(20), ruler_step(256), ruler_step(20, chrome=179)
    (5, 10, 2, 25, 5)
    """
    cell = (box - chrome) / T
    return next((k for k in RULER_STEPS if k * cell >= RULER_PX), RULER_STEPS[-1])


def across_cell_px(labels: list[str], upright: bool = True) -> float:
    """The narrowest cell in which the head map's labels across (upright, at their font: `tick_font` at most, the cell's
    size below that) do not run into their neighbours: MIN_CELL_PX for one character each, more for tokens of several
    (two neighbours' half widths, a monospace character 0.6 of the font wide, less a pixel or two: neighbours may touch,
    as "·she·doth" did on a desktop). Labels on their side need MIN_CELL_PX.

    >>> across_cell_px(list("abc")), across_cell_px(["·she", "·doth", "a"]), across_cell_px(["·she", "·doth"], upright=False)
    (9, 32.2, 9)
    """
    if not upright or len(labels) < 2:
        return MIN_CELL_PX
    pair = max((len(a) + len(b)) / 2 for a, b in zip(labels, labels[1:]))
    return MIN_CELL_PX if 0.6 * pair <= 1 else max(MIN_CELL_PX, round(TOUCHING * pair * tick_font(len(labels)), 1))


def chrome_px(labels: list[str]) -> int:
    """What of the head map's box is not cells across: the labels down (0.6 of the font a character), their axis title
    and the colour bar (140 px; measured: 147 with one character a label, 179 with BPE tokens of up to 5).

    >>> chrome_px(list("ab")), chrome_px(["ROMEO", "·doth"])
    (148, 179)
    """
    return round(140 + 0.6 * tick_font(len(labels)) * max((len(p) for p in labels), default=1))


def narrow_box_px(T: int, cell: float = MIN_CELL_PX, chrome: int = 147) -> int:
    """The widest box in which the head map's T cells are under `cell` px: there the ruler replaces the labels."""
    return round(cell * T) + chrome


def head_map_css(box: str, labels: list[str], upright: bool = True) -> str:
    """CSS for the head map's box (`labels`: its tick labels, `upright`: those across are): tick labels no larger than
    a cell (the square plot is the box's width less `chrome_px`, T cells across) and at most their own size, the ruler
    hidden; where a cell is under MIN_CELL_PX (down) or `across_cell_px` (across), the ruler (`ruler_step`) in place of
    that axis' labels. The title is smaller in a narrow box.

    >>> print(head_map_css(".b", list("ROMEO: O, she doth teach the torches to burn bright")).replace("}", "}\\n"))
    .b .js-plotly-plot :is(.xtick,.ytick) text{font-size:clamp(6px, calc((100cqw - 147px) / 51), 11px)!important}
    .b .js-plotly-plot :is(.x2tick,.y2tick){display:none}
    @container (max-width:606px){.b .js-plotly-plot .xtick{display:none}
    .b .js-plotly-plot .x2tick{display:inline}
    }
    @container (max-width:606px){.b .js-plotly-plot .ytick{display:none}
    .b .js-plotly-plot .y2tick{display:inline}
    }
    @container (max-width:600px){.b .gtitle{font-size:12px!important}
    }
    <BLANKLINE>
    """
    T, chrome, plot = len(labels), chrome_px(labels), f"{box} .js-plotly-plot"

    def ruler_below(width: int, axis: str) -> str:
        return f"@container (max-width:{width}px){{{plot} .{axis}tick{{display:none}}{plot} .{axis}2tick{{display:inline}}}}"

    return (f"{plot} :is(.xtick,.ytick) text{{font-size:clamp(6px, calc((100cqw - {chrome}px) / {T}), {tick_font(T)}px)!important}}"
            f"{plot} :is(.x2tick,.y2tick){{display:none}}" + ruler_below(narrow_box_px(T, across_cell_px(labels, upright), chrome), "x")
            + ruler_below(narrow_box_px(T, MIN_CELL_PX, chrome), "y") + f"@container (max-width:{NARROW_TITLE_PX}px){{{box} .gtitle{{font-size:12px!important}}}}")


def grid_css(box: str, n_head: int) -> str:
    """CSS for the all-heads grid's box: where its tiles are narrower than GRID_TITLE_PX (4 heads in a box under
    540 px: a phone), each tile's title keeps its first line ("L1 H2"), moved down half a line onto its tile;
    the head's role is in the table below and counted in the caption.

    >>> grid_css(".b", 4)
    '@container (max-width:540px){.b .annotation-text tspan.line+tspan.line{display:none}.b .annotation-text{transform:translateY(0.65em)}}'
    """
    return (f"@container (max-width:{GRID_TITLE_PX * n_head}px){{{box} .annotation-text tspan.line+tspan.line{{display:none}}"
            f"{box} .annotation-text{{transform:translateY(0.65em)}}}}")


def upright_across(unit: str, T: int) -> bool:
    """Whether the head map's labels across stand upright (characters, or up to 40 tokens) rather than on their side."""
    return unit == "character" or T <= 40


def head_figure(view: Inspection, layer: int, head: int, unit: str) -> go.Figure:
    """One head's pattern: queries down, keys across, the causal mask painted over the cells it hides.

    The heatmap (trace "attention") holds the weights exactly as the trace path gave them, 0 above
    the diagonal; the grey mask is a single shape drawn over those cells (cheaper than a second
    T x T trace, which matters for the redraw time).
    """
    att = view.attention[layer, head]  # (T, T)
    T = att.shape[0]
    labels = [short(p) for p in view.pieces]
    positions = np.arange(T)
    fig = go.Figure(
        go.Heatmap(
            z=att, x=positions, y=positions, name="attention",
            colorscale=HEATMAP_SCALE, zmin=0, zmax=1, colorbar=dict(title="weight", thickness=12),
            hovertemplate=f"query {unit} %{{y}} → key {unit} %{{x}}<br>weight %{{z:.5f}}<extra></extra>",
        )
    )
    if T > 1:
        fig.add_shape(type="path", path=causal_mask_path(T), fillcolor=MASK_COLOUR, line=dict(width=0), layer="above", name="causal mask")
    font = tick_font(T)
    axis = dict(tickmode="array", tickvals=positions, ticktext=labels, tickfont=dict(size=font, family="monospace"), showgrid=False, zeroline=False)
    # The ruler (head_map_css shows it where cells are too small for a label each): an empty trace puts the overlaid
    # axes on the page; they match the heatmap's, zoom included. One empty cell as wide as the heatmap, so that the
    # ranges stay the heatmap's (a scatter's markers padded them by 3 cells).
    step = ruler_step(T, chrome_px(labels))
    marks = list(range(0, T, step))
    escaped = [html.escape(label, quote=False) for label in labels]  # markup of their own around them: plotly reads <br>
    fig.add_trace(go.Heatmap(z=[[None]], x=[-0.5, T - 0.5], y=[-0.5, T - 0.5], xaxis="x2", yaxis="y2", colorscale=HEATMAP_SCALE,
                             showscale=False, hoverinfo="skip", name="ruler"))
    ruler = dict(tickmode="array", tickvals=marks, tickfont=dict(size=11, family="monospace"), showgrid=False, zeroline=False, showline=False)
    fig.update_layout(
        title=dict(text=f"Layer {layer + 1}, head {head + 1}: where each {unit} (row) looks", y=0.98),
        xaxis=dict(axis, title=f"the {unit} looked at", side="top", tickangle=0 if upright_across(unit, T) else -90),
        yaxis=dict(axis, title=f"the {unit} looking", autorange="reversed", scaleanchor="x", constrain="domain"),
        xaxis2=dict(ruler, overlaying="x", matches="x", side="top", tickangle=0,
                    ticktext=[f"{i}<br>{escaped[i]}" if unit == "character" else str(i) for i in marks]),
        yaxis2=dict(ruler, overlaying="y", matches="y", side="left", ticktext=[f"{i} {escaped[i]}" for i in marks]),
        height=900, margin=dict(l=10, r=10, t=90, b=10),
    )
    return fig


# The all-heads grid is coded one byte per cell (`grid_image`): weights in 0..LEVELS, then codes for
# masked cells and for the gaps between tiles; it goes to the browser as a PNG of those cells' colours
# (`grid_png`), drawn by plotly as an image trace: the grid has L*H*T*T cells (229,441 at 4x4 heads and
# 95 characters) and no hover, and as a heatmap the browser coloured every cell in JavaScript.
LEVELS = 250
MASKED_CODE = 252
GAP_CODE = 255


@functools.cache
def grid_colours() -> np.ndarray:
    """(256, 3) uint8: the colour of each code of `grid_image`, as plotly would colour a heatmap of the
    weights with HEATMAP_SCALE over 0..LEVELS; masked cells MASK_COLOUR, gaps white."""
    from plotly.colors import get_colorscale, sample_colorscale

    levels = sample_colorscale(get_colorscale(HEATMAP_SCALE), [i / LEVELS for i in range(LEVELS + 1)])
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: LEVELS + 1] = [palette.rgb(c) for c in levels]
    lut[MASKED_CODE] = palette.rgb(MASK_COLOUR)
    lut[GAP_CODE] = palette.rgb(palette.WHITE)
    return lut


def grid_png(image: np.ndarray) -> str:
    """The coded grid as a PNG data URI, one pixel per cell: the codes themselves with `grid_colours` as
    the PNG's palette (a third of an RGB file's bytes; 2.4 ms to encode at 479 x 479, 17 ms as RGB)."""
    import base64
    import io

    from PIL import Image

    png = Image.frombytes("P", (image.shape[1], image.shape[0]), np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    png.putpalette(grid_colours().ravel().tolist())
    buffer = io.BytesIO()
    png.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grid_image(attention: np.ndarray, gap: int) -> np.ndarray:
    """uint8 image of every head (see `tile_heads`): round(weight * LEVELS), masked cells and gaps coded.

    >>> grid_image(np.array([[[[1.0, 0.0], [0.25, 0.75]]]]), gap=1).tolist()
    [[250, 252], [62, 188]]
    """
    L, H, T, _ = attention.shape
    image = np.rint(np.nan_to_num(tile_heads(attention, gap), nan=0.0) * LEVELS).astype(np.uint8)
    step = T + gap
    above = np.triu(np.ones((T, T), dtype=bool), 1)
    gaps = np.ones(image.shape, dtype=bool)
    for layer in range(L):
        for head in range(H):
            tile = (slice(layer * step, layer * step + T), slice(head * step, head * step + T))
            gaps[tile] = False
            image[tile][above] = MASKED_CODE
    image[gaps] = GAP_CODE
    return image


def grid_gap(T: int) -> int:
    """Cells between two tiles of the grid: room for a two-line title above each tile, at any T."""
    return max(1, round(0.35 * T))


def grid_aspect(view: Inspection) -> float:
    """Width / height of the all-heads grid (its axis ranges in `grid_figure`): H tiles across, L down, so
    its box keeps the tiles square at any page width (lab_ui.charts.chart's `aspect`).

    >>> from types import SimpleNamespace
    >>> round(grid_aspect(SimpleNamespace(attention=np.zeros((2, 4, 20, 20)))), 3)  # 4 tiles of 27 cells across, 2 down
    1.964
    """
    L, H, T, _ = view.attention.shape
    step = T + grid_gap(T)
    return H * step / (L * step + 1)


def grid_figure(view: Inspection, layer: int, head: int, titles: list[str]) -> go.Figure:
    """Every head at once, tiled layers x heads in one image (masks grey, gaps white); the chosen one
    outlined, each tile's title above it."""
    L, H, T, _ = view.attention.shape
    gap = grid_gap(T)
    step = T + gap
    fig = go.Figure(go.Image(source=grid_png(grid_image(view.attention, gap)), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip", name="all heads"))
    shapes = [dict(
        type="rect", x0=head * step - 1.5, x1=head * step + T + 0.5, y0=layer * step - 1.5, y1=layer * step + T + 0.5,
        line=dict(color=palette.VERMILLION, width=4), name="chosen head",
    )]
    annotations = [
        dict(x=h * step + (T - 1) / 2, y=row * step - 0.5 - gap * 0.5, text=titles[row * H + h], showarrow=False,
             font=dict(size=12, color=palette.INK), xref="x", yref="y")
        for row in range(L) for h in range(H)
    ]
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(
        xaxis=dict(hidden, range=[-gap * 0.5 - 0.5, H * step - gap * 0.5 - 0.5]),
        yaxis=dict(hidden, range=[L * step - gap - 0.5 + 1, -gap - 0.5], scaleanchor="x", constrain="domain"),
        height=min(1100, 230 * L + 20), margin=dict(l=0, r=0, t=0, b=0), showlegend=False, shapes=shapes, annotations=annotations,
        plot_bgcolor=palette.WHITE,
    )
    return fig


def token_strip_chips(view: Inspection, weights: np.ndarray, query: int) -> list[Chip]:
    """The window's tokens coloured by the weight `query` gives each (BertViz-style)."""
    peak = float(weights[: query + 1].max())
    chips = []
    for i, piece in enumerate(view.pieces):
        if i > query:
            chips.append(Chip(piece, f"{i}: after the query, never seen", kind="future"))
            continue
        alpha = weights[i] / peak if peak > 0 else 0.0
        chips.append(Chip(
            piece, f"{i}: {piece} · weight {weights[i]:.4f}", background=palette.with_alpha(palette.BLUE, round(float(alpha), 3)),
            color=palette.WHITE if alpha > 0.55 else palette.INK, kind="query" if i == query else "", weight=float(weights[i]),
        ))
    return chips


def token_strip_html(view: Inspection, weights: np.ndarray, query: int) -> str:
    return chips_html(token_strip_chips(view, weights, query), container="attention-strip", line_height=2.1)


def lens_figure(view: Inspection, first: int, last: int, top_pieces: np.ndarray, unit: str) -> go.Figure:
    """The logit lens for positions first..last: each block's top next-token guess and its probability.

    top_pieces (L+1, T): display text of `view.lens_top_ids`.
    """
    L1 = view.lens_top_ids.shape[0]
    cols = np.arange(first, last + 1)
    following = [view.pieces[i + 1] if i + 1 < len(view.pieces) else "(beyond the prompt)" for i in cols]
    next_prob = view.lens_next_probs[:, first : last + 1]
    custom = np.empty((L1, len(cols), 2), dtype=object)
    for j in range(len(cols)):
        custom[:, j, 0] = following[j]
        custom[:, j, 1] = ["–" if np.isnan(p) else f"{p:.3f}" for p in next_prob[:, j]]
    rows = ["embeddings only"] + [f"after block {i}" for i in range(1, L1)]
    rows[-1] += " (output)"
    fig = go.Figure(
        go.Heatmap(
            z=view.lens_top_probs[:, first : last + 1], x=cols, y=rows, text=top_pieces[:, first : last + 1],
            texttemplate="%{text}", customdata=custom, colorscale=HEATMAP_SCALE, zmin=0, zmax=1,
            colorbar=dict(title="top-1 prob", thickness=12), name="logit lens",
            textfont=dict(family="monospace", size=tick_font(len(cols)) + 1),
            hovertemplate=(
                f"{unit} %{{x}}, %{{y}}<br>top guess '%{{text}}' with %{{z:.3f}}"
                "<br>really next: '%{customdata[0]}' (prob %{customdata[1]})<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title=f"Top guess for the next {unit}, read out after each block",
        xaxis=dict(tickmode="array", tickvals=cols, ticktext=[short(view.pieces[i]) for i in cols],
                   tickfont=dict(family="monospace", size=tick_font(len(cols))), title=f"the {unit} just read"),
        yaxis=dict(autorange="reversed"), height=110 + 46 * L1, margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def residual_figure(view: Inspection, query: int, unit: str) -> go.Figure:
    """Length of each token's vector after the embeddings and after each block."""
    stages = ["embeddings"] + [f"block {i}" for i in range(1, view.n_layer + 1)]
    T = len(view.token_ids)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=stages, y=view.residual_norms.mean(1), name=f"average of {T}", mode="lines+markers",
                             line=dict(color=palette.BLUE, dash=palette.DASHES[0]), marker=dict(symbol=palette.MARKERS[0], size=8)))
    fig.add_trace(go.Scatter(x=stages, y=view.residual_norms[:, query], name=f"{unit} {query}", mode="lines+markers",
                             line=dict(color=palette.ORANGE, dash=palette.DASHES[1]), marker=dict(symbol=palette.MARKERS[1], size=8)))
    fig.update_layout(title="Length of the vector after each block", yaxis_title="length of the vector (norm)", height=360,
                      margin=dict(l=10, r=10, t=50, b=10), legend=BELOW)
    return fig


def contributions_figure(view: Inspection, query: int, unit: str) -> go.Figure:
    """Length of what each block's attention and MLP added: averages as bars (the MLP's hatched), one token as markers."""
    blocks = [f"block {i}" for i in range(1, view.n_layer + 1)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=blocks, y=view.attn_out_norms.mean(1), name="attention added (average)", marker_color=palette.BLUE))
    fig.add_trace(go.Bar(x=blocks, y=view.mlp_out_norms.mean(1), name="MLP added (average)", marker=dict(color=palette.ORANGE, pattern_shape="/")))
    fig.add_trace(go.Scatter(x=blocks, y=view.attn_out_norms[:, query], name=f"attention, {unit} {query}", mode="markers",
                             marker=dict(symbol="diamond", size=11, color=palette.INK)))
    fig.add_trace(go.Scatter(x=blocks, y=view.mlp_out_norms[:, query], name=f"MLP, {unit} {query}", mode="markers",
                             marker=dict(symbol="x", size=11, color=palette.INK)))
    fig.update_layout(title="What each block's attention and MLP added", yaxis_title="length of what it added (norm)", barmode="group",
                      height=360, margin=dict(l=10, r=10, t=50, b=10), legend=BELOW)
    return fig
