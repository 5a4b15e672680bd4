"""Your lab, kept: desks, models and share records on disk, and the lab file.

`store` keeps every learner's desk (models with their lineage, the current model, page data such
as the Training settings and the course progress, runs in flight) in SQLite (the standard
library's `sqlite3`, WAL mode) and every model's weights as a safetensors file named by its
content hash, under a data folder (`LLM_LAB_DATA_DIR`, default `lab-data/` beside the app).
`labfile` writes a whole desk as one zip of safetensors + JSON and reads one back with strict
checks (never pickle). `python -m llm_core.lab export|import|show FILE` is the command line.
It sits above every pipeline stage (it stores what they make) and never imports Streamlit.
"""
