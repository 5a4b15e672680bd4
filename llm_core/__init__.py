"""llm_core: the engine behind LLM Lab, importable and testable without Streamlit.

Grouped by pipeline stage, each folder importing only those above it in this list: `text` (text to
ids), `model` (config, the GPT, checkpoints, device), `generation` (the inference loop), `training`
(the one training loop and what drives it), `interpret` (looking inside), `alignment` (base model
to assistant); `jobs` runs any of them in the background; `train`, `sample` and `bench` are the
command lines. It never imports streamlit.
"""
