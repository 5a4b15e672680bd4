"""lab_ui: the Streamlit glue shared by LLM Lab's pages (state, sidebar, cached resources, widgets).

What it is: the only place besides `app.py` and `pages/` that imports Streamlit. It keeps each
user's models in `st.session_state` and the read-only shared things (the bundled models,
tokenizer tables, corpora) in `st.cache_resource`. Token text reaches a page only through
`chips` (escaped HTML, shown with st.html) or `chips.literal` (escaped for Markdown); each chapter's
views live in `<chapter>_view.py` / `*_figures.py` so that the page reads as the chapter's story.
What it is not: maths. Everything a page shows is computed in `llm_core` and testable without a
browser.
"""
