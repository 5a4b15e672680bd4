"""What a model of any size costs: its file, the memory to run it, and the compute to train it.

What it is: size classes from published models (each constant with its source), a calculator
for any parameter count (weights file at fp32/bf16/int8/int4, memory with a KV cache for a chosen
context, training compute as 6 x parameters x tokens, GPU-hours at a stated utilisation of a
GPU's peak, days on N GPUs, cost at a price per GPU-hour), Llama 2 70B as the worked example
checked against its paper and Karpathy's talk, and the description-length arithmetic behind
"training is lossy compression": weights + coded text against the text. Every published figure
comes from the register (`llm_core.literature`, assets/teaching/claims.toml).

    >>> est = estimate(70e9, 2e12, GPUS["A100"], utilisation=0.435, n_gpus=6000, price_per_gpu_hour=1.0)
    >>> f"{est.train_flops:.2e} FLOPs, {est.gpu_hours:,.0f} GPU-hours, {est.days:.1f} days, ${est.cost / 1e6:.2f}M at $1 per GPU-hour"
    '8.40e+23 FLOPs, 1,719,226 GPU-hours, 11.9 days, $1.72M at $1 per GPU-hour'
    >>> f"{weights_bytes(70e9, 'bf16') / 1e9:.0f} GB"
    '140 GB'

The cost of Llama 2 70B is not checked here: Meta published GPU-hours, not dollars, and the
talk's "about $2M" divided by those hours is a price per GPU-hour (`Llama2Check.talk_price_per_gpu_hour`),
an assumption, not an independent figure; `Llama2Check.cost_reading` says so.

What it is not: a price quote. 6ND leaves out attention's own FLOPs (a few percent at these
context lengths) and everything but the final training run (experiments, failed runs, data work).
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_core.literature import cite, claim, source, value
from llm_core.model.config import ModelConfig

BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True)
class GPU:
    name: str
    peak_flops: float  # dense bf16/fp16 tensor FLOP/s, no sparsity
    source: str


def _gpu(name: str, key: str, precision: str) -> GPU:
    c = claim(key)
    return GPU(name, c.value, f"{c.cite()}: {c.value / 1e12:,.0f} TFLOP/s {precision}")


GPUS = {
    "V100": _gpu("NVIDIA V100 SXM2", "gpu_v100_peak", "fp16 tensor"),
    "A100": _gpu("NVIDIA A100 80GB SXM", "gpu_a100_peak", "bf16 tensor, dense"),
    "H100": _gpu("NVIDIA H100 SXM", "gpu_h100_peak", "bf16 tensor, dense"),
}


@dataclass(frozen=True)
class SizeClass:
    """A model's published shape and training, as far as it was published."""

    name: str
    params: float
    n_layer: int | None = None
    d_model: int | None = None
    kv_dim: int | None = None  # width of the keys (= of the values) per layer: n_kv_heads x head_dim
    context: int | None = None
    tokens: float | None = None  # training tokens, when published
    gpu_hours: float | None = None  # published training GPU-hours
    gpu: str | None = None
    source: str = ""


def _n(key: str) -> int:
    return int(value(key))


LLAMA2_SOURCE = f"{cite('touvron2023')}, Table 1 (sizes, context, tokens) and Table 2 (A100-80GB GPU-hours); layers and widths from the released configuration"
CHINCHILLA_TOKENS_PER_PARAM = value("chinchilla_tokens_per_param")
SIZE_CLASSES = [
    SizeClass("GPT-2 small", value("gpt2_small_params"), _n("gpt2_small_layers"), _n("gpt2_small_width"), _n("gpt2_small_width"), _n("gpt2_context"), None, None, None,
              f"{cite('radford2019')}; {value('gpt2_small_params') / 1e6:.0f}M as counted by the released weights; training tokens not published"),
    SizeClass("Llama 2 7B", value("llama2_7b_params"), _n("llama2_7b_layers"), _n("llama2_7b_width"), _n("llama2_7b_width"), _n("llama2_context"), value("llama2_tokens"),
              value("llama2_7b_gpu_hours"), "A100", LLAMA2_SOURCE),
    SizeClass("Llama 2 13B", value("llama2_13b_params"), _n("llama2_13b_layers"), _n("llama2_13b_width"), _n("llama2_13b_width"), _n("llama2_context"), value("llama2_tokens"),
              value("llama2_13b_gpu_hours"), "A100", LLAMA2_SOURCE),
    SizeClass("Llama 2 70B", value("llama2_70b_params"), _n("llama2_70b_layers"), _n("llama2_70b_width"), _n("llama2_70b_kv_width"), _n("llama2_context"),
              value("llama2_tokens"), value("llama2_70b_gpu_hours"), "A100", LLAMA2_SOURCE + "; grouped-query attention, 8 key/value heads of 128"),
    SizeClass("GPT-3 175B", value("gpt3_params"), _n("gpt3_layers"), _n("gpt3_width"), _n("gpt3_width"), _n("gpt3_context"), value("gpt3_tokens"), None, None,
              f"{cite('brown2020')}, Table 2.1 and Section 2.2: {value('gpt3_tokens') / 1e9:.0f}B training tokens"),
    SizeClass("1T (dense, shape estimated)", 1e12, None, None, None, 8192, None, None, None,
              f"1T-parameter models exist (Switch-C, {value('switch_c_params') / 1e12:.2f}T parameters, a sparse mixture of experts: {cite('switch_c_params')}); "
              f"this row is a dense model of that size, its shape estimated and its tokens at {CHINCHILLA_TOKENS_PER_PARAM:.0f} per parameter ({cite('hoffmann2022')})"),
]

