"""Desks, models, runs and share records on disk: SQLite (WAL) for the records, safetensors for weights.

What it is: `LabStore(root)`, one data folder:

    root/lab.sqlite3                   desks, models (name, content hash, description with lineage),
                                       runs in flight, shared models, and the folder's own id
    root/weights/ab/<hash>.safetensors the weights, one file per content hash (`model.lineage`):
                                       two desks holding the same model share one file

Every write is a transaction; weights are written to a temporary file, synced and renamed before
the row that names them is committed, so a server killed with -9 at any moment leaves either the
old state or the new one. Quotas (bytes per desk, bytes in all) refuse a model with a `QuotaError`
whose message says what to do. `expire(ttl_s)` deletes desks idle past their time-to-live, and
weights no desk or share names any more. A run is written when it starts and removed when it
ends; a run still written by a server that is gone was cut (`cut_runs`).
What it is not: a cache of models in memory (`lab_ui.state` keeps the ones in use), or a
network service: several server processes may share one folder on one machine (SQLite's locks).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from llm_core.model.checkpoint import LoadedModel, _atomic_write, checkpoint_bytes, load_checkpoint_bytes
from llm_core.model.lineage import HASH_RE
from llm_core.paths import ROOT

DEFAULT_DATA_DIR = ROOT / "lab-data"
MB = 1024 * 1024
DEFAULTS = dict(desk_quota_bytes=512 * MB, total_quota_bytes=20 * 1024 * MB, max_shares=200, share_quota_bytes=2048 * MB)
WEIGHTS_GRACE_S = 600.0  # weights younger than this are never collected (a model being added right now)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS desks (id TEXT PRIMARY KEY, created REAL NOT NULL, seen REAL NOT NULL, current TEXT,
                                  data TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS models (desk_id TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, source TEXT NOT NULL,
                                   meta TEXT NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (desk_id, name));
CREATE INDEX IF NOT EXISTS models_by_hash ON models (hash);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, bytes INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (desk_id TEXT NOT NULL, key TEXT NOT NULL, label TEXT NOT NULL, page TEXT, started REAL NOT NULL,
                                 server TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (desk_id, key));
CREATE TABLE IF NOT EXISTS shares (hash TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, meta TEXT NOT NULL,
                                   bytes INTEGER NOT NULL, created REAL NOT NULL, opened REAL);
"""


class QuotaError(ValueError):
    """A model that would take a desk or the server past its bytes; the message says what to do."""


@dataclass
class ModelRow:
    desk_id: str
    name: str
    hash: str
    source: str
    meta: dict
    bytes: int
    created: float


@dataclass
class DeskRow:
    id: str
    created: float
    seen: float
    current: str | None
    data: dict
    models: list[ModelRow]


@dataclass
class RunRow:
    desk_id: str
    key: str
    label: str
    page: str | None
    started: float
    state: str  # "running" (by this server), "cut" (its server stopped while it ran)


