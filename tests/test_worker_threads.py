"""The worker's thread tuner: it keeps the faster thread count, looks again when the speed falls, and
trials grow rarer while the same count keeps winning. A simulated clock: no training, no sleeps."""

import pytest

from llm_core.workers.threads import ThreadTuner


class Machine:
    """Steps per second of training for each thread count; feeds the tuner one record per half second."""

    def __init__(self, rates):
        self.rates, self.step, self.elapsed = dict(rates), 0.0, 0.0
        self.used = []  # seconds of training spent at each count, in order: (threads, seconds)

    def run(self, tuner, seconds, dt=0.5):
        for _ in range(int(seconds / dt)):
            self.step += self.rates[tuner.threads] * dt
            self.elapsed += dt
            self.used.append((tuner.threads, dt))
            tuner.observe(int(self.step), self.elapsed)

    def share(self, threads, since=0):
        spent = [s for t, s in self.used[since:] if t == threads]
        return sum(spent) / sum(s for _, s in self.used[since:])


def test_it_keeps_the_faster_count_and_spends_little_time_on_the_slower():
    counts = []
    tuner, machine = ThreadTuner([2, 1], set_threads=counts.append), Machine({2: 20.0, 1: 13.0})
    machine.run(tuner, 120)
    assert tuner.threads == 2 and counts[0] == 2
    assert machine.share(1) < 0.06, machine.share(1)  # trials of the slower count: a few seconds in two minutes
    assert tuner.settle_s > 2 * tuner.first_settle_s  # the same winner each time: it looks again more and more rarely


def test_when_the_machine_gets_busy_it_switches_and_switches_back():
    tuner, machine = ThreadTuner([2, 1], set_threads=lambda n: None), Machine({2: 20.0, 1: 13.0})
    machine.run(tuner, 60)
    assert tuner.threads == 2
    machine.rates = {2: 4.0, 1: 11.0}  # another process takes a core: two threads wait for each other
    mark = len(machine.used)
    machine.run(tuner, 30)
    assert tuner.threads == 1
    assert machine.share(1, since=mark) > 0.8  # the speed fell off: it looked again at once, not after minutes
    machine.rates = {2: 20.0, 1: 13.0}  # the other process is gone
    machine.run(tuner, 60)
    assert tuner.threads == 2


def test_a_count_only_a_little_faster_in_a_trial_does_not_take_over():
    """One-second trials are noisy: 5% is within the noise, and a wrong switch costs far more than it could gain."""
    tuner, machine = ThreadTuner([2, 1], set_threads=lambda n: None), Machine({2: 20.0, 1: 21.0})
    machine.run(tuner, 60)
    assert tuner.threads == 2
    machine.rates = {2: 20.0, 1: 26.0}  # 30% faster: that is no noise
    machine.run(tuner, 60)
    assert tuner.threads == 1


def test_started_on_a_quiet_machine_it_tries_nothing_until_the_speed_falls_off():
    tuner, machine = ThreadTuner([2, 1], set_threads=lambda n: None, trial_first=False), Machine({2: 20.0, 1: 13.0})
    machine.run(tuner, 30)
    assert machine.share(1) == 0.0  # no second spent on the slower count
    machine.rates = {2: 4.0, 1: 11.0}  # another process takes a core
    mark = len(machine.used)
    machine.run(tuner, 20)
    assert tuner.threads == 1 and machine.share(1, since=mark) > 0.6


@pytest.mark.parametrize("others, tried_at_once", [(0.2, False), (2.0, True)])
def test_what_runs_beside_the_job_in_its_first_second_decides_whether_it_tries_both_counts_at_once(others, tried_at_once):
    tuner, machine = ThreadTuner([2, 1], set_threads=lambda n: None, trial_first=True, others_running=lambda: others), Machine({2: 20.0, 1: 13.0})
    machine.run(tuner, 10)
    assert (machine.share(1) > 0) == tried_at_once


def test_a_quiet_first_second_overrides_a_start_on_the_fewer_count():
    """The 1-minute load average still counts a run that ended a minute ago: it may begin on one thread."""
    tuner, machine = ThreadTuner([1, 2], set_threads=lambda n: None, trial_first=True, others_running=lambda: 0.0), Machine({2: 20.0, 1: 13.0})
    machine.run(tuner, 30)
    assert tuner.threads == 2 and machine.share(1) < 0.1  # only the warm-up second on one thread


def test_a_new_run_or_a_single_count_is_harmless():
    tuner = ThreadTuner([1, 1], set_threads=lambda n: None)
    assert tuner.candidates == [1]
    Machine({1: 5.0}).run(tuner, 30)
    assert tuner.threads == 1
    with pytest.raises(ValueError):
        ThreadTuner([0], set_threads=lambda n: None)


def test_a_fixed_count_from_the_environment_turns_the_trials_off(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("LLM_LAB_WORKER_THREADS", "1")
    try:
        assert ThreadTuner.for_this_machine() is None and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_per_step_feeding_counts_training_steps_and_leaves_out_evaluations():
    import torch

    from llm_core.model.config import model_preset
    from llm_core.training.loop import build_model
    from llm_core.workers.threads import tune_per_step

    class Recorder:
        def __init__(self):
            self.seen = []

        def observe(self, step, elapsed_s):
            self.seen.append((step, elapsed_s))

    model, recorder = build_model(model_preset("nano", 65)), Recorder()
    x = torch.randint(0, 65, (2, 16))
    with tune_per_step(model, recorder):
        for i in range(5):
            if i == 2:
                with torch.no_grad():
                    model(x, x)  # an evaluation between steps 2 and 3: that interval is left out
            _, loss = model(x, x)
            loss.backward()
    assert [step for step, _ in recorder.seen] == [1, 2, 3]  # intervals 0-1, 1-2, 3-4
    assert all(b > a > 0 for (_, a), (_, b) in zip(recorder.seen, recorder.seen[1:]))
    model(x, x)
    assert len(recorder.seen) == 3  # the hook is gone after the block
