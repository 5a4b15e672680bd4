"""Running against training (llm_core/compression/running.py) and the batched code length
(llm_core/compression/codelength.py), checked against the parameter count, the register and the coder."""

import math

import pytest
import torch
from conftest import perturbed_model

from llm_core.compression import running
from llm_core.compression.codelength import code_length
from llm_core.compression.coder import CompressionError, compress
from llm_core.literature import value
from llm_core.model.config import ModelConfig, model_preset
from llm_core.training.cost import train_flops_per_token


@pytest.mark.parametrize("preset", ["nano", "tiny", "small"])
def test_running_costs_about_two_flops_per_parameter_and_training_three_times_that(preset):
    cfg = model_preset(preset, 65)
    n = cfg.num_params()
    ours = running.for_config(preset, cfg, 1_000_000)
    multiplying = n - cfg.vocab_size * cfg.n_embd  # the token embedding is a lookup, not a multiplication
    assert ours.run_flops_per_token == 2 * multiplying + 2 * cfg.n_layer * cfg.block_size * cfg.n_embd
    assert 1.9 * n < ours.run_flops_per_token < 2.6 * n  # about 2N: attention adds a little, the lookup takes a little off
    assert ours.train_flops_per_token == train_flops_per_token(cfg) == 3 * ours.run_flops_per_token
    assert ours.ratio == 3 and ours.tokens_matching_training == pytest.approx(3_000_000)
    assert ours.params == n


def test_tied_embeddings_count_the_shared_matrix_as_the_output_head():
    untied, tied = ModelConfig(vocab_size=65), ModelConfig(vocab_size=65, tie_embeddings=True)
    head = 65 * untied.n_embd
    assert running.run_flops_per_token(tied) == running.run_flops_per_token(untied)  # the output head multiplies, shared or not
    assert tied.num_params() == untied.num_params() - head


def test_llama2_70b_from_the_register():
    llama = running.llama2_70b()
    n, d = value("llama2_70b_params"), value("llama2_tokens")
    assert llama.run_flops_per_token == 2 * n and llama.train_flops_per_token == 6 * n
    assert llama.train_flops == pytest.approx(6 * n * d) == pytest.approx(8.4e23)
    assert llama.tokens_matching_training == pytest.approx(3 * d)
    assert llama.days_until_running_matches_training(1e6, 1000) == pytest.approx(3 * d / 1e9)
    assert "3.8% more over a full 4,096-token context" in llama.how


def test_without_a_record_or_requests_there_is_no_day_count():
    cfg = model_preset("nano", 65)
    assert running.for_config("x", cfg, None).days_until_running_matches_training(1e6, 1000) is None
    assert running.for_config("x", cfg, 0).tokens_matching_training is None
    assert running.for_config("x", cfg, 1e6).days_until_running_matches_training(0, 1000) is None


def test_code_length_is_the_coders_fixed_window_cost_without_its_escape_channel(nano_model, char_tok, shakespeare):
    text = shakespeare[5000 : 5000 + 3 * nano_model.config.block_size + 17]  # three full windows and a short one
    measured = code_length(nano_model, char_tok, text)
    packed = compress(nano_model, char_tok, text, window="fixed", keep_pieces=False)
    kt_bits = sum(-math.log2(1 - 0.5 / (i + 1)) for i in range(len(text)))  # what the escape channel costs when unused
    assert measured.bits == pytest.approx(packed.ideal_bits - kt_bits, rel=1e-6)
    assert measured.n_chars == len(text) and measured.n_tokens == len(text)
    assert packed.ideal_bits_per_char > measured.bits_per_char


def test_code_length_refuses_characters_outside_the_vocabulary_and_empty_text(nano_model, char_tok):
    with pytest.raises(CompressionError, match="not in the model's vocabulary"):
        code_length(nano_model, char_tok, "ROMEO 🙂")
    with pytest.raises(CompressionError, match="no text"):
        code_length(nano_model, char_tok, "")


def test_a_confidently_wrong_model_costs_more_than_a_blind_guess(char_tok, shakespeare):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=3)
    with torch.no_grad():
        model.head.weight.mul_(40.0)
    measured = code_length(model, char_tok, shakespeare[:400])
    assert math.isfinite(measured.bits) and measured.bits_per_char > math.log2(char_tok.vocab_size)
