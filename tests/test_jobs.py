"""The background-job machinery (llm_core.jobs), without Streamlit: threads, stop, caps, gate, errors."""

import multiprocessing
import threading
import time

import pytest

from llm_core.jobs import Job, JobError, JobGate
from llm_core.model.config import ConfigError
from tests import job_targets
from tests.job_targets import Rec


def ticking(n=None, period=0.01, every_sample=None):
    """A metrics generator that checks the stop event each 'step', like train() does."""

    def make(stop):
        i = 0
        while n is None or i < n:
            if stop.is_set():
                yield Rec(i, stop_reason="stopped by user")
                return
            time.sleep(period)
            i += 1
            yield Rec(i, sample=f"text {i}" if every_sample and i % every_sample == 0 else None)
        yield Rec(i, stop_reason="reached the step limit")

    return make


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_job_runs_its_generator_in_a_thread_and_keeps_records_and_samples():
    main = threading.get_ident()
    seen_threads = []

    def make(stop):
        seen_threads.append(threading.get_ident())
        yield from ticking(20, 0.001, every_sample=5)(stop)

    job = Job(make, finish=lambda last, reason: (last.step, reason), name="count")
    assert job.snapshot().status == "idle"
    job.start()
    assert job.join(10)
    snap = job.snapshot()
    assert seen_threads and seen_threads[0] != main
    assert snap.status == "finished" and snap.stop_reason == "reached the step limit"
    assert [r.step for r in snap.records] == list(range(1, 21)) + [20]
    assert snap.samples == tuple((s, f"text {s}") for s in (5, 10, 15, 20))
    assert job.result == (20, "reached the step limit")
    assert snap.error is None and not snap.active


def test_snapshots_are_copies_not_live_views():
    job = Job(ticking(None, 0.005))
    job.start()
    assert wait_for(lambda: len(job.snapshot().records) >= 3)
    snap = job.snapshot()
    frozen = len(snap.records)
    assert wait_for(lambda: len(job.snapshot().records) > frozen + 3)
    assert len(snap.records) == frozen
    job.stop()
    assert job.join(5)


def test_stop_takes_effect_at_the_next_step():
    job = Job(ticking(None, 0.01))
    job.start()
    assert wait_for(lambda: len(job.snapshot().records) >= 5)
    job.stop()
    assert job.snapshot().status in ("stopping", "finished")
    assert job.join(30)
    snap = job.snapshot()
    assert snap.status == "finished" and snap.stop_reason == "stopped by user" and snap.stopped_by == "user"
    assert snap.stop_latency_s is not None and snap.stop_latency_s >= 0


def test_starting_twice_is_refused_but_a_stopped_job_restarts():
    job = Job(ticking(None, 0.01))
    job.start()
    with pytest.raises(JobError, match="already"):
        job.start()
    job.stop()
    assert job.join(5)
    job.start()  # resume: the factory is called again
    assert wait_for(lambda: job.snapshot().segment == 2 and job.snapshot().status == "running")
    job.stop()
    assert job.join(5)


