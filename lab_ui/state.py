"""Per-user model registry and shared read-only resources.

Each browser session has its own registry of models in `st.session_state`; the bundled models
are loaded once per server with `st.cache_resource` and shared, so they are never modified in
place: anything that trains starts from `editable_copy()`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import streamlit as st
import torch

from llm_core.model.checkpoint import (
    DEFAULT_MODEL,
    MODELS_DIR,
    LoadedModel,
    load_checkpoint,
)
from llm_core.model.device import describe, pick_device
from llm_core.text.data import load_corpus
from llm_core.text.tokenizers import TiktokenTokenizer

REGISTRY_KEY = "lab_models"
CURRENT_KEY = "lab_current_model"


@dataclass
class ModelEntry:
    name: str
    model: torch.nn.Module
    tokenizer: object
    meta: dict = field(default_factory=dict)
    source: str = "bundled"  # bundled | trained | uploaded | fine-tuned ...
    shared: bool = False  # True for the server-wide bundled objects: never train them in place
    created: float = field(default_factory=time.time)

    @property
    def record(self) -> dict:
        return self.meta.get("record", {})

    @property
    def config(self):
        return self.model.config


@st.cache_resource(show_spinner=False)
def device() -> torch.device:
    return pick_device("auto")


def device_label() -> str:
    return describe(device())


@st.cache_resource(show_spinner="Loading the bundled model…")
def bundled(name: str = DEFAULT_MODEL) -> LoadedModel:
    return load_checkpoint(MODELS_DIR / f"{name}.safetensors", device=device())


@st.cache_resource(show_spinner=False)
def corpus(name: str = "tinyshakespeare") -> str:
    return load_corpus(name)


@st.cache_resource(show_spinner="Loading tokenizer tables…")
def tiktoken_tokenizer(name: str) -> TiktokenTokenizer:
    return TiktokenTokenizer(name)


def _registry() -> dict[str, ModelEntry]:
    if REGISTRY_KEY not in st.session_state:
        loaded = bundled()
        entry = ModelEntry("Shakespeare (bundled)", loaded.model, loaded.tokenizer, loaded.meta, "bundled", shared=True)
        st.session_state[REGISTRY_KEY] = {entry.name: entry}
        st.session_state[CURRENT_KEY] = entry.name
    return st.session_state[REGISTRY_KEY]


def models() -> dict[str, ModelEntry]:
    return dict(_registry())


def current() -> ModelEntry:
    registry = _registry()
    name = st.session_state.get(CURRENT_KEY)
    if name not in registry:
        name = st.session_state[CURRENT_KEY] = next(iter(registry))
    return registry[name]


def set_current(name: str) -> None:
    if name in _registry():
        st.session_state[CURRENT_KEY] = name


def add_model(name: str, model, tokenizer, meta: dict | None = None, source: str = "trained", make_current: bool = True) -> str:
    """Register a model under a unique name (a suffix is added if the name is taken); returns the name."""
    registry = _registry()
    unique, i = name, 2
    while unique in registry:
        unique, i = f"{name} ({i})", i + 1
    registry[unique] = ModelEntry(unique, model, tokenizer, meta or {}, source)
    if make_current:
        st.session_state[CURRENT_KEY] = unique
    return unique


def editable_copy(entry: ModelEntry):
    """A private deep copy of an entry's model, safe to train without touching shared objects."""
    return copy.deepcopy(entry.model)
