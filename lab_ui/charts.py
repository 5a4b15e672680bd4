"""Every chart the app draws goes through `chart()`: the figure, a sentence that says what to notice,
and the data as a table with a CSV download.

Why one door: a chart carries its meaning in colour and hover, which a screen reader, a colour-blind
reader or a phone without hover cannot use. So each chart comes with
- `caption`: one or two sentences computed from the chart's data by the caller ("val loss rose from
  2.22 to 2.60 while train loss kept falling: the model is overfitting"), shown under the chart
  and given to the browser as the chart's text alternative;
- `table`: the numbers behind it (rows as dicts, hover details included), in a closed expander
  with a CSV download;
- the palette (lab_ui.palette): its defaults are applied, and a colour from outside it is refused
  (an error in tests and development, `LLM_LAB_STRICT_PALETTE=1`; a warning in the server log
  otherwise), so every chart reads in colour-blind vision too;
- no floating toolbar over the title (plotly's mode bar is off: zoom by dragging, double-click to reset).

tests/test_charts.py checks that no page or view calls `plotly_chart` other than through here, and
the page tests run with the strict palette on.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Sequence

import streamlit as st

from lab_ui import palette

log = logging.getLogger(__name__)
TABLE_ROWS_SHOWN = 200  # rows drawn in the expander; the CSV always has them all
CONFIG = {"displayModeBar": False, "scrollZoom": False, "responsive": True}


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


def _strict() -> bool:
    return os.environ.get("LLM_LAB_STRICT_PALETTE", "") not in ("", "0")


def chart(fig, *, key: str, caption: str, table, where=None, table_label: str = "The data behind this chart", file_name: str | None = None) -> None:
    """Draw `fig` (a plotly figure) with its caption and its data table, in `where` (a column, a container; default the page)."""
    where = where or st
    if not caption or not caption.strip():
        raise ValueError(f"chart {key!r} needs a caption that says what to notice")
    palette.apply(fig)
    stray = palette.check_figure(fig)
    if stray:
        message = f"chart {key!r} uses colours outside lab_ui.palette: {stray[:5]}"
        if _strict():
            raise PaletteError(message)
        log.warning(message)
    where.plotly_chart(fig, key=key, config=CONFIG, alt=caption)
    where.caption(caption)
    rows = _rows(table)
    with where.expander(f"{table_label} ({len(rows):,} rows)" if rows else table_label):
        if not rows:
            st.caption("No data yet.")
            return
        shown = shown_rows(rows[:TABLE_ROWS_SHOWN])
        st.table(shown, hide_index=True)
        if len(rows) > len(shown):
            st.caption(f"The first {len(shown):,} of {len(rows):,} rows; the CSV below has them all.")
        st.download_button("Download the data (CSV)", csv_text([{k: shown_cell(v, "") for k, v in row.items()} for row in rows]), file_name=file_name or f"{key}.csv", mime="text/csv",
                           key=f"{key}_csv", on_click="ignore", icon=":material/download:")
