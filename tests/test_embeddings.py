"""llm_core.interpret.embeddings: projections, neighbours and token kinds behind the Embeddings chapter."""

from collections import Counter

import pytest
import torch

from llm_core.interpret import embeddings as emb
from llm_core.model.checkpoint import MODELS_DIR, load_checkpoint
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import BPETokenizer
from llm_core.training.loop import build_model


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors")


@pytest.fixture(scope="module")
def learned_pos():
    return load_checkpoint(MODELS_DIR / "shakespeare-tiny-learned-pos.safetensors")


def test_pca_recovers_a_planted_direction():
    gen = torch.Generator().manual_seed(0)
    direction = torch.nn.functional.normalize(torch.randn(16, generator=gen), dim=0)
    data = torch.randn(200, 1, generator=gen) * 10 * direction + torch.randn(200, 16, generator=gen) * 0.1 + 5.0
    p = emb.pca(data, k=3)
    assert abs(float(p.components[0] @ direction)) > 0.999
    assert p.explained[0] > 0.98
    assert torch.all(p.explained[:-1] >= p.explained[1:])


def test_pca_coordinates_are_the_centred_rows_on_orthonormal_directions():
    gen = torch.Generator().manual_seed(1)
    data = torch.randn(50, 8, generator=gen)
    p = emb.pca(data, k=3)
    assert torch.allclose(p.components @ p.components.T, torch.eye(3), atol=1e-5)
    assert torch.allclose(p.coords, (data - data.mean(0)) @ p.components.T, atol=1e-5)
    full = emb.pca(data, k=8)
    assert float(full.explained.sum()) == pytest.approx(1.0, abs=1e-5)
    # the same table always gives the same picture: signs are fixed
    assert torch.equal(emb.pca(data.clone(), k=3).coords, p.coords)


def test_pca_caps_k_and_handles_degenerate_tables():
    assert emb.pca(torch.randn(3, 10), k=5).coords.shape == (3, 3)
    zeros = emb.pca(torch.zeros(5, 4), k=2)
    assert torch.all(zeros.coords == 0) and torch.all(zeros.explained == 0)
    with pytest.raises(ValueError):
        emb.pca(torch.zeros(0, 4))


def test_cosine_and_neighbours_match_a_direct_computation():
    gen = torch.Generator().manual_seed(2)
    table = torch.randn(30, 12, generator=gen)
    sims = emb.cosine_similarity_matrix(table)
    direct = torch.nn.functional.cosine_similarity(table[:, None, :], table[None, :, :], dim=-1)
    assert torch.allclose(sims, direct, atol=1e-5)
    got = emb.nearest_neighbours(table, 7, k=5)
    order = [i for i in direct[7].argsort(descending=True).tolist() if i != 7][:5]
    assert [i for i, _ in got] == order
    assert [s for _, s in got] == pytest.approx(direct[7, order].tolist(), abs=1e-5)
    assert len(emb.nearest_neighbours(table, 0, k=100)) == 29  # never itself, capped
    with pytest.raises(IndexError):
        emb.nearest_neighbours(table, 30)


def test_token_kinds_of_the_shakespeare_characters(char_tok):
    kinds = emb.token_kinds(char_tok)
    assert Counter(kinds) == {
        "lower-case vowel": 5, "lower-case consonant": 21, "upper-case vowel": 5, "upper-case consonant": 21,
        "punctuation": 10, "whitespace": 2, "digit": 1,
    }
    assert kinds[char_tok.stoi["\n"]] == "whitespace" and kinds[char_tok.stoi["3"]] == "digit"
    assert set(kinds) <= set(emb.KINDS)


def test_token_kinds_of_bpe_and_special_tokens(shakespeare):
    tok = BPETokenizer.train(shakespeare[:20_000], 300).with_special_tokens(["<|end|>"])
    kinds = emb.token_kinds(tok)
    assert len(kinds) == tok.vocab_size and kinds[-1] == "special"
    assert kinds[0xC3] == "byte fragment"  # a lone lead byte is not text on its own
    assert set(kinds) <= set(emb.KINDS)
    assert [emb.token_kind(t) for t in [" the", "  ", "123", "?!", "a1", "", "\x07"]] == ["word", "whitespace", "number", "symbols", "mixed", "other", "other"]


def test_tables_of_a_rotary_and_a_learned_position_model(bundled, learned_pos):
    assert emb.position_table(bundled.model) is None
    table = emb.position_table(learned_pos.model)
    assert table.shape == (128, 128) and table.device.type == "cpu"
    assert torch.equal(emb.token_table(bundled.model), bundled.model.wte.weight.detach())
    assert torch.equal(emb.output_table(bundled.model), bundled.model.head.weight.detach())
    copy = emb.token_table(bundled.model)
    copy.zero_()  # a page can do what it likes with the copy: the shared bundled model is untouched
    assert bundled.model.wte.weight.abs().sum() > 0
    tied = build_model(model_preset("nano", 65, tie_embeddings=True), seed=0)
    assert torch.equal(emb.output_table(tied), emb.token_table(tied))


def test_change_from_start_needs_the_true_starting_values(bundled, learned_pos):
    for loaded, table_of in ((bundled, emb.token_table), (learned_pos, emb.position_table)):
        seed = loaded.record["train_config"]["seed"]
        trained = table_of(loaded.model)
        start = table_of(build_model(loaded.model.config, seed=seed))
        change = emb.change_from_start(trained, start)
        assert change is not None and torch.allclose(change, trained - start)
        assert change.norm() < 0.5 * trained.norm()  # training moved the table only a little
        assert 0.05 < emb.relative_change(change, start) < 0.5
        wrong = table_of(build_model(loaded.model.config, seed=seed + 1))
        assert emb.change_from_start(trained, wrong) is None
    assert emb.change_from_start(torch.ones(2, 3), torch.ones(3, 2)) is None


def test_what_training_changed_groups_the_vowels(bundled, char_tok):
    """The learned change of the input table puts 'e' next to other vowels; the raw table does not show it."""
    trained = emb.token_table(bundled.model)
    change = emb.change_from_start(trained, emb.token_table(build_model(bundled.model.config, seed=1337)))
    vowels = {char_tok.stoi[c] for c in "aiouAEIOU"}
    near_change = {i for i, _ in emb.nearest_neighbours(change, char_tok.stoi["e"], k=6)}
    assert len(near_change & vowels) >= 3


def test_mean_abs_cosine_separates_random_from_shared_directions():
    gen = torch.Generator().manual_seed(3)
    random_rows = torch.randn(500, 128, generator=gen)
    assert emb.mean_abs_cosine(random_rows) < 0.1
    shared = random_rows * 0.1 + torch.randn(128, generator=gen)
    assert emb.mean_abs_cosine(shared) > 0.9
    direct = emb.cosine_similarity_matrix(random_rows[:50]).abs()
    assert emb.mean_abs_cosine(random_rows, max_rows=50) == pytest.approx(float((direct.sum() - 50) / (50 * 49)), abs=1e-5)
    assert emb.mean_abs_cosine(torch.ones(1, 3)) == 0.0
