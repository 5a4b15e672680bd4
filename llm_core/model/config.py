"""Model and training configuration: two dataclasses, presets, and validation.

What it is: the single place that says what a model looks like (`ModelConfig`) and how it is
trained (`TrainConfig`), with checks that turn an impossible setting into a clear `ConfigError`
message a page can show as it is.
What it is not: it builds nothing and trains nothing; `model.py` and `train.py` read these.

    >>> cfg = ModelConfig(vocab_size=65, n_layer=2, n_head=2, n_embd=32, block_size=64)
    >>> cfg.head_dim
    16
    >>> ModelConfig(vocab_size=65, n_head=3, n_embd=32).validate()
    Traceback (most recent call last):
    ...
    llm_core.model.config.ConfigError: n_embd (32) must be divisible by n_head (3): each head gets n_embd / n_head dimensions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Hard limits keep a browser user from asking for a model that cannot fit or finish.
MAX_LAYERS = 48
MAX_EMBD = 4096
MAX_BLOCK_SIZE = 4096
MAX_VOCAB = 300_000


class ConfigError(ValueError):
    """A configuration that cannot work; the message is written for the person who chose it."""


@dataclass
class ModelConfig:
    vocab_size: int = 65  # number of distinct token ids the model can read and predict
    block_size: int = 128  # context length: the most tokens the model sees at once
    n_layer: int = 4  # transformer blocks stacked on top of each other
    n_head: int = 4  # attention heads per block; each looks at the context its own way
    n_embd: int = 128  # width of every token's vector (the residual stream)
    mlp_ratio: int = 4  # hidden width of each block's MLP, as a multiple of n_embd
    position: str = "rope"  # "rope": rotary (learns faster, measured); "learned": a trained vector per position
    tie_embeddings: bool = False  # share one matrix between token embedding and output head

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def validate(self) -> ModelConfig:
        checks = [
            (self.vocab_size >= 2, f"vocab_size must be at least 2 (got {self.vocab_size})."),
            (self.vocab_size <= MAX_VOCAB, f"vocab_size {self.vocab_size} is over the limit of {MAX_VOCAB:,}."),
            (self.block_size >= 2, f"block_size (context length) must be at least 2 (got {self.block_size})."),
            (self.block_size <= MAX_BLOCK_SIZE, f"block_size {self.block_size} is over the limit of {MAX_BLOCK_SIZE}."),
            (self.n_layer >= 1, f"n_layer must be at least 1 (got {self.n_layer})."),
            (self.n_layer <= MAX_LAYERS, f"n_layer {self.n_layer} is over the limit of {MAX_LAYERS}."),
            (self.n_head >= 1, f"n_head must be at least 1 (got {self.n_head})."),
            (self.n_embd >= 1, f"n_embd must be at least 1 (got {self.n_embd})."),
            (self.n_embd <= MAX_EMBD, f"n_embd {self.n_embd} is over the limit of {MAX_EMBD}."),
            (self.mlp_ratio >= 1, f"mlp_ratio must be at least 1 (got {self.mlp_ratio})."),
            (self.position in ("learned", "rope"), f"position must be 'learned' or 'rope' (got {self.position!r})."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                "each head gets n_embd / n_head dimensions."
            )
        if self.position == "rope" and self.head_dim % 2:
            raise ConfigError(f"rotary positions need an even head size (n_embd / n_head = {self.head_dim}).")
        return self

    @staticmethod
    def valid_head_counts(n_embd: int, position: str = "rope", limit: int = 64) -> list[int]:
        """Head counts that `validate` accepts for this width: they divide n_embd, and rotary
        positions need an even head size.

        >>> ModelConfig.valid_head_counts(48)
        [1, 2, 3, 4, 6, 8, 12, 24]
        >>> ModelConfig.valid_head_counts(48, position="learned")[-1]
        48
        """
        return [h for h in range(1, min(n_embd, limit) + 1)
                if n_embd % h == 0 and (position != "rope" or (n_embd // h) % 2 == 0)]

    def num_params(self) -> int:
        """Parameter count computed from the shapes alone (matches `GPT.num_params()`)."""
        return sum(n for _, n in self.param_groups())

    def param_groups(self) -> list[tuple[str, int]]:
        """(name, parameter count) per part of the model, for charts of where the weights are."""
        c, v = self.n_embd, self.vocab_size
        hidden = self.mlp_ratio * c
        groups = [("token embedding", v * c)]
        if self.position == "learned":
            groups.append(("position embedding", self.block_size * c))
        for i in range(self.n_layer):
            groups.append((f"block {i} attention", 4 * c * c + c))  # qkv + proj, norm weight
            groups.append((f"block {i} MLP", 2 * c * hidden + c))
        groups.append(("final norm", c))
        if not self.tie_embeddings:
            groups.append(("output head", v * c))
        return groups

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        if not isinstance(data, dict):
            raise ConfigError("model config must be a JSON object.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config fields: {', '.join(unknown)}.")
        try:
            cfg = cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad model config: {exc}") from None
        for f in dataclasses.fields(cls):
            value = getattr(cfg, f.name)
            expected = {"int": int, "str": str, "bool": bool}[f.type]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"model config field {f.name} must be {f.type} (got {value!r}).")
        return cfg.validate()


@dataclass
class TrainConfig:
    max_steps: int = 2000  # optimizer steps; training stops at this or the time budget, whichever first
    time_budget_s: float | None = None  # wall-clock budget in seconds (evaluation excluded); None: no limit
    batch_size: int = 32  # sequences per step
    lr: float = 4e-3  # peak learning rate for AdamW (embeddings, head, norms)
    muon_lr: float = 0.02  # peak learning rate for Muon (the 2-D weight matrices inside blocks); 0 = AdamW for all
    weight_decay: float = 0.0  # decoupled weight decay for the matrices
    warmup_steps: int = 10  # linear warmup from 0 to the peak learning rate
    min_lr_ratio: float = 0.0  # the cosine schedule ends at lr * min_lr_ratio
    grad_clip: float = 1.0  # clip the global gradient norm to this (0 = off)
    eval_every: int = 200  # steps between validation evaluations (0 = only at the end)
    eval_every_s: float | None = None  # or: seconds of training between evaluations (overrides eval_every)
    eval_tokens: int | None = None  # evaluate on at most this many held-out tokens (None: the whole split)
    sample_every: int = 0  # steps between sample generations shown to the user (0 = never)
    sample_tokens: int = 200  # length of those samples
    log_every: int = 10  # steps between yielded metrics (the only place a loss is read back)
    seed: int = 1337  # seeds batches and initialisation: same seed, same run
    precision: str = "auto"  # "auto" (bf16 autocast where it is faster), "bf16" or "fp32"
    muon_momentum_warmup: int = 0  # steps over which Muon's momentum rises from 0.85 to 0.95 (0: 0.95 from the first step; loop.muon_momentum)
    short_windows_until: float = 0.0  # until this fraction of the run (steps or time), windows of half the context: quicker early steps (loop.half_windows)
    divergence_factor: float = 3.0  # stop if the loss exceeds this multiple of min(best loss so far, uniform-guess loss), and that plus half a uniform guess

    def validate(self) -> TrainConfig:
        checks = [
            (self.max_steps >= 1, f"steps must be at least 1 (got {self.max_steps})."),
            (self.max_steps <= 10_000_000, f"steps {self.max_steps} is over the limit of 10,000,000."),
            (self.time_budget_s is None or self.time_budget_s > 0, "the time budget must be positive."),
            (self.batch_size >= 1, f"batch size must be at least 1 (got {self.batch_size})."),
            (self.batch_size <= 4096, f"batch size {self.batch_size} is over the limit of 4096."),
            (self.lr > 0, f"learning rate must be positive (got {self.lr})."),
            (self.muon_lr >= 0, f"Muon learning rate must be zero or positive (got {self.muon_lr})."),
            (self.weight_decay >= 0, "weight decay must be zero or positive."),
            (self.warmup_steps >= 0, "warmup steps must be zero or positive."),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must lie between 0 and 1."),
            (self.grad_clip >= 0, "gradient clip must be zero (off) or positive."),
            (self.eval_every >= 0, "eval_every must be zero or positive."),
            (self.log_every >= 1, "log_every must be at least 1."),
            (self.precision in ("auto", "bf16", "fp32"), f"precision must be auto, bf16 or fp32 (got {self.precision!r})."),
            (self.muon_momentum_warmup >= 0, f"the Muon momentum warmup (muon_momentum_warmup) must be zero or more steps (got {self.muon_momentum_warmup})."),
            (0 <= self.short_windows_until <= 1, f"the short-window fraction (short_windows_until) must lie between 0 and 1 (got {self.short_windows_until})."),
            (self.divergence_factor > 1, "divergence_factor must be above 1."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def merged(cls, defaults: dict, **overrides) -> TrainConfig:
        """A stage's `defaults` with the caller's `overrides` on top, validated.

        >>> TrainConfig.merged(dict(max_steps=100, lr=1e-3), lr=2e-3).lr
        0.002
        """
        return cls(**{**defaults, **overrides}).validate()

    def muon_lr_for(self, lr: float) -> float:
        """The Muon rate that keeps this config's Muon/AdamW ratio when the AdamW rate becomes `lr`
        (the pages expose one learning rate; the block matrices follow it in proportion).

        >>> TrainConfig(lr=4e-3, muon_lr=0.02).muon_lr_for(2e-3)
        0.01
        """
        return 0.0 if self.muon_lr == 0 else round(lr * self.muon_lr / self.lr, 12)


# Presets. `nano` trains in seconds for tests; `tiny` is the default for live CPU training and the
# bundled model; `small` (about 10M parameters) is for a GPU or a patient CPU.
MODEL_PRESETS: dict[str, dict] = {
    "nano": dict(block_size=64, n_layer=2, n_head=2, n_embd=32),
    "tiny": dict(block_size=128, n_layer=4, n_head=4, n_embd=128),
    "small": dict(block_size=256, n_layer=6, n_head=6, n_embd=384),
}

TRAIN_PRESETS: dict[str, dict] = {
    "nano": dict(max_steps=200, batch_size=16, eval_every=100),
    "tiny": dict(max_steps=3000, batch_size=16, eval_every=250, short_windows_until=0.5, muon_momentum_warmup=300),
    "small": dict(max_steps=5000, batch_size=32, eval_every=250, lr=2e-3, muon_lr=0.02, warmup_steps=50),
}


def model_preset(name: str, vocab_size: int, **overrides) -> ModelConfig:
    if name not in MODEL_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(MODEL_PRESETS)}.")
    return ModelConfig(vocab_size=vocab_size, **{**MODEL_PRESETS[name], **overrides}).validate()


def train_preset(name: str, **overrides) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(TRAIN_PRESETS)}.")
    return TrainConfig(**{**TRAIN_PRESETS[name], **overrides}).validate()
