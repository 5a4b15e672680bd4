"""A decoder-only GPT with a fast path for training and a trace path for looking inside.

What it is: token + position embeddings, `n_layer` pre-norm transformer blocks (causal
self-attention, then an MLP), a final norm and a linear head that scores every token of the
vocabulary as the next one. Three ways to run it:
  - `forward(idx, targets)`: the fast path (`F.scaled_dot_product_attention`), used for training;
  - `forward(idx, kv_cache=cache)`: the same, but keeps each layer's keys and values so generation
    feeds one new token per step instead of the whole context;
  - `trace(idx)`: the teaching path, which computes attention explicitly and returns every
    layer's and head's attention pattern, the residual stream after each block, what each block's
    attention and MLP added, and each layer's next-token prediction (the logit lens).
A test proves the fast and trace paths give the same logits.
What it is not: no dropout, no sampling (see `sample.py`), no training loop (see `train.py`).

Design choices, measured on Tiny Shakespeare (see `python -m llm_core.bench`): RMSNorm without
bias, squared-ReLU MLP, no biases, a zero-initialised output projection in every block. The
position encoding is a learned table by default because the Embeddings chapter shows it; rotary
positions are available (`position="rope"`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_core.model.config import ModelConfig


class RMSNorm(nn.Module):
    """Scale each vector to unit root-mean-square, then by a learned per-channel gain."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_grad_enabled():
            return RMSNormFunction.apply(x, self.weight, self.eps)  # training on the CPU: fewer passes (below)
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)


class RMSNormFunction(torch.autograd.Function):
    """F.rms_norm with its backward written out, for training on the CPU.

    On the CPU, F.rms_norm and its autograd backward are a chain of small ops (square, mean, add,
    rsqrt, two products; about ten more backward), each a pass over the (batch, context, width)
    activations. This takes the mean square from one norm, keeps the normalised x for backward,
    and computes dx = (g w - x_hat mean(g w x_hat)) / rms with a dot product and one addcmul:
    measured 0.49 against 0.72 ms forward and backward for the tiny preset's (16, 128, 128), nine
    norms a step (`benchmarks/cpu_step.py`). Tests pin it to F.rms_norm, values and gradients.
    """

    @staticmethod
    def forward(ctx, x, weight, eps):
        width = x.size(-1)
        rstd = torch.linalg.vector_norm(x, dim=-1, keepdim=True).mul_(width**-0.5).square_().add_(eps).rsqrt_()  # (..., 1)
        x_hat = x * rstd
        ctx.save_for_backward(x_hat, rstd, weight)
        return x_hat * weight

    @staticmethod
    def backward(ctx, grad):
        x_hat, rstd, weight = ctx.saved_tensors
        grad_w = grad * weight
        mean_dot = torch.linalg.vecdot(grad_w, x_hat).unsqueeze(-1).div_(-x_hat.size(-1))  # -mean(g w x_hat), (..., 1)
        grad_x = torch.addcmul(grad_w, x_hat, mean_dot).mul_(rstd)
        grad_weight = (grad * x_hat).flatten(0, -2).sum(0)
        return grad_x, grad_weight, None


