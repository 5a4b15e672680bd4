"""Assessment's two shares (answers the rule prefers, correct task answers) and their intervals."""

import pytest

from llm_core.alignment.assistant import Assessment, Share
from llm_core.alignment.judge import follows_instructions, wilson_interval
from llm_core.alignment.tasks import FORBIDDEN_TASK, HOUSE_PREFIX, REFUSAL, is_correct, make_examples, reference_answer


def test_the_shares_count_what_the_rule_and_the_checker_say():
    examples = make_examples(seed=3)[:60]
    # Half the prompts get their reference answer, half a wrong one: both shares are strictly between 0 and 1.
    answers = [HOUSE_PREFIX + (reference_answer(e) or REFUSAL) if i % 2 else "wrong" for i, e in enumerate(examples)]
    a = Assessment(examples, answers)
    preferred = [follows_instructions(e, x) for e, x in zip(examples, answers)]
    tasks = [is_correct(e, x) for e, x in zip(examples, answers) if e.task != FORBIDDEN_TASK]
    assert (a.preferred_count, a.n) == (sum(preferred), 60) and 0 < a.preferred_count < 60
    assert (a.correct_count, a.task_n) == (sum(tasks), len(tasks)) and 0 < a.correct_count < a.task_n
    assert a.preferred_share == pytest.approx(sum(preferred) / 60)
    assert a.accuracy == pytest.approx(sum(tasks) / len(tasks))
    assert a.preferred_interval == wilson_interval(sum(preferred), 60)
    assert a.accuracy_interval == wilson_interval(sum(tasks), len(tasks))


def test_an_empty_share_is_zero_with_the_widest_interval():
    assert Share(0, 0).value == 0.0 and Share(0, 0).interval == (0.0, 1.0)
    assert Assessment([], []).preferred_share == 0.0 and Assessment([], []).accuracy_interval == (0.0, 1.0)
