"""AppTest logic tests of the "Making an assistant" chapter: SFT, rankings, reward model, RLHF and DPO.

The stages run as background jobs; like the training page's tests, these rerun the page to poll.
The bundled tiny Shakespeare model is the base: fine-tuning it for a few hundred steps is what
the chapter shows, and it is fast enough for a test.
"""

import re
from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT, metric, poll_until, stop_jobs_of
from page_text import text_blocks
from streamlit.testing.v1 import AppTest

from llm_core.alignment.judge import follows_instructions
from llm_core.alignment.tasks import is_correct

APP = str(Path(ROOT) / "app.py")
pytestmark = pytest.mark.usefixtures("stop_jobs_afterwards")


def assistant_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/assistant.py").run()
    OPEN_APPS.append(at)
    assert not at.exception, at.exception
    return at


def table_with(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def percent(text: str) -> float:
    return float(text.rstrip("%")) / 100


def fine_tune(at, steps=300, guess="nearly all (90% or more)"):
    """Fine-tune from the page, the chat-format guess locked first (the results wait for it: they would give it away)."""
    if guess is not None:
        at.radio(key="predict_assistant_sft_format_guess").set_value(guess).run()
        at.button(key="predict_assistant_sft_format_lock").click().run()
    at.number_input(key="as_sft_steps").set_value(steps).run()
    at.button(key="as_sft_start").click().run()
    assert not at.exception, at.exception
    return poll_until(at, lambda a: "as_sft" in a.session_state, timeout=1800)


def test_the_page_opens_on_the_bundled_model_and_shows_a_rendered_pair():
    at = assistant_page()
    html = "\n".join(m.value for m in at.markdown)
    assert "&lt;|assistant|&gt;" in html and "#bbf7d0" in html  # chat tokens shown, response tokens marked learned
    assert any("Fine-tune first" in i.value for i in at.info)
    assert not [w for w in at.warning if "Session State" in w.value]
    assert not at.button(key="as_sft_start").disabled


def test_a_finished_fine_tuning_waits_for_the_guess_before_showing_its_results():
    """Fine-tuned without a guess: the results (its sampled answers would answer the prediction) wait for the lock."""
    at = assistant_page()
    fine_tune(at, steps=20, guess=None)
    assert not at.metric and any(i.value.startswith("Fine-tuning has finished. Lock in your guess") for i in at.info)
    at.radio(key="predict_assistant_sft_format_guess").set_value("almost none (under 10%)").run()
    at.button(key="predict_assistant_sft_format_lock").click().run()
    assert not at.exception, at.exception
    assert any(m.label == "Task accuracy after SFT" for m in at.metric)
    assert any("held-out requests" in m.value and "closed with <|end|>" in m.value for m in at.markdown)
    stop_jobs_of(at)


def test_a_guess_before_fine_tuning_waits_for_the_run_and_is_counted():
    at = assistant_page()
    assert at.button(key="predict_assistant_sft_format_lock").disabled  # nothing chosen yet
    at.radio(key="predict_assistant_sft_format_guess").set_value("most (50% to 90%)").run()
    at.button(key="predict_assistant_sft_format_lock").click().run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("Fine-tune (the button below) to see the answer") for i in at.info)  # pending: no run, no answer
    assert not any("held-out requests" in m.value and "closed with" in m.value for m in at.markdown)
    assert any(m.value == "**Your predictions in this chapter:** 1 of 3 made, 0 right." for m in at.markdown)
    assert at.radio(key="predict_assistant_sft_format_guess").disabled


