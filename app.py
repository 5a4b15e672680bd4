"""LLM Lab: learn how a large language model works by building one.

The entry point: page navigation grouped into chapters, in pipeline order, and the shared sidebar.
Run with `streamlit run app.py`.
"""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="LLM Lab", page_icon="🧪", layout="wide")

from lab_ui import sidebar  # noqa: E402  (after set_page_config)
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
    ("Generation", "pages/generation.py", "Generate", ":material/casino:"),
    ("Making an assistant", "pages/assistant.py", "Fine-tune and align", ":material/support_agent:"),
    ("Making an assistant", "pages/knowing.py", "Knowing and not knowing", ":material/menu_book:"),
]


def build_navigation():
    sections: dict[str, list] = {}
    for chapter, path, title, icon in CHAPTERS:
        if (ROOT / path).exists():
            sections.setdefault(chapter, []).append(st.Page(path, title=title, icon=icon, default=path == "pages/overview.py"))
    return st.navigation(sections)


page = build_navigation()
sidebar.render()
page.run()
