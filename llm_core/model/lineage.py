"""A model's lineage: which model it started from, which stage made it, on which data and settings.

What it is: `content_hash(model, tokenizer)` (sha256 of the config, the tokenizer and every tensor
in fp32, so the same weights have the same hash wherever they are), `make(...)` (the JSON-able
lineage of a newly made model: its hash, its parent's hash, the stage, the data with its hash, the
settings, steps, time, FLOPs and final losses, and a short summary of every ancestor, so the
history travels with the model even where its ancestors do not), `from_record(...)` (a lineage for
a model that came without one: the bundled model, an upload, a command-line checkpoint) and
`validate(...)` (a lineage read from a user's file, checked field by field). The checkpoint's JSON
keeps it under "lineage" (`llm_core.model.checkpoint`).
What it is not: storage (`llm_core.lab`), or a record of the training curve (that is the checkpoint's
"record").

    >>> import torch
    >>> from llm_core.model.config import ModelConfig
    >>> from llm_core.model.gpt import GPT
    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("abc")
    >>> torch.manual_seed(0) and None
    >>> base = GPT(ModelConfig(vocab_size=3, n_layer=1, n_head=1, n_embd=8, block_size=8))
    >>> root = make(base, tok, "pre-training", name="base", steps=10, data={"corpus": "abc"})
    >>> child = make(base, tok, "SFT", parent=root, name="base · SFT")
    >>> child["parent"] == root["hash"], [a["name"] for a in child["ancestors"]], len(root["hash"])
    (True, ['base'], 64)
"""

from __future__ import annotations

import hashlib
import json
import re
import time

STAGES = ("pre-training", "SFT", "reward model", "RLHF", "DPO", "retrieval fine-tune", "upload", "bundled", "unknown")
HASH_RE = re.compile(r"[0-9a-f]{64}")
MAX_ANCESTORS = 64
MAX_LINEAGE_CHARS = 200_000  # a lineage is a few kB; anything far larger is not one of ours


class LineageError(ValueError):
    """A lineage that cannot be trusted; the message says which field is wrong."""


