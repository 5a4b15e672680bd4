"""What a tokenizer does to one text, in numbers a page can show: pieces, ids, bytes, counts.

What it is:
  - `tokenize_row(tokenizer, text)`: one row of the Tokenization chapter's side-by-side
    comparison: the token ids, the piece of text (and raw bytes) behind each, the token count and
    characters per token. A character-level tokenizer that meets a character it never saw does
    not fail: the row marks that character as unknown (no id) and lists it, so a page can explain.
  - `replay_bpe(text, merges)`: BPE training replayed merge by merge on its training text: which
    pair merged, the new token's text, the vocabulary size, and the exact token count of the text
    after each merge (the "text shrinking" curve).
  - `display_piece(text)`: a token's text made printable (control characters as symbols).
  - `word_pieces(tokenizer, text)` and `whole_words(...)`: each word of a text (GPT-2's chunks)
    with the pieces a tokenizer cuts it into, and how many words stay one token: what the
    chapter's "why" sentences read, instead of saying it in advance.
  - `whitespace_tokens(tokenizer, ids)`: how many tokens are only spaces, tabs or newlines (code's
    indentation costs GPT-2 one token per space, GPT-4's tokenizers one per run).
  - `fewest(counts)`: which of several tokenizers need the fewest tokens (ties kept).
What it is not: a tokenizer (see `tokenizers.py`) or the BPE trainer (see `bpe.py`).

    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> row = tokenize_row(CharTokenizer.from_text("abc "), "a cab!")
    >>> row.count, row.unknown, [p.text for p in row.pieces]
    (5, ['!'], ['a', ' ', 'c', 'a', 'b', '!'])
    >>> row.chars_per_token  # the unknown '!' is not read, so it is not counted either
    1.0
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from llm_core.text import bpe
from llm_core.text.tokenizers import Tokenizer, display_bytes


def display_piece(text: str) -> str:
    """A token's text made printable: C0 control characters other than tab, newline and carriage
    return (which chips show as arrows) become their Unicode control pictures, DEL becomes ␡.

    >>> display_piece("a\\x00\\x07b\\n")
    'a␀␇b\\n'
    """
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 and ch not in "\t\n\r":
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("␡")
        else:
            out.append(ch)
    return "".join(out)


def hex_bytes(raw: bytes) -> str:
    """Bytes as space-separated hex, the way the chips' hover text shows them.

    >>> hex_bytes("é!".encode())
    'C3 A9 21'
    """
    return " ".join(f"{b:02X}" for b in raw)


@dataclass(frozen=True)
class Piece:
    """One token of a tokenized text. `token_id` is None for a character the tokenizer has no id for."""

    token_id: int | None
    text: str  # printable text of the piece; bytes that are not valid UTF-8 on their own show as <0xNN>
    raw: bytes

    @property
    def hover(self) -> str:
        if self.token_id is None:
            return f"no id: never seen by this tokenizer · bytes {hex_bytes(self.raw)}"
        return f"id {self.token_id} · bytes {hex_bytes(self.raw)}"


@dataclass
class TokenRow:
    """One tokenizer's view of one text."""

    label: str
    kind: str  # "char" | "bpe" | "tiktoken"
    vocab_size: int
    ids: list[int]  # every token id (exact, even when `pieces` is cut short)
    pieces: list[Piece]  # the first `max_pieces` pieces, unknown characters included in place
    n_chars: int  # characters of the text
    n_bytes: int  # UTF-8 bytes of the text
    unknown: list[str] = field(default_factory=list)  # distinct characters without an id, in order of appearance
    unknown_count: int = 0  # occurrences of those characters in the text
    pieces_cut: bool = False  # True when only the first `max_pieces` pieces were built

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def total_pieces(self) -> int:
        """How many pieces the whole text has (`pieces` may hold only the first of them)."""
        return self.n_chars if self.kind == "char" else self.count

    @property
    def chars_per_token(self) -> float | None:
        """Characters of text per token, counting only characters that got a token (characters
        without an id are not read at all); None for text that gave no tokens."""
        return (self.n_chars - self.unknown_count) / self.count if self.count else None