def rotary_tables(head_dim: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (length, 1, head_dim) for rotary position embedding at positions 0..length-1.

    Channel pair (i, i + hd/2) turns by angle position * 10000^(-2i/hd); both halves of a row hold
    the pair's cosine, and the sine table's second half is negated (see `apply_rotary`)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))  # (hd/2,)
    angles = torch.arange(length).float()[:, None] * inv_freq[None, :]  # (T, hd/2)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat((cos, cos), -1)[:, None, :], torch.cat((sin, -sin), -1)[:, None, :]  # (T, 1, hd): broadcast over heads


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (i, i + hd/2) of x (B, T, H, hd) by an angle that grows with position.

    Each pair (a, b) becomes (a cos + b sin, b cos - a sin): that is x * cos + (x with its halves
    swapped) * sin, with the tables of `rotary_tables`. Written this way it is three elementwise
    operations instead of seven (measured a third less time forward and backward for the tiny
    preset).
    """
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.addcmul(x * cos, x.roll(x.size(-1) // 2, dims=-1), sin)


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to the context length.

    Layout (n_layer, batch, block_size, n_head, head_dim): the keys of one position are one
    contiguous row of n_embd numbers, so a generated token's keys and values are written by one
    call each. `mask` (block_size,) holds 0 for the positions stored so far and -inf after them:
    the one-token path attends over a fixed span of the cache, and the mask hides what is not
    written yet, which costs one write per token instead of a slice per layer.
    """

    def __init__(self, config: ModelConfig, batch_size: int, device, dtype=torch.float32):
        shape = (config.n_layer, batch_size, config.block_size, config.n_head, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, T, H, hd)
        self.v = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, T, H, hd)
        self.mask = torch.full((config.block_size,), float("-inf"), device=device, dtype=dtype)
        self._length = 0  # tokens stored so far
        self.plan = None  # GPT.decode_next's prepared weights and buffers (a DecodePlan), made on first use

    @property
    def length(self) -> int:
        return self._length

    @length.setter
    def length(self, n: int) -> None:
        self._length = n
        self.mask[:n] = 0.0
        self.mask[n:] = float("-inf")

    def reset(self) -> None:
        self.length = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.rope = config.position == "rope"
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x, rotary=None, kv_cache: KVCache | None = None, layer: int = 0, return_weights=False):
        B, T, C = x.size()
        H, hd = self.n_head, self.head_dim
        qkv = self.qkv(x).view(B, T, 3 * H, hd)
        q, k, v = qkv.split(H, dim=2)  # (B, T, H, hd) each
        if self.rope:
            # One rotation for the queries and keys of all heads together (2H rows side by side).
            q, k = apply_rotary(qkv[:, :, : 2 * H], *rotary).split(H, dim=2)  # (B, T, H, hd) each

        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            kv_cache.k[layer, :B, past : past + T] = k
            kv_cache.v[layer, :B, past : past + T] = v
            k = kv_cache.k[layer, :B, : past + T]  # (B, past+T, H, hd)
            v = kv_cache.v[layer, :B, : past + T]  # (B, past+T, H, hd)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T or past+T, hd)

        weights = None
        if return_weights:
            # The teaching path: softmax(q k^T / sqrt(d) + causal mask), kept for display.
            weights = attention_weights(q.float(), k.float(), past)  # (B, H, T, past+T)
            y = weights.to(v.dtype) @ v  # (B, H, T, hd)
        elif q.device.type == "cpu" and q.dtype == torch.bfloat16:
            # Measured: on the CPU, SDPA's bf16 kernel is 3-5x slower than plain bf16 matmuls for
            # head sizes of 16-64 (see bench), so bf16 training takes this path.
            y = causal_attention_matmuls(q, k, v, past)  # (B, H, T, hd)
        elif past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hd)
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v)  # one new query sees every cached key
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=~causal_mask(T, past, x.device))
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.proj(y), weights


def attention_weights(q: torch.Tensor, k: torch.Tensor, past: int = 0) -> torch.Tensor:
    """softmax(q k^T / sqrt(head_dim)) with the causal mask: (B, H, T, past+T), each row sums to 1."""
    T, head_dim = q.size(-2), q.size(-1)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head_dim))  # (B, H, T, past+T)
    scores = scores.masked_fill(causal_mask(T, past, q.device), float("-inf"))
    return F.softmax(scores, dim=-1)


def causal_attention_matmuls(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: int = 0) -> torch.Tensor:
    """softmax(q k^T / sqrt(head_dim) + causal mask) v from plain batched matmuls: (B, H, T, hd).

    The same maths as `attention_weights(q, k, past) @ v`, arranged for the CPU: the scale goes on
    the queries (a quarter of the scores' size at T = 128, hd = 32), which also lays them out for
    the matmul, and the mask rides in the matmul itself (`baddbmm`: mask + q k^T) instead of a
    product and a masked fill over the (T, past+T) scores: measured 2.3 against 3.2 ms a layer,
    forward and backward in bf16, for the tiny preset (`benchmarks/cpu_step.py`).
    """
    B, H, T, hd = q.shape
    S = k.size(-2)  # past + T
    mask = torch.zeros(T, S, dtype=q.dtype, device=q.device).masked_fill_(causal_mask(T, past, q.device), float("-inf"))
    queries = (q * (1.0 / math.sqrt(hd))).reshape(B * H, T, hd)
    scores = torch.baddbmm(mask, queries, k.transpose(-2, -1).reshape(B * H, hd, S))  # (B*H, T, S)
    return F.softmax(scores, dim=-1).view(B, H, T, S) @ v  # (B, H, T, hd)


