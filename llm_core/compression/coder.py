"""A language model as a lossless compressor: its next-token probabilities drive a range coder.

What it is: `compress(model, tokenizer, text)` walks the text one token at a time; at each step the
model gives a probability to every possible next token, and a range coder (`constriction`'s
`RangeEncoder`, a well-kept Rust coder) spends about -log2 p bits on the token that really comes.
`decompress(model, tokenizer, data)` runs the same model on the tokens it has decoded so far,
gets the same probabilities and reads the same tokens back. So the compressed size is the
model's cross-entropy on the text, paid in real bits, and the round trip proves nothing was lost.

    >>> from llm_core.model.config import ModelConfig
    >>> from llm_core.model.gpt import GPT
    >>> from llm_core.text.tokenizers import CharTokenizer
    >>> _ = torch.manual_seed(0)
    >>> tok = CharTokenizer.from_text("abc \\n")
    >>> model = GPT(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=1, n_embd=8, block_size=8)).eval()
    >>> packed = compress(model, tok, "a cab, 日本")  # ',' and the CJK characters are not in the vocabulary
    >>> decompress(model, tok, packed.data).text
    'a cab, 日本'

The decoder must see the encoder's probabilities bit for bit, or it reads different tokens from
the first mismatch on. Both sides therefore compute every distribution the same way: on the CPU,
in fp32, on one thread, one token at a time through the generation path
(`llm_core.generation.sample.next_token_logits`: the KV cache, and the same half-window slide when
the text outgrows the context), never a batched pass on one side and an incremental one on the
other. The file records a fingerprint of the model's weights and the text's SHA-256, and the
decoder checks both.

Characters outside the vocabulary (a character-level model has none for emoji or CJK) are coded
with an escape: at every step the escape gets probability (escapes so far + 1/2) / (steps + 1)
(the Krichevsky-Trofimov estimator, about 0.5 log2 N bits in total on text without escapes), the
escaped character then comes from an adaptive table of characters escaped before, or, when new,
as its Unicode code point (about 20 bits). The model's context skips escaped characters.

The `.llmz` format (version 1, little-endian):

    offset  size  field
    0       4     magic b"LLMZ"
    4       1     format version (1)
    5       1     flags: bit 0 = escapes enabled (character vocabulary), bit 1 = primed with a newline,
                  bit 2 = fixed windows (else sliding)
    6       2     length L of the model's name in UTF-8
    8       8     number of coded symbols (tokens + escapes)
    16      8     number of characters of the text
    24      8     model fingerprint (first 8 bytes of SHA-256 over config, tokenizer and fp32 weights)
    32      8     first 8 bytes of the SHA-256 of the text in UTF-8
    40      L     model name (for messages only)
    40+L    4k    the range coder's words (uint32)

What it is not: fast (about the speed of generation, one model step per token; see
`benchmarks/compression.py`) or portable across different CPU kernels: a file decodes where the
same torch build runs the same model; a mismatch is detected by the text checksum, not silently
accepted.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import time
from dataclasses import dataclass, field

import constriction
import numpy as np
import torch

from llm_core.generation.sample import next_token_logits
from llm_core.model.device import threads
from llm_core.model.gpt import GPT, KVCache
from llm_core.text.tokenizers import CharTokenizer, Tokenizer

MAGIC = b"LLMZ"
VERSION = 1
HEADER = struct.Struct("<4sBBHQQ8s8s")  # magic, version, flags, name length, symbols, chars, model fp, text sha
FLAG_ESCAPE = 1
FLAG_PRIMER = 2
FLAG_FIXED_WINDOW = 4
WINDOWS = ("slide", "fixed")
MAX_CHARS = 50_000_000  # a decoder refuses a header that claims more (a malformed or hostile file)
UNICODE_SIZE = 0x110000
SURROGATES = range(0xD800, 0xE000)


class CompressionError(ValueError):
    """A text that cannot be coded, or a file that is not a valid .llmz for this model; the message says why."""


@dataclass
class Compressed:
    data: bytes  # the whole .llmz file
    n_chars: int
    n_symbols: int  # tokens + escapes coded
    n_escapes: int
    ideal_bits: float  # sum of -log2 p over the coded symbols: what a perfect coder would spend
    header_bytes: int
    seconds: float
    pieces: list[tuple[str, float]] = field(default_factory=list)  # (text of a symbol, bits spent on it)

    @property
    def payload_bytes(self) -> int:
        return len(self.data) - self.header_bytes

    @property
    def bits_per_char(self) -> float:
        """The whole file, header included, in bits per character of the text."""
        return 8 * len(self.data) / max(1, self.n_chars)

    @property
    def payload_bits_per_char(self) -> float:
        return 8 * self.payload_bytes / max(1, self.n_chars)

    @property
    def ideal_bits_per_char(self) -> float:
        return self.ideal_bits / max(1, self.n_chars)

    @property
    def chars_per_s(self) -> float:
        return self.n_chars / self.seconds if self.seconds > 0 else math.inf


@dataclass
class Decompressed:
    text: str
    model_name: str
    seconds: float

    @property
    def chars_per_s(self) -> float:
        return len(self.text) / self.seconds if self.seconds > 0 else math.inf


def model_fingerprint(model: GPT, tokenizer: Tokenizer) -> bytes:
    """8 bytes that change when the config, the tokenizer or any weight changes."""
    h = hashlib.sha256()
    h.update(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    h.update(json.dumps(tokenizer.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:8]


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise CompressionError("only text can be compressed.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CompressionError("the text holds characters that are not valid Unicode (lone surrogates).") from None
    if len(text) > MAX_CHARS:
        raise CompressionError(f"the text has {len(text):,} characters; the limit is {MAX_CHARS:,}.")
    return text


def _symbols(tokenizer: Tokenizer, text: str) -> list[tuple[int, str]]:
    """The text as (token id, piece) pairs; id -1 marks a character the vocabulary lacks (an escape)."""
    if isinstance(tokenizer, CharTokenizer):
        stoi = tokenizer.stoi
        return [(stoi.get(c, -1), c) for c in text]
    ids = tokenizer.encode(text, allowed_special=False)
    pieces = [tokenizer.token_bytes(i) for i in ids]
    if b"".join(pieces).decode("utf-8", errors="replace") != text:
        raise CompressionError("this tokenizer cannot represent the text exactly, so it cannot be coded losslessly.")
    return [(i, p.decode("utf-8", errors="replace")) for i, p in zip(ids, pieces)]


def _primer(tokenizer: Tokenizer) -> list[int]:
    """A newline token to start the context, as text usually begins after one; none if the vocabulary lacks it."""
    try:
        ids = tokenizer.encode("\n", allowed_special=False)
    except ValueError:
        return []
    return ids if len(ids) == 1 else []


class _Predictor:
    """The model's next-token distribution, computed the same way on both sides of the coder.

    window "slide": the generation loop's context, which slides by half a context once the text
    outgrows it (every token sees at least half a context). window "fixed": the context restarts
    every `block_size` tokens, as in the validation loss (`llm_core.text.data.eval_windows`), so
    the coded size can be checked against that loss.
    """

    def __init__(self, model: GPT, primer: list[int], window: str = "slide"):
        if window not in WINDOWS:
            raise CompressionError(f"unknown window {window!r}; choose one of {', '.join(WINDOWS)}.")
        self.model = model
        self.ids = list(primer)
        self.window = window
        self.window_start = 0
        self.cache = KVCache(model.config, 1, model.device)
        self.cache_state: dict = {}
        self.vocab = model.config.vocab_size
        self._probs: np.ndarray | None = None

    def probs(self) -> np.ndarray:
        """float64 (V,) probabilities of the next token; uniform while the context is empty."""
        if self._probs is None:
            if not self.ids:
                self._probs = np.full(self.vocab, 1.0 / self.vocab)
            elif self.window == "fixed":
                start = (len(self.ids) - 1) // self.model.config.block_size * self.model.config.block_size
                if start != self.window_start:
                    self.window_start, self.cache_state = start, {}
                    self.cache.reset()
                logits, _ = next_token_logits(self.model, self.ids[start:], self.cache, self.cache_state)
            else:
                logits, _ = next_token_logits(self.model, self.ids, self.cache, self.cache_state)
            if self._probs is None:
                self._probs = torch.softmax(logits.float(), dim=-1).numpy().astype(np.float64)
        return self._probs

    def append(self, token: int) -> None:
        self.ids.append(token)
        self._probs = None


class _EscapeTable:
    """Characters escaped so far, with counts; slot `len(chars)` means 'a new character'."""

    def __init__(self):
        self.chars: list[str] = []
        self.index: dict[str, int] = {}
        self.counts = np.zeros(16)

    def weights(self) -> np.ndarray:
        n = len(self.chars)
        w = np.empty(n + 1)
        w[:n] = self.counts[:n]
        w[n] = max(1, n)  # a new character is as likely as the number of distinct ones seen (PPM's method C)
        return w

    def add(self, char: str) -> None:
        if char not in self.index:
            if len(self.chars) == len(self.counts):
                self.counts = np.concatenate([self.counts, np.zeros(len(self.counts))])
            self.index[char] = len(self.chars)
            self.chars.append(char)
        self.counts[self.index[char]] += 1


def _escape_probability(escapes: int, steps: int) -> float:
    """Krichevsky-Trofimov: (escapes + 1/2) / (steps + 1)."""
    return (escapes + 0.5) / (steps + 1.0)


def _mixed(probs: np.ndarray, p_escape: float) -> np.ndarray:
    out = np.empty(len(probs) + 1)
    out[:-1] = probs * (1.0 - p_escape)
    out[-1] = p_escape
    return out


def _categorical(probs: np.ndarray):
    return constriction.stream.model.Categorical(probs, perfect=False)


LEAST_PROBABILITY = 2.0**-24  # constriction's leaky quantization (24-bit precision) gives every symbol at least this


def _bits(p: float, total: float) -> float:
    """-log2 of a probability as the coder sees it: a probability that underflowed to 0 in fp32 (a confidently wrong
    model) still gets the coder's least probability, so it costs about 24 bits instead of a math error."""
    return -math.log2(max(p / total, LEAST_PROBABILITY))


