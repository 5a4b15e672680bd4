"""LLM Lab: learn how a large language model works by building one.

The entry point: page navigation grouped into chapters, in pipeline order, and the shared sidebar.
Run with `streamlit run app.py`.
"""

from pathlib import Path

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
    with frontend_warm_up.container(height=1, border=False):
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}}, key="lab_warm_up_chart", config={"displayModeBar": False})
        st.code(" ", language="python")

from lab_ui import shell, sidebar  # noqa: E402  (after set_page_config)
from llm_core.model.device import use_threads  # noqa: E402

# Pages run small torch ops on one thread, leaving the cores to training jobs: more OpenMP threads
# than cores slow a training thread by a third (llm_core/device.py says why).
use_threads(1)

ROOT = Path(__file__).resolve().parent

# (chapter, file, title, icon). A page appears once its file exists: show only what works.
CHAPTERS = [
    ("Overview", "pages/overview.py", "Overview", ":material/explore:"),
    ("Text to numbers", "pages/tokenization.py", "Tokenization", ":material/content_cut:"),
    ("Text to numbers", "pages/embeddings.py", "Embeddings", ":material/scatter_plot:"),
    ("Inside the model", "pages/attention.py", "Attention", ":material/visibility:"),
    ("Training", "pages/training.py", "Train a model", ":material/model_training:"),
    ("Training", "pages/scale.py", "Why scale matters", ":material/trending_down:"),
    ("Training", "pages/compression.py", "Compression and cost", ":material/compress:"),
    ("Generation", "pages/generation.py", "Generate", ":material/casino:"),
    ("Making an assistant", "pages/assistant.py", "Fine-tune and align", ":material/support_agent:"),
    ("Making an assistant", "pages/compare.py", "Compare models", ":material/compare_arrows:"),
    ("Making an assistant", "pages/knowing.py", "Knowing and not knowing", ":material/menu_book:"),
]


def build_navigation():
    sections: dict[str, list] = {}
    for chapter, path, title, icon in CHAPTERS:
        if (ROOT / path).exists():
            sections.setdefault(chapter, []).append(st.Page(path, title=title, icon=icon, default=path == "pages/overview.py"))
    return st.navigation(sections)


page = build_navigation()
shell.enter_shell()  # this session is in the shell; a deep link on a fresh server lands here (lab_ui/shell.py)
try:
    sidebar.render(page.url_path)
    page.run()
finally:
    if frontend_warm_up is not None:
        frontend_warm_up.empty()
