"""Keep every page inside the app shell (app.py's chapter navigation and sidebar).

Because a `pages/` folder sits next to app.py, Streamlit starts each server in its legacy
multipage mode and only leaves it once `st.navigation` runs. If the first visitor of a fresh
server opens a chapter's URL directly (http://host/tokenization), Streamlit runs that page file
on its own: no app.py, no chapters, no sidebar, not wide, and it stays in that mode for every
later visitor. `ensure_app_shell()`, called first thing in a page, switches the legacy mode off
and reruns, so app.py runs and its navigation opens the same page.

Under Streamlit's AppTest it does nothing: AppTest resets the legacy flag before every run and
then runs a switched-to page on its own, so a rerun there would happen on every run and swallow
the value of whatever button the test clicked.
"""

from __future__ import annotations

import sys

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_shell() -> None:
    if PagesManager.uses_pages_directory and "streamlit.testing.v1" not in sys.modules:
        PagesManager.uses_pages_directory = False  # what st.navigation itself does (streamlit/commands/navigation.py)
        st.rerun()