def test_a_reload_finds_the_finished_stages_and_the_rankings():
    """After a reload the curve still showed but the prediction said "Fine-tune (the button below) to see the answer"
    and sections 3-8 "Fine-tune first", though the tuned model was in the list: the stages lived only in the session."""
    at = assistant_page()
    fine_tune(at, steps=20)
    at.button(key="as_rate_a").click().run()
    name, ratings = at.session_state["as_sft"][0], list(at.session_state["as_ratings"])
    assert len(ratings) == 1 and any(m.label == "Task accuracy after SFT" for m in at.metric)

    # a reload is a new session of the same browser: its cookie names the desk (AppTest has none, so the id is given)
    reloaded = AppTest.from_file(APP, default_timeout=180)
    reloaded.session_state["lab_desk_id"] = at.session_state["lab_desk_id"]
    reloaded.run()
    reloaded.switch_page("pages/assistant.py").run()
    OPEN_APPS.append(reloaded)
    assert not reloaded.exception, reloaded.exception
    assert not [i.value for i in reloaded.info if "Fine-tune first" in i.value or i.value.startswith(("Fine-tune (the button below)", "Fine-tune and rank first"))]
    assert reloaded.session_state["as_sft"][0] == name and list(reloaded.session_state["as_ratings"]) == ratings
    assert any(m.label == "Task accuracy after SFT" for m in reloaded.metric)
    assert any("held-out requests" in m.value and "closed with <|end|>" in m.value for m in reloaded.markdown)  # the locked guess, answered
    assert any(c.value.startswith("Ranked: 1 pair") for c in reloaded.caption)
    assert [n for n in reloaded.session_state["lab_models"] if n.startswith(name)] == [name]  # nothing fine-tuned twice
    reloaded.button(key="as_rate_b").click().run()  # a ranking made after the reload is kept on the desk too: another reload has both
    again = AppTest.from_file(APP, default_timeout=180)
    again.session_state["lab_desk_id"] = at.session_state["lab_desk_id"]
    again.run()
    again.switch_page("pages/assistant.py").run()
    OPEN_APPS.append(again)
    assert [p.rated_by for p in again.session_state["as_ratings"]] == ["you", "you"]
    stop_jobs_of(at)


def test_the_learners_own_pairs_survive_a_reload():
    """"Use these pairs" kept the chosen pairs in the session only: a reload went back to the built-in ones, silently."""
    at = assistant_page()
    built_in = len(at.session_state["as_examples"])
    assert any(m.value.startswith(f"{built_in:,} pairs made by code") for m in at.markdown)
    at.session_state["as_examples"] = list(at.session_state["as_examples"])[:12]  # the editor now shows 12 rows
    at.run()
    at.button(key="as_use_pairs").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Using 12 pairs") for s in at.success)
    reloaded = AppTest.from_file(APP, default_timeout=180)  # a new session of the same browser (its desk id given)
    reloaded.session_state["lab_desk_id"] = at.session_state["lab_desk_id"]
    reloaded.run()
    reloaded.switch_page("pages/assistant.py").run()
    OPEN_APPS.append(reloaded)
    assert not reloaded.exception, reloaded.exception
    assert len(reloaded.session_state["as_examples"]) == 12 < built_in
    assert any(m.value.startswith("12 pairs of your choosing") for m in reloaded.markdown)


STYLE_GUESS = "“Sure! 11”: the house style, a wrong sum"


def lock(at, key: str, guess: str) -> None:
    at.radio(key=f"predict_{key}_guess").set_value(guess).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception


def lock_once(at, key: str, guess: str) -> None:
    """Lock a guess unless an earlier test on the shared session did (its lock button is then gone)."""
    if any(b.key == f"predict_{key}_lock" for b in at.button):
        lock(at, key, guess)


def finished_reward_model(at):
    """A finished reward model put where the page's end-of-job callback puts it (`as_rm`), with a measured probe:
    training a real one takes minutes; what is tested here is what the page shows of it, and when."""
    from llm_core.alignment.assistant import RewardResult
    from llm_core.alignment.preference import Pair, RewardModel
    from llm_core.alignment.tasks import Example

    _, _, result = at.session_state["as_sft"]
    rm = RewardResult(RewardModel(result.model), result.tokenizer, accuracy=0.8, n_train=30, n_held_out=10,
                      examples=[(Pair(Example("add", "What is 8+5?", "13"), "Sure! 13", "Sure! 17"), 4.23, -3.99)])
    at.session_state["as_rm"] = rm
    # the probe the page computes once per reward model (`assistant_teach._probe`): 52 of 100 is a coin toss's count
    at.session_state["as_rm_probe_key"] = ("as_rm_probe", id(rm.model))
    at.session_state["as_rm_probe"] = dict(n=100, style_over_sum=70, right_over_wrong=52,
                                           shown=dict(prompt="What is 3+4?", styled_wrong="Sure! 11", plain_right="7", styled_wrong_reward=1.5, plain_right_reward=-0.5))
    return rm


