"""Checkpoints: weights as safetensors, config + tokenizer + training record as JSON.

What it is: saving a model as two files, `NAME.safetensors` (the parameters; the JSON is also
stored in its header metadata, so the weights file alone is enough to run the model) and
`NAME.json` (the same description, readable), both written atomically (a temporary file, then a
rename). Loading checks everything before a tensor is used: the file is a real safetensors file,
the config is valid, the tokenizer matches the vocabulary, and every tensor name and shape is
exactly what the model expects, and a lineage (`lineage.py`), when there is one, is well formed and its
hash is that of the weights. Anything else is refused with a `CheckpointError`.
What it is not: pickle. `torch.load` is never called on a file a user gave; safetensors cannot
carry code.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llm_core.model.config import ConfigError, ModelConfig
from llm_core.model.lineage import LineageError, content_hash
from llm_core.model.lineage import validate as validate_lineage
from llm_core.paths import DEFAULT_MODEL, MODELS_DIR  # noqa: F401  (named here too: where a reader of checkpoints looks)
from llm_core.text.tokenizers import Tokenizer, TokenizerError, tokenizer_from_dict

if TYPE_CHECKING:
    from llm_core.model.gpt import GPT

# torch, safetensors' torch half and the model are imported by the functions that use them: the
# lab's store reads this module on the first page, which is drawn before torch is loaded (app.py).

FORMAT = "llm-lab-checkpoint"
VERSION = 1
METADATA_KEY = "llm_lab"
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a usable LLM Lab checkpoint; the message says what is wrong."""


@dataclass
class LoadedModel:
    model: GPT
    tokenizer: Tokenizer
    meta: dict = field(default_factory=dict)  # the whole JSON description

    @property
    def record(self) -> dict:
        return self.meta.get("record", {})


def default_checkpoint_path() -> Path:
    return MODELS_DIR / f"{DEFAULT_MODEL}.safetensors"


def describe_checkpoint(model: GPT, tokenizer: Tokenizer, record: dict | None = None, lineage: dict | None = None) -> dict:
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "record": record or {},
    }
    if lineage:
        meta["lineage"] = lineage
    return meta


def checkpoint_bytes(model: GPT, tokenizer: Tokenizer, record: dict | None = None, lineage: dict | None = None) -> tuple[bytes, bytes]:
    """The two files as bytes (weights, JSON), for a download button or a save."""
    meta = describe_checkpoint(model, tokenizer, record, lineage)
    from safetensors.torch import save as save_safetensors_bytes

    meta_json = json.dumps(meta, ensure_ascii=False)
    tensors = {name: t.detach().float().cpu().contiguous() for name, t in model.state_dict().items()}
    weights = save_safetensors_bytes(tensors, metadata={METADATA_KEY: meta_json})
    return weights, json.dumps(meta, indent=1, ensure_ascii=False).encode("utf-8")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _paths(path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_checkpoint(path, model: GPT, tokenizer: Tokenizer, record: dict | None = None, optimizers=None, lineage: dict | None = None) -> Path:
    """Write NAME.safetensors and NAME.json (and NAME.optim.safetensors when optimizers are given)."""
    weights_path, json_path = _paths(path)
    weights, meta_json = checkpoint_bytes(model, tokenizer, record, lineage)
    _atomic_write(weights_path, weights)
    _atomic_write(json_path, meta_json)
    if optimizers:
        _atomic_write(weights_path.with_name(weights_path.stem + ".optim.safetensors"), optimizer_bytes(model, optimizers))
    return weights_path


def read_safetensors_metadata(raw: bytes) -> dict:
    """The header metadata of a safetensors file, validating the header's framing."""
    if len(raw) < 8:
        raise CheckpointError("the file is too short to be a safetensors file.")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > min(len(raw) - 8, 100_000_000):
        raise CheckpointError("this is not a safetensors file (its header length makes no sense).")
    try:
        header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError("this is not a safetensors file (its header is not JSON).") from None
    if not isinstance(header, dict):
        raise CheckpointError("this is not a safetensors file (its header is not a JSON object).")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError("the safetensors metadata is not a mapping.")
    return metadata


def _parse_meta(meta) -> tuple[ModelConfig, Tokenizer, dict]:
    if isinstance(meta, (bytes, str)):
        try:
            meta = json.loads(meta)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"the model description is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("this is not an LLM Lab checkpoint (its description lacks format 'llm-lab-checkpoint').")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"unsupported checkpoint version {meta.get('version')!r} (this app reads version {VERSION}).")
    try:
        config = ModelConfig.from_dict(meta.get("model_config"))
        tokenizer = tokenizer_from_dict(meta.get("tokenizer"))
    except (ConfigError, TokenizerError) as exc:
        raise CheckpointError(f"the checkpoint's description is invalid: {exc}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}."
        )
    if not isinstance(meta.get("record", {}), dict):
        raise CheckpointError("the training record must be a JSON object.")
    if meta.get("lineage") is not None:
        try:
            meta["lineage"] = validate_lineage(meta["lineage"])
        except LineageError as exc:
            raise CheckpointError(f"the model's lineage is invalid: {exc}") from None
    return config, tokenizer, meta


def load_checkpoint_bytes(weights: bytes, meta_json: bytes | str | None = None, device="cpu", verify_lineage: bool = True) -> LoadedModel:
    """Build a model from the bytes of a .safetensors file (and optionally its .json).

    `verify_lineage`: a lineage's hash must be the weights' own (off only for files this server wrote)."""
    if len(weights) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"the file is {len(weights) / 1e6:.0f} MB; the limit is {MAX_CHECKPOINT_BYTES / 1e6:.0f} MB.")
    metadata = read_safetensors_metadata(weights)
    if METADATA_KEY in metadata:
        meta = metadata[METADATA_KEY]
    elif meta_json is not None:
        meta = meta_json
    else:
        raise CheckpointError("this safetensors file has no LLM Lab description; give its .json file too.")
    config, tokenizer, meta = _parse_meta(meta)
    import torch
    from safetensors.torch import load as load_safetensors_bytes

    from llm_core.model.gpt import GPT

    try:
        tensors = load_safetensors_bytes(weights)
    except Exception as exc:  # safetensors raises its own error type for corrupt data
        raise CheckpointError(f"the weights could not be read: {exc}") from None
    model = GPT(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            "the weights do not fit this model: "
            + (f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}. " if missing else "")
            + (f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}." if unexpected else "")
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}.")
        if not tensor.dtype.is_floating_point:
            raise CheckpointError(f"{name} holds {tensor.dtype} values, expected floating point.")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{name} contains NaN or infinite values.")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    if verify_lineage and meta.get("lineage") and meta["lineage"]["hash"] != content_hash(model, tokenizer):
        raise CheckpointError("the weights are not those its lineage describes (their hash differs): the file was changed or damaged.")
    model.to(device).eval()
    return LoadedModel(model, tokenizer, meta)