def tokenize_row(tokenizer: Tokenizer, text: str, label: str | None = None, max_pieces: int | None = None, **encode_kwargs) -> TokenRow:
    """Tokenize `text` (special-token names are read as plain text) and describe every token.

    `encode_kwargs` go to the tokenizer's `encode` (e.g. `max_merges=k` for a BPE tokenizer).

    Byte-level tokenizers never meet an unknown character. For a character-level tokenizer,
    characters it has no id for are kept in `pieces` with `token_id=None` and listed in
    `unknown`; `ids` holds the ids of the known characters only.
    """
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    label = label or getattr(tokenizer, "label", None) or tokenizer.kind
    n_bytes = len(text.encode("utf-8", errors="surrogatepass"))
    limit = max_pieces if max_pieces is not None else None
    unknown: list[str] = []
    unknown_count = 0
    if tokenizer.kind == "char":
        stoi = tokenizer.stoi
        ids = [stoi[c] for c in text if c in stoi]
        if len(ids) != len(text):
            unknown = tokenizer.unknown_chars(text)
            missing = set(unknown)
            unknown_count = sum(1 for c in text if c in missing)
        shown = text if limit is None else text[:limit]
        pieces = [Piece(stoi.get(c), display_piece(c), c.encode("utf-8", errors="surrogatepass")) for c in shown]
        cut = limit is not None and len(text) > limit
    else:
        ids = tokenizer.encode(text, allowed_special=False, **encode_kwargs)
        shown_ids = ids if limit is None else ids[:limit]
        pieces = []
        for token_id in shown_ids:
            raw = tokenizer.token_bytes(token_id)
            pieces.append(Piece(token_id, display_piece(display_bytes(raw)), raw))
        cut = limit is not None and len(ids) > limit
    return TokenRow(label, tokenizer.kind, tokenizer.vocab_size, ids, pieces, len(text), n_bytes, unknown, unknown_count, cut)


def word_pieces(tokenizer: Tokenizer, text: str) -> list[tuple[str, list[str]]]:
    """Each chunk of `text` by GPT-2's split pattern (a word with its leading space, a number, a
    run of punctuation or whitespace) and the display text of the tokens `tokenizer` cuts it into.

    Exact for byte-level tokenizers that split text as GPT-2 does (GPT-2, LLM Lab's BPE); for
    others it is how that tokenizer would cut each GPT-2 chunk on its own.

        >>> from llm_core.text.tokenizers import BPETokenizer
        >>> tok = BPETokenizer.train("low low low lower", 260)
        >>> word_pieces(tok, "low lowest")
        [('low', ['low']), (' lowest', [' low', 'e', 's', 't'])]
    """
    out = []
    for chunk in bpe.split_chunks(text):
        ids = tokenizer.encode(chunk, allowed_special=False)
        out.append((chunk, [display_piece(display_bytes(tokenizer.token_bytes(i))) for i in ids]))
    return out


def whole_words(pieces: list[tuple[str, list[str]]]) -> tuple[int, int]:
    """(words kept as one token, words) among `word_pieces`' chunks that hold a letter.

        >>> whole_words([(" the", [" the"]), (" spazieren", [" sp", "az", "ieren"]), (",", [","])])
        (1, 2)
    """
    words = [p for chunk, p in pieces if any(c.isalpha() for c in chunk)]
    return sum(1 for p in words if len(p) == 1), len(words)


def whitespace_tokens(tokenizer: Tokenizer, ids: list[int]) -> int:
    """How many of `ids` are tokens made only of spaces, tabs and newlines.

        >>> from llm_core.text.tokenizers import BPETokenizer
        >>> tok = BPETokenizer([])  # bytes only: every space is a token
        >>> whitespace_tokens(tok, tok.encode("a  b\\n"))
        3
    """
    return sum(1 for i in ids if not tokenizer.token_bytes(i).strip())


