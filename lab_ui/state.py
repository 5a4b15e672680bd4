"""Per-user model registry, kept on a "desk" that outlives the server, and shared read-only resources.

A user's models, current model, background jobs and page data live on a `Desk` under an
unguessable id (128 random bits). The desk is written to the data folder (`llm_core.lab.store`:
SQLite + safetensors, `LLM_LAB_DATA_DIR`) as it changes: its models with their lineage, the
current model, and the JSON-able part of `desk().data` (the Training settings, the course
progress); a restarted server finds it. Jobs (live worker processes) are not kept; a run that a
stopped server was running is reported as cut.

Who owns a desk: the browser that made it, and only it. The id is kept in a cookie of this site
(set by the page, read back by the server from `st.context.cookies` when a tab connects), so a
reload and a second tab find the desk and its running job, and the id never appears in the
address. An address that names a desk (`?run=`, as older versions put it there) gets nothing from
it: the parameter is dropped. A share link (`share_link`) carries the view's settings and the
model by content hash (`?model=`): the server keeps a read-only copy of that model, and whoever
opens the link sees it in a desk of their own, where they can keep a copy (`keep_link_model`).

Only the models in use stay in memory: a desk's entries load their weights from the store on use
through one server-wide least-recently-used cache (`llm_core.lab.cache`, `LLM_LAB_MODEL_MEMORY_MB`).
The bundled models are loaded once per server and shared, so they are never modified in place:
anything that trains starts from `editable_copy()`.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from llm_core.interpret import first_page
from llm_core.lab import labfile
from llm_core.lab.cache import ModelCache
from llm_core.lab.store import LabStore, QuotaError, RunRow, open_store
from llm_core.model import anatomy, lineage
from llm_core.model.config import ModelConfig
from llm_core.paths import DEFAULT_MODEL, MODELS_DIR
from llm_core.text.tokenizers import TiktokenTokenizer, Tokenizer, tokenizer_from_dict

if TYPE_CHECKING:
    import torch

    from llm_core.model.checkpoint import LoadedModel

# torch, the model code and the checkpoint reader are imported where they are used, not at the top:
# a fresh server's first page (the Overview on the bundled model) is drawn before torch is loaded,
# about a second sooner (app.py, llm_core/interpret/first_page.py).

REGISTRY_KEY = "lab_models"  # this session's view of the desk's models (the same dict)
CURRENT_KEY = "lab_current_model"
DESK_KEY = "lab_desk_id"
LINKS_KEY = "lab_link_models"  # models this session opened through a share link: read-only, not on the desk
RUN_PARAM = "run"  # where older versions put the desk id: now ignored and removed from the address
MODEL_PARAM = "model"  # a share link's model, by content hash
LAB_PARAM = "lab"  # a teacher's lab file, by name, in LLM_LAB_LABS_DIR
BUNDLED_NAME = first_page.BUNDLED_LINEAGE_NAME  # "Shakespeare (bundled)": its lineage, shipped, carries the same name
COOKIE_PREFIX = "llm_lab_desk_"
MEMORY_IDLE_S = 3600.0  # a desk nobody has opened for this long leaves memory (it stays on disk)
MAX_DESKS = 500  # desks in memory; the oldest idle go first beyond this
FLUSH_S = 2.0  # page data is written at most this long after it changes
SEEN_WRITE_S = 60.0
EXPIRE_EVERY_S = 600.0
STAGE_OF_SOURCE = {"bundled": "bundled", "uploaded": "upload", "trained": "pre-training", "fine-tuned": "unknown"}


def desk_ttl_s() -> float:
    """LLM_LAB_DESK_TTL_DAYS (default 7): a desk nobody opens for this long is deleted from disk."""
    try:
        return max(60.0, float(os.environ.get("LLM_LAB_DESK_TTL_DAYS", 7)) * 86400)
    except ValueError:
        return 7 * 86400.0


def memory_budget_bytes() -> int:
    """LLM_LAB_MODEL_MEMORY_MB (default 1024): model weights kept in memory across all desks."""
    try:
        return int(float(os.environ.get("LLM_LAB_MODEL_MEMORY_MB", 1024)) * 1024 * 1024)
    except ValueError:
        return 1024 * 1024 * 1024


class ModelEntry:
    """A model on a desk. Its weights are held here (`model=` given: a test's), loaded on first use
    from the server's one copy (the bundled model: `bundled()`), or loaded on use from the store
    through the server's cache (`key`: the content hash)."""

    def __init__(self, name: str, model=None, tokenizer=None, meta: dict | None = None, source: str = "bundled",
                 shared: bool = False, created: float | None = None, key: str | None = None, store: LabStore | None = None):
        self.name, self._model, self.tokenizer = name, model, tokenizer
        self.meta = meta if meta is not None else {}
        self.source, self.shared = source, shared
        self.created = created if created is not None else time.time()
        self.key, self._store = key, store
        self._facts: anatomy.ModelFacts | None = None

    @property
    def _shipped(self) -> bool:
        """A shipped model whose weights are the server's one copy: what the pages say of its size
        and shape is read from its description and its shipped figures, with no weights loaded."""
        return self._model is None and self.key is None and self.source == "bundled"

    @property
    def model(self) -> torch.nn.Module:
        if self._model is not None:
            return self._model
        if self._shipped:
            return bundled(self.meta.get("asset", DEFAULT_MODEL)).model
        return model_cache().get(self.key, self._load)

    def _load(self):
        from llm_core.model.device import pick_device

        return self._store.load_model(self.key, self.meta, device=_DEVICE[0] if _DEVICE else pick_device("auto")).model

    @property
    def record(self) -> dict:
        return self.meta.get("record", {})

    @property
    def config(self) -> ModelConfig:
        if self._shipped:
            return ModelConfig.from_dict(self.meta["model_config"])
        return self.model.config

    def shipped_figures(self) -> dict | None:
        """What the Overview shows of this model, shipped beside it (llm_core/interpret/first_page.py),
        for a shipped model whose weights are still those the figures were made from; else None."""
        return first_page.load(self.meta.get("asset", DEFAULT_MODEL)) if self._shipped else None

    @property
    def facts(self) -> anatomy.ModelFacts:
        """Its parameter count, where they are and how they are stored (llm_core.model.anatomy)."""
        if self._facts is None:
            shipped = self.shipped_figures()
            self._facts = anatomy.ModelFacts.from_dict(shipped["facts"]) if shipped else anatomy.facts(self.model)
        return self._facts

    @property
    def lineage(self) -> dict:
        """Its lineage (made from its record the first time, for a model that came without one)."""
        if not self.meta.get("lineage"):
            stage = STAGE_OF_SOURCE.get(self.source, "unknown")
            self.meta["lineage"] = lineage.from_record(self.model, self.tokenizer, self.meta, stage, name=self.name)
        return self.meta["lineage"]

    @property
    def hash(self) -> str:
        return self.key or self.lineage["hash"]


_DEVICE: list[torch.device] = []


@st.cache_resource(show_spinner=False)
def device() -> torch.device:
    from llm_core.model.device import pick_device

    _DEVICE[:] = [pick_device("auto")]
    return _DEVICE[0]


@functools.cache
def gpu_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver (Linux's /proc entry, or its `nvidia-smi` on the
    path elsewhere): without one torch can only choose the CPU, which the first page can say before
    torch is loaded."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def usable_cores() -> int:
    """The cores this server process may run on (its CPU affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def device_label() -> str:
    """The device the models run on, in words: the GPU's name, or the CPU and the cores this server may use."""
    if gpu_driver_present() and device().type == "cuda":
        from llm_core.model.device import describe

        return describe(device())
    n = usable_cores()
    return f"CPU, {n} core{'s' if n != 1 else ''}"


def bundled(name: str = DEFAULT_MODEL) -> LoadedModel:
    """A shipped model (assets/models/<name>), loaded once per server and shared by every session.

    The default is passed on explicitly: Streamlit keys a cache by the arguments as given, so a
    cached `bundled()` and `bundled(DEFAULT_MODEL)` were two loads, and a desk read back from disk
    (which names its model) held a second copy of the model every new desk shares."""
    return _load_bundled(name)


@st.cache_resource(show_spinner=False)
def bundled_description(name: str = DEFAULT_MODEL) -> tuple[Tokenizer, dict]:
    """A shipped model's tokenizer and description (config, training record, lineage), read without
    its weights or torch: all a new desk and the sidebar need. One dict per server, which the loaded
    model shares (`_load_bundled`). The lineage is the one shipped with its first page
    (llm_core/interpret/first_page.py), checked against the weights when they load."""
    meta = json.loads((MODELS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    shipped = first_page.load(name)
    if shipped is not None:
        meta["lineage"] = shipped["lineage"]
    meta["asset"] = name
    return tokenizer_from_dict(meta["tokenizer"]), meta


@st.cache_resource(show_spinner="Loading the bundled model…")
def _load_bundled(name: str) -> LoadedModel:
    from llm_core.model.checkpoint import load_checkpoint

    tokenizer, meta = bundled_description(name)
    loaded = load_checkpoint(MODELS_DIR / f"{name}.safetensors", device=device())
    if meta.get("lineage", {}).get("hash") != lineage.content_hash(loaded.model, loaded.tokenizer):
        # no shipped lineage, or one for other weights: made from the record, in the dict every desk's entry holds
        meta["lineage"] = lineage.from_record(loaded.model, loaded.tokenizer, loaded.meta, "bundled", name=BUNDLED_NAME)
    loaded.tokenizer, loaded.meta = tokenizer, meta
    model_cache().pin(meta["lineage"]["hash"], loaded.model)
    return loaded


@st.cache_resource(show_spinner=False)
def corpus(name: str = "tinyshakespeare") -> str:
    from llm_core.text.data import load_corpus

    return load_corpus(name)


@st.cache_resource(show_spinner="Loading tokenizer tables…")
def tiktoken_tokenizer(name: str) -> TiktokenTokenizer:
    return TiktokenTokenizer(name)


_CACHE: list[ModelCache] = []
_CACHE_LOCK = threading.Lock()


def model_cache() -> ModelCache:
    """The server's one cache of models in memory (a plain singleton, not st.cache_resource: a download
    button's data function reads models from a thread of its own, outside any script run)."""
    with _CACHE_LOCK:
        if not _CACHE:
            _CACHE.append(ModelCache(memory_budget_bytes()))
        return _CACHE[0]


def store() -> LabStore:
    """The data folder's store (LLM_LAB_DATA_DIR, read when first used for that folder)."""
    return open_store()


@dataclass
class Desk:
    """One user's things, shared by every tab of the browser that owns it: models, jobs, run results."""

    id: str
    models: dict = field(default_factory=dict)  # name -> ModelEntry
    current: str | None = None
    jobs: dict = field(default_factory=dict)  # key -> lab_ui.jobs.Tracked
    data: dict = field(default_factory=dict)  # page data that must outlive a session (e.g. the training run)
    seen: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock)
    store: LabStore | None = None
    saved_data: str = "{}"  # the JSON of `data` last written
    seen_written: float = 0.0
    cut: list = field(default_factory=list)  # RunRow: runs a stopped server was running
    messages: list = field(default_factory=list)  # (level, text) for the sidebar, until dismissed

    def flush(self) -> None:
        """Write the JSON-able part of `data` if it changed (the course progress, the Training settings)."""
        if self.store is None:
            return
        try:
            kept = labfile.json_only(self.data)
        except RuntimeError:  # changed while read (another thread): the next flush takes it
            return
        text = json.dumps(kept, sort_keys=True)
        if text != self.saved_data:
            self.store.save_desk(self.id, data=kept)
            self.saved_data = text


@st.cache_resource(show_spinner=False)
def _desks() -> tuple[dict, threading.Lock]:
    desks, lock = {}, threading.Lock()
    threading.Thread(target=_keeper, args=(desks, lock), name="llm-lab-desk-keeper", daemon=True).start()
    return desks, lock


def _keeper(desks: dict, lock: threading.Lock) -> None:
    """In the background: write page data that changed, and delete desks idle past their time-to-live."""
    last_expiry = 0.0
    while True:
        time.sleep(FLUSH_S)
        with lock:
            current = list(desks.values())
        for d in current:
            try:
                d.flush()
            except Exception:  # a desk's store closed or its folder gone (a test's): never stop the others
                continue
        if time.monotonic() - last_expiry > EXPIRE_EVERY_S:
            last_expiry = time.monotonic()
            for s in {id(d.store): d.store for d in current if d.store is not None}.values():
                try:
                    s.expire(desk_ttl_s(), keep=[d.id for d in current])
                except Exception:
                    continue


def find_desk(desk_id: str) -> Desk | None:
    """The desk with this exact id, if the server has it in memory (tests and benchmarks look runs up so)."""
    desks, lock = _desks()
    with lock:
        return desks.get(desk_id)


def new_desk_id() -> str:
    return secrets.token_urlsafe(16)


def cookie_name(s: LabStore | None = None) -> str:
    """The cookie that keeps a browser's desk id for this data folder (one folder, one cookie)."""
    return COOKIE_PREFIX + (s or store()).id


def _browser_desk_id() -> str | None:
    try:
        value = st.context.cookies.get(cookie_name())
    except Exception:
        return None
    return value if isinstance(value, str) and re.fullmatch(r"[\w-]{16,64}", value) else None  # (AppTest has no cookies)


def _load_desk(desk_id: str, s: LabStore) -> Desk | None:
    """A desk from disk (after a restart, or once it left memory), with its models' weights left on disk."""
    row = s.load_desk(desk_id)
    if row is None:
        return None
    d = Desk(id=row.id, current=row.current, data=dict(row.data), store=s)
    d.saved_data = json.dumps(labfile.json_only(d.data), sort_keys=True)
    for m in row.models:
        if m.source == "bundled":
            tokenizer, meta = bundled_description(m.meta.get("asset", DEFAULT_MODEL))
            d.models[m.name] = ModelEntry(m.name, None, tokenizer, meta, "bundled", shared=True)
        elif s.has_weights(m.hash):
            d.models[m.name] = ModelEntry(m.name, None, tokenizer_from_dict(m.meta["tokenizer"]), m.meta, m.source, created=m.created, key=m.hash, store=s)
        else:
            d.messages.append(("warning", f"**{m.name}** could not be found in this server's data folder any more and was left out."))
    d.cut = s.cut_runs(desk_id)
    return d


def desk() -> Desk:
    """This user's desk: the session's own, else the one this browser's cookie names, else a new one."""
    desks, lock = _desks()
    s = store()
    wanted = st.session_state.get(DESK_KEY) or _browser_desk_id()
    with lock:
        found = desks.get(wanted) if wanted else None
        if found is None and wanted:
            found = _load_desk(wanted, s)
            if found is not None:
                desks[found.id] = found
        if found is None:
            _forget_old(desks)
            new_id = new_desk_id()
            found = desks[new_id] = Desk(id=new_id, store=s)
            s.create_desk(new_id)
        found.seen = time.monotonic()
    st.session_state[DESK_KEY] = found.id
    if RUN_PARAM in st.query_params:  # an older address's desk id: never used, never shown on
        del st.query_params[RUN_PARAM]
    if found.store is not None and time.time() - found.seen_written > SEEN_WRITE_S:
        found.seen_written = time.time()
        found.store.save_desk(found.id, seen=found.seen_written)
    return found


def _forget_old(desks: dict) -> None:
    """Desks idle in memory leave it (they stay on disk until their time-to-live)."""
    now = time.monotonic()
    idle = sorted((d.seen, k) for k, d in desks.items() if not any(t.job.snapshot().active for t in d.jobs.values()))
    for seen, key in idle:
        if now - seen > MEMORY_IDLE_S or len(desks) >= MAX_DESKS:
            gone = desks.pop(key, None)
            if gone is not None:
                gone.flush()


def keep_desk_in_browser() -> None:
    """Have this browser keep the desk's id (a cookie of this site, for the desk's time-to-live), so a
    reload and a second tab find the desk. The server reads it when a tab connects; while the cookie
    it read is not this desk's, the page sets it (once per page load: the script is inert afterwards)."""
    d = desk()
    if _browser_desk_id() == d.id:
        return
    name, max_age = cookie_name(), int(desk_ttl_s())
    st.html(f"<script>document.cookie = '{name}={d.id}; path=/; max-age={max_age}; SameSite=Strict'"
            "+ (location.protocol === 'https:' ? '; Secure' : '');</script>", unsafe_allow_javascript=True)


def _registry() -> dict[str, ModelEntry]:
    """The desk's models, also at st.session_state[REGISTRY_KEY] (the same dict) for the pages."""
    d = desk()
    registry = st.session_state.get(REGISTRY_KEY)
    if registry is None:
        with d.lock:
            if not d.models:
                tokenizer, meta = bundled_description(DEFAULT_MODEL)
                entry = ModelEntry(BUNDLED_NAME, None, tokenizer, meta, "bundled", shared=True)  # its weights load on first use
                d.models[entry.name] = entry
                d.current = entry.name
                if d.store is not None:
                    d.store.add_model(d.id, entry.name, entry.hash, _bundled_row_meta(meta), "bundled")
                    d.store.save_desk(d.id, current=d.current)
        registry = st.session_state[REGISTRY_KEY] = d.models
    elif registry is not d.models:
        d.models = registry  # the session's registry was replaced (a test injects models so): the desk follows
    if st.session_state.get(CURRENT_KEY) is None:
        st.session_state[CURRENT_KEY] = d.current
    return registry


def _bundled_row_meta(meta: dict) -> dict:
    return {"asset": meta.get("asset", DEFAULT_MODEL), "lineage": meta["lineage"], "record": {}}


def _links() -> dict[str, ModelEntry]:
    return st.session_state.setdefault(LINKS_KEY, {})


def models() -> dict[str, ModelEntry]:
    """The desk's models, and those this session opened through a share link (read-only)."""
    return {**_registry(), **_links()}


def current() -> ModelEntry:
    registry = _registry()
    name = st.session_state.get(CURRENT_KEY)
    links = _links()
    if name in links:
        return links[name]
    if name not in registry:
        name = st.session_state[CURRENT_KEY] = next(iter(registry))
    d = desk()
    if d.current != name:
        d.current = name  # a reload or a new tab starts from this session's choice
        if d.store is not None:
            d.store.save_desk(d.id, current=name)
    return registry[name]


def set_current(name: str) -> None:
    links = _links()
    if name in links:
        st.session_state[CURRENT_KEY] = name
        st.query_params[MODEL_PARAM] = links[name].hash
        return
    if name in _registry():
        st.session_state[CURRENT_KEY] = desk().current = name
        d = desk()
        if d.store is not None:
            d.store.save_desk(d.id, current=name)
        if MODEL_PARAM in st.query_params:
            del st.query_params[MODEL_PARAM]  # the view is on one of the user's own models now


def notify(level: str, text: str) -> None:
    """A notice for the sidebar ("success", "info", "warning" or "error"), shown until dismissed."""
    desk().messages.append((level, text))


_message = notify


def messages() -> list[tuple[int, str, str]]:
    """(index, level, text) of the desk's notices (a model not kept, a run cut by a restart)."""
    return [(i, level, text) for i, (level, text) in enumerate(desk().messages)]


def dismiss(index: int) -> None:
    d = desk()
    if 0 <= index < len(d.messages):
        d.messages.pop(index)


def add_model(name: str, model, tokenizer, meta: dict | None = None, source: str = "trained", make_current: bool = True) -> str | None:
    """Register a model under a unique name (a suffix is added if the name is taken) and keep it on disk;
    returns the name, or None when a quota refused it (the sidebar then says why).

    A model whose weights the list already holds (the same content hash: a second fine-tuning with the
    same settings gives the very same model) is not listed twice: the list keeps the one it has, a
    notice in the sidebar says so and names it, and its name is returned (made current if asked)."""
    from llm_core.model.checkpoint import describe_checkpoint

    registry = _registry()
    d = desk()
    meta = {**describe_checkpoint(model, tokenizer, (meta or {}).get("record")), **(meta or {})}  # config and tokenizer, for loading it back
    with d.lock:
        unique, i = name, 2
        while unique in registry:
            unique, i = f"{name} ({i})", i + 1
        lin = meta.get("lineage") or lineage.from_record(model, tokenizer, meta, STAGE_OF_SOURCE.get(source, "unknown"), name=unique)
        twin = _same_weights(registry, lin["hash"])
        if twin is not None:
            d.messages.append(("info", _same_weights_notice(name, twin.name, source)))
            if make_current:
                st.session_state[CURRENT_KEY] = d.current = twin.name
                if d.store is not None:
                    d.store.save_desk(d.id, current=twin.name)
            return twin.name
        meta["lineage"] = {**lin, "name": lin.get("name") or unique}
        key = None
        if d.store is not None:
            try:
                d.store.add_model(d.id, unique, meta["lineage"]["hash"], meta, source, model, tokenizer)
                key = meta["lineage"]["hash"]
            except QuotaError as exc:
                d.messages.append(("error", f"**{unique}** was not kept: {exc}"))
                return None
        if key is not None:
            model_cache().put(key, model)
            entry = ModelEntry(unique, None, tokenizer, meta, source, key=key, store=d.store)
        else:
            entry = ModelEntry(unique, model, tokenizer, meta, source)
        registry[unique] = entry
        if make_current:
            st.session_state[CURRENT_KEY] = d.current = unique
            if d.store is not None:
                d.store.save_desk(d.id, current=unique)
    return unique


def _same_weights(registry: dict[str, ModelEntry], model_hash: str) -> ModelEntry | None:
    """The desk's model with these weights (by content hash), if it has one; read from what each entry
    was listed with, so no weights are loaded. A model opened through a link is not on the desk."""
    for entry in registry.values():
        if model_hash in (entry.key, (entry.meta.get("lineage") or {}).get("hash")):
            return entry
    return None


def _same_weights_notice(name: str, twin: str, source: str) -> str:
    """What the sidebar says when a new model's weights are those of a model already on the list."""
    new = "Your new model" if name == twin else f"Your new model **{name}**"
    why = (" Training again from the same model, on the same data with the same settings, gives the very same weights."
           if source in ("trained", "fine-tuned") else "")
    return (f"{new} has exactly the same weights as **{twin}**, already on your list, so it was not added a second time: "
            f"**{twin}** is that model.{why}")


def remove_model(name: str) -> None:
    """Take a model off the desk (and off the disk, unless a share link still keeps it); not the bundled one."""
    registry, d = _registry(), desk()
    entry = registry.get(name)
    if entry is None or entry.source == "bundled":
        return
    with d.lock:
        registry.pop(name, None)
        if d.store is not None:
            d.store.remove_model(d.id, name)
        if st.session_state.get(CURRENT_KEY) == name or d.current == name:
            set_current(next(iter(registry)))


def editable_copy(entry: ModelEntry):
    """A private deep copy of an entry's model, safe to train without touching shared objects."""
    return copy.deepcopy(entry.model)


def entry_lineage(entry: ModelEntry) -> dict:
    """The entry's lineage, to hand to a stage as its parent."""
    return entry.lineage


# ---------------------------------------------------------------- runs cut by a restart


def run_started(key: str, label: str, page: str | None = None) -> None:
    d = desk()
    if d.store is not None:
        d.store.run_started(d.id, key, label, page)


def run_ended(key: str) -> None:
    d = desk()
    if d.store is not None:
        d.store.run_ended(d.id, key)


def cut_runs() -> list[RunRow]:
    return list(desk().cut)


def dismiss_cut(key: str) -> None:
    d = desk()
    d.cut = [r for r in d.cut if r.key != key]
    run_ended(key)


# ---------------------------------------------------------------- share links


def share(entry: ModelEntry) -> str:
    """Keep a read-only copy of the model for links (the bundled model needs none); returns its hash."""
    s, h = store(), entry.hash
    if entry.source != "bundled":
        s.keep_weights(h, entry.meta, entry.model, entry.tokenizer)  # kept already, unless the model never was (a test's)
    s.share(h, entry.name, {k: entry.meta[k] for k in ("record", "lineage", "tokenizer", "model_config") if k in entry.meta}, entry.source)
    return h


def find_by_hash(model_hash: str) -> ModelEntry | None:
    """This session's model with this content hash: on the desk, the bundled one, or one a link opened."""
    for entry in models().values():
        if entry.key == model_hash or (entry.meta.get("lineage") or {}).get("hash") == model_hash:
            return entry
    return None


def open_shared(model_hash: str) -> ModelEntry | None:
    """The model a link names: this session's own if it has it, else the server's shared copy (read-only,
    listed for this session only); None when the server keeps it no more."""
    found = find_by_hash(model_hash)
    if found is not None:
        return found
    s = store()
    shared = s.shared(model_hash)
    if shared is None or not s.has_weights(model_hash):
        return None
    name, source, meta = shared
    label = f"{name} (shared link)"
    entry = ModelEntry(label, None, tokenizer_from_dict(meta["tokenizer"]), meta, "shared link", shared=True, key=model_hash, store=s)
    _links()[label] = entry
    return entry


def open_link() -> None:
    """A share link's model (`?model=`) or a teacher's lab file (`?lab=`): followed once per session and address."""
    wanted = st.query_params.get(MODEL_PARAM)
    if wanted and st.session_state.get("lab_link_opened") != wanted:
        st.session_state["lab_link_opened"] = wanted
        entry = open_shared(wanted)
        if entry is None:
            _message("warning", "The model this link was made with is no longer kept on this server (it keeps the most recently shared "
                                "models): you see the view on your own current model.")
            del st.query_params[MODEL_PARAM]
        else:
            st.session_state[CURRENT_KEY] = entry.name
    lab = st.query_params.get(LAB_PARAM)
    if lab and st.session_state.get("lab_file_opened") != lab:
        st.session_state["lab_file_opened"] = lab
        _open_teacher_lab(lab)


def keep_link_model(name: str) -> str | None:
    """Copy a model opened through a link into the user's own list (it becomes current)."""
    entry = _links().get(name)
    if entry is None:
        return None
    base = name.removesuffix(" (shared link)")
    kept = add_model(base, entry.model, entry.tokenizer, copy.deepcopy(entry.meta), source="shared link copy")
    if kept is not None:
        _links().pop(name, None)
        set_current(kept)
    return kept


VIEW_KEY = "lab_view_models"


def set_view_models(page: str, entries: list[ModelEntry]) -> None:
    """The models a chapter's view shows (Compare: two), for its share link; other chapters show the current one."""
    st.session_state[VIEW_KEY] = (page.strip("/"), [e.name for e in entries])


def view_models(page: str) -> list[ModelEntry]:
    kept = st.session_state.get(VIEW_KEY)
    entries = models()
    if kept and kept[0] == page.strip("/") and all(n in entries for n in kept[1]):
        return [entries[n] for n in kept[1]]
    return [current()]


def share_link(page_path: str, entries: list[ModelEntry] | None = None) -> str:
    """The address of this view for someone else: its settings, and the model by content hash; never the desk id."""
    from urllib.parse import urlencode, urlsplit

    entry = (entries or [current()])[0]
    for e in entries or [entry]:
        share(e)
    params = {k: v for k, v in st.query_params.to_dict().items() if k not in (RUN_PARAM, MODEL_PARAM, LAB_PARAM)}
    params[MODEL_PARAM] = entry.hash
    here = urlsplit(st.context.url or "http://localhost:8501/")
    return f"{here.scheme}://{here.netloc}/{page_path.strip('/')}?{urlencode(params)}"


# ---------------------------------------------------------------- the lab file


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # desk data taken from the file (keys the desk did not have)
    course: tuple[int, int, int] = (0, 0, 0)  # course progress from the file: (predictions added, chapters added, predictions both had: the desk's kept)


COURSE_KEY = "course"  # lab_ui.course.PROGRESS_KEY: {"visited": {chapter: time}, "predictions": {key: {...}}}, merged on import
NOT_IN_LAB_FILE = ("assistant",)  # lab_ui.assistant_jobs.DESK_KEY: the Fine-tune chapter's finished stages, objects held in memory


def lab_data(data: dict) -> dict:
    """The page data a lab file carries: the JSON-able part, less what lives in memory only (its JSON-able crumbs would
    come back as a broken half of the Fine-tune chapter's stages)."""
    return labfile.json_only({k: v for k, v in list(data.items()) if k not in NOT_IN_LAB_FILE})


def export_lab(d: Desk | None = None) -> bytes:
    """The desk as a lab file: every model with its lineage, the current model, the JSON-able page data.
    Given the desk, it needs no session (a download button runs it in a thread of its own)."""
    d = d or desk()
    with d.lock:
        entries = list(d.models.values())
    models_ = [(e.name, e.source, e.model, e.tokenizer, {**e.meta, "lineage": e.lineage}) for e in entries]
    return labfile.write_lab(models_, d.current, lab_data(d.data))


def merge_course(mine, theirs) -> tuple[int, int, int] | None:
    """Add a lab file's course progress (`theirs`) to the desk's (`mine`, changed in place): the chapters visited
    are the union; a prediction both hold stays the desk's own, the file's others are added. Returns (predictions
    added, chapters added, predictions both had), or None when either side is not progress as `lab_ui.course` keeps it.

    >>> mine = {"visited": {"overview": 1.0}, "predictions": {"p1": {"guess": "a"}}}
    >>> merge_course(mine, {"visited": {"overview": 5.0, "attention": 6.0, "tokens": 7.0}, "predictions": {"p1": {"guess": "b"}, "p2": {"guess": "c"}}})
    (1, 2, 1)
    >>> mine == {"visited": {"overview": 1.0, "attention": 6.0, "tokens": 7.0}, "predictions": {"p1": {"guess": "a"}, "p2": {"guess": "c"}}}
    True
    """
    parts = ("predictions", "visited")
    if not all(isinstance(x, dict) and all(isinstance(x.get(k, {}), dict) for k in parts) for x in (mine, theirs)):
        return None
    counts = []
    for part in parts:
        have, new = mine.setdefault(part, {}), theirs.get(part, {})
        fresh = {k: v for k, v in new.items() if k not in have}
        have.update(fresh)
        counts.append(len(fresh))
    both = sum(1 for k in theirs.get("predictions", {}) if k in mine["predictions"]) - counts[0]
    return counts[0], counts[1], both


def import_lab(raw: bytes) -> ImportReport:
    """Add a lab file's models (those not already here) and the page data this desk lacks; raises
    labfile.LabFileError when the whole file is refused."""
    lab = labfile.read_lab(raw, device=device())
    report = ImportReport(refused=list(lab.refused))
    named = {}
    for m in lab.models:
        have = find_by_hash(m.hash)
        if have is not None and have.source != "shared link":
            report.already.append(m.name if have.name == m.name else f"{m.name} (as {have.name})")
            named[m.name] = have.name
            continue
        added = add_model(m.name, m.loaded.model, m.loaded.tokenizer, m.meta, source=m.source if m.source in STAGE_OF_SOURCE else "imported", make_current=False)
        if added is None:
            report.refused.append((m.name, "your desk has no room for it (see the notice in the sidebar)"))
        else:
            report.added.append(added)
            named[m.name] = added
    d = desk()
    for key, value in lab.desk_data.items():
        if key in NOT_IN_LAB_FILE:  # an older lab file's crumbs of what lives in memory only
            continue
        if key not in d.data:
            d.data[key] = value
            report.restored.append(key)
        elif key == COURSE_KEY:  # every page visit makes the desk's own: merged, not skipped
            report.course = merge_course(d.data[key], value) or report.course
    if COURSE_KEY in report.restored and (counts := merge_course({}, d.data[COURSE_KEY])):
        report.restored.remove(COURSE_KEY)  # said as what it added
        report.course = counts
    d.flush()
    if lab.current in named and report.added:
        set_current(named[lab.current])
    return report


def course_said(report: ImportReport) -> str | None:
    """The notice's words for the course progress an import merged, or None when the file held none.

    >>> course_said(ImportReport(course=(3, 5, 1)))
    'Course progress: 3 predictions and 5 chapters visited added from the file; 1 prediction you had also made here kept as yours.'
    >>> course_said(ImportReport(course=(0, 0, 2)))
    'Course progress: nothing new in the file; 2 predictions you had also made here kept as yours.'
    """
    from lab_ui.widgets import plural

    predictions, chapters, both = report.course
    if not (predictions or chapters or both):
        return None
    added = " and ".join(x for x in (predictions and plural(predictions, "prediction"), chapters and plural(chapters, "chapter") + " visited") if x)
    said = f"Course progress: {added} added from the file" if added else "Course progress: nothing new in the file"
    return said + (f"; {plural(both, 'prediction')} you had also made here kept as yours." if both else ".")


def labs_dir() -> Path | None:
    """LLM_LAB_LABS_DIR: a folder of lab files the server offers by name (`?lab=NAME`); unset: none."""
    folder = os.environ.get("LLM_LAB_LABS_DIR")
    return Path(folder).expanduser() if folder else None


def _open_teacher_lab(name: str) -> None:
    folder = labs_dir()
    if folder is None:
        _message("warning", "This link names a lab file, but this server offers none (LLM_LAB_LABS_DIR is not set).")
        return
    stem = name.removesuffix(labfile.SUFFIX)
    path = folder / f"{stem}{labfile.SUFFIX}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", stem) or not path.is_file():
        _message("warning", f"This server offers no lab file named {stem[:100]!r}.")
        return
    try:
        report = import_lab(path.read_bytes())
    except (labfile.LabFileError, OSError) as exc:
        _message("error", f"The lab file {stem} was refused: {exc}")
        return
    from lab_ui.widgets import plural

    said = f"Opened the lab file **{stem}**: " + (f"{plural(len(report.added), 'model')} added" if report.added else "no new models")
    said += f", {len(report.already)} already on your desk" if report.already else ""
    said += "".join(f"; refused {what}: {why}" for what, why in report.refused)
    course = course_said(report)
    _message("info" if not report.refused else "warning", said + "." + (f" {course}" if course else ""))
