"""A model's lineage (llm_core/model/lineage.py): made at every stage, kept in its JSON, checked on load,
and unbroken from a base model through SFT and a reward model to RLHF."""

import threading

import pytest
import torch
from conftest import perturbed_model

from llm_core.model import lineage
from llm_core.model.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint_bytes
from llm_core.model.config import TrainConfig, model_preset
from llm_core.training.training_run import TrainingRun, prepare_corpus


def test_the_hash_is_the_weights_not_the_name_or_the_record(nano_model, char_tok):
    h = lineage.content_hash(nano_model, char_tok)
    copy = perturbed_model(nano_model.config, seed=0)  # the same seed: the same weights, another object
    assert lineage.content_hash(copy, char_tok) == h
    with torch.no_grad():
        copy.wte.weight[0, 0] += 1e-3
    assert lineage.content_hash(copy, char_tok) != h


def test_a_checkpoint_keeps_its_lineage_and_refuses_one_that_is_not_its_own(nano_model, char_tok):
    lin = lineage.make(nano_model, char_tok, "SFT", parent={"hash": "a" * 64, "stage": "bundled", "name": "base"}, steps=3, flops=1e9,
                       losses={"train": 1.5, "val": float("nan")})
    weights, _ = checkpoint_bytes(nano_model, char_tok, {"steps": 3}, lin)
    back = load_checkpoint_bytes(weights).meta["lineage"]
    assert back["parent"] == "a" * 64 and back["stage"] == "SFT" and back["losses"] == {"train": 1.5, "val": None}
    other = perturbed_model(nano_model.config, seed=9)
    forged, _ = checkpoint_bytes(other, char_tok, {}, lin)  # another model's weights under this lineage
    with pytest.raises(CheckpointError, match="not those its lineage describes"):
        load_checkpoint_bytes(forged)
    for bad, says in (({**lin, "stage": "magic"}, "unknown stage"), ({**lin, "parent": "xyz"}, "parent is not a valid hash"),
                      ({**lin, "ancestors": [{"hash": "b" * 64, "stage": "SFT"}]}, "parent is not its last ancestor")):
        raw, _ = checkpoint_bytes(nano_model, char_tok, {}, bad)
        with pytest.raises(CheckpointError, match=says):
            load_checkpoint_bytes(raw)


def test_pre_training_records_data_settings_and_a_resumed_segment_s_parent(shakespeare):
    corpus = prepare_corpus(shakespeare[:60_000], "shakespeare excerpt")
    run = TrainingRun(corpus, model_preset("nano", corpus.tokenizer.vocab_size), TrainConfig(max_steps=8, batch_size=4, eval_every=0, log_every=2),
                      sample_tokens=5, final_eval_budget_s=0.5)
    first = _run(run)
    lin = first.meta["lineage"]
    assert lin["stage"] == "pre-training" and lin["parent"] is None and lin["steps"] == 8
    assert lin["data"]["corpus"] == "shakespeare excerpt" and lin["data"]["corpus_hash"] == lineage.data_hash(corpus.text)
    assert lin["settings"]["model"]["n_layer"] == 2 and lin["settings"]["training"]["max_steps"] == 8
    assert lin["flops"] > 0 and lin["losses"]["val"] == first.record["val_loss"]
    assert lin["hash"] == lineage.content_hash(first.model, first.tokenizer)
    run.cfg.max_steps = 12  # more schedule: Resume goes on from the first segment's model
    second = _run(run)
    assert second.meta["lineage"]["parent"] == lin["hash"] and second.meta["lineage"]["steps"] == 12


def _run(run):
    job = run.make_job(backend="thread")
    job.start()
    assert job.join(300)
    return job.result


def _stage(stage):
    """A stage's steps, its closing measurements and its result, in this thread (what its worker does)."""
    stop = threading.Event()
    for _ in stage.steps(stop):
        pass
    stage.measure()
    return stage.finish(stage.last, "reached the step limit")


@pytest.mark.slow
def test_lineage_survives_every_stage_base_sft_reward_model_rlhf(char_tok):
    from llm_core.alignment.assistant import RewardStage, RLHFStage, SFTStage, reward_config, rlhf_config, sft_config
    from llm_core.alignment.preference import Pair
    from llm_core.alignment.tasks import make_examples
    from llm_core.model.checkpoint import MODELS_DIR, load_checkpoint

    base = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors")
    base_lin = lineage.from_record(base.model, base.tokenizer, base.meta, "bundled", name="Shakespeare (bundled)")
    sft_stage = SFTStage(base.model, base.tokenizer, make_examples(), sft_config(max_steps=6, batch_size=8, eval_every=3), base_name="Shakespeare (bundled)",
                         parent_lineage=base_lin)
    sft = _stage(sft_stage)
    sft_lin = sft.meta["lineage"]
    assert sft_lin["stage"] == "SFT" and sft_lin["parent"] == base_lin["hash"] == lineage.content_hash(base.model, base.tokenizer)
    assert sft_lin["hash"] == lineage.content_hash(sft.model, sft.tokenizer) and sft_lin["data"]["pairs"] == len(sft_stage.train_set)
    assert load_checkpoint_bytes(checkpoint_bytes(sft.model, sft.tokenizer, sft.record, sft_lin)[0]).meta["lineage"] == sft_lin  # survives the file

    ratings = [Pair(e, e.response, e.response[::-1] + "?", "you") for e in sft_stage.train_set[:8]]  # a hand ranking: the reward model's data
    rm = _stage(RewardStage(sft, ratings, reward_config(max_steps=3, batch_size=4, eval_every=0)))
    assert rm.lineage["stage"] == "reward model" and rm.lineage["parent"] == sft_lin["hash"]
    assert rm.lineage["hash"] == lineage.content_hash(rm.model, rm.tokenizer)

    rl_stage = RLHFStage(sft, rm, sft_stage.prompts, sft_stage.held_out[:8], cfg=rlhf_config(max_steps=2, eval_every=0))
    rl = _stage(rl_stage)
    rl_lin = rl.meta["lineage"]
    assert rl_lin["stage"] == "RLHF" and rl_lin["parent"] == sft_lin["hash"] and rl_lin["data"]["reward_model"] == rm.lineage["hash"]
    assert rl_lin["hash"] == lineage.content_hash(rl.model, rl.tokenizer) != sft_lin["hash"]
    assert [s["stage"] for s in lineage.chain(rl_lin)] == ["bundled", "SFT", "RLHF"]
    assert [s["hash"] for s in lineage.chain(rl_lin)] == [base_lin["hash"], sft_lin["hash"], rl_lin["hash"]]
