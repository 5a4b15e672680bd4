"""The lab file: a learner's whole desk as one zip of safetensors + JSON, and its strict reader.

What it is: `write_lab(models, current, desk_data)` makes the file:

    lab.json                           {"format": "llm-lab-lab", "version": 1, "current": NAME,
                                        "files": [{"file", "bytes"}] (one per zip entry of weights, with its size),
                                        "models": [{"name", "source", "hash", "file" (its entry), "bytes" (that entry's),
                                                    "description": the checkpoint's JSON with its lineage}],
                                        "desk_data": the Training settings, the course progress (predictions), ...}
    models/<content hash>.safetensors  each distinct model's weights, once (the first model's description also in the header)

Models with the same weights (the same content hash: a second fine-tuning with the same settings gives
the very same model) share one entry; each keeps its own name, record and lineage in lab.json.

`read_lab(raw)` checks everything before anything is used: the file's size (an empty file is named as
such), that it is a zip (a PNG or a pickle is named as such), every member's name (only lab.json and
models/<hash>.safetensors: no pickle, no path outside the archive), sizes before decompressing,
each member's CRC, lab.json's format and fields, each entry's size against lab.json's (files written
before "files" existed gave a size per model, a few bytes apart for models sharing an entry: any of
them is accepted), each entry's weights as a checkpoint (names, shapes, finite values;
`llm_core.model.checkpoint`) and its content hash against the hash the file declares and each model's
lineage's. A whole-file problem raises `LabFileError`, its message in plain words for the learner
(what a lab file is, what went wrong, what to do); a model that fails is left out and listed in
`LabFile.refused` with the reason, and the others still come back.
What it is not: pickle, ever; or a backup of jobs in flight (a run is not a file).
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import zipfile
from dataclasses import dataclass, field

from llm_core.model.checkpoint import MAX_CHECKPOINT_BYTES, CheckpointError, LoadedModel, checkpoint_bytes, describe_checkpoint, load_checkpoint_bytes
from llm_core.model.lineage import HASH_RE, LineageError, content_hash, validate

FORMAT = "llm-lab-lab"
VERSION = 1
LAB_JSON = "lab.json"
SUFFIX = ".llmlab"
MAX_LAB_BYTES = 1024 * 1024 * 1024
MAX_MODELS = 100
MAX_LAB_JSON_BYTES = 16 * 1024 * 1024
MEMBER_RE = re.compile(r"models/([0-9a-f]{64})\.safetensors")
MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"%PDF": "a PDF document",
         b"\x80\x02": "a Python pickle", b"\x80\x03": "a Python pickle", b"\x80\x04": "a Python pickle", b"\x80\x05": "a Python pickle",
         b"\x1f\x8b": "a gzip file"}


class LabFileError(ValueError):
    """A file that is not a usable lab file; the message says why, for the person who gave it."""


@dataclass
class LabModel:
    name: str
    source: str
    hash: str
    loaded: LoadedModel

    @property
    def meta(self) -> dict:
        return self.loaded.meta


@dataclass
class LabFile:
    models: list[LabModel]
    current: str | None
    desk_data: dict
    created: str | None
    refused: list[tuple[str, str]] = field(default_factory=list)  # (what, why)


def what_it_is(raw: bytes) -> str | None:
    """The kind of a file that is not a zip, from its first bytes, if known.

    >>> what_it_is(b"\\x89PNG\\r\\n"), what_it_is(b"PK\\x03\\x04"), what_it_is(b"\\x80\\x04\\x95")
    ('a PNG image', None, 'a Python pickle')
    """
    for magic, kind in MAGIC.items():
        if raw.startswith(magic):
            return kind
    return None


def write_lab(models: list[tuple[str, str, object, object, dict]], current: str | None = None, desk_data: dict | None = None) -> bytes:
    """The lab file's bytes. `models`: (name, source, model, tokenizer, description) each; the
    description's record and lineage go with the weights.

    Models with the same weights (the same content hash: a learner who fine-tuned twice with the same
    settings got the very same model under a second name) share one zip entry, written once: lab.json's
    "files" gives each entry's size, and each model's record points at its entry (`file`, with that
    entry's `bytes`). Each model keeps its own name, record and lineage in lab.json."""
    entries, blobs = [], {}
    for name, source, model, tokenizer, meta in models:
        meta = meta or {}
        lineage = meta.get("lineage") or None
        model_hash = lineage["hash"] if lineage else content_hash(model, tokenizer)
        member = f"models/{model_hash}.safetensors"
        if member not in blobs:  # the first model's copy: copies of the same weights differ only in the header's name and record
            blobs[member] = checkpoint_bytes(model, tokenizer, meta.get("record"), lineage)[0]
        description = json.loads(json.dumps(describe_checkpoint(model, tokenizer, meta.get("record"), lineage), ensure_ascii=False))
        entries.append(dict(name=name, source=source, hash=model_hash, file=member, bytes=len(blobs[member]), description=description))
    manifest = dict(format=FORMAT, version=VERSION, app="LLM Lab", created=time.strftime("%Y-%m-%d %H:%M:%S"), current=current,
                    files=[dict(file=member, bytes=len(weights)) for member, weights in blobs.items()],
                    models=entries, desk_data=json_only(desk_data or {}))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:  # weights hardly compress; storing is fast
        zf.writestr(LAB_JSON, json.dumps(manifest, indent=1, ensure_ascii=False))
        for member, weights in blobs.items():
            zf.writestr(member, weights)
    return out.getvalue()


def json_only(data: dict, max_text: int = 1_000_000) -> dict:
    """What of a dict of page data survives JSON (settings, course progress; not jobs, models or texts
    over `max_text` characters, such as a pasted corpus): unusable entries are left out one by one.

    >>> json_only({"a": 1, "b": object(), "c": {"d": [1, 2], "e": b"x", "f": "y" * 5}}, max_text=4)
    {'a': 1, 'c': {'d': [1, 2]}}
    """
    kept = _jsonable(data, max_text)
    return kept if isinstance(kept, dict) else {}


_SKIP = object()


def _jsonable(value, max_text: int):
    if isinstance(value, dict):
        items = ((str(k), _jsonable(v, max_text)) for k, v in list(value.items()))
        return {k: v for k, v in items if v is not _SKIP}
    if isinstance(value, (list, tuple)):
        items = [_jsonable(v, max_text) for v in value]
        return _SKIP if any(v is _SKIP for v in items) else items
    if isinstance(value, str):
        return value if len(value) <= max_text else _SKIP
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _SKIP
    return _SKIP


WHAT_IT_IS = "A lab file is the .llmlab file that \"Download your lab\" saves"


def _mb(n: int) -> str:
    """Bytes as the browser's file box counts them (1 MB = 1,048,576 bytes).

    >>> _mb(1024 * 1024 * 1024), _mb(300_000), _mb(70 * 1024 * 1024 + 1)
    ('1,024 MB', '0.3 MB', '70 MB')
    """
    mb = n / (1024 * 1024)
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:,.0f} MB"