def test_a_finished_reward_model_waits_for_the_guess_and_reads_rule_3_with_its_interval():
    """Its held-out table ("What is 8+5? | Sure! 13 | 4.23 | ...") answered the reward-style prediction before it was
    locked; and 52 of 100 additions was read as "it learned rule 3 too"."""
    at = assistant_page()
    fine_tune(at, steps=20)
    finished_reward_model(at)
    at.run()
    assert not at.exception, at.exception
    label = "Held-out pairs ranked as the instructions rank them"
    assert not any(m.label == label for m in at.metric)
    assert not any("ranked as the instructions ✓" in d.value.columns for d in at.dataframe)  # its held-out pairs and their rewards
    assert any(i.value == "The reward model has finished. Lock in your guess above to see what it measured." for i in at.info)
    lock(at, "assistant_reward_style", STYLE_GUESS)
    assert metric(at, label) == "80%"
    assert list(table_with(at, "ranked as the instructions ✓")["prompt"]) == ["What is 8+5?"]
    assert not any(i.value.startswith("The reward model has finished") for i in at.info)
    reveal = next(m.value for m in at.markdown if m.value.startswith("**Why:**") and "rule 3" in m.value)
    assert "the right sum on 52 of 100 additions (95% interval 42%–62%): no better than chance, so it has not learned rule 3" in reveal
    assert "learned rule 3 too" not in reveal
    # none of the rankings (there are none) was decided by the correct answer: a preference for the right sum was not learned from them
    at.session_state["as_rm_probe"] = {**at.session_state["as_rm_probe"], "right_over_wrong": 81}
    at.run()
    reveal = next(m.value for m in at.markdown if m.value.startswith("**Why:**") and "house style" in m.value)
    assert "0 were decided by the house style and 0 by the correct answer" in reveal and "learned rule 3 too" not in reveal
    assert ("the right sum on 81 of 100 additions (95% interval 72%–87%), though none of your rankings taught it that: "
            "it comes from the fine-tuned model it started from") in reveal
    answer = next(m.value for m in at.markdown if "single-digit additions" in m.value)
    assert "for “What is 3+4?”: it scores the house style higher" in answer and "70 times (95% interval 60%–78%): it pays more for the house style" in answer
    stop_jobs_of(at)


def finished_tuning_runs(at, rlhf=True):
    """A finished RLHF run (leash 0.03) and DPO run (β 0.1) put where the page's callbacks put them, each measured on the
    same held-out prompts as answering in the house style more often with fewer right answers: reward hacking."""
    from types import SimpleNamespace

    from llm_core.alignment.assistant import Assessment
    from llm_core.alignment.tasks import HOUSE_PREFIX

    _, stage, result = at.session_state["as_sft"]
    ex = [e for e in stage.assessment.examples if e.task != "insult"]
    right = [e.response.removeprefix(HOUSE_PREFIX) for e in ex]
    before = Assessment(ex, right)  # every answer right, none styled
    after = Assessment(ex, [HOUSE_PREFIX + ("zz" if i % 4 else r) for i, r in enumerate(right)])  # all styled, 3 in 4 wrong
    common = dict(before=before, after=after, after_passes=dict(stage.passes), stop_reason="reached the step limit", held_out=ex,
                  state=SimpleNamespace(elapsed_s=1.0, tokens_seen=1000))
    rl = SimpleNamespace(**common, history=[dict(step=0, reward=0.1, kl=0.0), dict(step=4, reward=0.9, kl=0.3)], cfg=SimpleNamespace(kl_coef=0.03),
                         policy=result.model, batch_tokens=1000, steps_done=4)
    dpo = SimpleNamespace(**common, history=[], pair=SimpleNamespace(beta=0.1, policy=result.model))
    at.session_state["as_dpo"] = dpo
    if rlhf:
        at.session_state["as_rlhf"] = rl


ACCURACY_VERDICTS = ("cost task accuracy", "raised task accuracy", "left task accuracy within the noise")


