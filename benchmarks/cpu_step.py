"""Where a training step of the tiny preset goes on the CPU, and the three rewrites that made it shorter.

    PYTHONPATH=. python benchmarks/cpu_step.py [--batch 16] [--repeats 60]

Prints figures; asserts nothing. `--plain-malloc` leaves glibc's malloc at its defaults, as before
the training loop kept freed memory for reuse (`device.keep_freed_memory`). First one step of the tiny preset (batch x 128 characters, bf16
autocast where this CPU is faster in bf16, torch's threads), split into forward, backward, gradient
clipping and the optimizers (median milliseconds), and the same on the half-length windows the
preset's first half trains on (`loop.half_windows`). Then each rewrite beside the plain PyTorch it
replaced, forward and backward on the tiny preset's shapes:

- attention in bf16: `gpt.causal_attention_matmuls` against `attention_weights(q, k) @ v`
  (a product for the scale and a masked fill over the (T, T) scores);
- the norm: `gpt.RMSNormFunction` (backward written out) against `F.rms_norm` and autograd;
- Newton-Schulz (Muon): `optim.newton_schulz` (two `baddbmm` an iteration) against the same
  iteration written as `b * A + c * A @ A` and `a * X + B @ X`, on the tiny preset's matrices.
Tests pin each rewrite to the plain maths (tests/test_model.py, the doctest of newton_schulz).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from llm_core.model import gpt
from llm_core.model.config import model_preset, train_preset
from llm_core.model.device import autocast, cpu_bf16_is_faster, keep_freed_memory, use_bf16
from llm_core.training import optim
from llm_core.training.loop import build_model


def median_ms(fn, repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def step_phases(batch: int, repeats: int, length: int = 128) -> float:
    device = torch.device("cpu")
    model = build_model(model_preset("tiny", 65))
    cfg = train_preset("tiny")
    optimizers = optim.build_optimizers(model, cfg.lr, cfg.muon_lr, cfg.weight_decay)
    bf16 = use_bf16(device, cfg.precision)
    x, y = torch.randint(0, 65, (batch, length)), torch.randint(0, 65, (batch, length))
    params = list(model.parameters())
    phases = {"forward": [], "backward": [], "clip": [], "optimizers": []}
    for i in range(repeats + 5):
        marks = [time.perf_counter()]
        with autocast(device, bf16):
            _, loss = model(x, y)
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        marks.append(time.perf_counter())
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if i >= 5:
            for name, a, b in zip(phases, marks, marks[1:]):
                phases[name].append(1000 * (b - a))
    total = sum(statistics.median(v) for v in phases.values())
    print(f"tiny preset, one step of {batch} x {length} characters, bf16 autocast {bf16}, {torch.get_num_threads()} threads: "
          + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items()) + f" ms; {total:.1f} ms, {batch * length / total * 1000:,.0f} tokens/s")
    return total


def forward_backward(fn, inputs, grad):
    def run():
        for t in inputs:
            t.grad = None
        fn(*inputs).backward(grad)
    return run


def rewrites(batch: int, repeats: int) -> None:
    B, H, T, hd, C = batch, 4, 128, 32, 128
    qkv = torch.randn(B, T, 3 * H, hd, dtype=torch.bfloat16, requires_grad=True)

    def heads(fn):
        def run(qkv):
            q, k, v = (t.transpose(1, 2) for t in qkv.split(H, dim=2))  # (B, H, T, hd), as in the model
            return fn(q, k, v)
        return run

    grad = torch.randn(B, H, T, hd, dtype=torch.bfloat16)
    plain = median_ms(forward_backward(heads(lambda q, k, v: gpt.attention_weights(q, k) @ v), [qkv], grad), repeats)
    ours = median_ms(forward_backward(heads(gpt.causal_attention_matmuls), [qkv], grad), repeats)
    print(f"attention, one layer (bf16, {B} x {H} heads x {T} x {hd}), forward + backward: attention_weights @ v {plain:.2f} ms, causal_attention_matmuls {ours:.2f} ms")

    x = torch.randn(B, T, C, requires_grad=True)
    w = torch.ones(C, requires_grad=True)
    grad = torch.randn(B, T, C)
    plain = median_ms(forward_backward(lambda a, b: F.rms_norm(a, (C,), b, 1e-6), [x, w], grad), repeats)
    ours = median_ms(forward_backward(lambda a, b: gpt.RMSNormFunction.apply(a, b, 1e-6), [x, w], grad), repeats)
    print(f"RMSNorm ({B} x {T} x {C}, fp32), forward + backward: F.rms_norm {plain:.2f} ms, RMSNormFunction {ours:.2f} ms (nine a step)")

    def plain_newton_schulz(G, steps=5, eps=1e-7, dtype=torch.bfloat16):
        a, b, c = (3.4445, -4.7750, 2.0315)
        X = G.to(dtype)
        transposed = G.size(-2) > G.size(-1)
        if transposed:
            X = X.mT
        X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
        for _ in range(steps):
            A = X @ X.mT
            B_ = b * A + c * A @ A
            X = a * X + B_ @ X
        return X.mT if transposed else X

    dtype = torch.bfloat16 if cpu_bf16_is_faster() else torch.float32
    mats = [torch.randn(4, 3 * C, C), torch.randn(4, C, C), torch.randn(4, 4 * C, C), torch.randn(4, C, 4 * C)]  # the tiny preset's four shapes, 4 layers
    plain = median_ms(lambda: [plain_newton_schulz(m, dtype=dtype) for m in mats], repeats)
    ours = median_ms(lambda: [optim.newton_schulz(m, dtype=dtype) for m in mats], repeats)
    print(f"Newton-Schulz, the tiny preset's 16 matrices ({dtype}): b*A + c*A@A and a*X + B@X {plain:.2f} ms, baddbmm {ours:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--plain-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults, as before the training loop kept freed memory (device.keep_freed_memory)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch {torch.__version__}")
    kept = False if args.plain_malloc else keep_freed_memory()
    print(f"freed memory kept for reuse (device.keep_freed_memory, as the training loop does): {kept}")
    full = step_phases(args.batch, args.repeats)
    half = step_phases(args.batch, args.repeats, length=64)  # the preset's first half: loop.half_windows
    print(f"a step on half-length windows takes {half / full:.2f} of a full step")
    rewrites(args.batch, args.repeats)
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