def causal_mask(T: int, past: int, device) -> torch.Tensor:
    """True where query i (at position past+i) may NOT look: keys after itself. Shape (T, past+T)."""
    return torch.ones(T, past + T, dtype=torch.bool, device=device).triu(diagonal=past + 1)


class ReLUSquared(torch.autograd.Function):
    """relu(x)^2, the MLP's activation, with a backward of two elementwise products: grad * 2 relu(x).

    Written out because autograd's own backward of relu(x).square() takes five passes over the
    (batch, context, 4 x width) activations (pow's two products, a copy, relu's mask): measured a
    sixth of the tiny preset's training step on the CPU.
    """

    @staticmethod
    def forward(ctx, x):
        r = torch.relu(x)
        ctx.save_for_backward(r)
        return r * r

    @staticmethod
    def backward(ctx, grad):
        (r,) = ctx.saved_tensors
        return torch.mul(grad, r).mul_(2.0)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, config.mlp_ratio * config.n_embd, bias=False)
        self.proj = nn.Linear(config.mlp_ratio * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        return self.proj(ReLUSquared.apply(self.fc(x)))  # squared ReLU: relu(h)^2


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.mlp_norm = RMSNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, rotary=None, kv_cache=None, layer=0, return_parts=False):
        attn_out, weights = self.attn(self.attn_norm(x), rotary, kv_cache, layer, return_weights=return_parts)
        x = x + attn_out
        mlp_out = self.mlp(self.mlp_norm(x))
        x = x + mlp_out
        if return_parts:
            return x, (weights, attn_out, mlp_out)
        return x


# Rotary positions as one (hd, hd) matrix per position while the table stays this small (the tiny
# preset: 0.5 MB); otherwise two elementwise products, as in `apply_rotary`.
ROTATION_TABLE_BYTES = 8 * 2**20