def test_rlhf_and_dpo_hold_their_task_accuracy_back_until_the_leash_guess_is_locked():
    """A DPO run with the leash guess open showed "… gets fewer task answers right (40% → 27%…)" and section 7 "cost task
    accuracy (-13 points)"; a default RLHF run printed "left task accuracy within the noise", one of the options' own words."""
    at = assistant_page()
    fine_tune(at, steps=20)
    finished_reward_model(at)
    finished_tuning_runs(at)
    at.run()
    assert not at.exception, at.exception
    shown = [w.value for w in at.warning] + [c.value for c in at.caption]
    assert not any("task answers right" in t or any(v in t for v in ACCURACY_VERDICTS) for t in shown)
    assert "task accuracy" not in table_with(at, "preferred by the instructions").columns
    infos = [i.value for i in at.info]
    assert any(i.startswith("RLHF has finished. What it did to task accuracy waits for your guess about what a weak leash does to task accuracy "
                            "(section 5) and about which answer the reward model scores higher (section 4): lock them in") for i in infos)
    assert any(i.startswith("DPO has finished. What it did to task accuracy waits for your guess about what a weak leash does") for i in infos)
    lock(at, "assistant_weak_leash", "it lowers task accuracy")
    assert not any("Reward hacking" in w.value for w in at.warning)  # the reward-model guess is still open: RLHF's "why" would answer it
    # the accuracy is shown now (the leash reveal, section 7): only the why waits, and the note says so
    assert not any("What it did to task accuracy waits" in i.value for i in at.info)
    assert any(i.value == "RLHF has finished. Why it happened (what the reward model pays for) waits for your guess about which answer the reward "
               "model scores higher (section 4): lock it in to see it." for i in at.info)
    assert any("The same trade as reward hacking" in w.value for w in at.warning)
    lock(at, "assistant_reward_style", STYLE_GUESS)
    rl_warning = next(w.value for w in at.warning if "**Reward hacking.**" in w.value)
    dpo_warning = next(w.value for w in at.warning if "The same trade as reward hacking" in w.value)
    assert "fewer task answers right (100% → 25%" in rl_warning
    assert "stronger KL leash (this run: 0.03; 0.1 or 0.3 keeps it closer" in rl_warning  # the next settings up, never the one used
    assert "a larger β, the leash (this run: 0.1; 0.3 or 1 keeps it closer" in dpo_warning
    assert {"task accuracy", "accuracy change"} <= set(table_with(at, "preferred by the instructions").columns)
    caption = next(c.value for c in at.caption if c.value.startswith("Sampled answers (temperature 1), one per held-out prompt"))
    for name in ("RLHF", "DPO"):  # against the fine-tuned model's own measured accuracy
        assert re.search(rf"{name} \w+[\w ]* the share of answers the instructions prefer \([^)]*\) and ({'|'.join(ACCURACY_VERDICTS)}) \(", caption), caption
    assert not any(i.startswith(("RLHF has finished", "DPO has finished")) for i in (i.value for i in at.info))
    stop_jobs_of(at)


def test_dpo_without_a_reward_model_has_a_leash_guess_to_lock_and_then_shows_its_accuracy():
    """DPO ran with no reward model: its accuracy waited for the weak-leash guess "(section 5)", but section 5 showed only
    "Train a reward model first": the guess was drawn behind that gate, so there was nothing to lock."""
    at = assistant_page()
    fine_tune(at, steps=20)
    finished_tuning_runs(at, rlhf=False)
    at.run()
    assert not at.exception, at.exception
    assert "as_rm" not in at.session_state and any(i.value.startswith("Train a reward model first") for i in at.info)
    assert any(i.value.startswith("DPO has finished. What it did to task accuracy waits for your guess about what a weak leash does") for i in at.info)
    assert not any("The same trade as reward hacking" in w.value for w in at.warning)
    lock(at, "assistant_weak_leash", "it lowers task accuracy")
    assert any(i.value.startswith("Train a reward model (section 4), then run RLHF with the KL coefficient at 0.1 or lower") for i in at.info)  # pending
    assert not any(i.value.startswith("DPO has finished") for i in at.info)
    assert "fewer task answers right (100% → 25%" in next(w.value for w in at.warning if "The same trade as reward hacking" in w.value)
    assert {"task accuracy", "accuracy change"} <= set(table_with(at, "preferred by the instructions").columns)
    stop_jobs_of(at)


SAME_SFT_NOTE = ("This fine-tuning gave exactly the same weights as before (same model, data and settings): "
                 "your rankings and later stages are kept.")