def fewest(counts: dict[str, int]) -> list[str]:
    """The names with the smallest count, in their order (a tie keeps them all).

        >>> fewest({"GPT-2": 105, "cl100k": 51, "o200k": 51})
        ['cl100k', 'o200k']
    """
    low = min(counts.values())
    return [name for name, n in counts.items() if n == low]


@dataclass(frozen=True)
class ReplayStep:
    """The state of BPE training right after merge number `merge` (1-based)."""

    merge: int
    pair: tuple[int, int]
    left: str  # display text of the pair's first token
    right: str  # display text of the pair's second token
    new_id: int
    new_text: str  # display text of the token the pair became
    occurrences: int  # how often the pair occurred (counting overlaps, as training does) when it was chosen
    vocab_size: int  # 256 byte tokens + merges so far
    token_count: int  # tokens of the training text after this merge


@dataclass
class BPEReplay:
    """A whole training run replayed: `n_bytes` tokens before any merge, then one step per merge."""

    n_bytes: int
    steps: list[ReplayStep]

    @property
    def token_counts(self) -> list[int]:
        """Token count of the training text after 0, 1, ..., len(steps) merges."""
        return [self.n_bytes] + [s.token_count for s in self.steps]

    @property
    def vocab_sizes(self) -> list[int]:
        return [256] + [s.vocab_size for s in self.steps]


def replay_bpe(text: str, merges: list) -> BPEReplay:
    """Replay `merges` (pairs, or `bpe.Merge`s from `bpe.train_merges(text, n)`) on `text`.

    The token count after each merge is counted exactly by applying the merges to the text's
    chunks the way training does. It is the byte count minus the tokens each merge saved; a
    merge saves one token per occurrence of its pair, except where occurrences overlap: in
    "aaa" the pair (a, a) occurs twice but merging, left to right, makes [aa, a], one token fewer.

        >>> merges = bpe.train_merges("aaab aaab", 2)
        >>> r = replay_bpe("aaab aaab", merges)
        >>> r.token_counts, [s.occurrences for s in r.steps]
        ([9, 7, 5], [4, 2])
        >>> [(s.left, s.right, s.new_text) for s in r.steps]
        [('a', 'a', 'aa'), ('a', 'b', 'ab')]
    """
    pairs = [tuple(m.pair) if isinstance(m, bpe.Merge) else tuple(m) for m in merges]
    counts = [m.count if isinstance(m, bpe.Merge) else None for m in merges]
    vocab = bpe.vocab_bytes(pairs)
    chunk_freq = Counter(bpe.split_chunks(text))
    words = [list(chunk.encode("utf-8", errors="surrogatepass")) for chunk in chunk_freq]
    freqs = list(chunk_freq.values())
    where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words that hold it
    for w, ids in enumerate(words):
        for p in zip(ids, ids[1:]):
            where[p].add(w)
    total = sum(len(ids) * f for ids, f in zip(words, freqs))
    n_bytes = total
    steps = []
    for k, (pair, count) in enumerate(zip(pairs, counts)):
        new_id = 256 + k
        occurrences = 0
        for w in where.pop(pair, ()):
            ids, freq = words[w], freqs[w]
            if count is None:
                occurrences += freq * sum(1 for p in zip(ids, ids[1:]) if p == pair)
            merged = bpe.merge_pair(ids, pair, new_id)
            total -= (len(ids) - len(merged)) * freq
            words[w] = merged
            for p in zip(merged, merged[1:]):
                where[p].add(w)
        steps.append(
            ReplayStep(
                merge=k + 1,
                pair=pair,
                left=display_piece(display_bytes(vocab[pair[0]])),
                right=display_piece(display_bytes(vocab[pair[1]])),
                new_id=new_id,
                new_text=display_piece(display_bytes(vocab[new_id])),
                occurrences=count if count is not None else occurrences,
                vocab_size=257 + k,
                token_count=total,
            )
        )
    return BPEReplay(n_bytes, steps)