class FakeClock:
    """Time that moves only when the test says so: caps and idle stops without sleeping."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def test_the_time_cap_stops_a_run_and_says_so():
    clock = FakeClock()
    job = Job(ticking(None, 0.01), time_cap_s=600, finish=lambda last, reason: reason, clock=clock, watch_every_s=0.01)
    job.start()
    assert wait_for(lambda: len(job.snapshot().records) >= 3)
    clock.advance(599)
    assert wait_for(lambda: len(job.snapshot().records) >= 10)
    assert job.snapshot().status == "running"  # one second short of the cap
    clock.advance(1)
    assert job.join(30)
    snap = job.snapshot()
    assert snap.status == "finished" and "limit of 600 s per run" in snap.stop_reason and snap.stopped_by == "cap"
    assert snap.running_s == 600
    assert job.result == snap.stop_reason  # finish() sees the cap as the reason


def test_a_job_nobody_looks_at_stops_but_touching_keeps_it_alive():
    clock = FakeClock()
    watched = Job(ticking(None, 0.01), idle_timeout_s=300, clock=clock, watch_every_s=0.01)
    forgotten = Job(ticking(None, 0.01), idle_timeout_s=300, clock=clock, watch_every_s=0.01)
    watched.start()
    forgotten.start()
    for _ in range(4):
        clock.advance(100)
        watched.touch()
    assert forgotten.join(30) and "nobody looked at it for 300 s" in forgotten.snapshot().stop_reason
    assert watched.snapshot().status == "running"
    watched.stop()
    assert watched.join(30)


def test_an_exception_becomes_a_one_line_message():
    def broken(stop):
        yield Rec(1)
        raise ConfigError("the learning rate must be positive (got -1).")

    def crash(stop):
        yield Rec(1)
        raise RuntimeError("CUDA error: device-side assert triggered\nTraceback (most recent call last): ...")

    for make, expected in [(broken, "the learning rate must be positive (got -1)."), (crash, "RuntimeError: CUDA error: device-side assert triggered")]:
        job = Job(make)
        job.start()
        assert job.join(5)
        snap = job.snapshot()
        assert snap.status == "failed" and snap.error == expected and "Traceback" not in snap.error
        assert len(snap.records) == 1


def test_very_long_runs_keep_a_bounded_history_with_every_evaluation():
    def many(stop):
        for i in range(1, 2001):
            yield Rec(i, val_loss=1.0 if i % 100 == 0 else None)

    job = Job(many, max_records=300)
    job.start()
    assert job.join(10)
    records = job.snapshot().records
    assert len(records) <= 300
    assert [r.step for r in records if r.val_loss is not None] == list(range(100, 2001, 100))
    assert records[-1].step == 2000 and [r.step for r in records] == sorted(r.step for r in records)


# --- the gate ---

def test_gate_admits_first_come_first_served_and_reports_positions():
    gate = JobGate(2)
    tickets = [gate.enqueue() for _ in range(4)]
    assert gate.wait(tickets[0]) and gate.wait(tickets[1])
    assert [gate.position(t) for t in tickets] == [0, 0, 1, 2]
    assert not gate.wait(tickets[3], cancel=_set_event())  # cancelled: leaves the queue
    assert gate.position(tickets[3]) is None and gate.waiting == 1
    gate.release(tickets[0])
    assert gate.wait(tickets[2], poll_s=0.01)
    assert gate.running == 2 and gate.waiting == 0
    with pytest.raises(ValueError):
        JobGate(0)


def _set_event():
    event = threading.Event()
    event.set()
    return event


def test_jobs_beyond_the_gate_wait_in_a_visible_queue_then_run():
    gate = JobGate(1)
    first, second, third = (Job(ticking(None, 0.01), gate=gate, name=n) for n in ("a", "b", "c"))
    for job in (first, second, third):
        job.start()
    assert wait_for(lambda: first.snapshot().status == "running" and third.snapshot().queue_position == 2)
    assert second.snapshot().status == "queued" and second.snapshot().queue_position == 1
    assert gate.running == 1
    third.stop()  # leaving the queue
    assert third.join(5)
    assert third.snapshot().stop_reason == "stopped by user before it began" and third.snapshot().records == ()
    first.stop()
    assert first.join(5)
    assert wait_for(lambda: second.snapshot().status == "running" and len(second.snapshot().records) > 0)
    assert gate.running == 1
    second.stop()
    assert second.join(5)
    assert gate.running == 0 and gate.waiting == 0


def test_a_failed_job_gives_its_slot_back():
    gate = JobGate(1)

    def broken(stop):
        raise ValueError("bad corpus")
        yield  # pragma: no cover

    job = Job(broken, gate=gate)
    job.start()
    assert job.join(5)
    assert job.snapshot().error == "bad corpus" and gate.running == 0


def test_a_job_trains_on_all_cores_while_the_thread_that_started_it_keeps_one():
    import torch

    from llm_core.model.device import TRAINING_THREADS, threads, use_threads

    seen = []

    def report(stop):
        seen.append(torch.get_num_threads())
        yield 0

    with threads(TRAINING_THREADS):
        use_threads(1)  # what the app's page threads do
        job = Job(report)
        job.start()
        assert job.join(10)
        assert seen == [TRAINING_THREADS] and torch.get_num_threads() == 1


# --- worker jobs: a spawned process per segment ---

from llm_core.jobs import ABANDONED  # noqa: E402


def workers():
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.name == "llm-lab-job"]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_worker_job_streams_records_and_hands_its_payload_to_finish(backend):
    finished = []
    job = Job.worker(job_targets.ticking, lambda: (12, 0.01, 4), backend=backend,
                     finish=lambda last, reason, payload: finished.append((last.step, reason, payload)) or "kept")
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.status == "finished", snap.error
    assert [r.step for r in snap.records] == list(range(1, 13)) + [12]
    assert snap.samples == ((4, "text 4"), (8, "text 8"), (12, "text 12"))
    assert finished == [(12, "reached the step limit", {"steps": 12, "weights": b"\x00" * 8})] and job.result == "kept"


def test_a_killed_worker_becomes_a_one_line_message_and_the_next_job_runs():
    import os
    import signal

    job = Job.worker(job_targets.ticking, lambda: (None, 0.02), backend="process")
    job.start()
    assert wait_for(lambda: len(job.snapshot().records) >= 2, timeout=60)
    (proc,) = workers()
    os.kill(proc.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    assert job.join(30)
    snap = job.snapshot()
    assert snap.status == "failed" and "signal 9" in snap.error and "\n" not in snap.error and "start it again" in snap.error
    again = Job.worker(job_targets.ticking, lambda: (3, 0.01), backend="process")
    again.start()
    assert again.join(60) and again.snapshot().status == "finished"
    assert not workers()


def test_stop_ends_a_worker_stuck_in_a_long_step():
    job = Job.worker(job_targets.one_long_step, lambda: (120,), backend="process",
                     finish=lambda last, reason, payload: payload)
    job.start()
    assert wait_for(lambda: len(job.snapshot().records) == 1, timeout=60)  # inside the 120 s step
    job.stop()
    assert job.join(30)  # far less than the step: the worker was ended
    snap = job.snapshot()
    assert snap.status == "finished" and snap.stop_reason.startswith("stopped by user") and "was ended" in snap.stop_reason
    assert snap.stop_latency_s < 10, snap.stop_latency_s  # STOP_GRACE_S (1 s) plus the kill
    assert job.payload == ABANDONED and job.result is None and not workers()


def test_a_worker_error_is_one_line():
    job = Job.worker(job_targets.failing, lambda: (), backend="process")
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.status == "failed" and snap.error == "the corpus has 3 tokens; it needs at least 1,300."
    assert [r.step for r in snap.records] == [1]


def test_a_spare_worker_started_ahead_takes_the_next_job_and_ends_with_it():
    from llm_core.workers import process

    process.prewarm()
    process.prewarm()  # one spare at most
    (spare,) = [p for p in multiprocessing.active_children() if p.name == "llm-lab-spare"]
    job = Job.worker(job_targets.ticking, lambda: (None, 0.01), backend="process", finish=lambda last, reason, payload: payload)
    job.start()
    assert wait_for(lambda: len(job.snapshot().records) >= 3, timeout=60)
    assert [p.pid for p in workers()] == [spare.pid]  # the job runs in the process started ahead
    job.stop()
    assert job.join(30) and job.snapshot().stop_reason == "stopped by user" and job.result["steps"] >= 3
    assert not workers() and not [p for p in multiprocessing.active_children() if p.name == "llm-lab-spare"]


def test_a_stop_during_the_closing_phase_says_stopped_not_done():
    """Issue 21: Stop pressed during the closing evaluation was reported as "Training done"."""
    job = Job.worker(job_targets.closing_phase, lambda: (), backend="thread", finish=lambda last, reason, payload: payload)
    job.start()
    assert wait_for(lambda: job.snapshot().phase_current, timeout=60)  # the records have ended: the job is in its closing phase
    snap = job.snapshot()
    assert snap.phase.text.startswith("measuring the final loss") and snap.latest.stop_reason == "reached the step limit"
    job.stop()
    assert job.join(30)
    assert job.snapshot().stop_reason == "stopped by user while measuring the final loss, after training had reached the step limit"


def test_the_phase_is_current_only_until_the_next_record():
    job = Job.worker(job_targets.closing_phase, lambda: (20,), backend="thread")  # nobody stops it: a short closing phase, 0.2 s
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.phase is not None and snap.phase_current  # its last message was a phase
    assert snap.stop_reason == "reached the step limit"  # nobody pressed Stop: done, as the records say


def test_a_stop_before_the_worker_said_anything_says_stopped_before_its_first_step():
    """Issue 21: a Stop 0.5 s after Train read "the work since the last start is lost ... before its first step"."""
    job = Job.worker(job_targets.silent_start, lambda: (120,), backend="process", finish=lambda last, reason, payload: payload)
    job.start()
    time.sleep(0.5)
    job.stop()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.status == "finished" and snap.stop_reason == "stopped by user before its first step (its worker process was still starting up)"
    assert "lost" not in snap.stop_reason and job.result is None and not snap.records and not workers()


def test_a_worker_runs_below_the_server_s_priority_and_so_do_its_threads():
    """Two trainings must not hold a 2-core server's cores while a class waits for pages."""
    import os

    from llm_core.workers import process

    if not hasattr(os, "nice") or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs Linux's per-thread niceness")
    expected = min(19, os.nice(0) + process.worker_nice())  # the forkserver was started with this environment
    assert expected > os.nice(0) or os.nice(0) == 19
    job = Job.worker(job_targets.niceness, lambda: (), backend="process", finish=lambda last, reason, payload: payload)
    job.start()
    assert job.join(60) and job.snapshot().status == "finished", job.snapshot().error
    assert job.result["nice"] == expected
    assert set(job.result["threads"].values()) == {expected}, job.result["threads"]
    if job.result["autogroup"] is not None and expected > 0:  # Linux sharing the CPU by session first
        # Ours reads empty where this process never left the machine's first session (the default
        # group: a CI job started by the machine's init, as on this project's CI runner).
        ours = open("/proc/self/autogroup").read().split()[:1]
        assert job.result["session"] != os.getsid(0) and job.result["autogroup"].split()[:1] != ours  # a group of its own
        assert job.result["autogroup"].endswith(f"nice {process.worker_nice()}"), job.result["autogroup"]  # ranked as the worker is


