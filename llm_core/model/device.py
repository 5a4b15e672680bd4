"""Where the model runs: CUDA when present, the CPU otherwise, and the matching precision.

What it is: device selection, a human-readable description of it, and the autocast context
used for training (bf16 on CUDA; bf16 on a CPU whose matmuls are measured faster in bf16).
What it is not: multi-GPU or distributed training.
"""

from __future__ import annotations

import contextlib
import functools
import time

import torch

# torch's intra-op threads at import: one per core unless OMP_NUM_THREADS says otherwise. The
# training threads use this many; the app's page threads use one (see use_threads).
TRAINING_THREADS = torch.get_num_threads()


def use_threads(n: int) -> None:
    """Give the calling thread n threads for its torch ops, leaving other threads as they are.

    Why it matters (measured on the 2-core machine): with libgomp, every thread that runs parallel
    torch ops gets its own OpenMP team. Once the teams hold more threads than there are cores,
    libgomp stops spinning between ops, and a training thread loses a third of its speed (7.4
    against 11-12 steps/s of the tiny preset). So the app's page threads run their small ops on one
    thread, and only training jobs use all the cores.
    """
    torch.get_num_threads()  # torch's once-per-thread set-up runs now, so it cannot undo the next line later
    torch.set_num_threads(max(1, int(n)))


@contextlib.contextmanager
def threads(n: int):
    """use_threads(n) for a block, then the calling thread's previous count again."""
    before = torch.get_num_threads()
    use_threads(n)
    try:
        yield
    finally:
        use_threads(before)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for, but no CUDA device is available here.")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda.")
    return torch.device(name)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return f"CPU: {TRAINING_THREADS} threads"


@functools.cache
def cpu_bf16_is_faster() -> bool:
    """Measure once: is a bf16 matmul clearly faster than fp32 on this CPU (AVX-512 BF16 / AMX)?"""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        x @ y
        start = time.perf_counter()
        for _ in range(20):
            x @ y
        timings[dtype] = time.perf_counter() - start
    return timings[torch.bfloat16] < 0.7 * timings[torch.float32]


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_bf16_is_faster()


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast for the forward pass when enabled; a no-op context otherwise."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
