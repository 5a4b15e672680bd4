"""llm_core: the engine behind LLM Lab, importable and testable without Streamlit.

One concept per module: `config` (what a model and a run look like), `tokenizers` and `bpe`
(text to ids), `model` (a GPT with a fast path, a KV cache and a trace path), `data` (corpora,
splits, batches), `optim` (Muon + AdamW), `train` (the one training loop, a generator), `sample`
(the inference loop, a generator), `checkpoint` (safetensors + JSON), `device` (CPU or CUDA),
`bench` (figures, not tests). It never imports streamlit.
"""