def _cpu_model(model: GPT) -> GPT:
    """The model as the coder runs it: float32 on the CPU (a GPU's or bf16 model is copied there)."""
    return model.float32_on_cpu().eval()  # made outside inference mode, though compress() runs in it


@torch.inference_mode()
def compress(model: GPT, tokenizer: Tokenizer, text: str, name: str = "", keep_pieces: bool = True, window: str = "slide") -> Compressed:
    """Code `text` with the model's probabilities; the result's `data` is a complete .llmz file."""
    text = _check_text(text)
    if window not in WINDOWS:
        raise CompressionError(f"unknown window {window!r}; choose one of {', '.join(WINDOWS)}.")
    t0 = time.perf_counter()
    model = _cpu_model(model)
    escapes_on = isinstance(tokenizer, CharTokenizer)
    primer = _primer(tokenizer)
    symbols = _symbols(tokenizer, text)
    encoder = constriction.stream.queue.RangeEncoder()
    pieces: list[tuple[str, float]] = []
    ideal = 0.0
    n_escapes = 0
    with threads(1):  # one thread: the same reduction order in every process that decodes this
        predictor = _Predictor(model, primer, window)
        table = _EscapeTable()
        for step, (token, piece) in enumerate(symbols):
            probs = predictor.probs()
            if escapes_on:
                p_escape = _escape_probability(n_escapes, step)
                probs = _mixed(probs, p_escape)
            if token >= 0:
                encoder.encode(token, _categorical(probs))
                bits = _bits(probs[token], probs.sum())
                predictor.append(token)
            else:
                encoder.encode(len(probs) - 1, _categorical(probs))
                bits = _bits(probs[-1], probs.sum()) + _encode_escaped(encoder, table, piece)
                n_escapes += 1
            ideal += bits
            if keep_pieces:
                pieces.append((piece, bits))
    name_bytes = name.encode("utf-8")[:200]
    flags = (FLAG_ESCAPE if escapes_on else 0) | (FLAG_PRIMER if primer else 0) | (FLAG_FIXED_WINDOW if window == "fixed" else 0)
    header = HEADER.pack(MAGIC, VERSION, flags, len(name_bytes), len(symbols), len(text), model_fingerprint(model, tokenizer), text_digest(text))
    words = encoder.get_compressed().astype("<u4").tobytes()
    return Compressed(
        data=header + name_bytes + words,
        n_chars=len(text),
        n_symbols=len(symbols),
        n_escapes=n_escapes,
        ideal_bits=ideal,
        header_bytes=len(header) + len(name_bytes),
        seconds=time.perf_counter() - t0,
        pieces=pieces,
    )


