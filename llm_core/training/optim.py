"""Optimizers: Muon for the weight matrices inside the blocks, AdamW for everything else.

What it is: a short, readable Muon (momentum, then the update matrix is orthogonalised by a few
Newton-Schulz iterations, so every direction of the matrix moves by a similar amount), and the
function that splits a model's parameters between Muon and AdamW.
What it is not: a general optimizer library. `torch.optim.Muon` exists too; this one runs its
Newton-Schulz iterations in bf16 where bf16 matmuls are faster (CUDA, and CPUs with AVX-512 BF16
or AMX: about 2x faster for our small matrices, as in Keller Jordan's reference implementation)
and in fp32 elsewhere (a CPU without them runs bf16 matmuls 2.4x slower than fp32: measured
28 against 62 ms for the tiny preset's matrices), and treats all matrices of one shape as a batch.
"""

from __future__ import annotations

import torch

from llm_core.model.device import cpu_bf16_is_faster
from llm_core.model.gpt import GPT


def newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """Approximately the nearest semi-orthogonal matrix to G (batched over leading dims).

    The quintic iteration X <- aX + b(XX^T)X + c(XX^T)^2 X pushes every singular value of X
    towards 1. Coefficients from Keller Jordan's Muon.

        >>> G = torch.tensor([[3.0, 0.0], [0.0, 0.5]])  # singular values 3 and 0.5, six times apart
        >>> [round(x, 1) for x in newton_schulz(G).float().diagonal().tolist()]  # both pushed to about 1
        [0.7, 1.0]
    """
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.to(dtype).reshape(-1, *G.shape[-2:])  # (N, rows, cols): one batch over every leading dim
    transposed = G.size(-2) > G.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        A = X @ X.mT
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b A + c A A in one call, and a X + B X below: 8.5 -> 5.0 ms (benchmarks/cpu_step.py)
        X = torch.baddbmm(X, B, X, beta=a)  # a X + B X
    if transposed:
        X = X.mT
    return X.reshape(G.shape)


class Muon(torch.optim.Optimizer):
    """MomentUm Orthogonalized by Newton-Schulz, for 2-D weight matrices only."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, weight_decay: float = 0.0, ns_steps: int = 5):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps))
        devices = set()
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"Muon takes 2-D matrices only, got a parameter of shape {tuple(p.shape)}")
                devices.add(p.device.type)
        # the Newton-Schulz iterations' precision: bf16 where its matmuls are faster (see the docstring)
        self.ns_dtype = torch.bfloat16 if "cuda" in devices or cpu_bf16_is_faster() else torch.float32

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            by_shape: dict[tuple, list[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is not None:
                    by_shape.setdefault(tuple(p.shape), []).append(p)
            for shape, params in by_shape.items():
                # One call for all matrices of a shape (torch._foreach_*, as torch.optim's own
                # optimizers do) instead of three small ops per matrix: the tiny preset's Muon step
                # 7.6-8.0 -> 7.1 ms on the CPU. tests/test_optim.py pins it to the per-matrix maths.
                grads = [p.grad for p in params]
                for p in params:
                    if "momentum_buffer" not in self.state[p]:
                        self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                bufs = [self.state[p]["momentum_buffer"] for p in params]
                torch._foreach_lerp_(bufs, grads, 1 - group["momentum"])
                updates = torch._foreach_lerp(grads, bufs, group["momentum"])  # Nesterov
                ortho = newton_schulz(torch.stack(updates), group["ns_steps"], dtype=self.ns_dtype)  # (N, rows, cols)
                scale = max(1.0, shape[0] / shape[1]) ** 0.5
                if group["weight_decay"]:
                    torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
                torch._foreach_add_(params, list(ortho.to(params[0].dtype).unbind(0)), alpha=-group["lr"] * scale)


def build_optimizers(model: GPT, lr: float, muon_lr: float, weight_decay: float = 0.0) -> list[torch.optim.Optimizer]:
    """Muon for the blocks' matrices (when muon_lr > 0), AdamW for embeddings, head and norms.

    Each param group remembers its peak rate as `base_lr`; the schedule scales from it.
    """
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # frozen references stay out
    in_blocks = lambda name: name.startswith("blocks.") or ".blocks." in name  # also a wrapped GPT's blocks
    matrices = [p for n, p in trainable if p.dim() == 2 and in_blocks(n)]
    rest = [p for n, p in trainable if not (p.dim() == 2 and in_blocks(n))]
    fused = dict(fused=True)  # one kernel for all of AdamW's tensors, on CUDA and (since torch 2.4) on the CPU
    if muon_lr > 0:
        optimizers = [
            Muon(matrices, lr=muon_lr, weight_decay=weight_decay),
            torch.optim.AdamW(rest, lr=lr, betas=(0.9, 0.99), weight_decay=0.0, **fused),
        ]
    else:
        groups = [dict(params=matrices, weight_decay=weight_decay), dict(params=rest, weight_decay=0.0)]
        optimizers = [torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), **fused)]
    for opt in optimizers:
        for group in opt.param_groups:
            group["base_lr"] = group["lr"]
    return optimizers
