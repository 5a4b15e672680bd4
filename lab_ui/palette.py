"""The app's colours: one palette that colour-blind readers can read, for every chart and chip.

- Categories: the Okabe-Ito set (Okabe and Ito 2008, "Color Universal Design"), distinguishable
  with the common colour-vision deficiencies. Two series are never told apart by colour alone:
  charts add a marker, a dash or a label (see `DASHES`, `MARKERS`).
- Sequential scales (heatmaps, attention): viridis or cividis, which read in order in grey too.
- Diverging scales (gains and losses): blue to orange through a neutral light grey middle.
- Text: `INK` and `MUTED` have a contrast of at least 4.5:1 on white (WCAG AA), checked by
  `contrast()` in a doctest.

`check_figure(fig)` lists the colours of a plotly figure that are not from here; lab_ui.charts
calls it for every chart the app draws (tests fail on a stray colour).
"""

from __future__ import annotations

import re

# Okabe-Ito, in the order charts use them (black last: it is the text colour too).
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
BLACK = "#000000"
CATEGORICAL = (BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, BLACK)

GREY = "#999999"  # reference lines, "other" bars
LIGHT_GREY = "#E5E5E5"  # grid, the neutral middle of diverging scales
WHITE = "#FFFFFF"
INK = "#1F2328"  # body text
MUTED = "#57606A"  # secondary text (captions): 6.4:1 on white
NEUTRALS = (GREY, LIGHT_GREY, WHITE, INK, MUTED)

SEQUENTIAL = "Viridis"
SEQUENTIAL_ALT = "Cividis"
DIVERGING = [[0.0, BLUE], [0.5, "#F2F2F2"], [1.0, VERMILLION]]  # low (blue) through neutral to high (vermillion)
SEQUENTIAL_SCALES = {"viridis", "cividis"}

DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "cross")

ALLOWED = {c.lower() for c in CATEGORICAL + NEUTRALS} | {"#f2f2f2"}


def category(i: int) -> str:
    """The i-th categorical colour (wrapping round).

    >>> category(0), category(9)
    ('#0072B2', '#E69F00')
    """
    return CATEGORICAL[i % len(CATEGORICAL)]


def rgb(color: str) -> tuple[int, int, int]:
    """A colour ('#rrggbb', '#rgb' or 'rgb(r, g, b)', as plotly writes scales) as three ints.

    >>> rgb(BLUE), rgb("#fff"), rgb("rgb(0, 34, 78)")
    ((0, 114, 178), (255, 255, 255), (0, 34, 78))
    """
    hexed = _normal(color)
    if hexed is None:
        raise ValueError(f"not a fixed colour: {color!r}")
    return tuple(int(hexed[i:i + 2], 16) for i in (1, 3, 5))


def with_alpha(color: str, alpha: float) -> str:
    """A palette colour made see-through (for bands and fills).

    >>> with_alpha(BLUE, 0.2)
    'rgba(0,114,178,0.2)'
    """
    r, g, b = rgb(color)
    return f"rgba({r},{g},{b},{alpha:g})"


def _luminance(color: str) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = rgb(color)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str = WHITE) -> float:
    """WCAG contrast ratio of two hex colours (at least 4.5 for body text).

    >>> round(contrast(INK), 1) >= 4.5, round(contrast(MUTED), 1) >= 4.5, round(contrast(GREY), 1) >= 4.5
    (True, True, False)
    """
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _normal(color: str) -> str | None:
    """A colour as '#rrggbb' (alpha dropped), or None for what is not a fixed colour."""
    color = color.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{6}", color):
        return color
    if re.fullmatch(r"#[0-9a-f]{3}", color):
        return "#" + "".join(ch * 2 for ch in color[1:])
    m = re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*[\d.]+)?\)", color)
    if m:
        return "#" + "".join(f"{int(v):02x}" for v in m.groups())
    return None


def _is_sequential(scale) -> bool:
    """A colour scale given as stops that is viridis or cividis (plotly expands names into stops)."""
    from plotly.colors import get_colorscale

    colors = [_normal(stop[1]) for stop in scale if isinstance(stop, list | tuple) and len(stop) == 2]
    for name in SEQUENTIAL_SCALES:
        known = [_normal(c) for _, c in get_colorscale(name)]
        if colors in (known, known[::-1]):
            return True
    return False


