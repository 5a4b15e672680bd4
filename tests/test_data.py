import pytest
import torch

from llm_core.text.data import (
    DataError,
    TokenSplit,
    check_trainable,
    eval_windows,
    random_batch,
    text_from_bytes,
)


def test_split_holds_out_the_last_tenth():
    split = TokenSplit.from_ids(list(range(1000)))
    assert split.train.tolist() == list(range(900)) and split.val.tolist() == list(range(900, 1000))


def test_batches_are_shifted_by_one_and_seeded():
    data = torch.arange(500)
    x, y = random_batch(data, 8, 16, torch.Generator().manual_seed(3))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    x2, _ = random_batch(data, 8, 16, torch.Generator().manual_seed(3))
    assert torch.equal(x, x2)


def test_eval_windows_predict_each_token_once():
    data = torch.arange(101)
    x, y = eval_windows(data, 10)
    assert x.shape == (10, 10)
    assert y.flatten().tolist() == list(range(1, 101))


def test_binary_and_oversized_and_non_utf8_uploads_are_refused():
    with pytest.raises(DataError, match="binary"):
        text_from_bytes(b"\x7fELF\x00\x00\x01")
    with pytest.raises(DataError, match="limit"):
        text_from_bytes(b"a" * 2000, max_bytes=1000)
    with pytest.raises(DataError, match="not UTF-8"):
        text_from_bytes("café".encode("latin-1"))
    assert text_from_bytes("naïve 🙂".encode()) == "naïve 🙂"


def test_too_short_corpus_is_explained():
    with pytest.raises(DataError, match="at least"):
        check_trainable(100, block_size=64)
    check_trainable(10_000, block_size=64)