# Karpathy 2023, "Intro to Large Language Models" (talk): Llama 2 70B as "~10 TB of text" into a
# "140 GB file", "~6,000 GPUs for ~12 days", "~$2M".
TALK = dict(text_bytes=value("talk_text_bytes"), weights_bytes=value("talk_weights_bytes"), gpus=_n("talk_gpus"), days=value("talk_days"), cost=value("talk_cost"),
            source=f"{cite('karpathy2023')}, talk \"{source('karpathy2023').title}\"")
# Delétang et al. 2023, "Language Modeling Is Compression", Table 1: raw compression rates on enwik9
# (Chinchilla 70B with an arithmetic coder, the model's own size not counted), as fractions.
DELETANG = dict(chinchilla_70b=value("deletang_chinchilla70b_enwik9") / 100, gzip=value("deletang_gzip_enwik9") / 100,
                source=f"{cite('deletang2023')}, \"{source('deletang2023').title}\", Table 1 (Chinchilla 70B on enwik9, raw rate)",
                model="Chinchilla 70B", dataset=f"enwik9 (the first {value('enwik9_bytes') / 1e9:g} GB of an English Wikipedia dump; {cite('mahoney2006')})")


def weights_bytes(params: float, precision: str = "bf16") -> float:
    if precision not in BYTES_PER_PARAM:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(BYTES_PER_PARAM)}.")
    return params * BYTES_PER_PARAM[precision]


def estimated_shape(params: float) -> tuple[int, int]:
    """(layers, width) of a plain transformer with about `params` parameters: params ~ 12 L d^2 with d = 128 L.

    GPT-3 175B has d/L = 12288/96 = 128 (Brown et al. 2020); this gives it back:
        >>> estimated_shape(175e9)
        (96, 12288)

    Below one layer of width 128 (196,608 parameters) it is one layer as wide as the count allows,
    so that a tiny model's estimate is not a model 200 times its size:
        >>> estimated_shape(1_000)
        (1, 9)
    """
    if params <= 0:
        raise ValueError("the parameter count must be positive.")
    layers = max(1, round((params / (12 * 128**2)) ** (1 / 3)))
    if params < 12 * 128**2:
        return 1, max(1, round((params / 12) ** 0.5))
    return layers, 128 * layers


def kv_cache_bytes(n_layer: int, kv_dim: int, context: int, precision: str = "bf16") -> float:
    """Keys and values of every layer for `context` tokens (batch 1): 2 x layers x kv width x context."""
    return 2 * n_layer * kv_dim * context * max(2.0, BYTES_PER_PARAM[precision])  # caches stay 16-bit when weights are int8/int4


def train_flops(params: float, tokens: float) -> float:
    """About 6 FLOPs per parameter per token: 2 forward, 4 backward (Kaplan et al. 2020)."""
    return 6 * params * tokens


@dataclass
class Estimate:
    params: float
    tokens: float
    gpu: GPU
    utilisation: float
    n_gpus: int
    price_per_gpu_hour: float
    train_flops: float
    gpu_hours: float
    days: float
    cost: float


