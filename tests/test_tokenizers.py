import random
import shutil

import pytest

from llm_core.text import bpe, tokenizers
from llm_core.text.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    TiktokenTokenizer,
    TokenizerError,
    UnknownCharacterError,
    tokenizer_from_dict,
)

HOSTILE = [
    "",
    "plain ascii",
    "emoji 🙂👍🏽👨‍👩‍👧 and flags 🇫🇷",
    "中文字符和日本語のテキスト、한국어",
    "control \x00\x01\x07\x1b[31m bell and escape \r\n\t",
    "combining é vs e\u0301, rtl עברית العربية",
    "   leading and trailing spaces   \n\n\n",
    "'s 've 're contractions and numbers 1234567 3.14",
]


def random_unicode(rng: random.Random, n: int) -> str:
    chars = []
    for _ in range(n):
        cp = rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x2FF), rng.randrange(0x4E00, 0x9FFF), rng.randrange(0x1F300, 0x1FAFF), rng.randrange(0, 32)])
        if 0xD800 <= cp <= 0xDFFF:
            cp = 0x41
        chars.append(chr(cp))
    return "".join(chars)


# --- the pure BPE functions, asserting their docstring examples ---

def test_pair_counts_and_merge_examples():
    assert bpe.pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert bpe.merge_pair([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    assert bpe.merge_pair([7, 7, 7], (7, 7), 300) == [300, 7]  # left to right, non-overlapping


def test_split_never_drops_text():
    rng = random.Random(0)
    for text in HOSTILE + [random_unicode(rng, 300) for _ in range(20)]:
        assert "".join(bpe.split_chunks(text)) == text


MIXED_SCRIPTS = [
    "Hello world, it's 2024! I'm sure they'll've done it.",
    "x² + y³ = z½; Ⅻ o'clock; ٣٤٥ and ४२ and 一二三 and ¾",
    "Français déjà vu · Straßenbahn · привет, мир · 日本語のテキスト · 안녕하세요 · مرحبا بالعالم",
    "e\u0301 (combining) · emoji 👍🏽👨‍👩‍👧 🇫🇷 · tabs\tand\r\nCRLF   trailing   ",
    "12345678901234567890 3.14159 1,000,000 0x1F $5.99 -42 +7",
    "  leading spaces\n\n\n  and   runs\u00a0of\u2003odd\u3000spaces\n",
    "don't DON'T 'tis 'quoted' __init__ snake_case CamelCase a_b_1",
]


@pytest.mark.parametrize("text", MIXED_SCRIPTS)
def test_split_is_gpt2s_pre_tokenisation(text):
    """Our chunks are exactly those of tiktoken's published r50k pattern, and tiktoken's GPT-2
    encoder never puts a token across one of our chunk boundaries (encoding chunk by chunk gives
    the same ids as encoding the whole text)."""
    import regex
    import tiktoken_ext.openai_public as published

    chunks = bpe.split_chunks(text)
    assert bpe.SPLIT_PATTERN == published.r50k_pat_str
    assert chunks == regex.findall(published.r50k_pat_str, text)
    gpt2 = tokenizers.load_tiktoken_encoding("r50k_base")
    assert [t for chunk in chunks for t in gpt2.encode_ordinary(chunk)] == gpt2.encode_ordinary(text)


def test_numbers_of_every_script_are_one_chunk_as_in_gpt2():
    # Python's re would read ² and ½ as letters (\w) and split "x²" differently from GPT-2.
    assert bpe.split_chunks("x² ½ ٣٤ ४२") == ["x", "²", " ½", " ٣٤", " ४२"]


def test_training_picks_the_most_frequent_pair_and_breaks_ties_by_smallest_pair():
    merges = bpe.train_merges("aaab aaab", 2)
    assert [m.pair for m in merges] == [(97, 97), (97, 98)]
    assert [m.count for m in merges] == [2 * 2, 2]


def test_incremental_counts_match_a_naive_recount(shakespeare):
    text = shakespeare[:20000]
    fast = bpe.train_merges(text, 60)
    # naive: recount every pair over all chunk occurrences after each merge
    words = [list(c.encode()) for c in bpe.split_chunks(text)]
    for i, merge in enumerate(fast):
        counts = {}
        for w in words:
            for pair, c in bpe.pair_counts(w).items():
                counts[pair] = counts.get(pair, 0) + c
        best = max(counts.values())
        expected_pair = min(p for p, c in counts.items() if c == best)
        assert (merge.pair, merge.count) == (expected_pair, best)
        words = [bpe.merge_pair(w, expected_pair, 256 + i) for w in words]


def test_bpe_round_trips_arbitrary_unicode(shakespeare):
    tok = BPETokenizer.train(shakespeare[:50000], 400)
    rng = random.Random(1)
    for text in HOSTILE + [random_unicode(rng, 500) for _ in range(30)]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert all(0 <= i < tok.vocab_size for i in ids)


def test_bpe_compresses_and_replays_merge_by_merge(shakespeare):
    tok = BPETokenizer.train(shakespeare[:100000], 356)
    sentence = "To be, or not to be, that is the question."
    counts = [len(tok.encode(sentence, max_merges=k)) for k in (0, 10, 50, 100)]
    assert counts[0] == len(sentence.encode())
    assert counts == sorted(counts, reverse=True) and counts[-1] < counts[0] * 0.6
    # the training text's token count after k merges is the byte count minus the merged occurrences
    sample = shakespeare[:100000]
    after = len(tok.encode(sample))
    assert after == len(sample.encode()) - sum(tok.merge_counts)


def test_bpe_encode_chunk_example():
    ranks = {(104, 105): 0, (256, 33): 1}
    assert bpe.encode_chunk(b"hi!", ranks) == [257]
    assert bpe.encode_chunk(b"hi!", ranks, max_rank=1) == [256, 33]


# --- characters ---

def test_char_tokenizer_names_unseen_characters():
    tok = CharTokenizer.from_text("hello world")
    assert tok.decode(tok.encode("hello")) == "hello"
    with pytest.raises(UnknownCharacterError) as info:
        tok.encode("hello 🙂 wörld")
    assert info.value.chars == ["🙂", "ö"]
    assert "🙂" in str(info.value)
    assert tok.decode(tok.encode("hello 🙂", errors="skip")) == "hello "


def test_special_tokens_get_their_own_ids():
    tok = CharTokenizer.from_text("abc").with_special_tokens(["<|user|>", "<|end|>"])
    assert tok.vocab_size == 5
    assert tok.encode("<|user|>ab<|end|>") == [3, 0, 1, 4]
    assert tok.decode([3, 0, 4]) == "<|user|>a<|end|>"
    with pytest.raises(UnknownCharacterError):
        tok.encode("<|user|>", allowed_special=False)


# --- the published tokenizers, offline ---

@pytest.mark.parametrize("name,ids", [("r50k_base", [31373, 995]), ("cl100k_base", [15339, 1917]), ("o200k_base", [24912, 2375])])
def test_published_ids(name, ids):
    tok = TiktokenTokenizer(name)
    assert tok.encode("hello world") == ids
    assert tok.decode(ids) == "hello world"


def test_gpt2_round_trips_hostile_text():
    tok = TiktokenTokenizer("r50k_base")
    for text in HOSTILE:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("<|endoftext|>") == [50256]


def test_tampered_table_is_refused(tmp_path, monkeypatch):
    shutil.copy(tokenizers.TOKENIZER_DIR / "SHA256SUMS", tmp_path / "SHA256SUMS")
    raw = (tokenizers.TOKENIZER_DIR / "r50k_base.tiktoken").read_bytes()
    (tmp_path / "r50k_base.tiktoken").write_bytes(raw.replace(b"IQ== 0", b"IQ== 1", 1))
    monkeypatch.setattr(tokenizers, "TOKENIZER_DIR", tmp_path)
    tokenizers.load_tiktoken_encoding.cache_clear()
    try:
        with pytest.raises(TokenizerError, match="sha256"):
            tokenizers.load_tiktoken_encoding("r50k_base")
    finally:
        tokenizers.load_tiktoken_encoding.cache_clear()


def test_partial_utf8_tokens_display_as_bytes():
    tok = TiktokenTokenizer("r50k_base")
    pieces = [tok.token_text(i) for i in tok.encode("🙂")]
    assert len(pieces) > 1 and all(p.startswith("<0x") for p in pieces)


# --- serialisation ---

def test_to_dict_round_trip(shakespeare):
    for tok in (CharTokenizer.from_text(shakespeare).with_special_tokens(["<|end|>"]), BPETokenizer.train(shakespeare[:20000], 300), TiktokenTokenizer("cl100k_base")):
        again = tokenizer_from_dict(tok.to_dict())
        text = "Hello, world!\n"
        assert again.encode(text) == tok.encode(text) and again.vocab_size == tok.vocab_size


MALFORMED = [
    None, {}, {"type": "char", "chars": 5}, {"type": "bpe", "merges": [[300, 1]]}, {"type": "bpe", "merges": "x"}, {"type": "char", "chars": "aa"},
    {"type": "tiktoken", "encoding": "../../etc/passwd"}, {"type": "pickle"}, {"type": "char", "chars": "ab", "special_tokens": {"<x>": 7}},
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_descriptions_are_refused(data):
    with pytest.raises(TokenizerError):
        tokenizer_from_dict(data)


def test_an_unseen_character_is_named_in_plain_words():
    """Shown on Compare and Generate as it is: no "character(s)", no "byte-level tokenizer" for a newcomer to decode."""
    tok = CharTokenizer.from_text("hello")
    with pytest.raises(UnknownCharacterError) as one:
        tok.encode("hé")
    assert str(one.value).startswith("This model has never seen this character in the text it learned from: 'é'.")
    with pytest.raises(UnknownCharacterError) as two:
        tok.encode("😀 é")
    words = str(two.value)
    assert "these 3 characters" in words and "(s)" not in words and "byte-level" not in words and "remove them" in words
