"""Running a model against training it: compute per token, for this app's models and for Llama 2 70B.

What it is: the standard counts (Kaplan et al. 2020, Table 1). Running a model on one token, which
is what generating it costs with the KV cache, is one forward pass: about 2 FLOPs per parameter,
plus the attention scores. Training on one token is that forward pass and a backward pass at twice
its cost: about 6. So a training run of D tokens costs as much compute as generating about 3 x D
tokens, whatever the model's size. Training is paid once; running is paid again on every token of
every answer, so how long training stays the larger bill depends on how much text the model was
trained on and how much it is asked to write.

    >>> llama = llama2_70b()
    >>> f"{llama.run_flops_per_token:.2g} to run, {llama.train_flops_per_token:.2g} to train, x{llama.ratio:g}"
    '1.4e+11 to run, 4.2e+11 to train, x3'
    >>> f"{llama.tokens_matching_training:.1e} tokens"  # its 2T training tokens, three times over
    '6.0e+12 tokens'
    >>> round(llama.days_until_running_matches_training(1e6, 1000))  # a million requests a day of 1,000 tokens
    6000

What it is not: a measurement, or a price. FLOPs are not dollars: a GPU generating one token at a
time waits on memory and uses a smaller share of its peak than training does (batching many
requests wins some of it back), and serving needs its own machines and memory for the KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_core.literature import cite, value
from llm_core.model.config import ModelConfig
from llm_core.training.cost import train_flops_per_token

FORWARD_PER_PARAM = value("kaplan_forward_flops_per_param_token")  # 2: one multiply and one add per weight
TRAIN_PER_PARAM = value("kaplan_flops_per_param_token")  # 6: forward (2) + backward (4)


@dataclass(frozen=True)
class RunVsTrain:
    name: str
    params: float  # the parameters counted (the size a page names)
    run_flops_per_token: float  # one forward pass: generating one token with the KV cache
    train_flops_per_token: float  # forward + backward on one token
    train_tokens: float | None  # tokens the model was trained on, if known
    how: str  # how the figures were counted, with sources

    @property
    def ratio(self) -> float:
        """How many generated tokens cost as much compute as one training token."""
        return self.train_flops_per_token / self.run_flops_per_token

    @property
    def train_flops(self) -> float | None:
        return self.train_flops_per_token * self.train_tokens if self.train_tokens else None

    @property
    def tokens_matching_training(self) -> float | None:
        """Tokens the model could generate for the compute its whole training run took."""
        return self.train_flops / self.run_flops_per_token if self.train_flops else None

    def days_until_running_matches_training(self, requests_per_day: float, tokens_per_request: float) -> float | None:
        """Days of answering `requests_per_day` requests of `tokens_per_request` tokens (prompt + answer) until running
        has used as much compute as training did; None without a training record or without requests."""
        per_day = requests_per_day * tokens_per_request
        if not self.tokens_matching_training or per_day <= 0:
            return None
        return self.tokens_matching_training / per_day


def run_flops_per_token(config: ModelConfig) -> int:
    """One forward pass on one new token, with the KV cache: 2 x the parameters that multiply (the token
    embedding is a lookup) + the attention over earlier tokens (scores and weighted sum, 4 x width FLOPs per
    earlier token and layer, at the window's average context of half its length). Counted the same way as
    `llm_core.training.cost.train_flops_per_token`, which is exactly three times this.

    >>> cfg = ModelConfig(vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=128)
    >>> run_flops_per_token(cfg), train_flops_per_token(cfg) // run_flops_per_token(cfg)
    (1722880, 3)
    """
    matmul_params = config.num_params() - config.vocab_size * config.n_embd
    if config.tie_embeddings:
        matmul_params += config.vocab_size * config.n_embd  # the shared matrix is also the output head
    return int(FORWARD_PER_PARAM) * matmul_params + 2 * config.n_layer * config.block_size * config.n_embd  # 4 x width x (T / 2)


def for_config(name: str, config: ModelConfig, train_tokens: float | None) -> RunVsTrain:
    """An LLM Lab model: its exact shape, and the tokens its training record says it saw."""
    return RunVsTrain(name, config.num_params(), run_flops_per_token(config), train_flops_per_token(config), train_tokens or None,
                      f"counted from the model's shape: {FORWARD_PER_PARAM:g} and {TRAIN_PER_PARAM:g} FLOPs per multiplying parameter, "
                      f"plus attention over the window ({cite('kaplan2020')})")


def llama2_70b() -> RunVsTrain:
    """Llama 2 70B from the register: its parameters and training tokens (Touvron et al. 2023), Kaplan's 2N and 6N."""
    params, tokens = value("llama2_70b_params"), value("llama2_tokens")
    # Attention over earlier tokens, counted as for our models (4 x width per earlier token and layer, at half the context):
    attention = 2 * value("llama2_70b_layers") * value("llama2_context") * value("llama2_70b_width")
    return RunVsTrain("Llama 2 70B", params, FORWARD_PER_PARAM * params, TRAIN_PER_PARAM * params, tokens,
                      f"{FORWARD_PER_PARAM:g} and {TRAIN_PER_PARAM:g} FLOPs per parameter per token ({cite('kaplan2020')}); attention left out, "
                      f"{attention / (FORWARD_PER_PARAM * params):.1%} more over a full {value('llama2_context'):,.0f}-token context; "
                      f"parameters and tokens from {cite('touvron2023')}")