def estimate(params: float, tokens: float, gpu: GPU, utilisation: float, n_gpus: int, price_per_gpu_hour: float) -> Estimate:
    if params <= 0 or tokens <= 0:
        raise ValueError("parameters and tokens must be positive.")
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation is a fraction of the GPU's peak, between 0 and 1.")
    if n_gpus < 1:
        raise ValueError("at least one GPU.")
    flops = train_flops(params, tokens)
    gpu_hours = flops / (gpu.peak_flops * utilisation) / 3600
    return Estimate(params, tokens, gpu, utilisation, n_gpus, price_per_gpu_hour, flops, gpu_hours, gpu_hours / n_gpus / 24, gpu_hours * price_per_gpu_hour)


def implied_utilisation(params: float, tokens: float, gpu_hours: float, gpu: GPU) -> float:
    """The fraction of peak a published run must have sustained for 6ND FLOPs in its GPU-hours."""
    return train_flops(params, tokens) / (gpu_hours * 3600 * gpu.peak_flops)


@dataclass
class Llama2Check:
    flops: float
    params: float  # Llama 2 70B's published parameters
    tokens: float  # Llama 2's published training tokens
    paper_gpu_hours: float
    talk_gpu_hours: float
    utilisation_paper: float
    utilisation_talk: float
    talk_price_per_gpu_hour: float  # the talk's $2M over the paper's GPU-hours: the price it assumes, not a published price
    days_on_talk_gpus: float  # the paper's GPU-hours spread over the talk's 6,000 GPUs

    @property
    def cost_reading(self) -> str:
        """What the cost figure rests on, in words: it is an assumption, not a check."""
        return (f"not checked: Meta published GPU-hours, not a cost; the talk's about ${TALK['cost'] / 1e6:.0f}M over the paper's "
                f"{self.paper_gpu_hours:,.0f} A100-hours means ${self.talk_price_per_gpu_hour:.2f} per GPU-hour, a price the talk assumes "
                "(the calculator uses it as its default; set your own)")


def llama2_70b_check() -> Llama2Check:
    """Llama 2 70B: the calculator's figures against the paper's GPU-hours and the talk's GPUs, days and dollars."""
    llama = next(s for s in SIZE_CLASSES if s.name == "Llama 2 70B")
    a100 = GPUS["A100"]
    talk_hours = TALK["gpus"] * TALK["days"] * 24
    return Llama2Check(
        flops=train_flops(llama.params, llama.tokens),
        params=llama.params,
        tokens=llama.tokens,
        paper_gpu_hours=llama.gpu_hours,
        talk_gpu_hours=talk_hours,
        utilisation_paper=implied_utilisation(llama.params, llama.tokens, llama.gpu_hours, a100),
        utilisation_talk=implied_utilisation(llama.params, llama.tokens, talk_hours, a100),
        talk_price_per_gpu_hour=TALK["cost"] / llama.gpu_hours,
        days_on_talk_gpus=llama.gpu_hours / TALK["gpus"] / 24,
    )


def size_class_for_config(name: str, config: ModelConfig, tokens: float | None = None) -> SizeClass:
    """An LLM Lab model (preset or trained) as a size class, its shape exact."""
    return SizeClass(name, config.num_params(), config.n_layer, config.n_embd, config.n_embd, config.block_size, tokens, None, None, "this app's model config")


def run_memory_bytes(cls: SizeClass, precision: str, context: int) -> tuple[float, float]:
    """(weights, KV cache) bytes to run `cls` at `precision` with `context` tokens in the cache."""
    if cls.n_layer and cls.kv_dim:
        layers, kv_dim = cls.n_layer, cls.kv_dim
    else:
        layers, kv_dim = estimated_shape(cls.params)
    return weights_bytes(cls.params, precision), kv_cache_bytes(layers, kv_dim, context, precision)


@dataclass
class DescriptionLength:
    """Weights + coded text against the text itself: when does a model pay for itself as a compressor?"""

    weights_bytes: float
    text_bytes: float
    coded_rate: float  # coded bytes per text byte under the model
    reference_rate: float  # the same for a reference (1 = storing the text; gzip's rate; ...)

    @property
    def coded_bytes(self) -> float:
        return self.text_bytes * self.coded_rate

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.coded_bytes

    @property
    def break_even_bytes(self) -> float:
        """Text size above which weights + coded text is smaller than the reference's output."""
        saving = self.reference_rate - self.coded_rate
        return float("inf") if saving <= 0 else self.weights_bytes / saving
