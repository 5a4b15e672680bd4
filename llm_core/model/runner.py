"""Run an LLM Lab model with nothing but torch and safetensors: the second of "a model is two files".

    python runner.py model.safetensors "ROMEO:" 300

This file stands alone (it imports nothing from llm_core), so it can be downloaded next to a
.safetensors file and run anywhere. The weights file carries its own description (config and
tokenizer) in its header. A test checks that this runner gives the same logits as llm_core.
"""
import json
import math
import re
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open

SPLIT = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def load(path):
    with safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()["llm_lab"])
        weights = {name: f.get_tensor(name).float() for name in f.keys()}
    return meta["model_config"], meta["tokenizer"], weights


def make_tokenizer(tok):
    special = tok.get("special_tokens", {})
    if tok["type"] == "char":
        stoi = {c: i for i, c in enumerate(tok["chars"])}
        vocab = [c.encode() for c in tok["chars"]]
        encode_piece = lambda text: [stoi[c] for c in text]
    else:  # byte-level BPE: apply merges in the order they were learned
        ranks = {tuple(p): i for i, p in enumerate(tok["merges"])}
        vocab = [bytes([i]) for i in range(256)] + [b""] * len(ranks)
        for (a, b), i in ranks.items():
            vocab[256 + i] = vocab[a] + vocab[b]

        def encode_piece(text):
            out = []
            for chunk in SPLIT.findall(text):
                ids = list(chunk.encode())
                while len(ids) > 1:
                    pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, math.inf))
                    if pair not in ranks:
                        break
                    i, merged = 0, []
                    while i < len(ids):
                        if ids[i : i + 2] == list(pair):
                            merged.append(256 + ranks[pair])
                            i += 2
                        else:
                            merged.append(ids[i])
                            i += 1
                    ids = merged
                out += ids
            return out
    vocab += [s.encode() for s in sorted(special, key=special.get)]
    return encode_piece, lambda ids: b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def forward(cfg, w, idx):
    """Logits (T, V) for a 1-D tensor of token ids: the same maths as llm_core.model.gpt.GPT.forward."""
    T, H, C = len(idx), cfg["n_head"], cfg["n_embd"]
    hd = C // H
    norm = lambda x, g: F.rms_norm(x, (C,), g, 1e-6)
    x = w["wte.weight"][idx]  # (T, C)
    if cfg["position"] == "learned":
        x = x + w["wpe.weight"][:T]
    else:
        freq = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(T).float()[:, None] * freq  # (T, hd/2)
        cos, sin = ang.cos()[:, None], ang.sin()[:, None]  # (T, 1, hd/2)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    for i in range(cfg["n_layer"]):
        p = f"blocks.{i}."
        q, k, v = (norm(x, w[p + "attn_norm.weight"]) @ w[p + "attn.qkv.weight"].T).view(T, 3 * H, hd).split(H, 1)
        if cfg["position"] == "rope":  # rotate channel pairs (j, j + hd/2) by a position angle
            rot = lambda t: torch.cat((t[..., : hd // 2] * cos + t[..., hd // 2 :] * sin, t[..., hd // 2 :] * cos - t[..., : hd // 2] * sin), -1)
            q, k = rot(q), rot(k)
        att = (q.transpose(0, 1) @ k.permute(1, 2, 0)) / math.sqrt(hd)  # (H, T, T)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        x = x + (att @ v.transpose(0, 1)).transpose(0, 1).reshape(T, C) @ w[p + "attn.proj.weight"].T
        h = F.relu(norm(x, w[p + "mlp_norm.weight"]) @ w[p + "mlp.fc.weight"].T)
        x = x + (h * h) @ w[p + "mlp.proj.weight"].T
    head = w.get("head.weight", w["wte.weight"])
    return norm(x, w["norm.weight"]) @ head.T


@torch.no_grad()
def generate(path, prompt, n_tokens=200, temperature=0.8, seed=0):
    cfg, tok, w = load(path)
    encode, decode = make_tokenizer(tok)
    ids = encode(prompt) or [0]
    torch.manual_seed(seed)
    for _ in range(n_tokens):
        logits = forward(cfg, w, torch.tensor(ids[-cfg["block_size"] :]))[-1]
        probs = F.softmax(logits / max(temperature, 1e-6), -1)
        ids.append(int(torch.multinomial(probs, 1)))
    return decode(ids)


if __name__ == "__main__":
    path, prompt = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "\n"
    print(generate(path, prompt, int(sys.argv[3]) if len(sys.argv) > 3 else 200))
