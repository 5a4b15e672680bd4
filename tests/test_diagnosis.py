"""What a run shows, named from its own records (llm_core.training.diagnosis), on real small runs that
overfit, diverge, stall or learn; and the one headline figure of a model."""

import math

import pytest
from run_states import diverged_run, model_of, overfit_run, stalled_run

from llm_core.model.config import TrainConfig, model_preset
from llm_core.text.data import load_corpus
from llm_core.training.diagnosis import diagnose, headline, unigram_entropy
from llm_core.training.training_run import TrainingRun, prepare_corpus

pytestmark = pytest.mark.slow  # each drives a real run: 10-40 s on the loaded 2-core machine


def evals(finished):
    return [(r.step, r.train_loss, r.val_loss) for r in finished.records if r.val_loss is not None]


def test_a_run_on_a_tiny_text_is_named_overfitting_with_its_own_figures():
    finished = overfit_run()
    d = finished.diagnosis()
    assert d.kind == "overfitting" and d.named
    points = evals(finished)
    best = min(points, key=lambda p: p[2])
    last = points[-1]
    assert last[2] > best[2] + 0.05 and last[1] < best[1]  # the run really did it: val up, train down
    assert d.since_step == best[0]
    assert f"rose from {best[2]:.2f} at step {best[0]:,} to {last[2]:.2f} at step {last[0]:,}" in d.sentence
    assert f"({best[1]:.2f} to {last[1]:.2f})" in d.sentence
    assert "more text, a smaller model, or stopping earlier" in d.next_step and f"around step {best[0]:,}" in d.next_step
    # the kept model's record says the same: its evaluations are kept in its history
    record = finished.trained.record
    assert diagnose(record["history"], finished.run.uniform_loss, finished.run.unigram_loss, record["stop_reason"]).kind == "overfitting"


def test_learning_rate_ten_is_named_divergence_with_a_lower_rate_to_try():
    finished = diverged_run()
    assert finished.stop_reason.startswith("diverged")
    d = finished.diagnosis()
    assert d.kind == "diverged"
    loop_said = finished.stop_reason.removeprefix("diverged:").split(";")[0].strip()
    assert d.sentence == f"The run diverged at step {finished.records[-1].step:,}: {loop_said}."
    assert "a lower learning rate" in d.next_step and "3.3" in d.next_step  # a third of 10


def test_a_tiny_learning_rate_is_named_stalling_with_a_higher_rate_to_try():
    finished = stalled_run()
    d = finished.diagnosis()
    assert d.kind == "stalled"
    points = evals(finished)
    assert points[-1][2] > finished.run.unigram_loss  # it never even learned how often each character occurs
    assert points[0][2] - points[-1][2] < 0.2  # and barely moved in 120 steps
    assert f"{points[-1][2]:.2f} at step {points[-1][0]:,}" in d.sentence and f"({finished.run.unigram_loss:.2f})" in d.sentence
    assert "a higher learning rate" in d.next_step and "more steps" in d.next_step


def test_a_healthy_run_is_not_named_anything():
    corpus = prepare_corpus(load_corpus("tinyshakespeare")[:60_000], "excerpt")
    run = TrainingRun(corpus, model_preset("nano", corpus.tokenizer.vocab_size), TrainConfig(max_steps=120, batch_size=8, eval_every=20, log_every=5), sample_tokens=5)
    job = run.make_job(backend="thread")
    job.start()
    assert job.join(600)
    snap = job.snapshot()
    d = run.diagnose(snap.records, snap.stop_reason)
    assert d.kind == "learning" and not d.named, d
    vals = [r.val_loss for r in snap.records if r.val_loss is not None]
    assert f"went from {vals[0]:.2f} to {vals[-1]:.2f}" in d.sentence


def test_the_reference_levels_are_the_uniform_guess_and_the_token_frequencies():
    finished = overfit_run()
    run = finished.run
    assert run.uniform_loss == pytest.approx(math.log(run.corpus.tokenizer.vocab_size))
    train_text = run.corpus.text[: len(run.corpus.split.train)]  # characters: one token each
    counts = {ch: train_text.count(ch) for ch in set(train_text)}
    expected = -sum(c / len(train_text) * math.log(c / len(train_text)) for c in counts.values())
    assert run.unigram_loss == pytest.approx(expected, abs=1e-9) == pytest.approx(unigram_entropy(list(run.corpus.split.train)), abs=1e-9)
    assert run.unigram_loss < run.uniform_loss


def test_every_state_has_a_headline_or_says_it_has_none():
    for which in ("overfit", "diverged", "stalled"):
        _, model, _, meta = model_of(which)
        record = meta["record"]
        figure = headline(record)
        assert figure is not None and figure.value == record["val_loss"] and math.isfinite(figure.value)
        assert f"{record['val_tokens']:,} held-out tokens" in figure.text and "nan" not in figure.text and "inf" not in figure.text
    _, _, _, meta = model_of("untrained")
    assert headline(meta.get("record", {})) is None
