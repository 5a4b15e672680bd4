"""Muon's step, batched with torch._foreach_* over the matrices of one shape, against the same maths
written out one matrix at a time (momentum, Nesterov, Newton-Schulz, the shape's scale, weight decay)."""

import pytest
import torch

from llm_core.training.optim import Muon, newton_schulz


def reference_muon(params, grads_by_step, lr, momentum, weight_decay, ns_steps=5):
    """Muon one matrix at a time, as the optimizer's docstring describes it."""
    params = [p.detach().clone() for p in params]
    bufs = [torch.zeros_like(p) for p in params]
    for grads in grads_by_step:
        for p, g, buf in zip(params, grads, bufs):
            buf.mul_(momentum).add_(g, alpha=1 - momentum)  # buf <- momentum buf + (1 - momentum) g
            update = g + momentum * (buf - g)  # Nesterov: g.lerp(buf, momentum)
            ortho = newton_schulz(update, ns_steps, dtype=torch.float32)
            scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
            p.mul_(1 - lr * weight_decay)
            p.add_(ortho, alpha=-lr * scale)
    return params


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_muon_step_matches_the_maths_written_one_matrix_at_a_time(weight_decay):
    torch.manual_seed(0)
    shapes = [(24, 8), (24, 8), (8, 24), (16, 16), (24, 8)]  # repeated shapes: batched; a tall, a wide and a square one
    params = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
    start = [p.detach().clone() for p in params]
    grads_by_step = [[torch.randn(*s) for s in shapes] for _ in range(3)]
    opt = Muon(params, lr=0.05, momentum=0.9, weight_decay=weight_decay)
    opt.ns_dtype = torch.float32  # the reference's precision: the comparison is of the arrangement, not of bf16 rounding
    for grads in grads_by_step:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
    expected = reference_muon(start, grads_by_step, lr=0.05, momentum=0.9, weight_decay=weight_decay)
    for p, e, s in zip(params, expected, start):
        assert not torch.equal(p.detach(), s)  # it moved
        torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-5)


def test_muon_skips_matrices_without_a_gradient():
    a, b = torch.nn.Parameter(torch.randn(8, 8)), torch.nn.Parameter(torch.randn(8, 8))
    before = b.detach().clone()
    a.grad = torch.randn(8, 8)
    opt = Muon([a, b], lr=0.05)
    opt.step()
    assert torch.equal(b.detach(), before)
    assert "momentum_buffer" in opt.state[a] and "momentum_buffer" not in opt.state[b]
