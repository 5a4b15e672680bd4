"""Every chart the app draws goes through `chart()`: the figure, a sentence that says what to notice,
and the data as a table with a CSV download.

Why one door: a chart carries its meaning in colour and hover, which a screen reader, a colour-blind
reader or a phone without hover cannot use. So each chart comes with
- `caption`: one or two sentences computed from the chart's data by the caller ("val loss rose from
  2.22 to 2.60 while train loss kept falling: the model is overfitting"), shown under the chart
  and given to the browser as the chart's text alternative;
- `table`: the numbers behind it (rows as dicts, hover details included), in a closed expander
  with a CSV download, drawn once the expander is opened (`data_key`; at once inside a polling
  fragment: `drawn_with_their_tables`);
- the palette (lab_ui.palette): its defaults are applied, and a colour from outside it is refused
  (an error in tests and development, `LLM_LAB_STRICT_PALETTE=1`; a warning in the server log
  otherwise), so every chart reads in colour-blind vision too;
- no floating toolbar over the title (plotly's mode bar is off: zoom by dragging, double-click to reset);
- margins measured to fit its labels (lab_ui.chart_margins), so the browser draws it once.

tests/test_charts.py checks that no page or view calls `plotly_chart` other than through here, and
the page tests run with the strict palette on.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import html
import io
import logging
import math
import numbers
import os
from collections.abc import Sequence

import numpy as np
import streamlit as st

from lab_ui import chart_margins, palette

log = logging.getLogger(__name__)
TABLE_ROWS_SHOWN = 200  # rows drawn in the expander; the CSV always has them all
CONFIG = {"displayModeBar": False, "scrollZoom": False, "responsive": True}
_TABLES_AT_ONCE = contextvars.ContextVar("lab_tables_at_once", default=False)


def data_key(chart_key: str) -> str:
    """The key of a chart's data expander: its open state in the session (tests open one by it)."""
    return f"{chart_key}::data"


@contextlib.contextmanager
def drawn_with_their_tables():
    """Charts drawn inside this block send their data tables with them, in the closed expander, as
    every chart did before tables waited for their expander to open. For a fragment that reruns on its
    own (lab_ui.jobs.live): its charts keep no widget of their own there (a keyed widget in such a
    fragment was the suspect when two browser tests failed once on 4 Dec; on 6 Dec one failed the same
    way with none there, so it is kept out for safety, not for a proven cause: README, Benchmarks)."""
    token = _TABLES_AT_ONCE.set(True)
    try:
        yield
    finally:
        _TABLES_AT_ONCE.reset(token)


class PaletteError(ValueError):
    pass


def _rows(table) -> list[dict]:
    if hasattr(table, "to_dict"):  # a pandas DataFrame
        return table.to_dict("records")
    return [dict(r) for r in table]


def csv_text(rows: Sequence[dict]) -> str:
    """The rows as CSV (columns in first-seen order).

    >>> print(csv_text([{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.1, "note": "x"}]).strip())
    step,loss,note
    1,2.5,
    2,2.1,x
    """
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def shown_cell(value, missing: str = "–"):
    """A table cell as a learner reads it: no "nan", "inf" or "-0.0" (a value that does not exist is `missing`).

    >>> [shown_cell(v) for v in (None, float("nan"), float("inf"), -0.0, 0.25, "a")]
    ['–', '–', '–', 0.0, 0.25, 'a']
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    if isinstance(value, float) and value == 0:
        return 0.0  # -0.0, a tiny negative rounded, reads as a sign that means nothing
    return value


def shown_rows(rows: list[dict]) -> list[dict]:
    """Rows for the table a learner reads: a column with a missing value becomes text throughout (a table's
    column has one type), with a dash where the value is missing.

    >>> shown_rows([{"p": 0, "cos": 0.5}, {"p": 1, "cos": None}])
    [{'p': 0, 'cos': '0.5'}, {'p': 1, 'cos': '–'}]
    """
    gaps = {k for row in rows for k, v in row.items() if shown_cell(v) != v and not (isinstance(v, float) and v == 0)}
    return [{k: (str(shown_cell(v)) if k in gaps else shown_cell(v)) for k, v in row.items()} for row in rows]


# One stylesheet, sent with each table (st.html blocks are independent). Cells wrap rather than scroll
# sideways, as lab_ui.theme makes Streamlit's own tables do: a region that scrolls must be reachable
# from the keyboard. Header text keeps the page's text colour (full contrast in either theme).
DATA_TABLE_CSS = (
    "<style>"
    ".lab-data{width:100%;border-collapse:collapse;font-size:0.875rem;font-variant-numeric:tabular-nums;margin-bottom:0.5rem}"
    ".lab-data th{font-weight:600;text-align:left}"
    ".lab-data th,.lab-data td{padding:0.25rem 0.5rem;border:1px solid rgba(128,128,128,0.25);vertical-align:top;overflow-wrap:break-word}"
    ".lab-data td.num{text-align:right;white-space:nowrap}"
    "@media (max-width:640px){.lab-data{table-layout:fixed;font-size:0.75rem}.lab-data th,.lab-data td{padding:0.25rem 0.2rem;overflow-wrap:anywhere}"
    ".lab-data td.num{white-space:normal}}"
    "</style>"
)


def _column_kind(values) -> str:
    """How st.table would show a column: "float", "int", "bool" or "text" (pandas' column types)."""
    values = [v for v in values if v is not None]  # a missing value: "–" in any column
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return "bool"
    numeric = [v for v in values if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))]
    if values and len(numeric) == len(values):
        return "int" if all(isinstance(v, numbers.Integral) for v in values) else "float"
    return "text"


