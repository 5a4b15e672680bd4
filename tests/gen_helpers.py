"""Helpers shared by the Generation chapter's tests: a call-counting model and a tiny BPE model."""

from __future__ import annotations

import functools

from conftest import perturbed_model

from llm_core.model.config import model_preset
from llm_core.text.tokenizers import BPETokenizer


def count_model_calls(model) -> dict:
    """Wrap `model.forward` and `model.decode_next` so every run of the model is counted in ["n"]."""
    calls = {"n": 0}
    forward, decode_next = model.forward, model.decode_next

    def counted(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            return fn(*args, **kwargs)

        return wrapper

    model.forward = counted(forward)
    model.decode_next = counted(decode_next)
    return calls


@functools.lru_cache(maxsize=1)
def tiny_bpe(text: str, vocab_size: int = 300) -> BPETokenizer:
    return BPETokenizer.train(text, vocab_size)


def bpe_model(shakespeare: str, seed: int = 3):
    """A BPE tokenizer (~300 tokens, trained on some Shakespeare) and a nano model of that vocabulary."""
    tokenizer = tiny_bpe(shakespeare[:20_000])
    return tokenizer, perturbed_model(model_preset("nano", tokenizer.vocab_size), seed=seed, scale=0.2)


APP = "app.py"
PAGE = "pages/generation.py"


def open_generation(root):
    """An AppTest of the whole app, switched to the Generation chapter."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(root / APP), default_timeout=90).run()
    at.switch_page(PAGE).run()
    return at


def register(at, name: str, model, tokenizer) -> None:
    """Make `model` the current model of this AppTest session, as lab_ui.state.add_model does."""
    from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry

    registry = at.session_state[REGISTRY_KEY]
    registry[name] = ModelEntry(name, model, tokenizer, {}, "trained")
    at.session_state[REGISTRY_KEY] = registry
    at.session_state[CURRENT_KEY] = name