def data_dir() -> Path:
    """The data folder: LLM_LAB_DATA_DIR, else lab-data/ beside the app."""
    return Path(os.environ.get("LLM_LAB_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()


def human(n: int) -> str:
    """Bytes for a person.

    >>> human(3_300_000), human(512 * 1024 * 1024)
    ('3.1 MB', '512 MB')
    """
    mb = n / MB
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:,.0f} MB"


def _env_bytes(name: str, default: int) -> int:
    try:
        return max(1, int(float(os.environ[name]) * MB)) if name in os.environ else default
    except ValueError:
        return default


def quotas_from_env() -> dict:
    """LLM_LAB_DESK_QUOTA_MB, LLM_LAB_TOTAL_QUOTA_MB, LLM_LAB_MAX_SHARES, LLM_LAB_SHARE_QUOTA_MB."""
    try:
        max_shares = max(1, int(os.environ.get("LLM_LAB_MAX_SHARES", DEFAULTS["max_shares"])))
    except ValueError:
        max_shares = DEFAULTS["max_shares"]
    return dict(desk_quota_bytes=_env_bytes("LLM_LAB_DESK_QUOTA_MB", DEFAULTS["desk_quota_bytes"]),
                total_quota_bytes=_env_bytes("LLM_LAB_TOTAL_QUOTA_MB", DEFAULTS["total_quota_bytes"]),
                max_shares=max_shares, share_quota_bytes=_env_bytes("LLM_LAB_SHARE_QUOTA_MB", DEFAULTS["share_quota_bytes"]))


class LabStore:
    """One data folder. Thread-safe: one connection, one lock (SQLite serialises writers anyway)."""

    def __init__(self, root: Path | str | None = None, desk_quota_bytes: int = DEFAULTS["desk_quota_bytes"],
                 total_quota_bytes: int = DEFAULTS["total_quota_bytes"], max_shares: int = DEFAULTS["max_shares"],
                 share_quota_bytes: int = DEFAULTS["share_quota_bytes"]):
        self.root = Path(root) if root is not None else data_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "weights").mkdir(exist_ok=True)
        self.desk_quota_bytes, self.total_quota_bytes = desk_quota_bytes, total_quota_bytes
        self.max_shares, self.share_quota_bytes = max_shares, share_quota_bytes
        self.server_id = secrets.token_hex(8)  # this process: runs it writes are "running" until it is gone
        self.lock = threading.RLock()
        self.db = sqlite3.connect(self.root / "lab.sqlite3", check_same_thread=False, isolation_level=None, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # with WAL: safe against a killed process, fast
        self.db.executescript(SCHEMA)
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (secrets.token_hex(6),))
        self.id = self.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]

    # ------------------------------------------------------------------ plumbing

    def _tx(self):
        store = self

        class Tx:
            def __enter__(self):
                store.lock.acquire()
                store.db.execute("BEGIN IMMEDIATE")
                return store.db

            def __exit__(self, kind, exc, tb):
                try:
                    store.db.execute("ROLLBACK" if kind else "COMMIT")
                finally:
                    store.lock.release()
                return False

        return Tx()

    def _query(self, sql: str, args=()) -> list[tuple]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def weights_path(self, model_hash: str) -> Path:
        if not HASH_RE.fullmatch(model_hash or ""):
            raise ValueError("not a content hash")
        return self.root / "weights" / model_hash[:2] / f"{model_hash}.safetensors"

    # ------------------------------------------------------------------ desks

    def create_desk(self, desk_id: str, data: dict | None = None) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO desks (id, created, seen, data) VALUES (?, ?, ?, ?)", (desk_id, now, now, json.dumps(data or {})))

    def has_desk(self, desk_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM desks WHERE id=?", (desk_id,)))

    def load_desk(self, desk_id: str) -> DeskRow | None:
        rows = self._query("SELECT id, created, seen, current, data FROM desks WHERE id=?", (desk_id,))
        if not rows:
            return None
        d = rows[0]
        models = [ModelRow(*r[:4], json.loads(r[4]), r[5], r[6]) for r in self._query(
            "SELECT desk_id, name, hash, source, meta, bytes, created FROM models WHERE desk_id=? ORDER BY created, rowid", (desk_id,))]
        return DeskRow(d[0], d[1], d[2], d[3], json.loads(d[4] or "{}"), models)

    def save_desk(self, desk_id: str, current: str | None = None, data: dict | None = None, seen: float | None = None) -> None:
        """Update what is given (None leaves a field as it is)."""
        sets, args = [], []
        for column, value in (("current", current), ("data", None if data is None else json.dumps(data)), ("seen", seen)):
            if value is not None:
                sets.append(f"{column}=?")
                args.append(value)
        if sets:
            with self._tx() as db:
                db.execute(f"UPDATE desks SET {', '.join(sets)} WHERE id=?", (*args, desk_id))

    def desk_ids(self) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM desks")]

    def delete_desk(self, desk_id: str) -> None:
        with self._tx() as db:
            for table, column in (("models", "desk_id"), ("runs", "desk_id"), ("desks", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column}=?", (desk_id,))
        self.collect_weights()

    def expire(self, ttl_s: float, keep=(), now: float | None = None) -> list[str]:
        """Delete the desks nobody has opened for `ttl_s` (except those in `keep`), then unused weights."""
        cutoff = (now or time.time()) - ttl_s
        old = [r[0] for r in self._query("SELECT id FROM desks WHERE seen < ?", (cutoff,)) if r[0] not in set(keep)]
        if old:
            with self._tx() as db:
                for desk_id in old:
                    for table, column in (("models", "desk_id"), ("runs", "desk_id"), ("desks", "id")):
                        db.execute(f"DELETE FROM {table} WHERE {column}=?", (desk_id,))
            self.collect_weights(now)
        return old

    # ------------------------------------------------------------------ models

    def desk_bytes(self, desk_id: str) -> int:
        return int(self._query("SELECT COALESCE(SUM(bytes), 0) FROM models WHERE desk_id=?", (desk_id,))[0][0])

    def total_bytes(self) -> int:
        return int(self._query("SELECT COALESCE(SUM(bytes), 0) FROM blobs")[0][0])

    def has_weights(self, model_hash: str) -> bool:
        return bool(self._query("SELECT 1 FROM blobs WHERE hash=?", (model_hash,))) and self.weights_path(model_hash).exists()

    def keep_weights(self, model_hash: str, meta: dict, model=None, tokenizer=None, weights: bytes | None = None) -> int:
        """Write a model's weights once per hash (checking the server's quota); returns their bytes."""
        if self.has_weights(model_hash):
            return self.blob_bytes(model_hash)
        if weights is None:
            weights, _ = checkpoint_bytes(model, tokenizer, meta.get("record"), meta.get("lineage"))
        total = self.total_bytes()
        if total + len(weights) > self.total_quota_bytes:
            raise QuotaError(f"this server's disk space for models is full ({human(total)} of {human(self.total_quota_bytes)}): "
                             "the model was not kept. Try again later, or ask whoever runs the server.")
        _atomic_write(self.weights_path(model_hash), weights)
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?)", (model_hash, len(weights), time.time()))
        return len(weights)

    def add_model(self, desk_id: str, name: str, model_hash: str, meta: dict, source: str, model=None, tokenizer=None,
                  weights: bytes | None = None) -> ModelRow:
        """Keep a model on a desk (its weights once per hash). `model`+`tokenizer` or `weights` give the
        weights; neither is needed for a model whose weights need not be kept (the bundled one)."""
        size = 0
        if self.has_weights(model_hash):
            size = self.blob_bytes(model_hash)
        elif model is not None or weights is not None:
            if weights is None:
                weights, _ = checkpoint_bytes(model, tokenizer, meta.get("record"), meta.get("lineage"))
            size = len(weights)
        used = self.desk_bytes(desk_id)
        if size and used + size > self.desk_quota_bytes:
            raise QuotaError(f"your desk holds {human(used)} of models and this one is {human(size)}: over the {human(self.desk_quota_bytes)} "
                             "a desk may keep on this server. Remove a model you no longer need (sidebar), then try again.")
        if weights is not None:
            self.keep_weights(model_hash, meta, weights=weights)
        row = ModelRow(desk_id, name, model_hash, source, meta, size, time.time())
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (desk_id, name, model_hash, source, json.dumps(meta, default=str), size, row.created))
        return row

    def blob_bytes(self, model_hash: str) -> int:
        rows = self._query("SELECT bytes FROM blobs WHERE hash=?", (model_hash,))
        return int(rows[0][0]) if rows else 0

    def remove_model(self, desk_id: str, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM models WHERE desk_id=? AND name=?", (desk_id, name))
        self.collect_weights()

    def load_model(self, model_hash: str, meta: dict | None = None, device="cpu") -> LoadedModel:
        """The model with this hash, from its weights file; `meta` (the row's description) replaces the file's."""
        raw = self.weights_path(model_hash).read_bytes()
        loaded = load_checkpoint_bytes(raw, device=device, verify_lineage=False)  # a file this store wrote, named by its hash
        if meta is not None:
            loaded.meta = {**loaded.meta, "record": meta.get("record", {}), "lineage": meta.get("lineage")}
        return loaded

    def collect_weights(self, now: float | None = None) -> int:
        """Delete weights files no model row and no share names (older than a grace period); returns how many."""
        cutoff = (now or time.time()) - WEIGHTS_GRACE_S
        with self._tx() as db:
            unused = [r[0] for r in db.execute(
                "SELECT hash FROM blobs WHERE created < ? AND hash NOT IN (SELECT hash FROM models) AND hash NOT IN (SELECT hash FROM shares)",
                (cutoff,)).fetchall()]
            for h in unused:
                db.execute("DELETE FROM blobs WHERE hash=?", (h,))
        for h in unused:
            self.weights_path(h).unlink(missing_ok=True)
        return len(unused)

    # ------------------------------------------------------------------ runs

    def run_started(self, desk_id: str, key: str, label: str, page: str | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, 'running')", (desk_id, key, label, page, time.time(), self.server_id))

    def run_ended(self, desk_id: str, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM runs WHERE desk_id=? AND key=?", (desk_id, key))

    def cut_runs(self, desk_id: str) -> list[RunRow]:
        """Runs of this desk that a server which is gone was running (marked "cut" on the way)."""
        with self._tx() as db:
            db.execute("UPDATE runs SET state='cut' WHERE desk_id=? AND server<>? AND state='running'", (desk_id, self.server_id))
            rows = db.execute("SELECT desk_id, key, label, page, started, state FROM runs WHERE desk_id=? AND state='cut' ORDER BY started",
                              (desk_id,)).fetchall()
        return [RunRow(*r) for r in rows]

    # ------------------------------------------------------------------ shares

    def share(self, model_hash: str, name: str, meta: dict, source: str) -> None:
        """Keep a read-only copy of a model for links (its weights must be stored, or it is a bundled model)."""
        size = self.blob_bytes(model_hash)
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO shares VALUES (?, ?, ?, ?, ?, ?, NULL)",
                       (model_hash, name, source, json.dumps(meta, default=str), size, time.time()))
        self.prune_shares()

    def prune_shares(self) -> list[str]:
        """Drop the oldest shares beyond the count and bytes allowed; returns the hashes dropped."""
        rows = self._query("SELECT hash, bytes FROM shares ORDER BY created DESC")
        kept, used, dropped = 0, 0, []
        for h, size in rows:
            if kept < self.max_shares and used + size <= self.share_quota_bytes:
                kept, used = kept + 1, used + size
            else:
                dropped.append(h)
        if dropped:
            with self._tx() as db:
                db.executemany("DELETE FROM shares WHERE hash=?", [(h,) for h in dropped])
            self.collect_weights()
        return dropped

    def shared(self, model_hash: str) -> tuple[str, str, dict] | None:
        """(name, source, description) of a shared model, or None when no link keeps it (any more)."""
        if not HASH_RE.fullmatch(model_hash or ""):
            return None
        rows = self._query("SELECT name, source, meta FROM shares WHERE hash=?", (model_hash,))
        if not rows:
            return None
        with self._tx() as db:
            db.execute("UPDATE shares SET opened=? WHERE hash=?", (time.time(), model_hash))
        return rows[0][0], rows[0][1], json.loads(rows[0][2])


_STORES: dict[tuple, LabStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(root: Path | str | None = None, **quotas) -> LabStore:
    """The store of a data folder (one per folder and process), with quotas from the environment."""
    path = Path(root) if root is not None else data_dir()
    settings = {**quotas_from_env(), **quotas}
    key = (str(path.resolve()), tuple(sorted(settings.items())))
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = LabStore(path, **settings)
        return _STORES[key]
