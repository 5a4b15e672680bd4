"""llm_core.text.tokenview: the numbers behind the Tokenization chapter."""

import pytest

from llm_core.text import bpe
from llm_core.text.tokenizers import BPETokenizer, CharTokenizer, TiktokenTokenizer
from llm_core.text.tokenview import display_piece, hex_bytes, replay_bpe, tokenize_row

HOSTILE = [
    "",
    "emoji 🙂👍🏽👨‍👩‍👧 and flags 🇫🇷",
    "中文字符和日本語のテキスト、한국어",
    "control \x00\x01\x07\x1b[31m bell \r\n\t",
    "aaaaaaa bbbb aaaa   \n\n\n",
    "<|endoftext|> is only text here",
]


@pytest.fixture(scope="module")
def gpt2():
    return TiktokenTokenizer("r50k_base")


@pytest.fixture(scope="module")
def small_bpe(shakespeare):
    return BPETokenizer.train(shakespeare[:50_000], 256 + 120)


def test_char_row_marks_unknown_characters_in_place(char_tok):
    row = tokenize_row(char_tok, "Hi 日本🙂!")
    assert row.unknown == ["日", "本", "🙂"]
    assert row.unknown_count == 3
    assert [p.token_id is None for p in row.pieces] == [False, False, False, True, True, True, False]
    assert row.ids == char_tok.encode("Hi !")
    assert row.count == 4 and row.n_chars == 7 and row.n_bytes == len("Hi 日本🙂!".encode())
    assert row.chars_per_token == 1.0  # characters without an id are not read, so not counted
    assert "never seen" in row.pieces[3].hover and "E6 97 A5" in row.pieces[3].hover


@pytest.mark.parametrize("text", HOSTILE)
def test_byte_level_rows_cover_every_byte(text, gpt2, small_bpe):
    for tok in (gpt2, small_bpe):
        row = tokenize_row(tok, text)
        assert row.ids == tok.encode(text, allowed_special=False)
        assert b"".join(p.raw for p in row.pieces) == text.encode()
        assert row.unknown == [] and row.total_pieces == row.count
        assert all(p.hover == f"id {p.token_id} · bytes {hex_bytes(p.raw)}" for p in row.pieces)


def test_special_token_names_are_plain_text(gpt2):
    row = tokenize_row(gpt2, "<|endoftext|>")
    assert 50256 not in row.ids and row.count > 1


def test_pieces_are_cut_but_counts_stay_exact(gpt2, char_tok):
    text = "To be, or not to be. " * 5000
    row = tokenize_row(gpt2, text, max_pieces=400)
    assert len(row.pieces) == 400 and row.pieces_cut
    assert row.count == len(gpt2.encode(text)) > 400
    assert row.chars_per_token == pytest.approx(len(text) / row.count)
    char_row = tokenize_row(char_tok, text, max_pieces=400)
    assert len(char_row.pieces) == 400 and char_row.count == len(text) == char_row.total_pieces


def test_empty_text_has_no_tokens(gpt2, char_tok):
    for tok in (gpt2, char_tok):
        row = tokenize_row(tok, "")
        assert row.count == 0 and row.pieces == [] and row.chars_per_token is None


def test_byte_fragments_and_control_characters_are_printable(gpt2):
    row = tokenize_row(gpt2, "🙂")
    assert len(row.pieces) > 1 and all(p.text.startswith("<0x") for p in row.pieces)
    assert display_piece("\x00\x1b\x7f\t\n") == "␀␛␡\t\n"


def test_encode_kwargs_replay_a_bpe_part_way(small_bpe):
    text = "the theatre"
    assert tokenize_row(small_bpe, text, max_merges=0).count == len(text.encode())
    assert tokenize_row(small_bpe, text, max_merges=5).ids == small_bpe.encode(text, max_merges=5)


def test_replay_counts_match_encoding_at_every_checkpoint(shakespeare):
    text = shakespeare[:30_000]
    merges = bpe.train_merges(text, 200)
    replay = replay_bpe(text, merges)
    tok = BPETokenizer([m.pair for m in merges])
    assert replay.n_bytes == len(text.encode())
    for k in (0, 1, 2, 10, 57, 150, 200):
        assert replay.token_counts[k] == len(tok.encode(text, max_merges=k))
    assert replay.vocab_sizes == list(range(256, 457))
    assert [s.occurrences for s in replay.steps] == [m.count for m in merges]
    assert all(s.new_text == s.left + s.right for s in replay.steps if "<0x" not in s.new_text)


@pytest.mark.parametrize("text", [t for t in HOSTILE if t])
def test_replay_is_exact_with_overlaps_and_multibyte_text(text):
    merges = bpe.train_merges(text, 30)
    replay = replay_bpe(text, merges)
    tok = BPETokenizer([m.pair for m in merges])
    assert replay.token_counts == [len(tok.encode(text, allowed_special=False, max_merges=k)) for k in range(len(merges) + 1)]


def test_overlapping_pairs_save_fewer_tokens_than_they_occur():
    merges = bpe.train_merges("aaab aaab", 2)
    replay = replay_bpe("aaab aaab", merges)
    assert merges[0].count == 4
    assert replay.token_counts[0] - replay.token_counts[1] == 2  # "aaa" merges once per word


def test_replay_of_bare_pairs_counts_occurrences():
    merges = bpe.train_merges("hello hello help", 3)
    with_counts = replay_bpe("hello hello help", merges)
    bare = replay_bpe("hello hello help", [m.pair for m in merges])
    assert [s.occurrences for s in bare.steps] == [s.occurrences for s in with_counts.steps]
    assert bare.token_counts == with_counts.token_counts


def test_char_tokenizer_row_for_known_text():
    tok = CharTokenizer.from_text("abc ")
    row = tokenize_row(tok, "a cab")
    assert row.ids == [1, 0, 3, 1, 2] and row.chars_per_token == 1.0