def _encode_escaped(encoder, table: _EscapeTable, char: str) -> float:
    """Code one escaped character (table slot, then its code point if new); returns the bits spent."""
    bits = 0.0
    slot = table.index.get(char, len(table.chars))
    if table.chars:  # with no character escaped before, 'new' is certain and costs nothing
        w = table.weights()
        encoder.encode(slot, _categorical(w))
        bits += _bits(w[slot], w.sum())
    if slot == len(table.chars):
        encoder.encode(ord(char), constriction.stream.model.Uniform(UNICODE_SIZE))
        bits += math.log2(UNICODE_SIZE)
    table.add(char)
    return bits


def read_header(data: bytes) -> dict:
    """Validate a .llmz file's framing and return its header fields; CompressionError if malformed."""
    if not isinstance(data, (bytes, bytearray)):
        raise CompressionError("a .llmz file is bytes.")
    if len(data) < HEADER.size or data[:4] != MAGIC:
        raise CompressionError("this is not an LLM Lab compressed file (.llmz): it does not start with 'LLMZ'.")
    magic, version, flags, name_len, n_symbols, n_chars, fingerprint, digest = HEADER.unpack_from(data)
    if version != VERSION:
        raise CompressionError(f"unsupported .llmz version {version} (this program reads version {VERSION}).")
    if flags & ~(FLAG_ESCAPE | FLAG_PRIMER | FLAG_FIXED_WINDOW):
        raise CompressionError("the file's flags are not ones this program wrote: it is damaged.")
    if len(data) < HEADER.size + name_len:
        raise CompressionError("the file is truncated: it ends inside its header.")
    if n_chars > MAX_CHARS or n_symbols > 4 * n_chars or (n_chars and not n_symbols):
        raise CompressionError("the header's counts are impossible: the file is damaged.")
    payload = len(data) - HEADER.size - name_len
    if payload % 4:
        raise CompressionError("the coded data is not a whole number of 32-bit words: the file is truncated or damaged.")
    try:
        name = bytes(data[HEADER.size : HEADER.size + name_len]).decode("utf-8")
    except UnicodeDecodeError:
        raise CompressionError("the model name in the header is not UTF-8: the file is damaged.") from None
    return dict(
        flags=flags, n_symbols=n_symbols, n_chars=n_chars, fingerprint=fingerprint, digest=digest,
        model_name=name, payload_offset=HEADER.size + name_len,
    )