def content_hash(model, tokenizer) -> str:
    """sha256 (hex) of what the model computes: its config, its tokenizer and every tensor in fp32.

    Names, records and lineage are left out, so a copy, a download and an import of the same
    weights all have the same hash."""
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    h.update(json.dumps(config.to_dict() if config is not None else None, sort_keys=True).encode())
    h.update(json.dumps(tokenizer.to_dict() if tokenizer is not None else None, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().float().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def data_hash(obj) -> str:
    """sha256 (hex) of a corpus text or of any JSON-able data (instruction pairs, rankings).

    >>> data_hash("abc")[:12], data_hash({"b": 1, "a": 2}) == data_hash({"a": 2, "b": 1})
    ('ba7816bf8f01', True)
    """
    raw = obj.encode("utf-8") if isinstance(obj, str) else json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def summary(lineage: dict) -> dict:
    """What an ancestor keeps of a lineage: enough to draw it on a timeline."""
    return {k: lineage.get(k) for k in ("hash", "stage", "name", "steps", "created")}


def _finite(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return round(value, 4) if value == value and abs(value) != float("inf") else None


def make(model, tokenizer, stage: str, *, parent: dict | None = None, name: str | None = None, data: dict | None = None,
         settings: dict | None = None, steps: int | None = None, time_s: float | None = None, flops: float | None = None,
         losses: dict | None = None, model_hash: str | None = None) -> dict:
    """The lineage of a model just made by `stage` from `parent` (a lineage dict, or None for a root)."""
    if stage not in STAGES:
        raise LineageError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}.")
    ancestors = []
    if parent:
        ancestors = [*list(parent.get("ancestors") or []), summary(parent)][-MAX_ANCESTORS:]
    return {
        "hash": model_hash or content_hash(model, tokenizer),
        "parent": parent.get("hash") if parent else None,
        "stage": stage,
        "name": name,
        "data": dict(data or {}),
        "settings": json.loads(json.dumps(settings or {}, default=str)),
        "steps": None if steps is None else int(steps),
        "time_s": _finite(time_s),
        "flops": None if flops is None else float(f"{float(flops):.4g}"),
        "losses": {k: _finite(v) for k, v in (losses or {}).items()},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "ancestors": ancestors,
    }


def of_model(model, tokenizer, meta: dict | None = None, name: str | None = None) -> dict:
    """A model's lineage: the one in its description when it is valid and its hash matches the
    weights, else a fresh root made from its training record (stage "unknown")."""
    found = (meta or {}).get("lineage")
    if isinstance(found, dict):
        try:
            found = validate(found)
            if found["hash"] == content_hash(model, tokenizer):
                return found
        except LineageError:
            pass
    return from_record(model, tokenizer, meta, "unknown", name=name)


def from_record(model, tokenizer, meta: dict | None, stage: str, name: str | None = None, parent: dict | None = None) -> dict:
    """A lineage for a model that came without one, from what its training record says."""
    record = (meta or {}).get("record") or {}
    data = {k: record[k] for k in ("corpus", "corpus_chars", "tokens_in_corpus", "train_pairs", "held_out_pairs", "pairs") if k in record}
    flops = None
    config = getattr(model, "config", None)
    if record.get("tokens_seen") and config is not None:
        flops = 6 * model.num_params() * int(record["tokens_seen"])  # 6 N D (Kaplan et al. 2020)
    return make(model, tokenizer, stage, parent=parent, name=name or record.get("base_model"), data=data,
                settings=record.get("train_config") or {}, steps=record.get("steps"), time_s=record.get("elapsed_s"),
                flops=flops, losses={"train": record.get("train_loss"), "val": record.get("val_loss")})


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise LineageError(message)


def _check_summary(entry, where: str) -> None:
    _check(isinstance(entry, dict), f"{where} is not a JSON object.")
    _check(isinstance(entry.get("hash"), str) and HASH_RE.fullmatch(entry["hash"]) is not None, f"{where} has no valid hash.")
    _check(entry.get("stage") in STAGES, f"{where} names an unknown stage {entry.get('stage')!r}.")
    _check(entry.get("name") is None or (isinstance(entry["name"], str) and len(entry["name"]) <= 300), f"{where} has an invalid name.")


def validate(lineage) -> dict:
    """A lineage from a file, checked: raises LineageError saying what is wrong, else returns it.

    >>> validate({"hash": "0" * 64, "stage": "SFT"})["parent"] is None
    True
    >>> validate({"hash": "xyz", "stage": "SFT"})
    Traceback (most recent call last):
    ...
    llm_core.model.lineage.LineageError: the lineage has no valid hash.
    """
    _check(isinstance(lineage, dict), "the lineage is not a JSON object.")
    try:
        size = len(json.dumps(lineage))
    except (TypeError, ValueError):
        raise LineageError("the lineage is not plain JSON.") from None
    _check(size <= MAX_LINEAGE_CHARS, f"the lineage is {size:,} characters long; a real one is a few thousand.")
    _check_summary(lineage, "the lineage")
    parent = lineage.get("parent")
    _check(parent is None or (isinstance(parent, str) and HASH_RE.fullmatch(parent) is not None), "the lineage's parent is not a valid hash.")
    for key in ("data", "settings", "losses"):
        _check(isinstance(lineage.get(key, {}), dict), f"the lineage's {key} is not a JSON object.")
    for key in ("steps", "time_s", "flops"):
        value = lineage.get(key)
        _check(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0), f"the lineage's {key} is not a number.")
    ancestors = lineage.get("ancestors", [])
    _check(isinstance(ancestors, list) and len(ancestors) <= MAX_ANCESTORS, f"the lineage's ancestors are not a list of at most {MAX_ANCESTORS}.")
    for i, entry in enumerate(ancestors):
        _check_summary(entry, f"ancestor {i + 1} of the lineage")
    if ancestors:
        _check(parent == ancestors[-1]["hash"], "the lineage's parent is not its last ancestor.")
    return {"parent": None, "data": {}, "settings": {}, "losses": {}, "ancestors": [], "name": None, "steps": None,
            "time_s": None, "flops": None, "created": None, **lineage}


def chain(lineage: dict | None) -> list[dict]:
    """The model's line from its root to itself, as summaries (oldest first).

    >>> chain({"hash": "b" * 64, "stage": "SFT", "name": "x", "ancestors": [{"hash": "a" * 64, "stage": "bundled", "name": "y"}]})[0]["name"]
    'y'
    """
    if not lineage:
        return []
    return [*list(lineage.get("ancestors") or []), summary(lineage)]


def short(model_hash: str | None) -> str:
    """The first 8 hex digits, as the pages show a hash.

    >>> short("0123456789" * 6)
    '01234567'
    """
    return (model_hash or "")[:8]