class DecodePlan:
    """A model's weights rearranged for `GPT.decode_next`, made once per set of weights.

    - Every RMSNorm's gain is folded into the matrix that reads its output:
      (x * r * g) @ W^T = r * (x @ (g * W)^T) with r = 1 / rms(x), so a norm costs one dot product.
    - 1/sqrt(head_dim) is folded into the query rows of the qkv matrix.
    - Matrices are stored transposed, (in, out), for `torch.mm` of a (1, in) row (measured faster
      than `torch.mv` here).
    - Rotary positions become one rotation matrix per position (blocks of 2x2 rotations of the
      channel pairs (i, i + hd/2)), applied to the queries and keys of all heads by one matmul.
    The model's own parameters are left as they are; `GPT.decode_next` remakes the plan when any
    of them changed.
    """

    def __init__(self, model: GPT):
        cfg = model.config
        C, hd, T = cfg.n_embd, cfg.head_dim, cfg.block_size
        self.eps = model.norm.eps
        self.layers = []
        with torch.no_grad():
            for block in model.blocks:
                w_qkv = block.attn.qkv.weight * block.attn_norm.weight  # (3C, C)
                w_qkv[:C] *= 1.0 / math.sqrt(hd)
                w_fc = block.mlp.fc.weight * block.mlp_norm.weight
                self.layers.append(tuple(m.t().contiguous() for m in (w_qkv, block.attn.proj.weight, w_fc, block.mlp.proj.weight)))
            head = model.head.weight if model.head is not None else model.wte.weight
            self.head = (head * model.norm.weight).t().contiguous()  # (C, V)
            self.wte = model.wte.weight.detach()
            self.wpe = model.wpe.weight.detach() if model.wpe is not None else None
            self.rotation = self.cos = self.sin = None
            if cfg.position == "rope":
                half = hd // 2
                cos, sin = model.rope_cos[:, 0], model.rope_sin[:, 0]  # (T, hd), as rotary_tables
                if T * hd * hd * cos.element_size() <= ROTATION_TABLE_BYTES:
                    # row-vector convention: rotated = x @ R, so R[i, i] = cos, R[i + h, i] = sin,
                    # R[i, i + h] = -sin, R[i + h, i + h] = cos (as apply_rotary)
                    c, s_, i = cos[:, :half], sin[:, :half], torch.arange(half)
                    R = torch.zeros(T, hd, hd, dtype=cos.dtype, device=cos.device)
                    R[:, i, i], R[:, i + half, i], R[:, i, i + half], R[:, i + half, i + half] = c, s_, -s_, c
                    self.rotation = list(R.to(self.wte.dtype).unbind(0))
                else:
                    self.cos, self.sin = cos.to(self.wte.dtype), sin.to(self.wte.dtype)  # (T, hd)

    def rotate(self, qk: torch.Tensor, pos: int, out: torch.Tensor) -> None:
        """Queries and keys (2H, hd) at position pos, rotated into `out` (copied if positions are learned)."""
        if self.rotation is not None:
            torch.mm(qk, self.rotation[pos], out=out)
        elif self.cos is not None:
            torch.mul(qk, self.cos[pos], out=out).addcmul_(qk.roll(qk.size(-1) // 2, -1), self.sin[pos])
        else:
            out.copy_(qk)


class DecodeBuffers:
    """One cache's working memory for `GPT.decode_next`: the buffers every step writes into, and
    views of the cache that the attention reads.

    The attention reads a span of the cache, the first multiple of 64 positions that covers the
    tokens stored (the cache's mask hides the rest), so a step does not slice every layer's
    cache and a long context is not read in full while the text is short.
    """

    SPAN = 64

    def __init__(self, model: GPT, cache: KVCache):
        self.owner = model
        self.weights = weights = model._prepared_for_decoding()
        cpu_float32 = cache.k.device.type == "cpu" and cache.k.dtype == torch.float32 and weights.head.dtype == torch.float32
        self.numpy = NumpyDecoder(weights, cache) if NUMPY_DECODE and cpu_float32 else None
        if self.numpy is not None:
            return  # the NumPy step keeps its own buffers; the PyTorch ones below would go unused
        L, _, T, H, hd = cache.k.shape
        C = H * hd
        like = dict(dtype=cache.k.dtype, device=cache.k.device)
        x, qkv = torch.zeros(1, C, **like), torch.zeros(1, 3 * C, **like)
        rot, y = torch.zeros(2 * H, hd, **like), torch.zeros(H, 1, hd, **like)
        h = torch.zeros(1, weights.layers[0][2].size(1), **like)
        qkv_rows = qkv.view(3 * H, hd)
        self.buffers = (x, x.view(C), qkv, qkv_rows[: 2 * H], qkv_rows[2 * H :], rot, rot[:H].view(H, 1, hd), rot[H:], y, y.view(1, C), h)
        self.keys = [cache.k[i, 0] for i in range(L)]  # (T, H, hd) each
        self.values = [cache.v[i, 0] for i in range(L)]
        self.mask = cache.mask
        self.block_size = T
        self._spans: dict[int, tuple] = {}

    def span_views(self, pos: int) -> tuple:
        span = min(self.block_size, (pos // self.SPAN + 1) * self.SPAN)
        views = self._spans.get(span)
        if views is None:
            keys_t = [K[:span].permute(1, 2, 0) for K in self.keys]  # (H, hd, span)
            values_t = [V[:span].transpose(0, 1) for V in self.values]  # (H, span, hd)
            views = self._spans[span] = (self.keys, self.values, self.mask[:span].view(1, 1, span), keys_t, values_t)
        return views



# A float32 model on the CPU decodes through NumPy (`NumpyDecoder`); tests set this False to pin the
# PyTorch path, which CUDA and bf16 models take when they decode themselves (generation gives a small one a
# float32 CPU copy instead: `GPT.decoding_model`).
NUMPY_DECODE = True
# Generation one token at a time (batch 1) runs from a float32 copy on the CPU where the model is on a GPU (or not
# float32) and has at most this many parameters (`GPT.decoding_model`). At batch 1 the cost is the number of calls:
# on 6 Dec 2026 the bundled model (0.8M) generated 1,123 tokens/s on an H100, each token a few dozen small GPU
# calls, and a 4.8M-parameter model 1,713 tokens/s through NumPy on one core of the 2-core development machine.
CPU_DECODE_MAX_PARAMS = 5_000_000


class NumpyDecoder:
    """`GPT.decode_next`'s step in NumPy, for a float32 model on the CPU.

    At one token per step the cost is the number of calls, not the arithmetic, and a NumPy call on
    a vector of a few hundred numbers costs about a microsecond where a PyTorch call costs several:
    on the bundled model the step alone ran 1.8-2x faster, whole generation with sampling 1.2-1.5x
    (`python -m llm_core.bench --only generation`).
    It reads and writes the cache's own memory (NumPy views of its tensors), so a prompt stored by
    `forward(idx, kv_cache=cache)` and the steps after it share one cache, and it attends over
    exactly the positions stored (a NumPy slice is cheap), so the mask is only kept up to date.
    """

    def __init__(self, weights: DecodePlan, cache: KVCache):
        L, _, T, H, hd = cache.k.shape
        C = H * hd
        self.C, self.H, self.eps = C, H, weights.eps
        self.layers = [tuple(m.numpy() for m in layer) for layer in weights.layers]
        self.head, self.wte = weights.head.numpy(), weights.wte.numpy()
        self.wpe = weights.wpe.numpy() if weights.wpe is not None else None
        self.rotation = [r.numpy() for r in weights.rotation] if weights.rotation is not None else None
        self.cos = weights.cos.numpy() if weights.cos is not None else None
        self.sin = weights.sin.numpy() if weights.sin is not None else None
        self.keys, self.values = cache.k[:, 0].numpy(), cache.v[:, 0].numpy()  # (L, T, H, hd) views of the cache
        self.mask = cache.mask.numpy()
        self.x = np.zeros(C, dtype=np.float32)
        self.qkv = np.zeros(3 * C, dtype=np.float32)
        self.rot = np.zeros((2 * H, hd), dtype=np.float32)  # rotated queries, then keys
        self.h = np.zeros(self.layers[0][2].shape[1], dtype=np.float32)

    def step(self, token: int, pos: int) -> np.ndarray:
        """Logits (V,) for `token` at position `pos`; its keys and values join the cache."""
        C, H, eps, x, qkv, rot, h = self.C, self.H, self.eps, self.x, self.qkv, self.rot, self.h
        if self.wpe is None:
            x[:] = self.wte[token]
        else:
            np.add(self.wte[token], self.wpe[pos], out=x)
        self.mask[pos] = 0.0
        n = pos + 1
        qk, v = qkv[: 2 * C].reshape(2 * H, -1), qkv[2 * C :].reshape(H, -1)
        q = rot[:H, None, :]  # (H, 1, hd)
        for (w_qkv, w_proj, w_fc, w_out), K, V in zip(self.layers, self.keys, self.values):
            np.dot(x * (1.0 / math.sqrt(float(x @ x) / C + eps)), w_qkv, out=qkv)  # the norm's gain is in w_qkv
            if self.rotation is not None:
                np.dot(qk, self.rotation[pos], out=rot)
            elif self.cos is not None:
                np.multiply(qk, self.cos[pos], out=rot)
                rot += np.roll(qk, qk.shape[-1] // 2, axis=-1) * self.sin[pos]
            else:
                rot[:] = qk
            K[pos], V[pos] = rot[H:], v
            scores = np.matmul(q, K[:n].transpose(1, 2, 0))  # (H, 1, n); queries already / sqrt(hd)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            x += np.matmul(scores, V[:n].transpose(1, 0, 2)).reshape(C) @ w_proj  # (H, 1, hd) -> (C,)
            r_squared = 1.0 / (float(x @ x) / C + eps)  # the MLP's norm, applied to its output (as the PyTorch path)
            np.dot(x, w_fc, out=h)
            np.maximum(h, 0.0, out=h)
            h *= h
            x += (h @ w_out) * r_squared
        return (x @ self.head) * (1.0 / math.sqrt(float(x @ x) / C + eps))  # a new array: callers keep it


@dataclass
class Trace:
    """Everything the trace path saw for one prompt (batch of 1, positions 0..T-1)."""

    logits: torch.Tensor  # (T, V) final next-token logits
    attention: torch.Tensor  # (n_layer, n_head, T, T) attention weights; rows sum to 1
    residual: torch.Tensor  # (n_layer + 1, T, C) the stream after the embeddings and after each block
    attn_out: torch.Tensor  # (n_layer, T, C) what each block's attention added to the stream
    mlp_out: torch.Tensor  # (n_layer, T, C) what each block's MLP added to the stream
    lens_logits: torch.Tensor  # (n_layer + 1, T, V) final norm + head applied to each residual: the logit lens


class GPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config.validate()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.position == "learned" else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd)
        self.head = None if config.tie_embeddings else nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.position == "rope":
            cos, sin = rotary_tables(config.head_dim, config.block_size)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        std = self.config.n_embd**-0.5
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                # The residual branches start as identity: every block's output projection is zero.
                nn.init.zeros_(p)
            elif name in ("wte.weight", "wpe.weight"):
                nn.init.normal_(p, std=1.0 if not self.config.tie_embeddings else std)
            elif name == "head.weight":
                nn.init.zeros_(p)  # uniform first guess: loss starts at ln(vocab_size)
            else:
                nn.init.normal_(p, std=std)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return self.wte.weight.device

    def _embed(self, idx: torch.Tensor, start: int):
        B, T = idx.size()
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than the context length {self.config.block_size}")
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            return x + self.wpe(torch.arange(start, start + T, device=idx.device)), None  # (B, T, C)
        return x, (self.rope_cos[start : start + T], self.rope_sin[start : start + T])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.head(x) if self.head is not None else x @ self.wte.weight.t()  # (B, T, V)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The final normalised vectors (B, T, C) the output head reads: a reward model puts its own head here."""
        x, rotary = self._embed(idx, 0)
        for i, block in enumerate(self.blocks):
            x = block(x, rotary, None, i)
        return self.norm(x)

    def forward(self, idx, targets=None, kv_cache: KVCache | None = None):
        """Logits (B, T, V) for every position, and the mean cross-entropy if targets are given.

        targets (B, T) hold the next token of each position; -100 marks a position to ignore
        (fine-tuning uses it to learn only the response, not the prompt).
        """
        start = kv_cache.length if kv_cache is not None else 0
        x, rotary = self._embed(idx, start)
        for i, block in enumerate(self.blocks):
            x = block(x, rotary, kv_cache, i)
        if kv_cache is not None:
            kv_cache.length += idx.size(1)
        logits = self._logits(x)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def decode_next(self, token: int, cache: KVCache) -> torch.Tensor:
        """The generation fast path: feed one token (batch 1) at position `cache.length`; logits (V,).

        The same maths as `forward(idx, kv_cache=cache)`, rearranged so that one token costs as
        few PyTorch calls as possible (at one token per step the cost is the number of calls and
        the bytes of weights read, not arithmetic): the weights come prepared (`DecodePlan`), every
        intermediate goes into a buffer made once per cache, and a norm is one dot product. A
        float32 model on the CPU takes the same steps in NumPy (`NumpyDecoder`). Tests pin both to
        `forward` position by position, and generation through it to the uncached path.
        """
        plan = cache.plan
        if plan is None or plan.owner is not self:
            plan = cache.plan = DecodeBuffers(self, cache)
        pos = cache.length
        if pos >= self.config.block_size:
            raise ValueError(f"the cache is full ({self.config.block_size} tokens); start a new window")
        if plan.numpy is not None:
            cache._length = pos + 1
            return torch.from_numpy(plan.numpy.step(token, pos))
        w, C, eps = plan.weights, self.config.n_embd, plan.weights.eps
        x, xv, qkv, qk, v, rot, q, k, y, y_row, h = plan.buffers
        if w.wpe is None:
            xv.copy_(w.wte[token])
        else:
            torch.add(w.wte[token], w.wpe[pos], out=xv)
        cache.mask[pos] = 0.0  # position pos becomes visible to itself and every later query
        cache._length = pos + 1
        keys, values, scores_mask, keys_t, values_t = plan.span_views(pos)
        for (w_qkv, w_proj, w_fc, w_out), K, V, K_t, V_t in zip(w.layers, keys, values, keys_t, values_t):
            # attention: normalise (the norm's gain is inside w_qkv), project, rotate, attend
            xn = x * (1.0 / math.sqrt(float(xv.dot(xv)) / C + eps))  # measured faster than mul(..., out=)
            torch.mm(xn, w_qkv, out=qkv)  # (1, 3C): queries (already / sqrt(hd)), keys, values
            w.rotate(qk, pos, rot)  # (2H, hd) rotary positions on queries and keys (a copy if learned)
            K[pos] = k  # this position's keys and values join the cache
            V[pos] = v
            scores = torch.baddbmm(scores_mask, q, K_t)  # (H, 1, span); -inf where nothing is stored yet
            torch.bmm(torch.softmax(scores, dim=-1), V_t, out=y)  # (H, 1, hd)
            x.addmm_(y_row, w_proj)
            # MLP: relu(r z)^2 = r^2 relu(z)^2 for the norm's r > 0, so r^2 scales the output instead
            r_squared = 1.0 / (float(xv.dot(xv)) / C + eps)
            torch.mm(x, w_fc, out=h).relu_().square_()
            x.addmm_(h, w_out, alpha=r_squared)
        logits = torch.mm(x, w.head)  # (1, V)
        return logits.mul_(1.0 / math.sqrt(float(xv.dot(xv)) / C + eps)).view(-1)  # (V,)

    def _weights_key(self) -> tuple:
        """What changes when any parameter is changed or replaced."""
        # an inference tensor (made under torch.inference_mode) keeps no version counter: its address alone
        return tuple((p.data_ptr(), -1 if p.is_inference() else p._version) for p in self.parameters())

    def float32_on_cpu(self) -> GPT:
        """This model in float32 on the CPU: itself where it already is, else a copy kept while the weights stay
        as they are and remade once one changes. Generation one token at a time (`decoding_model`) and the
        compression coder run such a copy.

        >>> from llm_core.model.config import model_preset
        >>> model = GPT(model_preset("nano", 10))
        >>> model.float32_on_cpu() is model
        True
        >>> copy = model.to(torch.bfloat16).float32_on_cpu()
        >>> copy.wte.weight.dtype, copy is model.float32_on_cpu()
        (torch.float32, True)
        """
        weight = self.wte.weight
        if weight.device.type == "cpu" and weight.dtype == torch.float32:
            return self
        key = self._weights_key()
        held = getattr(self, "_cpu_copy", None)
        if held is None or held[0] != key:
            with torch.inference_mode(False), torch.no_grad():  # an ordinary model, whatever mode the caller is in
                copy = GPT(self.config)
                copy.load_state_dict({k: v.detach().float().cpu() for k, v in self.state_dict().items()})
            self._cpu_copy = held = (key, copy.eval())
        return held[1]

    def decoding_model(self) -> GPT:
        """The model that generation one token at a time should run: this one, or, for a model of at most
        CPU_DECODE_MAX_PARAMS on a GPU or not in float32, its float32 copy on the CPU, which decodes through NumPy."""
        return self if self.num_params() > CPU_DECODE_MAX_PARAMS else self.float32_on_cpu()

    def _prepared_for_decoding(self) -> DecodePlan:
        """The DecodePlan for the weights as they are now; remade when a parameter was changed."""
        key = self._weights_key()
        held = getattr(self, "_decode_plan", None)
        if held is None or held[0] != key:
            self._decode_plan = held = (key, DecodePlan(self))
        return held[1]

    @torch.no_grad()
    def trace(self, idx: torch.Tensor) -> Trace:
        """Run one prompt (1, T) or (T,) through the explicit teaching path and keep everything (on the model's device)."""
        idx = idx.to(self.device)  # token ids made on the CPU, a model on the GPU
        if idx.dim() == 1:
            idx = idx[None]
        x, rotary = self._embed(idx, 0)
        residual, attention, attn_outs, mlp_outs = [x[0]], [], [], []
        for block in self.blocks:
            x, (weights, attn_out, mlp_out) = block(x, rotary, return_parts=True)
            attention.append(weights[0])
            attn_outs.append(attn_out[0])
            mlp_outs.append(mlp_out[0])
            residual.append(x[0])
        residual = torch.stack(residual)  # (L+1, T, C)
        lens_logits = self._logits(residual).float()  # (L+1, T, V): in the model's own dtype, then float32
        residual = residual.float()
        return Trace(
            logits=lens_logits[-1],
            attention=torch.stack(attention).float(),
            residual=residual,
            attn_out=torch.stack(attn_outs).float(),
            mlp_out=torch.stack(mlp_outs).float(),
            lens_logits=lens_logits,
        )
