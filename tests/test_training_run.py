"""A live training run (llm_core.training.training_run) and its cost estimates, including the hostile cases."""

import math
import threading
import time

import pytest
import torch

from llm_core.jobs import JobGate, Phase
from llm_core.model.checkpoint import checkpoint_bytes, load_checkpoint_bytes
from llm_core.model.config import ConfigError, TrainConfig, model_preset
from llm_core.text.data import DataError, text_from_bytes
from llm_core.training import training_run
from llm_core.training.cost import (
    Calibration,
    estimate_step_seconds,
    train_flops_per_step,
    train_memory_bytes,
)
from llm_core.training.diagnosis import headline
from llm_core.training.loop import TrainState, build_model
from llm_core.training.training_run import (
    TrainingRun,
    prepare_corpus,
    sampler,
    training_record,
)


@pytest.fixture(scope="module")
def corpus(shakespeare):
    return prepare_corpus(shakespeare[:120_000], "shakespeare excerpt")


def nano_cfg(corpus, **kw):
    return model_preset("nano", corpus.tokenizer.vocab_size, **kw)


def run_job(run, **job_kw):
    job_kw.setdefault("backend", "thread")
    job = run.make_job(**job_kw)
    job.start()
    assert job.join(300)
    return job, job.snapshot()


def test_a_short_run_trains_samples_and_freezes_a_registered_copy(corpus):
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=60, batch_size=8, eval_every=30), sample_tokens=40)
    job, snap = run_job(run, gate=JobGate(1), time_cap_s=3600)
    assert snap.status == "finished" and snap.stop_reason == "reached the step limit"
    assert [s for s, _ in snap.samples] == [30, 60]
    assert all(text.startswith("\n") and len(text) == 41 for _, text in snap.samples)  # prompt + 40 characters
    trained = job.result
    record = trained.record
    whole = len(corpus.split.val) - 1 - (len(corpus.split.val) - 1) % 64
    assert record["steps"] == 60 and record["val_tokens"] == record["val_tokens_total"] == whole
    assert record["val_loss"] < math.log(corpus.tokenizer.vocab_size) - 0.5  # it learned something
    assert [h["step"] for h in record["history"]] == [30, 60]
    assert snap.phase == Phase("packing the optimizer's state", 1.0)  # the last thing the worker did
    # the kept model came back as bytes: its own tensors, which a resumed run does not touch
    assert not trained.model.training and run.weights is not None
    # and it saves and loads as the weights file and its description
    weights, meta_json = checkpoint_bytes(trained.model, trained.tokenizer, record)
    assert load_checkpoint_bytes(weights, meta_json).record["steps"] == 60


@pytest.mark.slow  # two training segments in a worker process: 5-10 s here under load
def test_stop_then_resume_continues_the_same_run(corpus, monkeypatch):
    monkeypatch.setattr("llm_core.workers.process.STOP_GRACE_S", 60.0)  # a loaded machine may take a while to finish the step
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=80, batch_size=8, eval_every=0, log_every=5), sample_tokens=10)
    job = run.make_job(backend="process")
    job.start()
    while not job.snapshot().records:
        job.join(0.05)
    job.stop()
    assert job.join(60)
    assert job.snapshot().error is None
    stopped_at = run.steps_done
    assert 0 < stopped_at < 80 and run.can_resume()
    assert job.snapshot().stop_reason == "stopped by user" and job.result.record["steps"] == stopped_at
    job.start()
    assert job.join(300)
    snap = job.snapshot()
    assert snap.segment == 2 and snap.stop_reason == "reached the step limit" and run.steps_done == 80
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
    model = build_model(run.model_config)
    assert sampler(corpus.tokenizer, run.prompt_ids, 5, None)(model).startswith("a")


def test_bpe_corpus_trains_with_its_own_vocabulary(shakespeare):
    corpus = prepare_corpus(shakespeare[:60_000], "bpe excerpt", tokenizer="bpe", bpe_vocab_size=300)
    assert corpus.tokenizer.kind == "bpe" and corpus.tokenizer.vocab_size == 300
    assert corpus.n_tokens < 60_000  # merges make fewer tokens than characters
    run = TrainingRun(corpus, model_preset("nano", 300, block_size=32), TrainConfig(max_steps=20, batch_size=4, eval_every=20), sample_tokens=10)
    job, snap = run_job(run)
    assert snap.status == "finished" and job.result.tokenizer.to_dict() == corpus.tokenizer.to_dict()
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
    stop = threading.Event()
    stop.set()
    assert len(sampler(corpus.tokenizer, run.prompt_ids, 500, stop)(build_model(run.model_config))) == 2  # the prompt and one token