def _cell_text(value, kind: str, spec: str | None = None) -> str:
    if value is None:
        return "–"
    if spec is not None and kind in ("int", "float"):
        return format(value, spec)
    if kind == "float":
        text = f"{float(value):,.4f}"
        return text[1:] if text == "-0.0000" else text  # a tiny negative rounded: a sign that means nothing
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def data_table_html(rows: list[dict], formats: dict[str, str] | None = None) -> str:
    """A chart's data rows as one static HTML table, its numbers formatted as `st.table` formats them
    (a column with a decimal number: four decimals and thousands separators; whole numbers as they
    are; numbers right-aligned) unless `formats` gives a column its own format spec, its text escaped.
    Also a page's small tables in place of `st.dataframe`, whose data grid is a canvas the browser
    loads and draws (about 0.3 s of its CPU on a chapter's first visit; README: Benchmarks).

    Why not `st.table`: it wraps every cell in components of its own, so a chapter's tables (up to
    200 rows each, in closed expanders) were half of what a browser drew on a visit: Embeddings'
    2,954 cells made 12,366 page elements, 6,393 as this one table (README, Benchmarks).

        >>> table = data_table_html([{"token": "a<b", "p": 0.25, "count": 3}, {"token": "c", "p": 1, "count": 12345}])
        >>> print(table.split("</style>")[1].replace("<tr>", "\\n<tr>"))
        <table class="lab-data"><thead>
        <tr><th scope="col">token</th><th scope="col">p</th><th scope="col">count</th></tr></thead><tbody>
        <tr><td>a&lt;b</td><td class="num">0.2500</td><td class="num">3</td></tr>
        <tr><td>c</td><td class="num">1.0000</td><td class="num">12345</td></tr></tbody></table>
        >>> 'class="num">12,345</td>' in data_table_html([{"count": 12345, "p": 0.5}], formats={"count": ","})
        True
    """
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    kinds = {c: _column_kind([row[c] for row in rows if c in row]) for c in columns}
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in columns)
    opening = {c: '<td class="num">' if kinds[c] in ("int", "float") else "<td>" for c in columns}
    formats = formats or {}
    cells = ((f"{opening[c]}{html.escape(_cell_text(row[c], kinds[c], formats.get(c))) if c in row else ''}</td>" for c in columns) for row in rows)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in cells)
    return f'{DATA_TABLE_CSS}<table class="lab-data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _strict() -> bool:
    return os.environ.get("LLM_LAB_STRICT_PALETTE", "") not in ("", "0")


