"""LLM Lab's BPE on Tiny Shakespeare, shipped (llm_core/text/shipped_bpe.py): the file is what training gives, it is
used only for the text and merge count it was made from, and the Tokenization chapter's tokenizer is read from it."""

import json

import pytest

from llm_core.text import bpe, shipped_bpe
from llm_core.text.data import load_corpus
from llm_core.text.tokenview import replay_bpe


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(shipped_bpe.CORPUS)


def test_the_shipped_bpe_is_what_training_on_the_corpus_gives(corpus):
    merges, replay = shipped_bpe.load(corpus, shipped_bpe.MERGES)
    trained = bpe.train_merges(corpus, shipped_bpe.MERGES)
    assert merges == trained and len(merges) == shipped_bpe.MERGES
    assert replay == replay_bpe(corpus, trained)  # every step: the pair, its texts, occurrences, vocabulary and token count
    assert replay.token_counts[0] == len(corpus.encode()) > replay.token_counts[-1]


def test_other_text_another_merge_count_or_a_bad_file_are_trained_live(corpus, tmp_path):
    assert shipped_bpe.load(corpus[:-1], shipped_bpe.MERGES) is None
    assert shipped_bpe.load(corpus, shipped_bpe.MERGES - 1) is None
    good = json.loads(shipped_bpe.PATH.read_text())
    assert good["command"] == "python -m llm_core.text.shipped_bpe" and good["corpus_sha256"] == shipped_bpe.text_sha256(corpus)
    broken = dict(good, steps=[row[:-1] for row in good["steps"]])  # a field missing in every step
    for name, text in (("missing.json", None), ("not-json.json", "ROMEO:"), ("broken.json", json.dumps(broken))):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        assert shipped_bpe.load(corpus, shipped_bpe.MERGES, path) is None


def test_the_tokenization_chapter_reads_its_bpe_from_the_file(corpus, monkeypatch):
    from lab_ui import text_chapters

    monkeypatch.setattr(bpe, "train_merges", lambda *a, **k: pytest.fail("trained although the shipped file fits"))
    text_chapters.shakespeare_bpe.clear()
    try:
        run = text_chapters.shakespeare_bpe()
    finally:
        text_chapters.shakespeare_bpe.clear()
    assert run.learned == shipped_bpe.MERGES and run.n_chars == len(corpus)
    assert len(run.tokenizer.encode(corpus[:2000])) < len(corpus[:2000].encode())  # the merges work as a tokenizer
    assert run.tokenizer.merge_counts == [m.count for m in shipped_bpe.load(corpus, shipped_bpe.MERGES)[0]]