def test_one_training_record_for_the_cli_and_the_page(tmp_path):
    from llm_core.train import main

    main(["--preset", "nano", "--steps", "2", "--eval-every", "2", "--out", str(tmp_path / "m"), "--quiet"])
    cli = load_checkpoint_bytes((tmp_path / "m.safetensors").read_bytes()).record
    page_keys = set(training_record(TrainState(), None, TrainConfig(), corpus="c", corpus_chars=1, tokens_in_corpus=1, device="cpu", history=[]))
    assert page_keys <= set(cli) and cli["steps"] == 2 and cli["command"].startswith("python -m llm_core.train")


def phases_until(job, done, timeout):
    """Poll a job's snapshots until done(snap); returns [(monotonic time, phase)] of every new phase seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = job.snapshot()
        if snap.phase is not None and (not seen or seen[-1][1] is not snap.phase):
            seen.append((time.monotonic(), snap.phase))
        if done(snap):
            return seen
        job.join(0.02)
    raise AssertionError(f"waited {timeout} s: {job.snapshot()}")


@pytest.mark.slow
def test_stop_in_the_middle_of_a_long_step_drops_that_step_and_keeps_the_model(shakespeare, monkeypatch):
    """A 10M-parameter model at batch 64: one step takes seconds here (tens on a busy machine) and
    cannot look at the stop request between its ops. The worker's own stop is tested (the step
    ends at its next layer or gradient), not the hard end of a silent worker, whose grace is
    made long. Without the cut, Stop would wait for the whole step: the bound is half a step."""
    monkeypatch.setattr("llm_core.workers.process.STOP_GRACE_S", 60.0)
    corpus = prepare_corpus(shakespeare, "tinyshakespeare")
    run = TrainingRun(corpus, model_preset("small", corpus.tokenizer.vocab_size), TrainConfig(max_steps=50, batch_size=64, eval_every=0, log_every=1),
                      eval_tokens=256, sample_tokens=1)
    job = run.make_job(backend="process")
    job.start()
    phases_until(job, lambda snap: snap.records, 600)  # step 1 is done: the worker is inside step 2
    step_s = job.snapshot().latest.elapsed_s
    job.stop()
    assert job.join(max(60.0, 3 * step_s))
    snap = job.snapshot()
    print(f"one step: {step_s:.2f} s; stop latency in the middle of the next: {snap.stop_latency_s:.2f} s")
    assert snap.status == "finished" and snap.stop_reason == "stopped by user", snap
    assert snap.stop_latency_s < step_s / 2, (snap.stop_latency_s, step_s)
    record = job.result.record
    assert record["steps"] == 1 and record["stop_reason"] == "stopped by user"  # step 2 dropped, step 1 kept
    # no evaluation was ever whole (the stop cut the closing one to a chunk): the model has no figure yet, and says so
    assert record["val_loss"] is None and headline(record) is None
    assert math.isfinite(record["quick_val_loss"]) and 0 < record["quick_val_tokens"] < record["val_tokens_total"]
    assert run.can_resume() and run.counters["step"] == 1


@pytest.mark.slow
def test_stop_during_the_closing_evaluation_ends_it_and_says_how_much_was_measured(shakespeare, monkeypatch):
    """A 10M-parameter model's closing evaluation of 111k held-out tokens takes tens of seconds here.
    The worker's own stop is what is tested: it must end the evaluation at the next chunk (chunks are
    timed, about 0.2 s each) and keep the model (the hard end of a silent worker is `test_jobs.py`'s),
    so the grace is long on this busy machine. Without chunks, Stop would wait for the rest of the
    evaluation: the bound is a quarter of what was left, estimated from the pace before the stop."""
    monkeypatch.setattr("llm_core.workers.process.STOP_GRACE_S", 60.0)
    corpus = prepare_corpus(shakespeare, "tinyshakespeare")
    config = model_preset("small", corpus.tokenizer.vocab_size)
    run = TrainingRun(corpus, config, TrainConfig(max_steps=1, batch_size=1, eval_every=0), eval_tokens=256, sample_tokens=1,
                      final_eval_budget_s=600)
    job = run.make_job(backend="process")
    job.start()
    measuring = lambda snap: snap.phase is not None and snap.phase.text.startswith("measuring the final loss")  # noqa: E731
    seen = phases_until(job, lambda snap: measuring(snap) and snap.phase.fraction >= 0.03, 600)
    began = next(t for t, phase in seen if phase.text.startswith("measuring the final loss"))
    fraction = job.snapshot().phase.fraction
    left_s = (time.monotonic() - began) * (1 - fraction) / fraction
    job.stop()
    assert job.join(60)
    snap = job.snapshot()
    print(f"stop latency during the closing evaluation: {snap.stop_latency_s:.2f} s; the rest of it would have taken about {left_s:.0f} s")
    assert snap.status == "finished" and "was ended" not in snap.stop_reason, snap
    assert snap.stop_latency_s < left_s / 4, (snap.stop_latency_s, left_s)
    record = job.result.record
    assert 0 < record["val_tokens"] < record["val_tokens_total"] and math.isfinite(record["val_loss"])


def test_stop_during_the_closing_evaluation_says_stopped_and_keeps_the_last_full_evaluation(shakespeare, monkeypatch):
    """Issue 21: Stop in the closing evaluation said "Training done" and made a loss measured on 128 tokens the
    model's figure. A closing measurement that a stop cuts below HEADLINE_MIN_TOKENS (made huge here, so the
    cut is certain on any machine) gives way to the last full evaluation, and the run says it was stopped."""
    monkeypatch.setattr("llm_core.training.training_run.HEADLINE_MIN_TOKENS", 10**9)
    real_closing = training_run.closing_evaluation

    def closing_that_waits_for_the_stop(model, val_ids, budget_s, stop=None):
        """The real closing evaluation, held after its first measured chunk until the Stop arrives: a nano
        model measures all its held-out tokens in about a second, which a loaded machine's Stop can miss."""
        evaluation = real_closing(model, val_ids, budget_s, stop)
        while True:
            try:
                phase = next(evaluation)
            except StopIteration as done:
                return done.value
            yield phase
            if phase.fraction > 0 and stop is not None:
                stop.wait(300)

    monkeypatch.setattr(training_run, "closing_evaluation", closing_that_waits_for_the_stop)
    corpus = prepare_corpus(shakespeare, "tinyshakespeare")
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=20, batch_size=8, eval_every=0, log_every=5), sample_tokens=5,
                      final_eval_budget_s=600)
    job = run.make_job(backend="thread")
    job.start()
    phases_until(job, lambda snap: snap.phase_current and snap.phase.text.startswith("measuring the final loss"), 600)
    job.stop()
    assert job.join(120)
    snap = job.snapshot()
    assert snap.stop_reason == "stopped by user while measuring the final loss, after training had reached the step limit"
    record = job.result.record
    assert record["stop_reason"] == snap.stop_reason
    last_full = record["history"][-1]  # the loop's own evaluation at the last step, on the live-evaluation tokens
    assert last_full["step"] == 20 and last_full["val_tokens"] == run.eval_tokens
    assert record["val_kind"] == "live" and record["val_loss"] == last_full["val_loss"] and record["val_step"] == 20
    assert 0 < record["quick_val_tokens"] < record["val_tokens_total"]
    figure = headline(record)
    assert figure.value == last_full["val_loss"] and figure.text == f"val loss {last_full['val_loss']:.3f} on {run.eval_tokens:,} held-out tokens, at step 20"


