"""Parameter counts (with and without embeddings) and the training FLOPs of a run.

What it is: `param_counts` splits a model's parameters into the embedding matrices (token table,
position table when learned, output head when untied) and the rest, the "non-embedding"
parameters Kaplan et al. (2020) counted. The two counts differ a lot at small scale: a 2-layer,
16-wide character model has 6,224 non-embedding and 8,304 total parameters. Counting without
embeddings is what pushed Kaplan's exponents away from Chinchilla's (Pearce and Song, 2024), so
the sweep records both and the fits say which they use. FLOPs per token come from
`llm_core.training.cost.train_flops_per_token` (6 per multiplying parameter, plus attention):
this module does not count them a second way.
What it is not: a profiler; these are counts from the shapes.

    >>> from llm_core.model.config import ModelConfig
    >>> cfg = ModelConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, n_embd=16)
    >>> param_counts(cfg)
    {'total': 8304, 'non_embedding': 6224, 'embedding': 2080}
    >>> train_flops_per_token(cfg)  # 6 x (8304 - 65*16) + 6 x 2 layers x 64 context x 16 wide
    55872
    >>> tokens_for_budget(cfg, 1e9)
    17898
"""

from __future__ import annotations

from llm_core.model.config import ModelConfig
from llm_core.training.cost import train_flops_per_token

__all__ = ["param_counts", "train_flops_per_token", "tokens_for_budget", "EMBEDDING_GROUPS"]

EMBEDDING_GROUPS = ("token embedding", "position embedding", "output head")


def param_counts(config: ModelConfig) -> dict:
    """{'total', 'non_embedding', 'embedding'} parameter counts from the shapes alone."""
    groups = config.param_groups()
    embedding = sum(n for name, n in groups if name in EMBEDDING_GROUPS)
    total = sum(n for _, n in groups)
    return dict(total=total, non_embedding=total - embedding, embedding=embedding)


def tokens_for_budget(config: ModelConfig, flops: float) -> int:
    """Training tokens a budget of `flops` buys for this model."""
    return int(flops // train_flops_per_token(config))
