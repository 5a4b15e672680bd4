"""LLM Lab: learn how a large language model works by building one.

The entry point: page navigation over the course's chapters, in teaching order, and the shared sidebar.
Run with `streamlit run app.py`.
"""

# pandas whole, before any session draws a chart: plotly looks pandas up in sys.modules without
# importing it, so while one session's thread was still importing it another session's chart
# met a half-made module ("partially initialized module 'pandas' has no attribute 'Series'":
# benchmarks/load_test.py, 8 sessions opening at once). An import waits for a module to be complete.
import pandas  # noqa: F401
import streamlit as st

st.set_page_config(page_title="LLM Lab", page_icon="🧪", layout="wide")

# A browser session's first run: have the browser fetch and compile its two largest pieces of
# JavaScript now, while this process imports torch (the next import), instead of after the
# script. Streamlit loads plotly.js (4.7 MB) when the first chart arrives and the code highlighter
# (1.5 MB) with the first st.code; two invisible elements make both arrive first, and are removed
# at the end of the run. Measured by benchmarks/app_startup.py: the Overview completes seconds
# sooner on the loaded 2-core machine.
frontend_warm_up = None
if "lab_frontend_warmed" not in st.session_state:
    st.session_state["lab_frontend_warmed"] = True
    frontend_warm_up = st.sidebar.empty()
    with frontend_warm_up.container(height=1, border=False, key="lab_warm_up"):  # lab_ui/theme.py: never a scrolling region
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}}, key="lab_warm_up_chart", config={"displayModeBar": False})
        st.code(" ", language="python")

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
    if frontend_warm_up is not None:
        frontend_warm_up.empty()
