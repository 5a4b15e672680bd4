"""How many bits a model needs for a text, measured in one batched pass: its ideal code length.

What it is: `code_length(model, tokenizer, text)` adds up -log2 p of every token of the text under
the model, the context restarting every `block_size` tokens exactly as in the validation loss
(`llm_core.text.data.eval_windows`) and as `coder.compress(..., window="fixed")` codes it, after the
same one-newline primer. It is what a perfect range coder would spend, without the coder's few
bytes of overhead and without its escape channel, in a single batched forward pass: 3.9 s for
20,000 characters with the bundled model at a load average of 13 on the 2-core machine, where coding
them one token at a time takes minutes at such a load.
A page computes a reveal from it ("how many bits per character does the model need?").
What it is not: a compressor (no file, no round trip: `coder` does that), or usable on text with
characters a character vocabulary lacks (those need the coder's escapes; it refuses them).

    >>> from llm_core.model.config import ModelConfig
    >>> from llm_core.model.gpt import GPT
    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> _ = torch.manual_seed(0)
    >>> tok = CharTokenizer.from_text("ab\\n")
    >>> model = GPT(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=1, n_embd=8, block_size=8)).eval()
    >>> c = code_length(model, tok, "abab" * 10)
    >>> c.n_chars, c.n_tokens, 1.3 < c.bits_per_char < 1.9  # an untrained model: about log2(3) bits a character
    (40, 40, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from llm_core.compression.coder import CompressionError, _primer
from llm_core.model.device import threads
from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import CharTokenizer, Tokenizer


@dataclass(frozen=True)
class CodeLength:
    bits: float  # sum of -log2 p over the text's tokens
    n_chars: int
    n_tokens: int

    @property
    def bits_per_char(self) -> float:
        return self.bits / max(1, self.n_chars)

    @property
    def bits_per_token(self) -> float:
        return self.bits / max(1, self.n_tokens)


@torch.inference_mode()
def code_length(model: GPT, tokenizer: Tokenizer, text: str, batch_windows: int = 32) -> CodeLength:
    """The model's ideal code length for `text` (fixed windows after a newline primer), in one batched pass."""
    if not text:
        raise CompressionError("there is no text to measure.")
    if isinstance(tokenizer, CharTokenizer):
        missing = sorted({c for c in text if c not in tokenizer.stoi})
        if missing:
            raise CompressionError(f"{len(missing)} character(s) of the text are not in the model's vocabulary ({''.join(missing[:10])!r}); "
                                   "only the coder's escapes can code them.")
    ids = _primer(tokenizer) + tokenizer.encode(text, allowed_special=False)
    n_tokens = len(ids) - 1  # every token after the first is predicted (the first is the primer when there is one)
    T = model.config.block_size
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_nats = 0.0
    try:
        with threads(1):
            # Windows of T + 1 ids overlapping by one: each predicts its last T ids from its first T, context restarting.
            starts = list(range(0, len(ids) - 1, T))
            for i in range(0, len(starts), batch_windows):
                chunk = [ids[s : s + T + 1] for s in starts[i : i + batch_windows]]
                full = [w for w in chunk if len(w) == T + 1]
                short = [w for w in chunk if len(w) != T + 1]  # only the last window can be short: it runs alone
                for group in ([full] if full else []) + [[w] for w in short]:
                    x = torch.tensor([w[:-1] for w in group], device=device)
                    y = torch.tensor([w[1:] for w in group], device=device)
                    logits, _ = model(x)
                    total_nats += float(F.cross_entropy(logits.double().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"))
    finally:
        model.train(was_training)
    if n_tokens < 1:
        raise CompressionError("the text holds no token the model predicts.")
    return CodeLength(total_nats / math.log(2), len(text), n_tokens)