def chart(fig, *, key: str, caption: str, table, where=None, table_label: str = "The data behind this chart", file_name: str | None = None,
          aspect: float | None = None, box_css=None) -> None:
    """Draw `fig` (a plotly figure) with its caption and its data table, in `where` (a column, a container; default the page).

    `aspect` (width / height), for a chart of square cells (`scaleanchor`): its box keeps that shape, at most the
    figure's own height tall, so its height follows the page's width, which the server does not know. On a phone
    (390 px) Attention's head map took 900 px of height for a 190 px square of cells; now 358 px for 211 px.
    `box_css` (with `aspect`): a function of the box's CSS selector giving CSS for the chart's text in that box,
    which is a CSS container (container queries, `cqw` units): labels sized to the box's width on a phone."""
    where = where or st
    if not caption or not caption.strip():
        raise ValueError(f"chart {key!r} needs a caption that says what to notice")
    palette.apply(fig)
    chart_margins.fit(fig, key)  # room for its labels before plotly measures them: drawn once, not twice
    stray = palette.check_figure(fig)
    if stray:
        message = f"chart {key!r} uses colours outside lab_ui.palette: {stray[:5]}"
        if _strict():
            raise PaletteError(message)
        log.warning(message)
    if aspect is None:
        where.plotly_chart(fig, key=key, config=CONFIG, alt=caption, theme=None)  # the look is palette.TEMPLATE (palette.py says why)
    else:
        _shaped_by_width(where, fig, key, caption, aspect, box_css)
    where.caption(caption)
    _data_behind(where, key, table, table_label, file_name)


def box_key(chart_key: str) -> str:
    """The key of the container that gives a chart of fixed shape (`chart(aspect=...)`) its size."""
    return f"{chart_key}_box"


def _shaped_by_width(where, fig, key: str, caption: str, aspect: float, box_css=None) -> None:
    """The chart fills a box as wide as the page's column and `aspect` times less tall (CSS aspect-ratio),
    at most the figure's own height; the chart takes the box's height (`height="stretch"`). The box is a CSS
    container, so `box_css(selector)` can size the chart's text to it (plotly sizes text in pixels)."""
    tallest = int(fig.layout.height or 450)
    fig.update_layout(height=None)
    box = box_key(key)
    own = box_css(f".st-key-{box}") if box_css else ""
    where.html(f"<style>.st-key-{box}{{aspect-ratio:{aspect:.4f};max-height:{tallest}px;container-type:inline-size}}{own}</style>")  # a style alone takes no room
    with where.container(key=box):
        st.plotly_chart(fig, key=key, config=CONFIG, alt=caption, theme=None, height="stretch")


