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
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)


def rotary_tables(head_dim: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (length, 1, head_dim/2) for rotary position embedding at positions 0..length-1."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))  # (hd/2,)
    angles = torch.arange(length).float()[:, None] * inv_freq[None, :]  # (T, hd/2)
    return angles.cos()[:, None, :], angles.sin()[:, None, :]  # (T, 1, hd/2): broadcast over heads


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (i, i + hd/2) of x (B, T, H, hd) by an angle that grows with position."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]  # (B, T, H, hd/2) each
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)  # (B, T, H, hd)


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to the context length."""

    def __init__(self, config: ModelConfig, batch_size: int, device, dtype=torch.float32):
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, H, T, hd)
        self.v = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, H, T, hd)
        self.length = 0  # tokens stored so far
        self.weights = None  # GPT.decode_next keeps flat references to the weights here

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
        q, k, v = self.qkv(x).view(B, T, 3 * H, hd).split(H, dim=2)  # (B, T, H, hd) each
        if self.rope:
            # One rotation for queries and keys together: fewer ops per generated token.
            q, k = apply_rotary(torch.cat((q, k), dim=2), *rotary).split(H, dim=2)  # (B, T, H, hd) each

        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, hd)
        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            kv_cache.k[layer, :B, :, past : past + T] = k
            kv_cache.v[layer, :B, :, past : past + T] = v
            k = kv_cache.k[layer, :B, :, : past + T]  # (B, H, past+T, hd)
            v = kv_cache.v[layer, :B, :, : past + T]  # (B, H, past+T, hd)

        weights = None
        if return_weights:
            # The teaching path: softmax(q k^T / sqrt(d) + causal mask), kept for display.
            weights = attention_weights(q.float(), k.float(), past)  # (B, H, T, past+T)
            y = weights.to(v.dtype) @ v  # (B, H, T, hd)
        elif q.device.type == "cpu" and q.dtype == torch.bfloat16:
            # Measured: on the CPU, SDPA's bf16 kernel is 3-5x slower than these plain bf16
            # matmuls for head sizes of 16-64 (see bench), so bf16 training takes this path.
            y = attention_weights(q, k, past) @ v  # (B, H, T, hd)
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


def causal_mask(T: int, past: int, device) -> torch.Tensor:
    """True where query i (at position past+i) may NOT look: keys after itself. Shape (T, past+T)."""
    return torch.ones(T, past + T, dtype=torch.bool, device=device).triu(diagonal=past + 1)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, config.mlp_ratio * config.n_embd, bias=False)
        self.proj = nn.Linear(config.mlp_ratio * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        h = F.relu(self.fc(x))
        return self.proj(h * h)  # squared ReLU


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

        The same maths as `forward(idx, kv_cache=cache)`, written with matrix-vector products and
        no batch or head reshapes: for one token per step the cost is the number of PyTorch calls,
        not arithmetic (measured about 1.7x faster than `forward` here). A test checks that
        generation through it picks the same tokens as the uncached path.
        """
        cfg = self.config
        H, hd, C, pos = cfg.n_head, cfg.head_dim, cfg.n_embd, cache.length
        if pos >= cfg.block_size:
            raise ValueError(f"the cache is full ({cfg.block_size} tokens); start a new window")
        half, n, scale = hd // 2, pos + 1, 1.0 / math.sqrt(hd)
        if cache.weights is None:  # plain attribute look-ups through nn.Module cost ~50 us a token
            head = self.head.weight if self.head is not None else self.wte.weight
            layers = [
                (b.attn_norm.weight, b.attn.qkv.weight, b.attn.proj.weight, b.mlp_norm.weight, b.mlp.fc.weight, b.mlp.proj.weight)
                for b in self.blocks
            ]
            cache.weights = (layers, self.norm.weight, head, self.norm.eps)
        layers, norm_weight, head, eps = cache.weights
        x = self.wte.weight[token]  # (C,)
        if self.wpe is not None:
            x = x + self.wpe.weight[pos]
        else:
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]  # (1, hd/2)
        for i, (attn_norm, w_qkv, w_proj, mlp_norm, w_fc, w_out) in enumerate(layers):
            qkv = torch.mv(w_qkv, F.rms_norm(x, (C,), attn_norm, eps)).view(3 * H, hd)  # rows: H q, H k, H v
            qk = qkv[: 2 * H]  # (2H, hd)
            if self.wpe is None:
                a, b = qk[:, :half], qk[:, half:]
                qk = torch.cat((a * cos + b * sin, b * cos - a * sin), dim=-1)  # (2H, hd), as apply_rotary
            k_cache, v_cache = cache.k[i, 0], cache.v[i, 0]  # (H, T, hd)
            k_cache[:, pos] = qk[H:]
            v_cache[:, pos] = qkv[2 * H :]
            scores = torch.bmm(qk[:H, None], k_cache[:, :n].mT).mul_(scale)  # (H, 1, n)
            y = torch.bmm(torch.softmax(scores, dim=-1), v_cache[:, :n])  # (H, 1, hd)
            x = x + torch.mv(w_proj, y.view(C))
            h = torch.relu_(torch.mv(w_fc, F.rms_norm(x, (C,), mlp_norm, eps)))
            x = x + torch.mv(w_out, h.mul_(h))
        cache.length += 1
        return torch.mv(head, F.rms_norm(x, (C,), norm_weight, eps))  # (V,)

    @torch.no_grad()
    def trace(self, idx: torch.Tensor) -> Trace:
        """Run one prompt (1, T) or (T,) through the explicit teaching path and keep everything."""
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
        residual = torch.stack(residual).float()  # (L+1, T, C)
        lens_logits = self._logits(residual).float()  # (L+1, T, V)
        return Trace(
            logits=lens_logits[-1],
            attention=torch.stack(attention).float(),
            residual=residual,
            attn_out=torch.stack(attn_outs).float(),
            mlp_out=torch.stack(mlp_outs).float(),
            lens_logits=lens_logits,
        )
