"""A model's anatomy: where its parameters are, how big its file is, and how it compares.

What it is: the numbers behind "a model is two files" (the parameters, and a short program that
runs them): parameter counts per part of the real model, the size of its weights file, a
description of its training run, and the published figures for Llama 2 70B with their sources,
so a page can set them side by side.
What it is not: a profiler, or anything that changes the model.

    >>> bits_per_token(math.log(2))
    1.0
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from llm_core.literature import cite, source, value


@dataclass
class ParamGroup:
    part: str  # "embeddings", "block 0", ..., "output"
    name: str  # human name of the piece within the part
    count: int
    tensor_names: list[str]


def param_breakdown(model) -> list[ParamGroup]:
    """Parameter counts of the real model, grouped the way the architecture is drawn.

    The counts add up to `model.num_params()`.
    """
    groups: dict[tuple[str, str], ParamGroup] = {}
    for tensor_name, p in model.named_parameters():
        m = re.match(r"blocks\.(\d+)\.(attn_norm|attn|mlp_norm|mlp)\.", tensor_name)
        if m:
            part = f"block {m.group(1)}"
            name = {"attn": "attention", "mlp": "MLP", "attn_norm": "norms", "mlp_norm": "norms"}[m.group(2)]
        elif tensor_name.startswith("wte"):
            part, name = "embeddings", "token embedding"
        elif tensor_name.startswith("wpe"):
            part, name = "embeddings", "position embedding"
        elif tensor_name.startswith("head"):
            part, name = "output", "output head"
        else:
            part, name = "output", "final norm"
        group = groups.setdefault((part, name), ParamGroup(part, name, 0, []))
        group.count += p.numel()
        group.tensor_names.append(tensor_name)
    return list(groups.values())


def weights_file_bytes(model, tokenizer, meta: dict | None = None) -> int:
    """The exact size of the .safetensors file this model would be saved as."""
    from llm_core.model.checkpoint import checkpoint_bytes  # here, not at the top: this module is read before torch is (the first page)

    weights, _ = checkpoint_bytes(model, tokenizer, (meta or {}).get("record"))
    return len(weights)


@dataclass
class ModelFacts:
    """What the pages say about a model's size, read from the model once: its parameter count, where
    the parameters are, and how each is stored. Plain data (JSON both ways), so the figures of a
    shipped model can be shipped beside it and a page can show them before torch is loaded
    (llm_core.interpret.first_page)."""

    num_params: int
    groups: list[ParamGroup]
    dtype: str  # "float32"
    bytes_per_param: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelFacts:
        return cls(int(d["num_params"]), [ParamGroup(**g) for g in d["groups"]], str(d["dtype"]), int(d["bytes_per_param"]))


def facts(model) -> ModelFacts:
    """The model's facts, read from its parameters."""
    first = next(model.parameters())
    return ModelFacts(model.num_params(), param_breakdown(model), str(first.dtype).removeprefix("torch."), first.element_size())


def bits_per_token(loss_nats: float) -> float:
    """Cross-entropy in bits: the average number of bits the model needs to encode one token."""
    return loss_nats / math.log(2)


def human_bytes(n: float) -> str:
    """
    >>> human_bytes(3_215_000), human_bytes(140e9), human_bytes(10e12)
    ('3.2 MB', '140 GB', '10 TB')
    """
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


# Published figures, each with its source (read from the register, assets/teaching/claims.toml),
# for the "a model is two files" comparison. `how`, where a row has it, is how the value is worked out
# (the parameters file: parameters times bytes per parameter): a page may hold it back where it would
# answer a question about its own model's file (the Overview's "bigger or smaller than the text?").
_TALK = f"{cite('karpathy2023')}, talk \"{source('karpathy2023').title}\""
LLAMA2_70B = [
    dict(what="parameters", value=f"{value('llama2_70b_params') / 1e9:.0f} billion", source=f"{cite('touvron2023')}, \"{source('touvron2023').title}\" (Meta), Table 1"),
    dict(what="parameters file", value=f"{human_bytes(value('talk_weights_bytes'))}", source=_TALK,
         how=f"{value('llama2_70b_params') / 1e9:.0f} billion parameters × 2 bytes each, stored as 16-bit numbers (fp16)"),
    dict(what="training text", value=f"about {human_bytes(value('talk_text_bytes'))} of internet text",
         source=f"{_TALK} (the Llama 2 paper states {value('llama2_tokens') / 1e12:g} trillion tokens)"),
    dict(what="compute", value=f"about {value('talk_gpus'):,.0f} GPUs for about {value('talk_days'):.0f} days", source=_TALK),
    dict(what="cost", value=f"about ${value('talk_cost') / 1e6:.0f}M (Meta published no cost)", source=_TALK),
    dict(what="code to run it", value=f"about {value('talk_runner_lines'):.0f} lines of C (run.c)", source=_TALK),
]
LLAMA2_70B_FILE_BYTES = value("talk_weights_bytes")
LLAMA2_70B_TEXT_BYTES = value("talk_text_bytes")
