"""Tokenizers: one interface over characters, LLM Lab's own BPE, and the real GPT tokenizers.

What it is: `Tokenizer` (encode, decode, vocab_size, the bytes and display text of each id, and
optional special tokens such as `<|user|>`), with three kinds behind it:
  - `CharTokenizer`: one id per distinct character of a corpus;
  - `BPETokenizer`: byte-level BPE trained on text (see `bpe.py`), replayable merge by merge;
  - `TiktokenTokenizer`: GPT-2 (`r50k_base`), GPT-4 (`cl100k_base`) and GPT-4o (`o200k_base`)
    built offline from the tables in `assets/tokenizers`, checked against their sha256 sums.
Every tokenizer turns into a small JSON-able dict and back (`to_dict` / `tokenizer_from_dict`),
which is how checkpoints store them.
What it is not: a model or a dataset.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.encode("hole"), tok.decode([1, 3])
    ([1, 3, 2, 0], 'ho')
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re

from llm_core.paths import ASSETS
from llm_core.text import bpe

TOKENIZER_DIR = ASSETS / "tokenizers"
CHAT_TOKENS = ("<|user|>", "<|assistant|>", "<|end|>")


class TokenizerError(ValueError):
    """Text or a tokenizer file that cannot be used; the message is meant for the user."""


class UnknownCharacterError(TokenizerError):
    def __init__(self, chars: list[str]):
        self.chars = chars
        shown = ", ".join(repr(c) for c in chars[:10]) + (" ..." if len(chars) > 10 else "")
        these = "this character" if len(chars) == 1 else f"these {len(chars)} characters"
        super().__init__(
            f"This model has never seen {these} in the text it learned from: {shown}. It reads one character at a time and has no "
            f"number for a character it never saw, so it cannot read {'it' if len(chars) == 1 else 'them'}: remove "
            f"{'it' if len(chars) == 1 else 'them'}, or use a model whose tokenizer reads bytes (BPE), which can read any text."
        )


class Tokenizer:
    """The shared interface. Subclasses implement `_encode_ordinary`, `_decode_bytes`, `token_bytes`."""

    kind = "base"
    special_tokens: dict[str, int]

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def _encode_ordinary(self, text: str, **kwargs) -> list[int]:
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes one token id stands for (special tokens: their UTF-8 name)."""
        raise NotImplementedError

    def encode(self, text: str, allowed_special: bool = True, **kwargs) -> list[int]:
        """Text -> ids. Special-token strings become their ids when `allowed_special`."""
        if not isinstance(text, str):
            raise TokenizerError("only text can be tokenized.")
        if not (allowed_special and self.special_tokens):
            return self._encode_ordinary(text, **kwargs)
        pattern = "(" + "|".join(re.escape(s) for s in sorted(self.special_tokens, key=len, reverse=True)) + ")"
        ids: list[int] = []
        for part in re.split(pattern, text):
            if part in self.special_tokens:
                ids.append(self.special_tokens[part])
            elif part:
                ids.extend(self._encode_ordinary(part, **kwargs))
        return ids

    def decode(self, ids) -> str:
        """ids -> text; byte sequences that are not valid UTF-8 show as U+FFFD."""
        return b"".join(self.token_bytes(int(i)) for i in ids).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """A readable piece for display: the token's text, or its bytes as <0xNN> if not valid UTF-8."""
        return display_bytes(self.token_bytes(token_id))

    def to_dict(self) -> dict:
        raise NotImplementedError

    def with_special_tokens(self, names) -> Tokenizer:
        """A copy that also knows `names` as special tokens, with new ids after the current vocabulary."""
        data = self.to_dict()
        special = dict(data.get("special_tokens", {}))
        next_id = self.vocab_size
        for name in names:
            if name not in special:
                special[name] = next_id
                next_id += 1
        data["special_tokens"] = special
        return tokenizer_from_dict(data)