def _data_behind(where, key: str, table, table_label: str, file_name: str | None) -> None:
    """The chart's data in a closed expander: the first rows as a table, all of them as a CSV download."""
    rows = _rows(table)
    label = f"{table_label} ({len(rows):,} rows)" if rows else table_label
    growing = _TABLES_AT_ONCE.get()
    if growing:
        # A label that stays the same while the rows grow: an expander whose label changes is a new
        # element to Streamlit, so a table the learner opened closed again at the chart's next redraw.
        box = where.expander(table_label)
    else:
        # Drawn once opened (a rerun, 0.2-0.6 s here). Closed, the tables were still sent and drawn, hidden,
        # by every browser on every visit: on Embeddings' first view 3,726 of its 5,917 page elements, about
        # a quarter of a second of a browser's CPU (README, Benchmarks).
        box = where.expander(label, key=data_key(key), on_change="rerun")
        if not box.open:
            return
    with box:
        if not rows:
            st.caption("No data yet.")
            return
        shown = shown_rows(rows[:TABLE_ROWS_SHOWN])
        if growing:
            st.caption(f"{len(rows):,} rows so far.")
        st.html(data_table_html(shown))
        if len(rows) > len(shown):
            st.caption(f"The first {len(shown):,} of {len(rows):,} rows; the CSV below has them all.")
        # Built and sent when clicked: given as text, every chart's CSV went to the browser with every run of its page.
        st.download_button("Download the data (CSV)", lambda: csv_text([{k: shown_cell(v, "") for k, v in row.items()} for row in rows]), file_name=file_name or f"{key}.csv",
                           mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:")


# A chart of a few stacked bars, drawn as HTML and CSS instead of plotly: nothing for the browser to
# fetch or run (plotly.js costs a browser about 1.1 s of CPU the first time a page draws a chart,
# README: Benchmarks), and every number printed, so nothing needs hover. For small, static charts on a
# page that has no other plotly chart (the Overview's parameters: a class opening the app at once).
BARS_CSS = (
    "<style>"
    ".lab-bars{font-size:0.875rem;font-variant-numeric:tabular-nums;margin:0.25rem 0 0.5rem}"
    ".lab-bars .title{font-weight:600;margin-bottom:0.4rem}"
    ".lab-bars .key{display:flex;flex-wrap:wrap;gap:0.25rem 0.9rem;margin-bottom:0.4rem}"
    ".lab-bars .swatch{display:inline-block;width:0.8em;height:0.8em;margin-right:0.3em;vertical-align:-0.05em;border-radius:2px}"
    ".lab-bars .rows{display:grid;grid-template-columns:auto 1fr auto;gap:0.3rem 0.5rem;align-items:center}"
    ".lab-bars .row{display:contents}"
    ".lab-bars .track{display:flex;height:1.1rem}"
    ".lab-bars .seg{display:block;height:100%;min-width:1px;overflow:hidden;white-space:nowrap;text-overflow:clip;font-size:0.75rem;line-height:1.1rem;padding-left:0.25rem;box-sizing:border-box}"
    ".lab-bars .value{text-align:right;white-space:nowrap}"
    "</style>"
)


def _ink_on(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (WCAG relative luminance).

    >>> _ink_on("#0072B2"), _ink_on("#E69F00")
    ('#FFFFFF', '#000000')
    """
    def channel(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(int(colour.lstrip("#")[i:i + 2], 16)) for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return palette.BLACK if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else palette.WHITE


def stacked_bars_html(title: str, bars: Sequence[tuple[str, Sequence[tuple[str, float]]]], colours: dict[str, str], caption: str) -> str:
    """Horizontal stacked bars as HTML: one bar per (label, segments), each segment (name, value) in
    `colours[name]` and named inside where it has room (a tenth of the longest bar or more), the longest
    bar full width, its total printed beside it; a key of the segment names; `caption` as the text alternative (the figure is an image to a screen reader, the table
    under it has the numbers).

        >>> out = stacked_bars_html("Parts", [("a", [("x", 30), ("y", 10)]), ("b", [("x", 20)])],
        ...                         {"x": "#0072B2", "y": "#E69F00"}, "a is biggest")
        >>> out.count('class="seg"'), 'width:75.00%' in out, 'width:25.00%' in out, 'width:50.00%' in out
        (3, True, True, True)
        >>> 'aria-label="a is biggest"' in out, '>40<' in out, '>20<' in out, out.count('>x<')  # x: in the key and in both bars
        (True, True, True, 3)
        >>> stacked_bars_html("One series", [("a", [("x", 3)])], {"x": "#0072B2"}, "a").count('>x<')  # only in the key
        1
    """
    unknown = {name for _, segments in bars for name, _ in segments} - set(colours)
    if unknown:
        raise ValueError(f"no colour for {sorted(unknown)}")
    stray = sorted({c for c in colours.values() if c.upper() not in {p.upper() for p in palette.CATEGORICAL + palette.NEUTRALS}})
    if stray:
        raise PaletteError(f"colours outside lab_ui.palette: {stray}")
    longest = max((sum(v for _, v in segments) for _, segments in bars), default=0) or 1
    used = [name for name in colours if any(name == n for _, segments in bars for n, _ in segments)]
    by_colour: dict[str, list[str]] = {}
    for n in used:  # names that share a colour share an entry of the key
        by_colour.setdefault(colours[n], []).append(n)
    key = "".join(f'<span><span class="swatch" style="background:{c}"></span>{html.escape(" / ".join(names))}</span>' for c, names in by_colour.items())
    rows = []
    for label, segments in bars:
        segs = "".join(f'<span class="seg" title="{html.escape(n)}: {v:,.0f}" style="width:{100 * v / longest:.2f}%;background:{colours[n]};color:{_ink_on(colours[n])}">'
                       f'{html.escape(n) if len(used) > 1 and v / longest >= 0.12 else ""}</span>'  # named where there is room: not by colour alone (one series: the key names it)
                       for n, v in segments if v > 0)
        rows.append(f'<div class="row"><span>{html.escape(label)}</span><span class="track">{segs}</span>'
                    f'<span class="value">{sum(v for _, v in segments):,.0f}</span></div>')
    return (f'{BARS_CSS}<div class="lab-bars" role="img" aria-label="{html.escape(caption)}">'
            f'<div class="title" aria-hidden="true">{html.escape(title)}</div><div class="key" aria-hidden="true">{key}</div><div class="rows">{"".join(rows)}</div></div>')


def stacked_bars(title: str, bars, colours: dict[str, str], *, key: str, caption: str, table, where=None,
                 table_label: str = "The data behind this chart", file_name: str | None = None) -> None:
    """Like `chart()`, for a static stacked-bar chart drawn as HTML (`stacked_bars_html`): the bars, the
    caption, the data table."""
    where = where or st
    if not caption or not caption.strip():
        raise ValueError(f"chart {key!r} needs a caption that says what to notice")
    where.html(stacked_bars_html(title, bars, colours, caption))
    where.caption(caption)
    _data_behind(where, key, table, table_label, file_name)