def load_checkpoint(path, device="cpu") -> LoadedModel:
    """Load NAME.safetensors (its JSON comes from its own metadata, or NAME.json beside it)."""
    weights_path, json_path = _paths(path)
    if not weights_path.exists():
        raise CheckpointError(f"no checkpoint at {weights_path}.")
    if weights_path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{weights_path.name} is larger than the {MAX_CHECKPOINT_BYTES / 1e6:.0f} MB limit.")
    meta_json = json_path.read_bytes() if json_path.exists() else None
    return load_checkpoint_bytes(weights_path.read_bytes(), meta_json, device)


def optimizer_bytes(model: GPT, optimizers) -> bytes:
    """Optimizer state (moments, momentum buffers) as safetensors, keyed by parameter name."""
    import torch
    from safetensors.torch import save as save_safetensors_bytes

    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {}
    for i, opt in enumerate(optimizers):
        for group in opt.param_groups:
            for p in group["params"]:
                for key, value in opt.state.get(p, {}).items():
                    tensors[f"{i}.{names[id(p)]}.{key}"] = torch.as_tensor(value).detach().float().cpu().contiguous()
    return save_safetensors_bytes(tensors)


def load_optimizer_state(path, model: GPT, optimizers) -> bool:
    """Restore optimizer state saved by `save_checkpoint(..., optimizers=...)`; False if there is none."""
    weights_path, _ = _paths(path)
    optim_path = weights_path.with_name(weights_path.stem + ".optim.safetensors")
    if not optim_path.exists():
        return False
    load_optimizer_bytes(optim_path.read_bytes(), model, optimizers)
    return True


def load_optimizer_bytes(raw: bytes, model: GPT, optimizers) -> None:
    """Restore optimizer state from `optimizer_bytes(...)` (a resumed run in a fresh worker)."""
    from safetensors.torch import load as load_safetensors_bytes

    try:
        tensors = load_safetensors_bytes(raw)
    except Exception as exc:
        raise CheckpointError(f"the optimizer state could not be read: {exc}") from None
    names = {id(p): n for n, p in model.named_parameters()}
    for i, opt in enumerate(optimizers):
        for group in opt.param_groups:
            for p in group["params"]:
                prefix = f"{i}.{names[id(p)]}."
                state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
                for key, value in state.items():
                    if key != "step" and value.shape != p.shape:
                        raise CheckpointError(f"optimizer state {prefix}{key} does not fit its parameter.")
                    state[key] = value.to(p.device)
                if state:
                    opt.state[p] = state
