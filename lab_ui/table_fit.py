"""Data tables that fit a phone's width: on a narrow screen every `st.table` shares the width
between its columns and breaks long words, instead of scrolling sideways in a region the keyboard
cannot reach (axe's `scrollable-region-focusable`). The charts' data tables are plain HTML tables
with the same rule of their own (`lab_ui.charts.DATA_TABLE_CSS`).

Injected by the Generate chapter, whose table of one pass's guesses is an `st.table`.
What it is not: app-wide (lab_ui.theme is the place for that, once every chapter needs it).
"""

from __future__ import annotations

import streamlit as st

NARROW_PX = 640

CSS = f"""<style>
@media (max-width: {NARROW_PX}px) {{
  [data-testid="stTable"] table {{ table-layout: fixed; width: 100%; }}
  [data-testid="stTable"] :is(th, td) {{ padding: 0.25rem 0.2rem; font-size: 0.75rem; }}
  [data-testid="stTable"] :is(th, td, th *, td *) {{ white-space: normal !important; overflow-wrap: anywhere !important;
    word-break: break-word !important; min-width: 0 !important; max-width: 100%; }}
}}
</style>"""


def inject() -> None:
    st.html(CSS)