def test_a_stop_mid_run_never_makes_a_cut_evaluation_the_figure(corpus):
    """After a stop, the loop's closing evaluation and the worker's are cut to a chunk: neither may stand as a
    validation loss (nor their one-token sample); the kept figure is the last full evaluation, with its step."""
    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=1_000_000, batch_size=8, eval_every=10, log_every=5), sample_tokens=5)
    job = run.make_job(backend="thread")
    job.start()
    phases_until(job, lambda snap: len([r for r in snap.records if r.val_loss is not None]) >= 2, 300)
    job.stop()
    assert job.join(120)
    snap = job.snapshot()
    assert snap.stop_reason == "stopped by user"
    full_steps = {r.step for r in snap.records if r.val_loss is not None}
    assert snap.records[-1].val_loss is None or snap.records[-1].step in full_steps  # the cut closing evaluation is not a figure
    assert all(step in full_steps for step, _ in snap.samples)  # and no one-token sample from it either
    record = job.result.record
    full = record["history"]
    assert full and all(h["val_tokens"] == run.eval_tokens for h in full)  # every kept evaluation is a whole one
    assert record["val_kind"] == "live" and record["val_loss"] == full[-1]["val_loss"] and record["val_step"] == full[-1]["step"]
    figure = headline(record)
    assert figure.step == full[-1]["step"] and f"{run.eval_tokens:,} held-out tokens" in figure.text
    if record["val_step"] != record["steps"]:
        assert f"(the last full evaluation; the model has {record['steps']:,} steps)" in figure.text


