"""LLM Lab: learn how a large language model works by building one.

The entry point: page navigation over the course's chapters, in teaching order, and the shared sidebar.
Run with `streamlit run app.py`.
"""

import os
import sys
import time

# pandas whole, before any session draws a chart: plotly looks pandas up in sys.modules without
# importing it, so while one session's thread was still importing it another session's chart
# met a half-made module ("partially initialized module 'pandas' has no attribute 'Series'":
# benchmarks/load_test.py, 8 sessions opening at once). An import waits for a module to be complete.
import pandas  # noqa: F401
import streamlit as st

run_started = time.perf_counter()  # LLM_LAB_RUN_TIMES=1: each run's seconds go to the server log (benchmarks/load_test.py reads them)

st.set_page_config(page_title="LLM Lab", page_icon="🧪", layout="wide")

# A browser session's first run: have the browser fetch and compile its two largest pieces of
# JavaScript at a moment when it would otherwise wait, not on the click into a later chapter.
# Streamlit loads plotly.js (4.7 MB, about 1.1 s of a browser's CPU) when the first chart arrives and
# the code highlighter (1.5 MB) with the first st.code; two invisible elements make both arrive.
# When: on a fresh server, first, while this run imports torch (the next import: seconds in which
# the browser has nothing to draw), and they are removed at the end of the run; otherwise after the
# page, while the learner reads it, and the next run leaves them out. Not first on a warm server: the
# Overview draws no plotly chart, and a class opening it together on one machine is bound by the
# browsers' CPU (benchmarks/first_visits.py). Measured by benchmarks/app_startup.py (a fresh server,
# one browser) and benchmarks/first_visits.py (eight browsers at once).
def frontend_warm_up(where) -> None:
    with where.container(height=1, border=False, key="lab_warm_up"):  # lab_ui/theme.py: hidden, out of the accessibility tree
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}}, key="lab_warm_up_chart", config={"displayModeBar": False})
        st.code(" ", language="python")


@st.cache_resource(show_spinner=False)
def server_start() -> dict:
    """One per server process: which session came first."""
    return {"claimed": False}


def first_on_a_fresh_server() -> bool:
    """Whether this run is the server's first to begin: nobody has begun importing torch (this run will
    wait for it) and no other session came first (a class arriving together: one browser warms up
    early, not eight at once on a machine they share)."""
    if "torch" in sys.modules:
        return False
    start = server_start()
    first, start["claimed"] = not start["claimed"], True
    return first


warm_up_due = "lab_frontend_warmed" not in st.session_state
warm_up_first = None
if warm_up_due and first_on_a_fresh_server():
    st.session_state["lab_frontend_warmed"] = True
    warm_up_first = st.sidebar.empty()
    frontend_warm_up(warm_up_first)

from lab_ui import course, shell, sidebar, theme  # noqa: E402  (after set_page_config)
from llm_core.model.device import use_threads  # noqa: E402

# Pages run small torch ops on one thread, leaving the cores to training jobs: more OpenMP threads
# than cores slow a training thread by a third (llm_core/device.py says why).
use_threads(1)


def build_navigation():
    """The chapters in teaching order (assets/teaching/course.toml, read by lab_ui/course.py); a page
    appears once its file exists: show only what works."""
    return st.navigation(course.navigation_pages(), expanded=True)


page = build_navigation()
theme.inject()  # contrast, wrapping, focus rings (lab_ui/theme.py)
shell.enter_shell()  # this session is in the shell; a deep link on a fresh server lands here (lab_ui/shell.py)
# Read before the page runs: after a page's st.stop() every Streamlit call (session state too) stops again.
run_log_id = st.session_state.setdefault("lab_run_log_id", os.urandom(4).hex()) if os.environ.get("LLM_LAB_RUN_TIMES") else None
try:
    sidebar.render(page.url_path)
    page.run()
finally:
    if warm_up_first is not None:
        warm_up_first.empty()
    if run_log_id is not None:
        print(f"LLM_LAB_RUN page={page.url_path or 'overview'} session={run_log_id} seconds={time.perf_counter() - run_started:.3f}", flush=True)

if warm_up_due and warm_up_first is None:  # the warm-up's other moment: after the page (see frontend_warm_up)
    st.session_state["lab_frontend_warmed"] = True
    frontend_warm_up(st.sidebar)