COLOR_KEYS = {"color", "fillcolor", "bgcolor", "bordercolor", "linecolor", "gridcolor", "zerolinecolor", "outlinecolor"}
SCALE_KEYS = {"colorscale"}


def check_figure(fig) -> list[str]:
    """The colours and colour scales of a plotly figure (or its dict) that are not from this palette.

    >>> import plotly.graph_objects as go
    >>> check_figure(go.Figure(go.Bar(x=[1], y=[1], marker_color="#ff0000")))
    ['data[0].marker.color: #ff0000']
    >>> check_figure(go.Figure(go.Heatmap(z=[[1]], colorscale="Viridis")))
    []
    """
    spec = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    bad: list[str] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                here = f"{path}.{k}" if path else k
                if k in COLOR_KEYS:
                    for c in v if isinstance(v, list | tuple) else [v]:
                        if isinstance(c, str):
                            n = _normal(c)
                            if n is not None and n not in ALLOWED:
                                bad.append(f"{here}: {c}")
                elif k in SCALE_KEYS:
                    if isinstance(v, str) and v.lower().rstrip("_r") not in SEQUENTIAL_SCALES:
                        bad.append(f"{here}: {v}")
                    elif isinstance(v, list | tuple) and not _is_sequential(v):
                        for stop in v:
                            if isinstance(stop, list | tuple) and len(stop) == 2 and isinstance(stop[1], str):
                                n = _normal(stop[1])
                                if n is not None and n not in ALLOWED:
                                    bad.append(f"{here}: {stop[1]}")
                elif k == "colorway" and isinstance(v, list | tuple):
                    bad.extend(f"{here}: {c}" for c in v if _normal(c) not in ALLOWED)
                elif k != "template":  # the template's own defaults are replaced by `apply`
                    walk(v, here)
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(spec, "")
    return bad


FONT = '"Source Sans", sans-serif'  # the page's own font (Streamlit's body font)

# The look every chart shares, as a plotly template: what Streamlit's chart theme gave (its font, sizes,
# left-aligned bold titles, white background, horizontal grid lines only, room between ticks and titles),
# with axis and hover text in MUTED and INK instead of the theme's #808495, which is 3.8:1 on white
# (WCAG AA asks 4.5:1). lab_ui.charts draws with Streamlit's theme off: the browser then skips applying
# it to every figure (a first visit to Attention: 1.17-1.59 -> 1.08-1.40 s of the browser's CPU; README: Benchmarks).
# A plain dict: importing this module imports no plotly (the Overview is drawn before plotly is loaded).
AXIS = dict(gridcolor=LIGHT_GREY, zerolinecolor=LIGHT_GREY, ticks="", automargin=True, tickfont=dict(size=12, color=MUTED))
TEMPLATE = dict(layout=dict(
    font=dict(family=FONT, size=12, color=INK),
    title=dict(font=dict(family=FONT, size=16, color=INK, weight="bold"), x=0, xanchor="left", pad=dict(l=4)),
    paper_bgcolor=WHITE, plot_bgcolor=WHITE,
    legend=dict(font=dict(size=12, color=INK), bgcolor=WHITE, valign="top", borderwidth=0),
    xaxis=dict(AXIS, showgrid=False, zeroline=False, title=dict(font=dict(size=14, color=MUTED), standoff=20)),
    yaxis=dict(AXIS, showgrid=True, ticklabelposition="outside", title=dict(font=dict(size=14, color=MUTED), standoff=24)),
    margin=dict(pad=8, l=0, r=0),
    hoverlabel=dict(bgcolor=WHITE, bordercolor=GREY, font=dict(family=FONT, size=12, color=INK)),
))


def apply(fig) -> None:
    """Give a figure the palette's defaults: the shared look (TEMPLATE), categorical colours in order,
    viridis for scales, ink text."""
    fig.update_layout(template=TEMPLATE, overwrite=True)  # replaced, not merged into plotly's default template (30 ms a chart)
    fig.update_layout(
        colorway=list(CATEGORICAL),
        colorscale=dict(sequential=SEQUENTIAL, sequentialminus=SEQUENTIAL, diverging=DIVERGING),
        font=dict(color=INK),
    )