@torch.inference_mode()
def decompress(model: GPT, tokenizer: Tokenizer, data: bytes) -> Decompressed:
    """The exact text back from a .llmz file made by `compress` with this same model."""
    t0 = time.perf_counter()
    head = read_header(data)
    model = _cpu_model(model)
    if head["fingerprint"] != model_fingerprint(model, tokenizer):
        made_with = f" ('{head['model_name']}')" if head["model_name"] else ""
        raise CompressionError(
            f"this file was compressed with a different model{made_with}: decoding needs exactly the model "
            "that encoded it (same weights and tokenizer)."
        )
    escapes_on = bool(head["flags"] & FLAG_ESCAPE)
    if escapes_on != isinstance(tokenizer, CharTokenizer):
        raise CompressionError("the file's escape flag does not match this model's tokenizer: the file is damaged.")
    primer = _primer(tokenizer)
    if bool(head["flags"] & FLAG_PRIMER) != bool(primer):
        raise CompressionError("the file's primer flag does not match this model's tokenizer: the file is damaged.")
    words = np.frombuffer(bytes(data[head["payload_offset"] :]), dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    parts: list[str] = []
    out_bytes: list[bytes] = []
    n_escapes = 0
    n_chars = head["n_chars"]
    try:
        with threads(1):
            predictor = _Predictor(model, primer, "fixed" if head["flags"] & FLAG_FIXED_WINDOW else "slide")
            table = _EscapeTable()
            vocab = model.config.vocab_size
            for step in range(head["n_symbols"]):
                probs = predictor.probs()
                if escapes_on:
                    probs = _mixed(probs, _escape_probability(n_escapes, step))
                symbol = int(decoder.decode(_categorical(probs)))
                if symbol < vocab:
                    predictor.append(symbol)
                    if escapes_on:
                        parts.append(tokenizer.chars[symbol] if symbol < len(tokenizer.chars) else "")
                    else:
                        out_bytes.append(tokenizer.token_bytes(symbol))
                else:
                    parts.append(_decode_escaped(decoder, table))
                    n_escapes += 1
                if len(parts) > n_chars:
                    raise CompressionError("the coded data holds more characters than the header says: the file is damaged.")
    except CompressionError:
        raise
    except Exception as exc:  # the coder's own error for data that is not a valid range-coded stream
        raise CompressionError(f"the coded data cannot be decoded ({exc}): the file is damaged.") from None
    if escapes_on:
        text = "".join(parts)
    else:
        text = b"".join(out_bytes).decode("utf-8", errors="replace")
    if len(text) != n_chars or text_digest(text) != head["digest"]:
        raise CompressionError(
            "the decoded text does not match the checksum stored at compression time: the file is damaged, or it "
            "was made where this model computes slightly different probabilities (another CPU or torch build)."
        )
    return Decompressed(text=text, model_name=head["model_name"], seconds=time.perf_counter() - t0)


def _decode_escaped(decoder, table: _EscapeTable) -> str:
    slot = len(table.chars)
    if table.chars:
        slot = int(decoder.decode(_categorical(table.weights())))
    if slot == len(table.chars):
        code = int(decoder.decode(constriction.stream.model.Uniform(UNICODE_SIZE)))
        if code in SURROGATES:
            raise CompressionError("the coded data names a character that cannot exist (a surrogate): the file is damaged.")
        char = chr(code)
    else:
        char = table.chars[slot]
    table.add(char)
    return char

