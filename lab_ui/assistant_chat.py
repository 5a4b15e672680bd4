"""A typed prompt for a fine-tuned model goes through its chat format; a toggle shows the raw template.

What it is: `chat_prompt_box(tokenizer, text, key)` returns what the model should read. For a model
made by fine-tuning (its tokenizer has the chat tokens) the text is wrapped as
`<|user|>text<|end|><|assistant|>`, so an instruction just works; a toggle shows that raw template
and another turns the wrapping off. For a base model it returns the text unchanged and draws nothing.
What it is not: the chat format itself (`llm_core.alignment.finetune`).
"""

from __future__ import annotations

import streamlit as st

from lab_ui.widgets import text_block
from llm_core.alignment.finetune import chat_prompt, is_chat_model


def chat_prompt_box(tokenizer, text: str, key: str) -> str:
    if not is_chat_model(tokenizer):
        return text
    c1, c2 = st.columns(2)
    wrap = c1.toggle("Chat format", value=True, key=f"{key}_chat", help="This model was fine-tuned to answer a prompt written in its chat format.")
    show = c2.toggle("Show the raw template", value=False, key=f"{key}_raw")
    rendered = chat_prompt(tokenizer, text) if wrap else text
    if show:
        text_block(rendered)
    return rendered
