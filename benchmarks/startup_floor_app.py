"""The lightest app `benchmarks/app_startup.py` accepts: what start-up costs on this machine before LLM Lab does anything.

    PYTHONPATH=. python benchmarks/app_startup.py --app benchmarks/startup_floor_app.py [--no-chart]

It keeps what app.py does before its imports (pandas, the page config, the sidebar's warm-up chart
and code block) and draws a page of text with the heading the benchmark waits for and, unless
LAB_FLOOR_NO_CHART is set (`--no-chart` sets it), one plotly chart: no torch, no model. The
difference between its figures and the real app's is what LLM Lab's own first page costs; its own
figures are Streamlit's, the browser's and plotly.js's share, which no change to the app removes.
"""

import os

import pandas  # noqa: F401  (as app.py)
import streamlit as st

st.set_page_config(page_title="LLM Lab start-up floor", layout="wide")
chart = not os.environ.get("LAB_FLOOR_NO_CHART")
warm_up = st.sidebar.empty()
with warm_up.container(height=1, border=False):
    if chart:
        st.plotly_chart({"data": [{"type": "scatter", "x": [0], "y": [0]}], "layout": {"height": 10}}, config={"displayModeBar": False})
    st.code(" ", language="python")


def overview():
    st.title("Overview")
    st.text_input("Prompt", "ROMEO: O, she doth teach the torches to burn bright")
    for box in range(6):
        st.subheader(f"Box {box + 1}")
        st.markdown("A sentence of the size the Overview's boxes hold. " * 6)
    st.header("A model is two files")
    if chart:
        st.plotly_chart({"data": [{"type": "bar", "x": ["embeddings", "attention", "MLP"], "y": [3, 1, 2]}]})


st.navigation([st.Page(overview, title="Overview")]).run()
warm_up.empty()