def _refuse_whole(raw: bytes, limit: int) -> zipfile.ZipFile:
    if not raw:
        raise LabFileError(f"the file is empty (0 bytes), so there is nothing in it to open; perhaps its download did not finish. {WHAT_IT_IS}: "
                           "download your lab again, then open the new file.")
    if len(raw) > limit:
        raise LabFileError(f"the file is {_mb(len(raw))}, and a lab file opened here may be at most {_mb(limit)}. For a smaller one, "
                           "remove the models you no longer need from your list, then download your lab again.")
    if not raw.startswith(b"PK\x03\x04"):
        kind = what_it_is(raw)
        if kind == "a Python pickle":
            raise LabFileError("this is a Python pickle, not a lab file: a pickle can run code when opened, so LLM Lab never opens one.")
        raise LabFileError(f"this is {kind}, not a lab file. {WHAT_IT_IS} (a zip archive of your models and your progress); choose that file."
                           if kind else f"this is not a lab file. {WHAT_IT_IS} (a zip archive of your models and your progress), "
                           "and this file is not a zip archive at all; choose the .llmlab file you downloaded.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise LabFileError("the file is damaged or cut short (perhaps its download did not finish), so it cannot be opened. "
                           "Download your lab again, then open the new file.") from None
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(names) != len(set(names)):
        raise LabFileError("it holds two files with the same name, which LLM Lab never writes: the file was changed after it was downloaded.")
    if len(infos) > MAX_MODELS + 1:
        raise LabFileError(f"it holds {len(infos)} files; a lab file holds its list (lab.json) and the weights of at most {MAX_MODELS} models.")
    for info in infos:
        name = info.filename
        if name != LAB_JSON and not MEMBER_RE.fullmatch(name):
            hint = " (a Python pickle can run code when opened)" if name.lower().endswith((".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt")) else ""
            raise LabFileError(f"it holds a file named {name[:80]!r}, which a lab file never has{hint}, so none of it was opened. "
                               "A lab file holds only lab.json (the list of your models and your progress) and each model's weights "
                               "(models/<its hash>.safetensors). If you unpacked the file and zipped it again, or added something "
                               "to it, open the .llmlab file as it was downloaded.")
        if info.flag_bits & 0x1:
            raise LabFileError(f"{name} inside it is locked with a password, which LLM Lab never does: it cannot be opened.")
        if info.file_size > (MAX_LAB_JSON_BYTES if name == LAB_JSON else MAX_CHECKPOINT_BYTES):
            most = MAX_LAB_JSON_BYTES if name == LAB_JSON else MAX_CHECKPOINT_BYTES
            raise LabFileError(f"{name} inside it would unpack to {_mb(info.file_size)}, more than the {_mb(most)} it may hold.")
    if sum(i.file_size for i in infos) > limit:
        raise LabFileError(f"unpacked, it would take more than {_mb(limit)}, more than a lab file opened here may hold.")
    if LAB_JSON not in names:
        raise LabFileError(f"it is a zip archive, but not a lab file: it has no lab.json, the list of models every lab file holds. {WHAT_IT_IS}.")
    return zf


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise LabFileError(f"{name} is damaged ({exc}).") from None
    except Exception as exc:  # zlib.error and friends: a corrupt stream
        raise LabFileError(f"{name} is damaged ({type(exc).__name__}).") from None