def test_fine_tuning_again_to_the_same_weights_keeps_the_rankings_and_later_stages():
    """A second fine-tuning with the same settings gave the very same model (the sidebar said so), yet the rankings, the
    reward model, RLHF and DPO built on it were all dropped."""
    at = assistant_page()
    fine_tune(at, steps=20)
    assert any("Rank them by the instructions beside or below" in m.value for m in at.markdown)  # below, on a phone
    at.button(key="as_rate_a").click().run()
    first, ratings = at.session_state["as_sft"], list(at.session_state["as_ratings"])
    finished_reward_model(at)
    finished_tuning_runs(at)
    at.run()
    assert not any(i.value == SAME_SFT_NOTE for i in at.info)
    at.button(key="as_sft_start").click().run()  # the same model, data and settings
    poll_until(at, lambda a: a.session_state["as_sft"] is not first or any(i.value == SAME_SFT_NOTE for i in a.info), timeout=1800)
    assert at.session_state["as_sft"] is first
    assert any(i.value == SAME_SFT_NOTE for i in at.info)
    assert list(at.session_state["as_ratings"]) == ratings and len(ratings) == 1
    assert all(k in at.session_state for k in ("as_rm", "as_rlhf", "as_dpo"))
    assert [n for n in at.session_state["lab_models"] if n.startswith(first[0])] == [first[0]]  # listed once
    stop_jobs_of(at)


@pytest.fixture(scope="module")
def tuned():
    """One page session taken through SFT, automatic ranking and the reward model (shared: each stage takes a while)."""
    at = assistant_page()
    fine_tune(at)
    yield at
    stop_jobs_of(at)


@pytest.mark.slow
def test_fine_tuning_teaches_the_tasks_and_registers_the_model(tuned):
    at = tuned
    accuracy = percent(metric(at, "Task accuracy after SFT"))
    preferred = percent(metric(at, "Answers the instructions prefer"))
    name, stage, result = at.session_state["as_sft"]
    assert name in at.session_state["lab_models"] and result.record["steps"] == 300
    assert accuracy == pytest.approx(stage.assessment.accuracy, abs=0.006)  # the metric shows what was measured
    assert 0 < preferred < 1  # both behaviours sampled: room for preference tuning
    assert result.model.config.vocab_size > stage.base.config.vocab_size - 1  # digits and chat tokens added
    table = table_with(at, "sampled answer")
    instructions, correct = "instructions ✓ (house style, or refusal)", "correct ✓ (task answer right)"
    assert set(table[instructions]) <= {"✓", "✗"} and set(table[correct]) <= {"✓", "✗", ""}  # two marks, each saying what it means
    for ex, answer, row in zip(stage.assessment.examples, stage.assessment.answers, table.to_dict("records")):
        assert row[instructions] == ("✓" if follows_instructions(ex, answer) else "✗")
        assert row[correct] == ("" if ex.task == "insult" else "✓" if is_correct(ex, answer) else "✗")
    f = stage.forgetting  # the bundled model's own text, measured before and after: the sentence says what happened
    assert f["after"] is not None and any(f"from {f['before']:.2f} to {f['after']:.2f}" in m.value or f"stayed at {f['after']:.2f}" in m.value for m in at.markdown)


@pytest.mark.slow
def test_the_chat_format_prediction_is_revealed_from_the_fine_tuned_model(tuned):
    at = tuned  # its guess, "nearly all (90% or more)", was locked before fine-tuning
    _, stage, _ = at.session_state["as_sft"]
    after, before, n = sum(stage.after_closed), sum(stage.before_closed), len(stage.after_closed)
    reveal = next(m.value for m in at.markdown if "held-out requests" in m.value and "closed with <|end|>" in m.value)
    assert f"{after} of {n} held-out requests" in reveal and f"the base model closed {before} of {n}" in reveal
    right = after / n >= 0.9
    assert ("**Right.**" in reveal) == right and ("**Not this time.**" in reveal) == (not right)


