"""LLM Lab: learn how a large language model works by building one.

The entry point: page navigation over the course's chapters, in teaching order, and the shared sidebar.
Run with `streamlit run app.py`.
"""

import os
import sys
import time

import streamlit as st

run_started = time.perf_counter()  # LLM_LAB_RUN_TIMES=1: each run's seconds go to the server log (benchmarks/load_test.py reads them)

st.set_page_config(page_title="LLM Lab", page_icon="🧪", layout="wide")

from lab_ui import course, shell, sidebar, startup, theme  # noqa: E402  (after set_page_config; none of them imports torch)


# A browser session's second run (its first click or entry after the first page): have the browser fetch
# and compile plotly.js then, not on a later chapter's first chart. Streamlit loads it (4.7 MB, about
# 1.0 s of a browser's CPU) when the first chart arrives; one invisible chart makes it arrive, and the
# session's later runs leave it out. The Overview draws no plotly chart, so a learner's first page asks
# for none: eight browsers opening a class's first page together on the server's two cores had each
# compiled it right after that page, and those 8 CPU-seconds landed on the next chapter's first visits
# (the class test: 3 pages over 10 s with the warm-up on the first run, none in two runs with it on the
# second; README, session 24). A learner whose second page is a chapter pays the compile there, below
# its first screen (Tokenization's first charts are HTML). Measured by benchmarks/app_startup.py (a
# fresh server, one browser), benchmarks/first_visits.py and benchmarks/load_test.py (eight browsers).
# The chart is drawn under the pandas lock (lab_ui/startup.py says why).
# The code highlighter (1.5 MB) is not warmed up: the chapters show prompts, samples and commands as
# plain text boxes (lab_ui.widgets.text_block), and the Overview's runner.py, the one listing, is drawn
# once its expander is opened (a class's first page, eight browsers on the server's two cores: about
# 0.3 s of each one's CPU).
# (Until the first page was drawn without torch, a fresh server's first session got plotly first,
# during its run's second of importing torch; that run now imports no torch.)
def frontend_warm_up(where) -> None:
    with startup.PANDAS_LOCK, where.container(height=1, border=False, key="lab_warm_up"):  # lab_ui/theme.py: hidden, out of the accessibility tree
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}}, key="lab_warm_up_chart", config={"displayModeBar": False})


def build_navigation():
    """The chapters in teaching order (assets/teaching/course.toml, read by lab_ui/course.py); a page
    appears once its file exists: show only what works."""
    return st.navigation(course.navigation_pages(), expanded=True)


page = build_navigation()
# A fresh server's Overview is drawn before torch and pandas are imported (about 1.3 s of its first
# run), from the figures shipped with the bundled model; they are imported after it, in a thread
# (lab_ui/startup.py). Every other run imports them first.
torch_free = startup.torch_free(page.url_path)
if not torch_free:
    startup.import_pandas()  # whole, before this run draws a chart (lab_ui/startup.py)
    from llm_core.model.device import use_threads

    # Pages run small torch ops on one thread, leaving the cores to training jobs: more OpenMP threads
    # than cores slow a training thread by a third (llm_core/device.py says why).
    use_threads(1)
theme.inject()  # contrast, wrapping, focus rings (lab_ui/theme.py)
shell.enter_shell()  # this session is in the shell; a deep link on a fresh server lands here (lab_ui/shell.py)
# Read before the page runs: after a page's st.stop() every Streamlit call (session state too) stops again.
run_log_id = st.session_state.setdefault("lab_run_log_id", os.urandom(4).hex()) if os.environ.get("LLM_LAB_RUN_TIMES") else None
if run_log_id is not None:  # a run that never ends shows as a start without its end
    print(f"LLM_LAB_RUN_START page={page.url_path or 'overview'} session={run_log_id} at={time.strftime('%H:%M:%S')}", flush=True)
try:
    sidebar.render(page.url_path)
    page.run()
finally:
    if run_log_id is not None:
        ended = type(sys.exc_info()[1]).__name__ if sys.exc_info()[1] is not None else "done"  # RerunException: a newer run took over
        print(f"LLM_LAB_RUN page={page.url_path or 'overview'} session={run_log_id} seconds={time.perf_counter() - run_started:.3f} ended={ended} "
              f"at={time.strftime('%H:%M:%S')}", flush=True)

warmed = st.session_state.get("lab_frontend_warmed", 0)  # this session's runs, counted up to its warm-up
if warmed == 1:  # the second run, after its page (see frontend_warm_up)
    frontend_warm_up(st.sidebar)
if warmed < 2:
    st.session_state["lab_frontend_warmed"] = warmed + 1
if torch_free:
    startup.import_the_rest()