def display_bytes(raw: bytes) -> str:
    """Bytes as text for display; bytes that do not form valid UTF-8 are shown as <0xNN>.

    >>> display_bytes("é".encode()), display_bytes("é".encode()[:1])
    ('é', '<0xC3>')
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in raw)


def visible_whitespace(text: str) -> str:
    """Make spaces, newlines and tabs visible in a token chip.

    >>> visible_whitespace(" a\\n")
    '·a↵'
    """
    return text.replace(" ", "·").replace("\n", "↵").replace("\t", "→").replace("\r", "␍")


def _check_special(special: dict, first_free: int) -> dict[str, int]:
    if not isinstance(special, dict):
        raise TokenizerError("special_tokens must be a mapping of name to id.")
    for name, token_id in special.items():
        if not isinstance(name, str) or not name or not isinstance(token_id, int) or token_id < first_free:
            raise TokenizerError(f"bad special token {name!r} -> {token_id!r}.")
    if len(set(special.values())) != len(special):
        raise TokenizerError("two special tokens share one id.")
    if special and sorted(special.values()) != list(range(first_free, first_free + len(special))):
        raise TokenizerError("special token ids must follow the ordinary vocabulary without gaps.")
    return dict(special)


class CharTokenizer(Tokenizer):
    """One id per character, in sorted order of the characters of the training text."""

    kind = "char"

    def __init__(self, chars: list[str], special_tokens: dict[str, int] | None = None):
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise TokenizerError("a character tokenizer needs a list of distinct single characters.")
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.special_tokens = _check_special(special_tokens or {}, len(self.chars))
        self._special_by_id = {i: s for s, i in self.special_tokens.items()}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        if not text:
            raise TokenizerError("cannot build a character vocabulary from empty text.")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + len(self.special_tokens)

    def unknown_chars(self, text: str) -> list[str]:
        """Characters of `text` this tokenizer has no id for, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def _encode_ordinary(self, text: str, errors: str = "strict") -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            if errors == "skip":
                return [self.stoi[c] for c in text if c in self.stoi]
            raise UnknownCharacterError(self.unknown_chars(text)) from None

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._special_by_id:
            return self._special_by_id[token_id].encode()
        return self.chars[token_id].encode("utf-8")

    def to_dict(self) -> dict:
        return {"type": "char", "chars": "".join(self.chars), "special_tokens": dict(self.special_tokens)}


class BPETokenizer(Tokenizer):
    """Byte-level BPE: 256 byte ids, then one id per learned merge. Any Unicode text round-trips."""

    kind = "bpe"

    def __init__(self, merges: list[tuple[int, int]], special_tokens: dict[str, int] | None = None):
        for i, pair in enumerate(merges):
            if len(pair) != 2 or not all(isinstance(x, int) and 0 <= x < 256 + i for x in pair):
                raise TokenizerError(f"merge {i} ({pair!r}) refers to an id that does not exist yet.")
        self.merges = [tuple(p) for p in merges]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self.vocab = bpe.vocab_bytes(self.merges)
        self.special_tokens = _check_special(special_tokens or {}, len(self.vocab))
        self._special_by_id = {i: s for s, i in self.special_tokens.items()}
        self.merge_counts: list[int] | None = None  # occurrences at merge time, when trained here
        self._cache: dict[tuple[bytes, int | None], list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        if vocab_size < 256:
            raise TokenizerError("a byte-level BPE vocabulary holds at least the 256 byte values.")
        if not text:
            raise TokenizerError("cannot train BPE on empty text.")
        merges = bpe.train_merges(text, vocab_size - 256)
        tok = cls([m.pair for m in merges])
        tok.merge_counts = [m.count for m in merges]
        return tok

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def _encode_ordinary(self, text: str, max_merges: int | None = None) -> list[int]:
        ids: list[int] = []
        for chunk in bpe.split_chunks(text):
            key = (chunk.encode("utf-8"), max_merges)
            cached = self._cache.get(key)
            if cached is None:
                cached = bpe.encode_chunk(key[0], self.ranks, max_merges)
                if len(self._cache) < 200_000:
                    self._cache[key] = cached
            ids.extend(cached)
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._special_by_id:
            return self._special_by_id[token_id].encode()
        return self.vocab[token_id]

    def to_dict(self) -> dict:
        return {"type": "bpe", "merges": [list(p) for p in self.merges], "special_tokens": dict(self.special_tokens)}


# Split patterns and special tokens as published with tiktoken (tiktoken_ext/openai_public.py).
TIKTOKEN_SPECS = {
    "r50k_base": dict(
        label="GPT-2",
        pat_str=bpe.SPLIT_PATTERN,  # GPT-2's pattern: LLM Lab's own BPE splits text the same way
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    ),
    "cl100k_base": dict(
        label="GPT-4 (cl100k)",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        explicit_n_vocab=None,
    ),
    "o200k_base": dict(
        label="GPT-4o (o200k)",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        explicit_n_vocab=None,
    ),
}


def _expected_sha256(filename: str) -> str:
    sums = (TOKENIZER_DIR / "SHA256SUMS").read_text().split("\n")
    for line in sums:
        parts = line.split()
        if len(parts) == 2 and parts[1] == filename:
            return parts[0]
    raise TokenizerError(f"no sha256 sum recorded for {filename}.")


def parse_tiktoken_table(raw: bytes) -> dict[bytes, int]:
    """A tiktoken table file (a line per token: its bytes in base64, a space, its rank) as {bytes: rank}.
    One pass of C calls over the whole file (about half the time of a loop over its lines: the
    200,000 lines of o200k_base take 0.06 s here instead of 0.12 s, while the server holds the GIL).

    >>> parse_tiktoken_table(b"IQ== 0\\nIg== 1\\n")
    {b'!': 0, b'"': 1}
    """
    fields = raw.split()
    if len(fields) % 2:
        raise TokenizerError("a tokenizer table line is not 'token rank'.")
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2])))