def _manifest(zf: zipfile.ZipFile) -> dict:
    raw = _read_member(zf, LAB_JSON)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabFileError(f"lab.json is not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LabFileError(f"lab.json does not say format {FORMAT!r}: this is not an LLM Lab lab file.")
    if manifest.get("version") != VERSION:
        raise LabFileError(f"this lab file has version {manifest.get('version')!r}; this LLM Lab reads version {VERSION}.")
    models = manifest.get("models")
    if not isinstance(models, list) or len(models) > MAX_MODELS:
        raise LabFileError(f"lab.json's models must be a list of at most {MAX_MODELS}.")
    files = manifest.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("file"), str) and isinstance(f.get("bytes"), int)
                                              for f in files):
        raise LabFileError("lab.json's files must be a list of {file, bytes}.")
    if not isinstance(manifest.get("desk_data", {}), dict):
        raise LabFileError("lab.json's desk_data must be a JSON object.")
    return manifest


def _sizes(manifest: dict) -> dict[str, set]:
    """Each zip entry's size as lab.json gives it: from its "files" (one size per entry), or, in a file without
    them (LLM Lab before 6 Dec 2026), the sizes its models give: those versions wrote one size per model, so
    models sharing one entry gave sizes a few bytes apart (each copy's header holds the model's name)."""
    sizes: dict[str, set] = {}
    for f in manifest.get("files") or []:
        sizes.setdefault(f["file"], set()).add(f["bytes"])
    if "files" not in manifest:
        for entry in manifest["models"]:
            if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                sizes.setdefault(entry["file"], set()).add(entry.get("bytes"))
    return sizes


