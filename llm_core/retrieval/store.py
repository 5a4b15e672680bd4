"""A document store: chunks, BM25 retrieval (the `bm25s` library), dense retrieval, recall@k.

What it is: `chunk_text` cuts a document into chunks of whole sentences up to a size in
characters; `Store` holds the chunks of many documents and a BM25 index over them (Robertson and
Zaragoza's ranking function, as implemented by `bm25s`), and `search` returns the top-k chunks
with their scores and the query terms each one matched. `DenseIndex` ranks the same chunks by
cosine similarity of the model's own hidden states (mean over a chunk's tokens), so the two can
be compared by `recall_at_k`: how often a chunk holding the answer is among the first k.
What it is not: an answer. Retrieval only chooses what goes into the prompt (`prompt.py`).

    >>> store = Store({"a": "Ann Lee was born in Tor. Ann Lee works as a smith.", "b": "Bo Ray was born in Ulm."}, chunk_size=40)
    >>> [(h.chunk.text, h.matched) for h in store.search("Where was Bo Ray born?", k=1)]
    [('Bo Ray was born in Ulm.', ('bo', 'ray', 'born'))]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np
import torch

from llm_core.model.gpt import GPT
from llm_core.text.tokenizers import Tokenizer


def _import_bm25s_without_jax():
    """`import bm25s`, keeping it from importing JAX.

    Where JAX is installed, bm25s's `selection` module imports it and runs a top-k at import time
    (for a top-k this store never asks for: `search` reads `get_scores` and ranks in NumPy). On a
    GPU machine that makes JAX claim three quarters of the GPU's memory in every process that
    imports this module: on an H200 with JAX installed, twelve test processes importing it failed
    with RESOURCE_EXHAUSTED, and a server would leave PyTorch a quarter of the GPU to train on.
    So JAX reads as absent while bm25s is imported (bm25s then uses NumPy, as it does wherever JAX
    is not installed); a JAX that something else imported before stays as it is.
    """
    if "bm25s" in sys.modules or "jax" in sys.modules:
        import bm25s

        return bm25s
    sys.modules["jax"] = None  # `import jax...` raises ImportError while this stands
    try:
        import bm25s
    finally:
        del sys.modules["jax"]
    return bm25s


bm25s = _import_bm25s_without_jax()

MAX_CHUNKS = 20_000  # the store refuses more (a pasted book is fine; a dump of the web is not)
STOPWORDS = frozenset(
    "a an and are as at be by called did does for from had has have he her his how i in is it its name "
    "of on or s she that the their them they this to was were what when where which who whom whose why with".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9]+")


def terms(text: str) -> list[str]:
    """Lower-case words without stop words: what BM25 matches on.

    >>> terms("What is the name of Ann Lee's horse?")
    ['ann', 'lee', 'horse']
    """
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def chunk_text(text: str, chunk_size: int = 60) -> list[str]:
    """Whole sentences packed into chunks of at most `chunk_size` characters (a longer sentence is
    cut between words, a longer word is cut where it must).

    >>> chunk_text("One two. Three four five. Six.", 16)
    ['One two.', 'Three four five.', 'Six.']
    >>> chunk_text("One two. Three four five. Six.", 100)
    ['One two. Three four five. Six.']
    """
    if chunk_size < 8:
        raise ValueError("the chunk size must be at least 8 characters.")
    pieces = []
    for sentence in _SENTENCE.split(" ".join(text.split())):
        while len(sentence) > chunk_size:
            cut = sentence.rfind(" ", 0, chunk_size + 1)
            cut = cut if cut > 0 else chunk_size
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= chunk_size:
            chunks[-1] += " " + piece
        else:
            chunks.append(piece)
    return chunks


@dataclass(frozen=True)
class Chunk:
    index: int  # position in the store
    source: str  # title of the document it came from
    text: str


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    rank: int  # 1 = best
    matched: tuple[str, ...]  # query terms found in the chunk, in query order


def mentions(text: str, words: str) -> bool:
    """Whether `words` appear in `text` as whole words (not inside a longer word)."""
    return bool(words.strip()) and re.search(r"(?<![A-Za-z])" + re.escape(words.strip()) + r"(?![A-Za-z])", text) is not None


def holds(chunk_text_: str, person: str, value: str) -> bool:
    """Whether a chunk states this person's fact: both the name and the value appear as whole words."""
    return mentions(chunk_text_, person) and mentions(chunk_text_, value)


class Store:
    """Chunks of titled documents and a BM25 index over them."""

    def __init__(self, documents: dict[str, str], chunk_size: int = 60):
        chunks = []
        for title, text in documents.items():
            for piece in chunk_text(text, chunk_size):
                chunks.append(Chunk(len(chunks), title, piece))
                if len(chunks) > MAX_CHUNKS:
                    raise ValueError(f"the store would hold over {MAX_CHUNKS:,} chunks: use fewer or shorter documents, or a larger chunk size.")
        if not chunks:
            raise ValueError("the store is empty: there are no documents to search.")
        self.chunk_size = chunk_size
        self.chunks = chunks
        self._terms = [terms(c.text) or ["_"] for c in chunks]  # bm25s needs a token in every chunk
        self.bm25 = bm25s.BM25()
        self.bm25.index(self._terms, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The k best chunks by BM25 score (ties keep store order). A query with no searchable word gets none."""
        q = terms(query)
        if not q:
            return []
        k = max(1, min(k, len(self.chunks)))
        scores = np.asarray(self.bm25.get_scores(q), dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self._hit(int(i), float(scores[i]), r + 1, q) for r, i in enumerate(order)]

    def _hit(self, i: int, score: float, rank: int, q: list[str]) -> Hit:
        have = set(self._terms[i])
        return Hit(self.chunks[i], score, rank, tuple(dict.fromkeys(t for t in q if t in have)))


class DenseIndex:
    """Chunks ranked by the cosine similarity of a model's mean hidden state (its own 'embedding')."""

    def __init__(self, model: GPT, tokenizer: Tokenizer, store: Store):
        self.model, self.tokenizer, self.store = model, tokenizer, store
        self.vectors = torch.stack([self._embed(c.text) for c in store.chunks])  # (N, C)

    @torch.no_grad()
    def _embed(self, text: str) -> torch.Tensor:
        ids = self.tokenizer.encode(text, allowed_special=False, **({"errors": "skip"} if self.tokenizer.kind == "char" else {}))
        ids = ids[: self.model.config.block_size] or [0]
        h = self.model.hidden_states(torch.tensor([ids], device=self.model.device))[0].float().mean(0)
        return torch.nn.functional.normalize(h, dim=0).cpu()

    def search(self, query: str, k: int = 3) -> list[Hit]:
        sims = self.vectors @ self._embed(query)
        k = max(1, min(k, len(self.store)))
        top = torch.topk(sims, k)
        q = terms(query)
        return [self.store._hit(int(i), float(s), r + 1, q) for r, (s, i) in enumerate(zip(top.values, top.indices))]


def recall_at_k(search, facts, k: int = 3) -> float:
    """Fraction of facts whose question retrieves, among its first k chunks, one that states the fact.

    `search(question, k) -> list[Hit]` is `Store.search` or `DenseIndex.search`.
    """
    facts = list(facts)
    if not facts:
        raise ValueError("no questions to measure recall on.")
    found = sum(any(holds(h.chunk.text, f.person, f.value) for h in search(f.question, k)) for f in facts)
    return found / len(facts)