@functools.cache
def load_tiktoken_encoding(name: str):
    """A `tiktoken.Encoding` built from the bundled table file, after checking its sha256."""
    import tiktoken

    if name not in TIKTOKEN_SPECS:
        raise TokenizerError(f"unknown tokenizer {name!r}; available: {', '.join(TIKTOKEN_SPECS)}.")
    spec = TIKTOKEN_SPECS[name]
    path = TOKENIZER_DIR / f"{name}.tiktoken"
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _expected_sha256(path.name):
        raise TokenizerError(f"{path.name} does not match its recorded sha256 (got {digest}).")
    ranks = parse_tiktoken_table(raw)
    kwargs = dict(name=name, pat_str=spec["pat_str"], mergeable_ranks=ranks, special_tokens=spec["special_tokens"])
    if spec["explicit_n_vocab"]:
        kwargs["explicit_n_vocab"] = spec["explicit_n_vocab"]
    return tiktoken.Encoding(**kwargs)


class TiktokenTokenizer(Tokenizer):
    """A published GPT tokenizer, run by tiktoken from the bundled tables (no network)."""

    kind = "tiktoken"

    def __init__(self, name: str):
        self.name = name
        self.encoding = load_tiktoken_encoding(name)
        self.special_tokens = dict(TIKTOKEN_SPECS[name]["special_tokens"])
        self.label = TIKTOKEN_SPECS[name]["label"]

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    def encode(self, text: str, allowed_special: bool = True, **kwargs) -> list[int]:
        if not isinstance(text, str):
            raise TokenizerError("only text can be tokenized.")
        return self.encoding.encode(text, allowed_special="all" if allowed_special else set(), disallowed_special=())

    def token_bytes(self, token_id: int) -> bytes:
        return self.encoding.decode_single_token_bytes(token_id)

    def decode(self, ids) -> str:
        return self.encoding.decode([int(i) for i in ids])

    def to_dict(self) -> dict:
        return {"type": "tiktoken", "encoding": self.name}

    def with_special_tokens(self, names) -> Tokenizer:
        raise TokenizerError("the published GPT tokenizers keep their own special tokens.")


def tokenizer_from_dict(data: dict) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output, refusing anything malformed with a clear error."""
    if not isinstance(data, dict) or "type" not in data:
        raise TokenizerError("tokenizer description must be an object with a 'type'.")
    kind = data["type"]
    if kind == "char":
        chars = data.get("chars")
        if not isinstance(chars, str):
            raise TokenizerError("a char tokenizer needs its characters as one string.")
        return CharTokenizer(list(chars), data.get("special_tokens") or {})
    if kind == "bpe":
        merges = data.get("merges")
        if not isinstance(merges, list) or not all(isinstance(p, list) for p in merges):
            raise TokenizerError("a BPE tokenizer needs its merges as a list of [a, b] pairs.")
        return BPETokenizer([tuple(p) for p in merges], data.get("special_tokens") or {})
    if kind == "tiktoken":
        return TiktokenTokenizer(str(data.get("encoding")))
    raise TokenizerError(f"unknown tokenizer type {kind!r}.")