OWN_AUTOGROUP = """
import os, sys
sys.path[:0] = [{root!r}]
from llm_core.workers.process import own_autogroup
before = os.getsid(0)
print(own_autogroup({nice}, {path!r}), os.getsid(0) != before)
"""


@pytest.mark.parametrize("nice, moves", [(10, True), (0, False)])
def test_a_worker_takes_a_session_of_its_own_at_its_niceness_and_only_if_it_would_yield(tmp_path, nice, moves):
    """own_autogroup, on a stand-in for /proc/self/autogroup: a new session whose group gets the
    worker's niceness; at nice 0 the worker would gain nothing and stays in the server's session."""
    import subprocess
    import sys

    from browser_harness import ROOT

    group = tmp_path / "autogroup"
    group.write_text("/autogroup-7 nice 0\n")
    out = subprocess.run([sys.executable, "-c", OWN_AUTOGROUP.format(root=str(ROOT), nice=nice, path=str(group))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(moves), str(moves)]
    assert group.read_text() == ("10" if moves else "/autogroup-7 nice 0\n")


SERVER_THAT_DIES = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
import job_targets
from llm_core.jobs import Job
job = Job.worker(job_targets.ticking, lambda: (None, 0.01), backend="process", finish=lambda last, reason, payload: payload)
job.start()
while not job.snapshot().records:
    time.sleep(0.05)
import multiprocessing
print(*[p.pid for p in multiprocessing.active_children() if p.name == "llm-lab-job"], flush=True)
time.sleep(600)
"""


def test_a_worker_ends_when_its_server_is_killed():
    """A worker in a session of its own (own_autogroup) gets no signal meant for the server's: when the
    server dies (kill -9 here; Ctrl-C is the same to the worker), the worker sees its pipe close and ends."""
    import os
    import signal
    import subprocess
    import sys

    from browser_harness import ROOT

    server = subprocess.Popen([sys.executable, "-c", SERVER_THAT_DIES.format(root=str(ROOT), tests=str(ROOT / "tests"))],
                              stdout=subprocess.PIPE, text=True)
    try:
        (pid,) = map(int, server.stdout.readline().split())
        os.kill(server.pid, signal.SIGKILL)
        server.wait(30)
        def running() -> bool:  # a zombie (state Z) has ended; only its parent's reaping is left
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except FileNotFoundError:
                return False

        deadline = time.monotonic() + 60
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(), "the worker outlived its server"
    finally:
        server.kill()


def test_the_worker_priority_setting_is_read_from_the_environment(monkeypatch):
    from llm_core.workers import process

    monkeypatch.delenv(process.NICE_ENV, raising=False)
    assert process.worker_nice() == process.WORKER_NICE == 10
    for given, taken in [("0", 0), ("5", 5), ("40", 19), ("-3", 0), ("not a number", process.WORKER_NICE)]:
        monkeypatch.setenv(process.NICE_ENV, given)
        assert process.worker_nice() == taken, given