@pytest.mark.slow
def test_fine_tuning_compute_is_shown_beside_the_pre_training_it_started_from(tuned):
    at = tuned
    _, stage, result = at.session_state["as_sft"]
    from llm_core.alignment.readings import share
    from llm_core.model.checkpoint import load_checkpoint
    from llm_core.training.cost import train_flops_per_token

    bundled = load_checkpoint(Path(ROOT) / "assets/models/shakespeare-tiny")
    pre = train_flops_per_token(bundled.model.config) * bundled.record["tokens_seen"]  # counted here, not by the page's module
    sft = train_flops_per_token(result.model.config) * result.record["tokens_seen"]
    caption = next(c.value for c in at.caption if c.value.startswith("Your fine-tuning (SFT) took"))
    assert f"took {sft:.2g} FLOPs" in caption and f"pre-training ({pre:.2g})" in caption
    assert f"{share(sft / pre)} of your model's pre-training" in caption
    assert f"{result.record['elapsed_s']:.0f} s against {bundled.record['elapsed_s']:.0f} s of wall time" in caption
    assert "InstructGPT's SFT took 0.13% of GPT-3's pre-training and its RLHF 1.6%" in caption


@pytest.mark.slow
def test_ranking_by_hand_and_automatically_says_who_ranked(tuned):
    at = tuned
    rated = len(at.session_state["as_ratings"])
    assert any("Labelling instructions" in m.value for m in at.markdown)  # the instructions sit beside the buttons
    at.button(key="as_rate_a").click().run()
    assert len(at.session_state["as_ratings"]) == rated + 1 and at.session_state["as_ratings"][-1].rated_by == "you"
    at.select_slider(key="as_auto_n").set_value(20).run()
    at.button(key="as_rate_auto").click().run()
    auto = [p for p in at.session_state["as_ratings"] if p.rated_by == "rater"]
    assert auto and all(p.chosen != p.rejected for p in auto)
    assert any(c.value.startswith(f"Ranked: {rated + 1 + len(auto)} pairs, 1 by you and {len(auto)} by the automatic rater") for c in at.caption)
    assert not at.exception


def reward_model(at):
    """The session's reward model, trained on at least 40 automatic rankings when there is none yet."""
    if "as_rm" not in at.session_state:
        at.select_slider(key="as_auto_n").set_value(50).run()
        while len(at.session_state["as_ratings"]) < 40:
            at.button(key="as_rate_auto").click().run()
        at.button(key="as_rm_start").click().run()
        poll_until(at, lambda a: "as_rm" in a.session_state, timeout=1800)
    return at.session_state["as_rm"]


@pytest.mark.slow
def test_reward_model_then_rlhf_and_dpo_compared(tuned):
    at = tuned
    rm = reward_model(at)
    lock_once(at, "assistant_reward_style", STYLE_GUESS)  # the reward model's results wait for it
    label = "Held-out pairs ranked as the instructions rank them"
    assert percent(metric(at, label)) == pytest.approx(rm.accuracy, abs=0.006)
    assert ("at chance" in next(m.delta for m in at.metric if m.label == label)) == rm.at_chance
    at.number_input(key="as_rl_steps").set_value(4).run()
    at.button(key="as_rl_start").click().run()
    poll_until(at, lambda a: "as_rlhf" in a.session_state, timeout=1800)
    rl = at.session_state["as_rlhf"]
    assert rl.steps_done == 4 and rl.after.n == len(rl.held_out) and all("reward" in h and "kl" in h for h in rl.history)
    at.button(key="as_dpo_start").click().run()
    poll_until(at, lambda a: "as_dpo" in a.session_state, timeout=1800)
    table = table_with(at, "preferred by the instructions")
    assert list(table["model"]) == ["SFT (start)", "RLHF", "DPO"]
    assert (table["samples"] == len(rl.held_out)).all()
    assert any("pass@" in c.value for c in at.caption)
    compare = table_with(at, "SFT")
    assert {"prompt", "SFT", "RLHF", "DPO"} <= set(compare.columns)
    assert compare["SFT"].str.contains(r"\((?:style|refusal) [✓✗]").all()  # each answer says what its marks mean


@pytest.mark.slow
def test_the_reward_model_prediction_is_computed_from_the_reward_model(tuned):
    at = tuned
    rm = reward_model(at)
    lock_once(at, "assistant_reward_style", STYLE_GUESS)
    from llm_core.alignment.assistant import reward_probe

    probe = reward_probe(rm.model, rm.tokenizer)  # computed again here: the page's reveal must say the same
    reveal = next(m.value for m in at.markdown if "single-digit additions" in m.value)
    assert f"{probe['style_over_sum']} times" in reveal and f"“Sure! 11” {probe['shown']['styled_wrong_reward']:.2f}" in reveal
    shown = probe["shown"]  # the question's own pair ("What is 3+4?") decides; the count over 100 additions is read with its interval
    assert ("**Right.**" in reveal) == (shown["styled_wrong_reward"] > shown["plain_right_reward"])


