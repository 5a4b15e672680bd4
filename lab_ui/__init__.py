"""lab_ui: the Streamlit glue shared by LLM Lab's pages (state, sidebar, cached resources, widgets).

What it is: the only place besides `app.py` and `pages/` that imports Streamlit. It keeps each
user's models in `st.session_state` and the read-only shared things (the bundled models,
tokenizer tables, corpora) in `st.cache_resource`.
What it is not: maths. Everything a page shows is computed in `llm_core` and testable without a
browser.
"""
