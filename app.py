"""LLM Lab: learn how a large language model works by building one.

The entry point: page navigation over the course's chapters, in teaching order, and the shared sidebar.
Run with `streamlit run app.py`.
"""

# pandas whole, before any session draws a chart: plotly looks pandas up in sys.modules without
# importing it, so while one session's thread was still importing it another session's chart
# met a half-made module ("partially initialized module 'pandas' has no attribute 'Series'":
# benchmarks/load_test.py, 8 sessions opening at once). An import waits for a module to be complete.
import os
import time

import pandas  # noqa: F401
import streamlit as st

run_started = time.perf_counter()  # LLM_LAB_RUN_TIMES=1: each run's seconds go to the server log (benchmarks/load_test.py reads them)

st.set_page_config(page_title="LLM Lab", page_icon="🧪", layout="wide")

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
try:
    sidebar.render(page.url_path)
    page.run()
finally:
    if os.environ.get("LLM_LAB_RUN_TIMES"):
        who = st.session_state.setdefault("lab_run_log_id", os.urandom(4).hex())
        print(f"LLM_LAB_RUN page={page.url_path or 'overview'} session={who} seconds={time.perf_counter() - run_started:.3f}", flush=True)

# A browser session's first run, once its page is drawn: have the browser fetch and compile its two
# largest pieces of JavaScript while the learner reads, instead of on the click into the next chapter.
# Streamlit loads plotly.js (4.7 MB, about 1.1 s of a browser's CPU) when the first chart arrives and
# the code highlighter (1.5 MB) with the first st.code; two invisible elements make both arrive, and
# the next run leaves them out. After the page, not before it: the Overview draws no plotly chart, and
# a class opening it together on one machine is bound by the browsers' CPU (benchmarks/first_visits.py:
# eight fresh browsers on the Overview, 12.5-16.7 s with the warm-up first, 12.0-13.5 s with it after).
if "lab_frontend_warmed" not in st.session_state:
    st.session_state["lab_frontend_warmed"] = True
    with st.sidebar.container(height=1, border=False, key="lab_warm_up"):  # lab_ui/theme.py: hidden, out of the accessibility tree
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}}, key="lab_warm_up_chart", config={"displayModeBar": False})
        st.code(" ", language="python")