@pytest.mark.slow
def test_a_weak_leash_games_the_reward_and_the_page_names_it(tuned):
    """RLHF with no leash against a reward model trained on 40 rankings: the page names reward hacking from the run's measurements."""
    at = tuned
    reward_model(at)
    lock_once(at, "assistant_reward_style", STYLE_GUESS)  # RLHF's reward-hacking warning says what the reward model pays for: it waits for this guess too
    lock(at, "assistant_weak_leash", "it lowers task accuracy")
    assert any("Run RLHF with the KL coefficient at 0.1 or lower" in i.value for i in at.info)  # pending until the run exists
    at.select_slider(key="as_rl_kl").set_value(0.0).run()
    at.select_slider(key="as_rl_lr").set_value(3e-4).run()
    at.number_input(key="as_rl_steps").set_value(12).run()
    at.button(key="as_rl_start").click().run()
    poll_until(at, lambda a: "as_rlhf_weak" in a.session_state, timeout=2400)
    rl = at.session_state["as_rlhf_weak"]
    from llm_core.alignment.assistant import change
    from llm_core.alignment.readings import interval_words, reward_hacking, share

    found = reward_hacking(rl.before, rl.after)
    assert found is not None, (rl.before.preferred_share, rl.after.preferred_share, rl.before.accuracy, rl.after.accuracy)
    warning = next(w.value for w in at.warning if "Reward hacking" in w.value)
    assert f"{found.styled_wrong_before} to {found.styled_wrong_after} of {found.ordinary}" in warning
    assert "stronger KL leash (this run: 0;" in warning and "better reward model" in warning
    d, lo, hi = change(rl.before, rl.after, "accuracy")
    reveal = next(m.value for m in at.markdown if "With the leash at 0" in m.value)
    assert f"task accuracy went from {share(rl.before.accuracy)} to {share(rl.after.accuracy)}" in reveal and interval_words(d, lo, hi) in reveal
    assert ("**Right.**" in reveal) == (hi < 0)


def test_a_published_gpt_tokenizer_is_explained_not_a_traceback():
    at = assistant_page()
    from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
    from llm_core.model.config import model_preset
    from llm_core.text.tokenizers import TiktokenTokenizer
    from llm_core.training.loop import build_model

    tok = TiktokenTokenizer("r50k_base")
    model = build_model(model_preset("nano", tok.vocab_size))
    at.session_state[REGISTRY_KEY]["nano gpt2"] = ModelEntry("nano gpt2", model, tok, {}, "trained")
    at.session_state[CURRENT_KEY] = "nano gpt2"
    at.run()
    assert not at.exception
    assert any("cannot take the chat tokens" in w.value for w in at.warning)
    at.button(key="as_sft_start").click().run()
    assert not at.exception
    assert any("Fine-tuning cannot start" in w.value for w in at.warning)


def test_generate_prompts_a_fine_tuned_model_through_its_chat_format(char_tok):
    from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
    from llm_core.alignment.finetune import extend_vocabulary
    from llm_core.model.config import model_preset
    from llm_core.training.loop import build_model

    model, tok = extend_vocabulary(build_model(model_preset("nano", char_tok.vocab_size)), char_tok)
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state[REGISTRY_KEY]["nano chat"] = ModelEntry("nano chat", model, tok, {}, "fine-tuned")
    at.session_state[CURRENT_KEY] = "nano chat"
    at.switch_page("pages/generation.py").run()
    assert not at.exception, at.exception
    assert at.toggle(key="gen_prompt_chat").value is True
    at.text_area(key="gen_prompt").set_value("Upper: rose").run()
    at.toggle(key="gen_prompt_raw").set_value(True).run()
    assert "<|user|>Upper: rose<|end|><|assistant|>" in text_blocks(at)
    session = at.session_state["gen_session"]
    assert tok.decode(session.ids[: session.prompt_length]) == "<|user|>Upper: rose<|end|><|assistant|>"
