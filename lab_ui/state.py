"""Per-user model registry, kept on a "desk" that survives a reload, and shared read-only resources.

A user's models, current model, background jobs and run results live on a `Desk` kept by the
server under an unguessable id (128 random bits) that is also in the page's URL
(`?run=...`). A browser reload or a second tab with the same URL finds the same desk; another
session cannot reach it without the id, and an unknown id gets a fresh desk, never someone
else's. Desks nobody has opened for `DESK_TTL_S` (and that run nothing) are dropped. The bundled
models are loaded once per server with `st.cache_resource` and shared, so they are never
modified in place: anything that trains starts from `editable_copy()`.
"""

from __future__ import annotations

import copy
import secrets
import threading
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

REGISTRY_KEY = "lab_models"  # this session's view of the desk's models (the same dict)
CURRENT_KEY = "lab_current_model"
DESK_KEY = "lab_desk_id"
RUN_PARAM = "run"  # the URL's query parameter that carries the desk id
DESK_TTL_S = 4 * 3600.0
MAX_DESKS = 500  # the oldest idle desks go first beyond this


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


@dataclass
class Desk:
    """One user's things, shared by every tab that has its id: models, jobs, run results."""

    id: str
    models: dict = field(default_factory=dict)  # name -> ModelEntry
    current: str | None = None
    jobs: dict = field(default_factory=dict)  # key -> lab_ui.jobs.Tracked
    data: dict = field(default_factory=dict)  # page data that must outlive a session (e.g. the training run)
    seen: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock)


@st.cache_resource(show_spinner=False)
def _desks() -> tuple[dict, threading.Lock]:
    return {}, threading.Lock()


def find_desk(desk_id: str) -> Desk | None:
    """The desk with this exact id, if the server has it (tests and benchmarks look runs up so)."""
    desks, lock = _desks()
    with lock:
        return desks.get(desk_id)


def new_desk_id() -> str:
    return secrets.token_urlsafe(16)


def desk() -> Desk:
    """This user's desk: the session's own, else the one named in the URL, else a new one."""
    desks, lock = _desks()
    wanted = st.session_state.get(DESK_KEY) or st.query_params.get(RUN_PARAM)
    with lock:
        found = desks.get(wanted) if wanted else None
        if found is None:
            _forget_old(desks)
            new_id = new_desk_id()
            found = desks[new_id] = Desk(id=new_id)
        found.seen = time.monotonic()
    st.session_state[DESK_KEY] = found.id
    if st.query_params.get(RUN_PARAM) != found.id:
        st.query_params[RUN_PARAM] = found.id
    return found


def _forget_old(desks: dict) -> None:
    now = time.monotonic()
    idle = sorted((d.seen, k) for k, d in desks.items() if not any(t.job.snapshot().active for t in d.jobs.values()))
    for seen, key in idle:
        if now - seen > DESK_TTL_S or len(desks) >= MAX_DESKS:
            desks.pop(key, None)


def _registry() -> dict[str, ModelEntry]:
    """The desk's models, also at st.session_state[REGISTRY_KEY] (the same dict) for the pages."""
    d = desk()
    registry = st.session_state.get(REGISTRY_KEY)
    if registry is None:
        with d.lock:
            if not d.models:
                loaded = bundled()
                entry = ModelEntry("Shakespeare (bundled)", loaded.model, loaded.tokenizer, loaded.meta, "bundled", shared=True)
                d.models[entry.name] = entry
                d.current = entry.name
        registry = st.session_state[REGISTRY_KEY] = d.models
    elif registry is not d.models:
        d.models = registry  # the session's registry was replaced (a test injects models so): the desk follows
    if st.session_state.get(CURRENT_KEY) is None:
        st.session_state[CURRENT_KEY] = d.current
    return registry


def models() -> dict[str, ModelEntry]:
    return dict(_registry())


def current() -> ModelEntry:
    registry = _registry()
    name = st.session_state.get(CURRENT_KEY)
    if name not in registry:
        name = st.session_state[CURRENT_KEY] = next(iter(registry))
    desk().current = name  # a reload or a new tab starts from this session's choice
    return registry[name]


def set_current(name: str) -> None:
    if name in _registry():
        st.session_state[CURRENT_KEY] = desk().current = name


def add_model(name: str, model, tokenizer, meta: dict | None = None, source: str = "trained", make_current: bool = True) -> str:
    """Register a model under a unique name (a suffix is added if the name is taken); returns the name."""
    registry = _registry()
    with desk().lock:
        unique, i = name, 2
        while unique in registry:
            unique, i = f"{name} ({i})", i + 1
        registry[unique] = ModelEntry(unique, model, tokenizer, meta or {}, source)
        if make_current:
            st.session_state[CURRENT_KEY] = desk().current = unique
    return unique


def editable_copy(entry: ModelEntry):
    """A private deep copy of an entry's model, safe to train without touching shared objects."""
    return copy.deepcopy(entry.model)
