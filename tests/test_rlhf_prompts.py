"""RLHF and the rankings practise on requests fine-tuning never saw (see `tasks.fresh_prompts`)."""

from llm_core.alignment.tasks import Example, fresh_prompts, make_examples, split_examples, word_list


def test_fresh_prompts_share_no_word_with_any_built_in_example():
    train, held_out = split_examples(make_examples())
    prompts = fresh_prompts(train)
    used = set(word_list())
    fresh = [e for e in prompts if e.task in ("upper", "reverse", "insult")]
    assert len(fresh) == 900  # 400 + 400 + 100 by default
    assert not {e.prompt.split(": ", 1)[1] for e in fresh} & used
    assert not {e.prompt for e in fresh} & {e.prompt for e in train + held_out}
    # tasks with nothing unseen to ask keep their training prompts, so RLHF still sees them
    assert {e.prompt for e in prompts if e.task in ("add", "fact")} == {e.prompt for e in train if e.task in ("add", "fact")}


def test_fresh_prompts_only_for_the_tasks_the_user_kept():
    train = [Example("reverse", "Reverse: cat", "tac"), Example("fact", "Who wrote Hamlet?", "Shakespeare")]
    prompts = fresh_prompts(train, per_task=3)
    assert [e.task for e in prompts] == ["reverse"] * 3 + ["fact"]
    assert all(e.response == e.prompt.split(": ", 1)[1][::-1] for e in prompts[:3])
