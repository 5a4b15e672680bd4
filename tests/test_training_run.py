"""A live training run (llm_core.training.training_run) and its cost estimates, including the hostile cases."""

import math
import threading

import pytest
import torch

from llm_core.jobs import JobGate
from llm_core.model.checkpoint import checkpoint_bytes, load_checkpoint_bytes
from llm_core.model.config import ConfigError, TrainConfig, model_preset
from llm_core.text.data import DataError, text_from_bytes
from llm_core.training.cost import (
    Calibration,
    estimate_step_seconds,
    train_flops_per_step,
    train_memory_bytes,
)
from llm_core.training.training_run import TrainingRun, prepare_corpus


@pytest.fixture(scope="module")
def corpus(shakespeare):
    return prepare_corpus(shakespeare[:120_000], "shakespeare excerpt")


def nano_cfg(corpus, **kw):
    return model_preset("nano", corpus.tokenizer.vocab_size, **kw)


def run_job(run, **job_kw):
    job = run.make_job(**job_kw)
    job.start()
    assert job.join(300)
    return job, job.snapshot()


def test_a_short_run_trains_samples_and_freezes_a_registered_copy(corpus):
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=60, batch_size=8, eval_every=30), sample_tokens=40)
    job, snap = run_job(run, gate=JobGate(1), time_cap_s=120)
    assert snap.status == "finished" and snap.stop_reason == "reached the step limit"
    assert [s for s, _ in snap.samples] == [30, 60]
    assert all(text.startswith("\n") and len(text) == 41 for _, text in snap.samples)  # prompt + 40 characters
    trained = job.result
    record = trained.record
    assert record["steps"] == 60 and record["val_tokens"] == len(corpus.split.val) - 1 - (len(corpus.split.val) - 1) % 64
    assert record["val_loss"] < math.log(corpus.tokenizer.vocab_size) - 0.5  # it learned something
    assert [h["step"] for h in record["history"]] == [30, 60]
    # the registered copy is frozen: more training of the run does not change it
    assert trained.model is not run.model
    before = {k: v.clone() for k, v in trained.model.state_dict().items()}
    with torch.no_grad():
        next(run.model.parameters()).add_(1.0)
    assert all(torch.equal(before[k], v) for k, v in trained.model.state_dict().items())
    # and it saves and loads as the two files
    weights, meta_json = checkpoint_bytes(trained.model, trained.tokenizer, record)
    assert load_checkpoint_bytes(weights, meta_json).record["steps"] == 60


def test_stop_then_resume_continues_the_same_run(corpus):
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=80, batch_size=8, eval_every=0, log_every=5), sample_tokens=10)
    job = run.make_job()
    job.start()
    while not job.snapshot().records:
        job.join(0.05)
    job.stop()
    assert job.join(60)
    stopped_at = run.state.step
    assert 0 < stopped_at < 80 and run.can_resume()
    assert job.snapshot().stop_reason == "stopped by user" and job.result.record["steps"] == stopped_at
    job.start()
    assert job.join(300)
    snap = job.snapshot()
    assert snap.segment == 2 and snap.stop_reason == "reached the step limit" and run.state.step == 80
    steps = [r.step for r in snap.records if not r.done]
    assert steps == sorted(steps) and steps[-1] == 80  # one history across both segments
    assert not run.can_resume()


def test_learning_rate_ten_diverges_with_a_reason_and_keeps_good_weights(corpus):
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=300, batch_size=8, lr=10.0, muon_lr=50.0, warmup_steps=0, eval_every=0, log_every=1))
    job, snap = run_job(run)
    assert snap.status == "finished" and snap.stop_reason.startswith("diverged") and "lower learning rate" in snap.stop_reason
    assert not run.can_resume()
    if job.result is not None:  # the last good weights are kept, finite
        assert all(torch.isfinite(p).all() for p in job.result.model.parameters())
        assert math.isfinite(job.result.record["val_loss"])


