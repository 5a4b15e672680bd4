"""Byte-level byte-pair encoding (BPE): the algorithm, and a trainer fast enough to watch.

What it is: text is split into chunks (words, numbers, punctuation runs, whitespace, in the
style of GPT-2), each chunk becomes its UTF-8 bytes (ids 0-255), and training repeatedly
merges the most frequent adjacent pair of ids into a new id. Every merge is recorded, so a page
can replay the vocabulary growing and the text shrinking merge by merge.
What it is not: the tokenizer interface (see `tokenizers.BPETokenizer`, which wraps this) or a
reimplementation of tiktoken (real GPT tokenizers are loaded through tiktoken).

The two pure functions a learner reads first, with the example the tests assert:

    >>> pair_counts([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 256)
    [256, 3, 256]

Training keeps the pair counts up to date incrementally: after a merge only the chunks that
contained the merged pair are revisited, instead of recounting the whole corpus. On Tiny
Shakespeare that makes 1,000 merges take a few seconds (see `python -m llm_core.bench`).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass

import regex

# GPT-2's split pattern exactly as tiktoken's r50k_base publishes it (tiktoken_ext/openai_public.py;
# a test checks the two agree): common English contractions; an optional space then letters
# (\p{L}), numbers (\p{N}: any script's digits, ², ½) or other symbols; runs of whitespace.
# Python's built-in `re` has no \p{..} classes, hence the `regex` package. Every character is
# matched by some branch, so no text is ever dropped.
SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_SPLIT = regex.compile(SPLIT_PATTERN)


def split_chunks(text: str) -> list[str]:
    """Split text into the chunks BPE works within; merges never cross a chunk boundary.

    >>> split_chunks("Hello world, it's 2024!")
    ['Hello', ' world', ',', ' it', "'s", ' 2024', '!']
    >>> split_chunks("x² = ٣")  # numbers of any script, as in GPT-2: superscripts, Arabic-Indic digits
    ['x', '²', ' =', ' ٣']
    """
    return _SPLIT.findall(text)


def pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """How often each adjacent pair of ids occurs (pairs in order of first appearance)."""
    counts: dict[tuple[int, int], int] = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of `pair`, left to right, by `new_id`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


@dataclass(frozen=True)
class Merge:
    """One training step: `pair` became `new_id`, and it occurred `count` times at that moment."""

    pair: tuple[int, int]
    new_id: int
    count: int


def train_merges(text: str, num_merges: int) -> list[Merge]:
    """Learn up to `num_merges` merges from text (fewer if no pair occurs twice any more).

    Ties between equally frequent pairs go to the smaller pair of ids, so training is
    deterministic.

        >>> [m.pair for m in train_merges("aaab aaab", 2)]
        [(97, 97), (97, 98)]
    """
    if num_merges < 0:
        raise ValueError("the number of merges must be zero or positive.")
    chunk_freq = Counter(split_chunks(text))
    words = [list(chunk.encode("utf-8")) for chunk in chunk_freq]  # each distinct chunk once
    freqs = list(chunk_freq.values())

    counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices of words holding it
    for w, (ids, freq) in enumerate(zip(words, freqs)):
        for pair in zip(ids, ids[1:]):
            counts[pair] += freq
            where[pair].add(w)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)

    merges: list[Merge] = []
    new_id = 256
    while len(merges) < num_merges and heap:
        neg, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -neg:
            continue  # a stale heap entry: this pair's count changed since it was pushed
        if -neg < 2:
            break  # merging a pair seen once compresses nothing worth a vocabulary slot
        merges.append(Merge(pair, new_id, -neg))
        changed: dict[tuple[int, int], int] = defaultdict(int)
        for w in where.pop(pair):
            ids, freq = words[w], freqs[w]
            for p in zip(ids, ids[1:]):
                changed[p] -= freq
            merged = merge_pair(ids, pair, new_id)
            words[w] = merged
            for p in zip(merged, merged[1:]):
                changed[p] += freq
                where[p].add(w)
        for p, delta in changed.items():
            if delta:
                counts[p] += delta
                if counts[p] <= 0:
                    counts.pop(p, None)
                else:
                    heapq.heappush(heap, (-counts[p], p))
        counts.pop(pair, None)
        new_id += 1
    return merges


def vocab_bytes(merges: list[tuple[int, int]]) -> list[bytes]:
    """The bytes each id stands for: 256 single bytes, then one entry per merge.

    >>> vocab_bytes([(104, 105), (256, 33)])[256:]
    [b'hi', b'hi!']
    """
    vocab = [bytes([i]) for i in range(256)]
    for a, b in merges:
        vocab.append(vocab[a] + vocab[b])
    return vocab


def encode_chunk(chunk: bytes, ranks: dict[tuple[int, int], int], max_rank: int | None = None) -> list[int]:
    """Apply learned merges to one chunk, earliest-learned first, as training did.

    `ranks` maps a pair to its merge index; merges at index >= max_rank are ignored (to replay
    the tokenizer as it was part-way through training).

        >>> encode_chunk(b"hi!", {(104, 105): 0, (256, 33): 1})
        [257]
        >>> encode_chunk(b"hi!", {(104, 105): 0, (256, 33): 1}, max_rank=1)
        [256, 33]
    """
    ids = list(chunk)
    limit = len(ranks) if max_rank is None else max_rank
    while len(ids) >= 2:
        best_rank, best_pair = limit, None
        for pair in zip(ids, ids[1:]):
            rank = ranks.get(pair, limit)
            if rank < best_rank:
                best_rank, best_pair = rank, pair
        if best_pair is None:
            break
        ids = merge_pair(ids, best_pair, 256 + best_rank)
    return ids