def test_a_segment_says_what_it_is_doing_before_its_first_record(corpus):
    """Issue 21: "starting (a worker process loads torch)" showed for 25 s while the first step was computing.
    The worker now says when it builds the model and when the first steps are computing."""
    from llm_core.training.training_run import run_segment

    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=30, batch_size=8, eval_every=0, log_every=10), sample_tokens=5)
    steps = run_segment(None, run.spec())
    first, second, third = next(steps), next(steps), next(steps)
    assert first == Phase("the worker is building the model")
    assert second == Phase("computing the first training steps: the first figures come after 10 steps")
    assert third.step == 10  # then the records, the first one after those 10 steps
    steps.close()


class StopAfter:
    """Training batches that ask a stop once `n` of them were drawn: the loop then ends after step `n`."""

    def __init__(self, inner, stop: threading.Event, n: int):
        self.inner, self.stop, self.n, self.drawn = inner, stop, n, 0

    def train_batch(self, batch_size, generator):
        self.drawn += 1
        if self.drawn >= self.n:
            self.stop.set()
        return self.inner.train_batch(batch_size, generator)

    def val_batches(self, batch_size: int = 64):
        return self.inner.val_batches(batch_size)


def test_a_stop_before_the_first_step_or_between_log_points_is_never_named_divergence(corpus):
    """The audit: Stop pressed right after Train gave "Divergence. The loss became not a number at step 0":
    the closing record of a run with no step carries no measured loss (NaN), which was read as one. And a
    stop before the first log point (step 3 of 10) reported that NaN too, for a run that had trained."""
    from llm_core.training.diagnosis import measured_train_loss
    from llm_core.training.loop import TextBatches, train

    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=5000, batch_size=8, log_every=10, eval_every=200))
    batches = TextBatches(corpus.split, 64, 2048)
    stop = threading.Event()
    stop.set()
    records = list(train(build_model(run.model_config, seed=0), batches, run.cfg, stop_event=stop))
    assert [(r.step, r.stop_reason) for r in records] == [(0, "stopped by user")]
    assert math.isnan(records[0].train_loss) and measured_train_loss(records[0]) is None  # no step: no loss measured, not a NaN loss
    diagnosis = run.diagnose(records, "stopped by user")
    assert diagnosis.kind == "early" and "not a number" not in diagnosis.sentence

    stop = threading.Event()
    records = list(train(build_model(run.model_config, seed=0), StopAfter(batches, stop, 3), run.cfg, stop_event=stop))
    (closing,) = records  # no log point (every 10 steps) was reached
    assert closing.step == 3 and closing.stop_reason == "stopped by user"
    assert math.isfinite(closing.train_loss) and 3.0 < closing.train_loss < 5.0  # step 3's own batch, read at the stop (ln 65 = 4.17)
    assert run.diagnose(records, "stopped by user").kind != "diverged"


def test_a_loss_that_diverged_is_still_named_divergence_while_the_run_closes(corpus):
    """The other side of the rule above: a non-finite loss the loop measured ends the run as diverged, and
    is named so even before the page knows the stop reason (the snapshot is still active while it closes)."""
    from llm_core.training.loop import Metrics

    run = TrainingRun(corpus, nano_cfg(corpus), TrainConfig(max_steps=100))
    nan_closing = Metrics(step=4, max_steps=100, tokens_seen=0, train_loss=math.nan, val_loss=None, lr=0.1, lr_scale=1.0, tokens_per_s=0.0,
                          elapsed_s=1.0, eval_s=0.0, progress=0.04, done=True, stop_reason="diverged: the loss became nan (not a finite number)")
    diagnosis = run.diagnose([nan_closing])
    assert diagnosis.kind == "diverged" and "not a number" in diagnosis.sentence
