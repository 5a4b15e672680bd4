"""A stage's job runs in a worker: its state comes back, `measure` runs there, `finish` here, Stop and errors work."""

import os

import pytest
from job_targets import CountingStage

from llm_core.workers.stages import stage_job


def start_until_a_record(job) -> None:
    """Start `job` and wait on its first record (a state, not a sleep)."""
    job.start()
    while not job.snapshot().records:
        assert job.snapshot().active, job.snapshot().error
        job.join(0.05)


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_stage_state_comes_back_and_finish_packages_it(backend):
    stage = CountingStage(5)
    job = stage_job(stage, backend=backend)
    job.start()
    assert job.join(120)
    snap = job.snapshot()
    assert snap.status == "finished" and snap.error is None
    assert [r.step for r in snap.records] == [1, 2, 3, 4, 5]
    assert stage.done == 5 and stage.total == 50  # the worker's copy became the stage
    assert job.result == {"total": 50, "last_step": 5, "reason": "finished"}
    if backend == "process":
        assert stage.measured_in != os.getpid()  # measured in the worker, not in this process


def test_a_resumed_stage_goes_on_from_where_it_stopped():
    stage = CountingStage(10_000, period=0.005)
    job = stage_job(stage, backend="process")
    start_until_a_record(job)
    job.stop()
    assert job.join(60)
    first = stage.done
    assert 0 < first < 10_000 and job.result["reason"] == "stopped by user"
    stage.n = first + 3
    job.start()
    assert job.join(60)
    assert stage.done == first + 3 and job.result["total"] == (first + 3) * 10


def test_a_long_measurement_after_stop_is_not_mistaken_for_a_stuck_worker():
    """Stop asks the worker to end; it then measures for longer than the grace for a silent worker."""
    from llm_core.workers.process import STOP_GRACE_S

    stage = CountingStage(10_000, period=0.005, measure_s=STOP_GRACE_S * 2.5)
    job = stage_job(stage, backend="process")
    start_until_a_record(job)
    job.stop()
    assert job.join(60)
    assert job.result is not None and job.result["total"] == stage.done * 10


def test_an_error_while_measuring_is_one_line():
    stage = CountingStage(2, fail_in_measure=True)
    job = stage_job(stage, backend="process")
    job.start()
    assert job.join(120)
    snap = job.snapshot()
    assert snap.status == "failed" and snap.error == "the held-out set is empty."
    assert job.result is None


def test_fine_tuning_runs_in_a_worker_process_and_a_killed_worker_is_one_line(nano_model, char_tok):
    import multiprocessing
    import signal

    from llm_core.alignment.assistant import SFTStage, sft_config
    from llm_core.alignment.tasks import make_examples

    stage = SFTStage(nano_model, char_tok, make_examples(), sft_config(max_steps=100_000, batch_size=4, eval_every=0))
    job = stage.make_job()
    start_until_a_record(job)
    workers = [p for p in multiprocessing.active_children() if p.name == "llm-lab-job"]
    assert len(workers) == 1
    os.kill(workers[0].pid, signal.SIGKILL)
    assert job.join(60)
    snap = job.snapshot()
    assert snap.status == "failed" and "ended by signal 9" in snap.error and "\n" not in snap.error
    assert stage.state.step == 0 and job.result is None  # this process's stage was never touched by the worker
