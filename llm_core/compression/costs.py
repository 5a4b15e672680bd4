"""What a model of any size costs: its file, the memory to run it, and the compute to train it.

What it is: size classes from published models (each constant with its source), a calculator
for any parameter count (weights file at fp32/bf16/int8/int4, memory with a KV cache for a chosen
context, training compute as 6 x parameters x tokens, GPU-hours at a stated utilisation of a
GPU's peak, days on N GPUs, cost at a price per GPU-hour), Llama 2 70B as the worked example
checked against its paper and Karpathy's talk, and the description-length arithmetic behind
"training is lossy compression": weights + coded text against the text.

    >>> est = estimate(70e9, 2e12, GPUS["A100"], utilisation=0.435, n_gpus=6000, price_per_gpu_hour=1.16)
    >>> f"{est.train_flops:.2e} FLOPs, {est.gpu_hours:,.0f} GPU-hours, {est.days:.1f} days, ${est.cost / 1e6:.2f}M"
    '8.40e+23 FLOPs, 1,719,226 GPU-hours, 11.9 days, $1.99M'
    >>> f"{weights_bytes(70e9, 'bf16') / 1e9:.0f} GB"
    '140 GB'

What it is not: a price quote. 6ND leaves out attention's own FLOPs (a few percent at these
context lengths) and everything but the final training run (experiments, failed runs, data work).
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_core.model.config import ModelConfig

BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True)
class GPU:
    name: str
    peak_flops: float  # dense bf16/fp16 tensor FLOP/s, no sparsity
    source: str


GPUS = {
    "V100": GPU("NVIDIA V100 SXM2", 125e12, "NVIDIA V100 datasheet: 125 TFLOPS fp16 tensor"),
    "A100": GPU("NVIDIA A100 80GB SXM", 312e12, "NVIDIA A100 datasheet: 312 TFLOPS bf16 tensor, dense"),
    "H100": GPU("NVIDIA H100 SXM", 989e12, "NVIDIA H100 datasheet: 989 TFLOPS bf16 tensor, dense (1,979 with sparsity)"),
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


LLAMA2_SOURCE = "Touvron et al. 2023, Llama 2 paper, Table 1 and Table 2 (A100-80GB GPU-hours)"
SIZE_CLASSES = [
    SizeClass("GPT-2 small", 124e6, 12, 768, 768, 1024, None, None, None, "Radford et al. 2019 (GPT-2); 124M as counted by the released weights; training tokens not published"),
    SizeClass("Llama 2 7B", 7e9, 32, 4096, 4096, 4096, 2e12, 184_320, "A100", LLAMA2_SOURCE),
    SizeClass("Llama 2 13B", 13e9, 40, 5120, 5120, 4096, 2e12, 368_640, "A100", LLAMA2_SOURCE),
    SizeClass("Llama 2 70B", 70e9, 80, 8192, 1024, 4096, 2e12, 1_720_320, "A100", LLAMA2_SOURCE + "; grouped-query attention, 8 key/value heads of 128"),
    SizeClass("GPT-3 175B", 175e9, 96, 12288, 12288, 2048, 300e9, None, None, "Brown et al. 2020 (GPT-3), Table 2.1 and 2.2: 300B training tokens"),
    SizeClass("1T (hypothetical)", 1e12, None, None, None, 8192, None, None, None, "a size class named in Karpathy 2023; shape estimated, tokens at 20 per parameter (Hoffmann et al. 2022)"),
]
CHINCHILLA_TOKENS_PER_PARAM = 20  # Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models"

# Karpathy 2023, "Intro to Large Language Models" (talk): Llama 2 70B as "~10 TB of text" into a
# "140 GB file", "~6,000 GPUs for ~12 days", "~$2M".
TALK = dict(text_bytes=10e12, weights_bytes=140e9, gpus=6000, days=12, cost=2e6, source="Karpathy 2023, talk 'Intro to Large Language Models'")
# Delétang et al. 2023, "Language Modeling Is Compression", Table 1: raw compression rates on enwik9.
DELETANG = dict(chinchilla_70b=0.083, gzip=0.323, source="Delétang et al. 2023, 'Language Modeling Is Compression', Table 1 (enwik9, raw rate)")


def weights_bytes(params: float, precision: str = "bf16") -> float:
    if precision not in BYTES_PER_PARAM:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(BYTES_PER_PARAM)}.")
    return params * BYTES_PER_PARAM[precision]


def estimated_shape(params: float) -> tuple[int, int]:
    """(layers, width) of a plain transformer with about `params` parameters: params ~ 12 L d^2 with d = 128 L.

    GPT-3 175B has d/L = 12288/96 = 128 (Brown et al. 2020); this gives it back:
        >>> estimated_shape(175e9)
        (96, 12288)
    """
    if params <= 0:
        raise ValueError("the parameter count must be positive.")
    layers = max(1, round((params / (12 * 128**2)) ** (1 / 3)))
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
    paper_gpu_hours: float
    talk_gpu_hours: float
    utilisation_paper: float
    utilisation_talk: float
    talk_price_per_gpu_hour: float
    days_on_talk_gpus: float  # the paper's GPU-hours spread over the talk's 6,000 GPUs


def llama2_70b_check() -> Llama2Check:
    """Llama 2 70B: the calculator's figures against the paper's GPU-hours and the talk's GPUs, days and dollars."""
    llama = next(s for s in SIZE_CLASSES if s.name == "Llama 2 70B")
    a100 = GPUS["A100"]
    talk_hours = TALK["gpus"] * TALK["days"] * 24
    return Llama2Check(
        flops=train_flops(llama.params, llama.tokens),
        paper_gpu_hours=llama.gpu_hours,
        talk_gpu_hours=talk_hours,
        utilisation_paper=implied_utilisation(llama.params, llama.tokens, llama.gpu_hours, a100),
        utilisation_talk=implied_utilisation(llama.params, llama.tokens, talk_hours, a100),
        talk_price_per_gpu_hour=TALK["cost"] / talk_hours,
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
