"""What a training step costs, estimated before training: FLOPs, and seconds on this machine.

What it is: the standard count of training FLOPs (about 6 per parameter per token: 2 for the
forward pass, 4 for the backward pass, plus the attention scores, which grow with the context),
and a two-number model of this machine, `t = overhead + flops / rate`, fitted once from a few
real steps of two small models (`calibrate`). Together they give an estimate of seconds per step
for any model a user sketches, without building it.
What it is not: a measurement of that model. Small models are dominated by per-step overhead and
the estimate says so only roughly; a page shows it as an estimate.

    >>> from llm_core.model.config import ModelConfig
    >>> cfg = ModelConfig(vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=128)
    >>> f"{train_flops_per_token(cfg):,}"
    '5,168,640'
    >>> round(estimate_step_seconds(cfg, 16, Calibration(overhead_s=0.01, flops_per_s=100e9)), 3)  # 10.6 GFLOP per step
    0.116
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from llm_core.model.config import ModelConfig, TrainConfig, model_preset
from llm_core.model.device import TRAINING_THREADS, autocast, keep_freed_memory, threads, use_bf16
from llm_core.training.optim import build_optimizers


def train_flops_per_token(config: ModelConfig) -> int:
    """Forward + backward FLOPs to train on one token.

    6 x the parameters that multiply (the token embedding is a table lookup, so it is left out),
    plus the attention scores and the weighted sum: 2 matmuls of T x C per layer, forward
    2*2*T*C/2 (half the scores are masked), times 3 for forward + backward: 6 * L * T * C.
    """
    matmul_params = config.num_params() - config.vocab_size * config.n_embd
    if config.tie_embeddings:
        matmul_params += config.vocab_size * config.n_embd  # the shared matrix is also the output head
    return 6 * matmul_params + 6 * config.n_layer * config.block_size * config.n_embd


def train_flops_per_step(config: ModelConfig, batch_size: int) -> int:
    return train_flops_per_token(config) * batch_size * config.block_size


def train_memory_bytes(config: ModelConfig, batch_size: int) -> int:
    """Rough peak memory of one training step: weights, gradients and optimizer moments in fp32,
    activations kept for the backward pass (about 34 bytes per token per width per layer in 16-bit,
    as counted by Korthikanti et al. 2022 for a fused attention), and the fp32 logits and their gradient.

        >>> from llm_core.model.config import ModelConfig
        >>> round(train_memory_bytes(ModelConfig(vocab_size=65), 16) / 2**20)  # the tiny preset: about 50 MiB
        48
    """
    tokens = batch_size * config.block_size
    weights_and_state = 16 * config.num_params()  # fp32 weight, gradient, two moments
    activations = 34 * tokens * config.n_embd * config.n_layer
    logits = 3 * 4 * tokens * config.vocab_size  # logits, softmax, gradient
    return weights_and_state + activations + logits


@dataclass(frozen=True)
class Calibration:
    """This machine as two numbers: fixed seconds per step, and sustained training FLOP/s."""

    overhead_s: float
    flops_per_s: float
    device: str = "cpu"


def estimate_step_seconds(config: ModelConfig, batch_size: int, calibration: Calibration) -> float:
    return calibration.overhead_s + train_flops_per_step(config, batch_size) / calibration.flops_per_s


def time_steps(config: ModelConfig, batch_size: int, device, steps: int = 3, warmup: int = 2, precision: str = "auto") -> float:
    """Median seconds of a real training step (forward, backward, clip, optimizers) on random tokens."""
    from llm_core.training.loop import build_model

    cfg = TrainConfig()
    model = build_model(config, seed=0, device=device)
    optimizers = build_optimizers(model, cfg.lr, cfg.muon_lr)
    gen = torch.Generator().manual_seed(0)
    bf16 = use_bf16(torch.device(device), precision)
    keep_freed_memory()  # as the training loop does, so that the steps timed here run as its steps will
    timings = []
    for i in range(warmup + steps):
        x = torch.randint(config.vocab_size, (batch_size, config.block_size), generator=gen).to(device)
        t0 = time.perf_counter()
        with autocast(model.device, bf16):
            _, loss = model(x, x)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            timings.append(time.perf_counter() - t0)
    return sorted(timings)[len(timings) // 2]


def calibrate(device="cpu", vocab_size: int = 65) -> Calibration:
    """Fit overhead and rate from the nano and tiny presets (about a second on a 2-core CPU)."""
    points = []
    with threads(TRAINING_THREADS):  # timed as a training job runs, whatever thread asks
        for preset, batch in (("nano", 8), ("tiny", 16)):
            config = model_preset(preset, vocab_size)
            points.append((train_flops_per_step(config, batch), time_steps(config, batch, device)))
    (f1, t1), (f2, t2) = points
    overall = f2 / t2  # what the tiny step achieved, overhead included: the rate is at least this
    rate = (f2 - f1) / (t2 - t1) if t2 > t1 else 10 * overall
    rate = min(max(rate, overall), 10 * overall)  # noisy timings (a busy machine) must not give absurd rates
    overhead = max(0.0, t1 - f1 / rate)
    return Calibration(overhead_s=overhead, flops_per_s=rate, device=str(torch.device(device).type))


def calibration_job(stop, device: str = "cpu", vocab_size: int = 65):
    """`calibrate` as a worker job (`llm_core.workers.run_target`): no records, the Calibration as its
    payload. A server measures its machine this way in a worker process, as a training job runs (its
    priority and threads), so that the timed steps never hold the server's own interpreter lock.

    >>> from llm_core.workers import result_of
    >>> result_of(calibration_job, ("cpu",), backend="thread").flops_per_s > 0
    True
    """
    return calibrate(device, vocab_size)
    yield  # never reached: it makes this a generator, which is what the workers drive