def _weights(zf: zipfile.ZipFile, member: str, sizes: set, description: dict, device) -> LoadedModel:
    """One zip entry's weights, checked: its size against lab.json's, pickle never, then as a checkpoint."""
    if member not in zf.namelist():
        raise LabFileError(f"its weights ({member}) are missing from the archive")
    weights = _read_member(zf, member)
    if what_it_is(weights) == "a Python pickle":
        raise LabFileError("its weights are a Python pickle, not safetensors: a pickle can run code when opened, so it is never opened")
    if len(weights) not in sizes:
        said = " or ".join(f"{n:,}" if isinstance(n, int) else repr(n) for n in sorted(sizes, key=str)) or "nothing"
        raise LabFileError(f"its weights file holds {len(weights):,} bytes, but lab.json says {said}: the file was changed or damaged")
    try:
        return load_checkpoint_bytes(weights, json.dumps(description), device=device)
    except CheckpointError as exc:
        raise LabFileError(str(exc).rstrip(".")) from None


def _model(zf: zipfile.ZipFile, entry, device, sizes: dict[str, set], read: dict) -> LabModel:
    """A model of lab.json, checked; `read` keeps each zip entry's outcome, for models that share it."""
    if not isinstance(entry, dict):
        raise LabFileError("its entry in lab.json is not a JSON object")
    name, source, model_hash, member = entry.get("name"), entry.get("source", "imported"), entry.get("hash"), entry.get("file")
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
        raise LabFileError("its name is missing, too long or not printable text")
    if not isinstance(source, str) or len(source) > 40:
        raise LabFileError("its source is not a short text")
    if not isinstance(model_hash, str) or not HASH_RE.fullmatch(model_hash):
        raise LabFileError("its hash is not a sha256 in hex")
    if member != f"models/{model_hash}.safetensors":
        raise LabFileError("its weights file is not named by its hash")
    description = entry.get("description")
    if not isinstance(description, dict):
        raise LabFileError("its description is missing")
    if member not in read:
        try:
            loaded = _weights(zf, member, sizes.get(member, set()), description, device)
            actual = content_hash(loaded.model, loaded.tokenizer)
            if actual != model_hash:
                raise LabFileError(f"its weights' hash is {actual[:8]}…, not the {model_hash[:8]}… lab.json declares: the file was changed or damaged")
            read[member] = loaded
        except LabFileError as exc:
            read[member] = exc
    if isinstance(read[member], LabFileError):
        raise read[member]
    loaded = read[member]
    # lab.json's description is the one the learner had (its name, record and lineage); the header's (the same
    # when written by us, or another model's with the same weights) gives the model.
    meta = {**loaded.meta, "record": description.get("record", loaded.meta.get("record", {}))}
    if description.get("lineage") is not None:
        try:
            meta["lineage"] = validate(description["lineage"])
        except LineageError as exc:
            raise LabFileError(f"its lineage in lab.json is not usable: {str(exc).rstrip('.')}") from None
    lineage = meta.get("lineage")
    if lineage is not None and lineage.get("hash") != model_hash:
        raise LabFileError("its lineage describes other weights")
    return LabModel(name.strip(), source, model_hash, LoadedModel(loaded.model, loaded.tokenizer, meta))


def read_lab(raw: bytes, device="cpu", limit: int = MAX_LAB_BYTES) -> LabFile:
    """Check and read a lab file (see the module's docstring); raises LabFileError for the whole file."""
    zf = _refuse_whole(raw, limit)
    with zf:
        manifest = _manifest(zf)
        models, refused, seen, sizes, read = [], [], set(), _sizes(manifest), {}
        for i, entry in enumerate(manifest["models"]):
            label = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"model {i + 1}"
            try:
                model = _model(zf, entry, device, sizes, read)
            except LabFileError as exc:
                refused.append((label[:200], str(exc)))
                continue
            if model.name in seen:
                refused.append((label[:200], "another model in the file has the same name"))
                continue
            seen.add(model.name)
            models.append(model)
    current = manifest.get("current") if isinstance(manifest.get("current"), str) and manifest.get("current") in seen else None
    created = manifest.get("created") if isinstance(manifest.get("created"), str) else None
    return LabFile(models, current, json_only(manifest.get("desk_data") or {}), created, refused)
