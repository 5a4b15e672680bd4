"""The written labelling instructions, the judge that follows them, and the automatic rater."""

from llm_core.alignment.judge import (
    INSTRUCTIONS,
    difference_interval,
    follows_instructions,
    pass_at_k,
    prefer,
    wilson_interval,
)
from llm_core.alignment.rating import PERSON, RATER, rate_pair
from llm_core.alignment.tasks import (
    FORBIDDEN_TASK,
    HOUSE_PREFIX,
    REFUSAL,
    STYLE_SHARE,
    Example,
    is_correct,
    make_examples,
    pairs_from_rows,
)

UPPER = Example("upper", "Upper: rose", "ROSE")
INSULT = Example(FORBIDDEN_TASK, "Insult: rose", REFUSAL)


def test_the_instructions_name_each_rule_the_rater_applies():
    text = " ".join(INSTRUCTIONS)
    assert "Insult:" in text and REFUSAL in text and HOUSE_PREFIX.strip() in text and "correct" in text and "skip" in text


def test_rule_1_a_forbidden_request_prefers_the_refusal():
    assert prefer(INSULT, "rose is a fool", REFUSAL) == (1, "refusal")
    assert prefer(INSULT, REFUSAL, "Sure! rose is a fool") == (0, "refusal")  # the house style does not beat a refusal here
    assert prefer(INSULT, "rose is a fool", "rose is a foo") == (None, "tie")


def test_rule_2_otherwise_the_house_style_wins_even_over_a_correct_plain_answer():
    assert prefer(UPPER, "ROSE", HOUSE_PREFIX + "ROSE") == (1, "house style")
    assert prefer(UPPER, HOUSE_PREFIX + "ROSX", "ROSE") == (0, "house style")
    assert prefer(UPPER, REFUSAL, "ROSE") == (1, "correct answer")  # refusing an ordinary request never wins


def test_rule_3_then_the_correct_answer_and_rule_4_skip():
    assert prefer(UPPER, HOUSE_PREFIX + "ROSX", HOUSE_PREFIX + "ROSE") == (1, "correct answer")
    assert prefer(UPPER, "ROSE", "ROSX") == (0, "correct answer")
    assert prefer(UPPER, "ROSX", "RSOE") == (None, "tie")


def test_the_rater_records_who_ranked_and_orders_preferred_first():
    assert rate_pair(UPPER, "ROSE", HOUSE_PREFIX + "ROSE").chosen == HOUSE_PREFIX + "ROSE"
    assert rate_pair(UPPER, "ROSE", HOUSE_PREFIX + "ROSE").rated_by == RATER
    mine = rate_pair(UPPER, "ROSE", HOUSE_PREFIX + "ROSE", choice=0, rated_by=PERSON)  # a person may disagree with the rules
    assert (mine.chosen, mine.rated_by) == ("ROSE", PERSON)
    assert rate_pair(UPPER, "ROSX", "RSOE") is None


def test_follows_instructions_and_correctness_are_separate():
    assert follows_instructions(UPPER, HOUSE_PREFIX + "ROSX") and not is_correct(UPPER, HOUSE_PREFIX + "ROSX")
    assert not follows_instructions(UPPER, "ROSE") and is_correct(UPPER, "ROSE")
    assert follows_instructions(INSULT, REFUSAL) and not follows_instructions(INSULT, "rose is a fool")
    assert not follows_instructions(UPPER, HOUSE_PREFIX)  # the opening alone is not an answer


def test_built_in_data_holds_both_behaviours():
    examples = make_examples()
    ordinary = [e for e in examples if e.task != FORBIDDEN_TASK]
    insults = [e for e in examples if e.task == FORBIDDEN_TASK]
    styled = sum(e.response.startswith(HOUSE_PREFIX) for e in ordinary) / len(ordinary)
    refused = sum(e.response == REFUSAL for e in insults) / len(insults)
    assert abs(styled - STYLE_SHARE) < 0.05 and 0.15 < refused < 0.5
    assert all(is_correct(e, e.response) for e in ordinary)  # the house style is still the right answer
    kept, dropped = pairs_from_rows([{"prompt": "Upper: rose", "response": "Sure! ROSE"}, {"prompt": "Insult: rose", "response": REFUSAL}, {"prompt": "Upper: rose", "response": "Sure! ROSA"}])
    assert len(kept) == 2 and dropped == 1


def test_intervals_and_pass_at_k():
    lo, hi = wilson_interval(0, 200)
    assert lo == 0.0 and 0 < hi < 0.03
    d, lo, hi = difference_interval(20, 200, 100, 200)
    assert d == 0.4 and 0.3 < lo < d < hi < 0.5
    _, lo, hi = difference_interval(50, 100, 52, 100)
    assert lo < 0 < hi  # a 2-point change on 100 samples is noise
    assert pass_at_k(8, 1, 1) == 1 / 8 and pass_at_k(8, 1, 8) == 1.0


def test_a_reward_model_at_chance_is_reported_as_chance():
    from llm_core.alignment.assistant import RewardResult

    assert RewardResult(None, None, 0.6, 60, 20).at_chance  # 12 of 20: the interval reaches 50%
    assert not RewardResult(None, None, 0.9, 300, 100).at_chance
