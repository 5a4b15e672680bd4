"""The classical compressors and the simplest language model, on the same text as the transformer.

What it is: gzip -9, bzip2 -9 and xz -9e (Python's own `gzip`, `bz2`, `lzma`: the same
algorithms as the command-line tools, whole files with their headers), each checked to round-trip,
and an adaptive order-k character count model: it starts knowing nothing, predicts each character
from how often it followed the previous k characters so far (Witten-Bell blending down to shorter
contexts, then a uniform guess over all Unicode code points), and learns as it goes, exactly as a
decoder could. It is the n-gram model of the Tokenization chapter turned into a compressor; its
size here is its ideal code length (sum of -log2 p), which a range coder reaches within a few bytes.

    >>> bits = order_k_bits("abababababababab", k=1, per_char=True)  # it learns the pattern as it goes
    >>> round(bits[0], 1), round(bits[1], 1), round(bits[-1], 2)  # first 'a' and 'b': any code point; later ones: cheap
    (20.1, 21.1, 0.11)
    >>> [r.name for r in classical("to be or not to be")]
    ['gzip -9', 'bzip2 -9', 'xz -9e']

What it is not: a reimplementation of those tools (their container formats differ by a few bytes
from the command-line output), or PPM with exclusions (a stronger count model).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import time
from collections import defaultdict
from dataclasses import dataclass

UNICODE_SIZE = 0x110000


@dataclass
class Result:
    name: str
    size_bytes: int
    n_chars: int
    seconds: float
    exact: bool  # the round trip gave the text back

    @property
    def bits_per_char(self) -> float:
        return 8 * self.size_bytes / max(1, self.n_chars)


COMPRESSORS = {
    "gzip -9": (lambda b: gzip.compress(b, compresslevel=9, mtime=0), gzip.decompress),
    "bzip2 -9": (lambda b: bz2.compress(b, compresslevel=9), bz2.decompress),
    "xz -9e": (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
}


def classical(text: str) -> list[Result]:
    """gzip, bzip2 and xz on the UTF-8 bytes of `text`: size, time and whether the round trip is exact."""
    raw = text.encode("utf-8")
    results = []
    for name, (pack, unpack) in COMPRESSORS.items():
        t0 = time.perf_counter()
        packed = pack(raw)
        exact = unpack(packed) == raw
        results.append(Result(name, len(packed), len(text), time.perf_counter() - t0, exact))
    return results


def order_k_bits(text: str, k: int = 3, per_char: bool = False):
    """Ideal code length (bits) of `text` under an adaptive order-k count model; per character if asked.

    P_j(c | last j chars) = (n(ctx, c) + d(ctx) * P_{j-1}(c)) / (n(ctx) + d(ctx)), where n counts
    what followed that context so far and d is how many different characters did (Witten-Bell);
    a context never seen passes the lower order through; below order 0 every code point is equally likely.
    """
    if k < 0:
        raise ValueError("the order k must be zero or positive.")
    counts = [defaultdict(lambda: defaultdict(int)) for _ in range(k + 1)]  # order -> context -> char -> count
    totals = [defaultdict(int) for _ in range(k + 1)]
    total = 0.0
    bits_list = []
    for i, c in enumerate(text):
        p = 1.0 / UNICODE_SIZE
        for j in range(min(k, i) + 1):
            ctx = text[i - j : i]
            n = totals[j].get(ctx, 0)
            if n:
                seen = counts[j][ctx]
                d = len(seen)
                p = (seen.get(c, 0) + d * p) / (n + d)
        bits = -math.log2(p)
        total += bits
        if per_char:
            bits_list.append(bits)
        for j in range(min(k, i) + 1):
            ctx = text[i - j : i]
            counts[j][ctx][c] += 1
            totals[j][ctx] += 1
    return bits_list if per_char else total


def order_k(text: str, k: int = 3) -> Result:
    """The order-k count model as a compressor result (its size is the ideal code length, rounded up to bytes)."""
    t0 = time.perf_counter()
    bits = order_k_bits(text, k)
    return Result(f"order-{k} count model", math.ceil(bits / 8), len(text), time.perf_counter() - t0, True)
