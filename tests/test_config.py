import pytest

from llm_core.model.config import (
    ConfigError,
    ModelConfig,
    TrainConfig,
    model_preset,
    train_preset,
)
from llm_core.model.gpt import GPT


def test_head_divisibility_message_names_both_numbers():
    with pytest.raises(ConfigError, match=r"n_embd \(100\) must be divisible by n_head \(3\)"):
        ModelConfig(vocab_size=65, n_embd=100, n_head=3).validate()


@pytest.mark.parametrize("field,value", [("n_layer", 0), ("n_embd", -4), ("block_size", 1), ("vocab_size", 1), ("n_layer", 1000)])
def test_impossible_sizes_are_refused(field, value):
    with pytest.raises(ConfigError):
        ModelConfig(**{"vocab_size": 65, field: value}).validate()


@pytest.mark.parametrize("preset", ["nano", "tiny", "small"])
@pytest.mark.parametrize("position", ["rope", "learned"])
def test_param_count_from_shapes_matches_the_model(preset, position):
    cfg = model_preset(preset, 65, position=position)
    assert cfg.num_params() == GPT(cfg).num_params()


def test_small_preset_is_about_ten_million_parameters():
    assert 8e6 < model_preset("small", 512).num_params() < 14e6


def test_from_dict_refuses_unknown_fields_and_wrong_types():
    good = model_preset("nano", 65).to_dict()
    assert ModelConfig.from_dict(good) == model_preset("nano", 65)
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({**good, "evil": 1})
    with pytest.raises(ConfigError, match="must be int"):
        ModelConfig.from_dict({**good, "n_layer": "2"})
    with pytest.raises(ConfigError, match="must be int"):
        ModelConfig.from_dict({**good, "n_layer": True})


@pytest.mark.parametrize("kwargs,match", [(dict(max_steps=0), "steps must be at least 1"), (dict(lr=0), "learning rate"), (dict(batch_size=0), "batch size"), (dict(precision="fp8"), "precision")])
def test_train_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs).validate()


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        train_preset("huge")
