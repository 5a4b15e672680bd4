"""Where the model runs: CUDA when present, the CPU otherwise, and the matching precision.

What it is: device selection, a human-readable description of it, and the autocast context
used for training (bf16 on CUDA; bf16 on a CPU whose matmuls are measured faster in bf16).
What it is not: multi-GPU or distributed training.
"""

from __future__ import annotations

import contextlib
import ctypes
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


# glibc's mallopt parameters (malloc.h): the size from which an allocation gets its own mmap,
# and how much free memory at the top of the heap is kept rather than given back to the system.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_MMAP_BELOW = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit systems
KEEP_FREE_UP_TO = 64 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the system.

    Why (measured on the 2-core machine, 60 steps of the tiny preset in a loop; `benchmarks/cpu_step.py
    --plain-malloc` compares): a training step frees its activations (a few MB each for the tiny
    preset) and allocates them again in the next step. By default glibc gives such memory back, as
    mmap'd chunks or by trimming the heap, so the next step touches fresh pages: 2,000-7,000 page
    faults a step, and the step took 38.6-44.0 ms instead of 35.1-36.6 ms. Fixed thresholds keep up
    to 64 MB free in the heap and put allocations under 32 MB there (a fixed mmap threshold also
    stops glibc moving it). glibc raises its thresholds by itself once a large chunk is freed (a
    big evaluation batch does that), so a process that has freed one gains less (the README).
    Process-wide and idempotent; True where set (Linux with glibc), False elsewhere, where it
    changes nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_MMAP_BELOW)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREE_UP_TO))
    except (OSError, AttributeError):
        return False


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