def test_zero_steps_and_other_impossible_settings_are_refused_with_a_message(corpus):
    with pytest.raises(ConfigError, match="at least 1"):
        TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=0))
    with pytest.raises(ConfigError, match="time budget must be positive"):
        TrainingRun(corpus, nano_cfg(corpus), TrainConfig(time_budget_s=0))
    with pytest.raises(ConfigError, match="divisible by n_head"):
        TrainingRun(corpus, nano_cfg(corpus, n_head=3), TrainConfig())
    with pytest.raises(ConfigError, match="vocabulary"):
        TrainingRun(corpus, model_preset("nano", 500), TrainConfig())


def test_empty_and_too_short_corpora_are_refused(char_tok):
    for empty in ["", "   \n\t "]:
        with pytest.raises(DataError, match="empty"):
            prepare_corpus(empty)
    short = prepare_corpus("To be, or not to be: that is the question. " * 20, "short")  # 880 characters
    with pytest.raises(DataError, match="needs at least 1,300"):
        TrainingRun(short, model_preset("nano", short.tokenizer.vocab_size), TrainConfig())
    shorter_than_context = prepare_corpus("abc" * 20)
    with pytest.raises(DataError, match="lower the context length"):
        TrainingRun(shorter_than_context, model_preset("nano", shorter_than_context.tokenizer.vocab_size, block_size=128), TrainConfig())


def test_binary_and_oversized_uploads_are_refused():
    with pytest.raises(DataError, match="binary"):
        text_from_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DataError, match="not UTF-8"):
        text_from_bytes("naïve café".encode("latin-1"))
    with pytest.raises(DataError, match="50.0 MB; the limit is 20 MB"):
        text_from_bytes(b"a" * 50_000_000)


def test_a_corpus_without_newlines_samples_from_its_first_token():
    corpus = prepare_corpus("abcdefgh" * 400, "no newline")
    run = TrainingRun(corpus, model_preset("nano", corpus.tokenizer.vocab_size, block_size=16), TrainConfig(max_steps=1))
    assert run.prompt_ids == [corpus.tokenizer.encode("a")[0]]
    assert run.sample(run.model).startswith("a")


def test_bpe_corpus_trains_with_its_own_vocabulary(shakespeare):
    corpus = prepare_corpus(shakespeare[:60_000], "bpe excerpt", tokenizer="bpe", bpe_vocab_size=300)
    assert corpus.tokenizer.kind == "bpe" and corpus.tokenizer.vocab_size == 300
    assert corpus.n_tokens < 60_000  # merges make fewer tokens than characters
    run = TrainingRun(corpus, model_preset("nano", 300, block_size=32), TrainConfig(max_steps=20, batch_size=4, eval_every=20), sample_tokens=10)
    job, snap = run_job(run)
    assert snap.status == "finished" and job.result.tokenizer is corpus.tokenizer
    assert len(snap.samples) == 1


def test_cost_estimates_grow_with_the_model():
    cal = Calibration(overhead_s=0.005, flops_per_s=50e9)
    nano, tiny, small = (model_preset(p, 65) for p in ("nano", "tiny", "small"))
    flops = [train_flops_per_step(c, 16) for c in (nano, tiny, small)]
    assert flops == sorted(flops) and flops[1] > 6 * (tiny.num_params() - 65 * 128) * 16 * 128
    seconds = [estimate_step_seconds(c, 16, cal) for c in (nano, tiny, small)]
    assert seconds == sorted(seconds) and seconds[0] > cal.overhead_s
    assert train_flops_per_step(tiny, 32) == 2 * train_flops_per_step(tiny, 16)
    assert train_memory_bytes(tiny, 32) > train_memory_bytes(tiny, 16) > 16 * tiny.num_params()


def test_stop_event_also_cuts_a_sample_short(corpus):
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=1), sample_tokens=500)
    run._stop = threading.Event()
    run._stop.set()
    assert len(run.sample(run.model)) == 2  # the prompt and one token, then it noticed the stop
