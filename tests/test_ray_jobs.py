"""The Ray path: a real nano training job on a local Ray instance, end to end (slow: Ray starts its own processes)."""

import math

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional dependency: pip install -r requirements-ray.txt to run this test")

from llm_core.model.config import TrainConfig, model_preset  # noqa: E402
from llm_core.training.training_run import TrainingRun, prepare_corpus  # noqa: E402
from llm_core.workers import ray_backend  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray_backend.connect(address="local", num_cpus=2, include_dashboard=False)  # loopback only, no cluster needed
    yield
    ray.shutdown()


@pytest.mark.slow
def test_a_nano_training_job_runs_on_a_local_ray_and_stops_when_asked(local_ray, shakespeare):
    corpus = prepare_corpus(shakespeare[:60_000], "shakespeare excerpt")
    run = TrainingRun(corpus, model_preset("nano", corpus.tokenizer.vocab_size), TrainConfig(max_steps=20, batch_size=8, eval_every=10, log_every=5),
                      sample_tokens=20, backend="ray")
    job = run.make_job(time_cap_s=600)
    job.start()
    assert job.join(600)
    snap = job.snapshot()
    assert snap.status == "finished" and snap.error is None, snap
    assert snap.stop_reason == "reached the step limit" and [s for s, _ in snap.samples] == [10, 20]
    record = job.result.record
    assert record["steps"] == 20 and math.isfinite(record["val_loss"]) and record["val_loss"] < math.log(corpus.tokenizer.vocab_size)
    # a second run on the same cluster, stopped by the user, gives its model back too
    longer = TrainingRun(corpus, model_preset("nano", corpus.tokenizer.vocab_size), TrainConfig(max_steps=100_000, batch_size=8, eval_every=0, log_every=2),
                         sample_tokens=5, backend="ray")
    job = longer.make_job()
    job.start()
    deadline_records = 0
    while job.snapshot().active and not job.snapshot().records and deadline_records < 6000:
        job.join(0.1)
        deadline_records += 1
    job.stop()
    assert job.join(120)
    snap = job.snapshot()
    assert snap.status == "finished" and snap.stop_reason.startswith("stopped by user"), snap


@pytest.mark.slow
def test_the_speed_check_can_time_its_steps_on_the_cluster_where_training_runs(local_ray):
    from llm_core.training.cost import Calibration, calibration_job
    from llm_core.workers import result_of

    measured = result_of(calibration_job, ("cpu",), backend="ray")
    assert isinstance(measured, Calibration) and measured.flops_per_s > 1e6 and measured.device == "cpu"
