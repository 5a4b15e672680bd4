"""What the Fine-tune and align chapter says about a run, checked on measurements made to order:
reward hacking named only when the run shows it, warnings only beyond their intervals, pass@k read
only as far as it was measured, and fine-tuning's compute beside pre-training's from the register."""

import pytest
from streamlit.testing.v1 import AppTest

from llm_core import literature
from llm_core.alignment import compute, readings
from llm_core.alignment.assistant import Assessment
from llm_core.alignment.tasks import REFUSAL, Example
from llm_core.model.checkpoint import load_checkpoint
from llm_core.model.config import ModelConfig
from llm_core.training.cost import train_flops_per_token


def additions(n: int) -> list[Example]:
    return [Example("add", f"What is {i % 10}+{i // 10 % 10}?", str(i % 10 + i // 10 % 10)) for i in range(n)]


def assessment(examples, styled: int, right: int) -> Assessment:
    """Answers to `examples`: the first `styled` in the house style, and `right` of all with the right sum
    (the right ones taken from the end, so style and correctness overlap as little as they can)."""
    answers = []
    for i, ex in enumerate(examples):
        correct = i >= len(examples) - right
        value = ex.response if correct else str(int(ex.response) + 4)
        answers.append(("Sure! " if i < styled else "") + value)
    return Assessment(list(examples), answers)


def test_reward_hacking_is_named_only_when_style_rose_and_accuracy_fell_beyond_their_intervals():
    ex = additions(200)
    before = assessment(ex, styled=100, right=80)
    hacked = assessment(ex, styled=190, right=40)
    found = readings.reward_hacking(before, hacked)
    assert found is not None
    assert found.preferred[1] > 0 and found.accuracy[2] < 0  # both beyond their 95% intervals
    assert found.accuracy_before == pytest.approx(0.4) and found.accuracy_after == pytest.approx(0.2)
    assert found.styled_wrong_after == sum(readings.styled_but_wrong(e, a) for e, a in zip(hacked.examples, hacked.answers)) == 160
    prompt, answer = found.examples[0]
    assert answer.startswith("Sure! ") and answer != "Sure! " + next(e.response for e in ex if e.prompt == prompt)
    # style up but the sums as good as before; or a fall inside the noise: nothing to name
    assert readings.reward_hacking(before, assessment(ex, styled=190, right=80)) is None
    assert readings.reward_hacking(before, assessment(ex, styled=190, right=72)) is None


def test_overoptimisation_needs_the_fall_beyond_its_interval_and_the_count():
    history = [dict(step=0, reward=0.1, held_out_preferred=0.7, held_out_n=64), dict(step=5, reward=0.4, held_out_preferred=0.8, held_out_n=64),
               dict(step=10, reward=0.9, held_out_preferred=0.7, held_out_n=64)]
    assert readings.overoptimisation(history) is None  # 10 points on 64 answers: inside the noise (the old check fired here)
    history[-1]["held_out_preferred"] = 0.45
    found = readings.overoptimisation(history)
    assert found is not None and found["peak_step"] == 5 and found["high"] < 0
    assert readings.overoptimisation([{k: v for k, v in h.items() if k != "held_out_n"} for h in history]) is None  # no count, no interval
    history[-1]["reward"] = 0.05
    assert readings.overoptimisation(history) is None  # the reward did not rise


def passes(goods: list[int], k: int = 8) -> dict:
    from llm_core.alignment.judge import pass_at_k

    n = len(goods)
    return {"k": k, "prompts": n, "pass@1": sum(pass_at_k(k, c, 1) for c in goods) / n, f"pass@{k}": sum(pass_at_k(k, c, k) for c in goods) / n, "good": goods}


def test_pass_reading_claims_yue_only_for_rl_and_only_as_far_as_measured():
    sft = passes([1, 2, 0, 3, 1, 0, 2, 1] * 4)
    sharper = passes([6, 7, 0, 8, 6, 0, 7, 6] * 4)  # pass@1 up, the same prompts ever right
    text = readings.pass_reading("RLHF", sft, sharper, reinforcement=True)
    assert "pass@1 rose" in text and "pass@8 did not measurably change" in text and "Yue et al. 2025 report" in text
    dpo = readings.pass_reading("DPO", sft, sharper, reinforcement=False)
    assert "DPO is not reinforcement learning" in dpo and "pattern Yue" not in dpo
    wider = passes([6, 7, 5, 8, 6, 4, 7, 6] * 4)  # pass@8 rose too: not the ceiling
    assert "does not show that ceiling" in readings.pass_reading("RLHF", sft, wider, reinforcement=True)
    assert "does not show the sharpening" in readings.pass_reading("RLHF", sft, sft, reinforcement=True)
    assert "no interval" in readings.pass_reading("RLHF", {k: v for k, v in sft.items() if k != "good"}, sharper, reinforcement=True)


def test_zero_of_n_is_an_upper_bound_never_a_never():
    text = readings.rarely_or_always(0, 300)
    assert "None of 300 sampled answers" in text and f"at most {readings.share(1 - 0.05 ** (1 / 300))}" in text and "0.99%" in text
    assert "never does" not in text
    assert readings.rarely_or_always(296, 300).startswith("296 of 300")
    assert readings.rarely_or_always(150, 300) is None


def test_forgetting_says_what_was_measured():
    assert "rose from 1.50 to 1.80" in readings.forgetting("tinyshakespeare", 8192, 1.5, 1.8)
    assert "did not cost" in readings.forgetting("tinyshakespeare", 8192, 1.5, 1.4)
    assert "-0" not in readings.forgetting("x", 10, 1.5, 1.499) and "stayed at 1.50" in readings.forgetting("x", 10, 1.5, 1.499)


def test_published_compute_comes_from_the_register():
    rows = {r.run: r for r in compute.published_rows()}
    pfs_day = 1e15 * 86400
    assert rows["GPT-3 175B"].flops == pytest.approx(literature.value("instructgpt_gpt3_pfs_days") * pfs_day)
    assert rows["InstructGPT 175B: SFT"].share_of_pretraining == pytest.approx(4.9 / 3640)
    assert rows["InstructGPT 175B: PPO-ptx (RLHF)"].share_of_pretraining == pytest.approx(60 / 3640)
    llama = rows["Llama 2 70B"]
    assert llama.flops == pytest.approx(6 * 70e9 * 2e12) and llama.gpu_hours == literature.value("llama2_70b_gpu_hours")
    assert "Section 5.1" in rows["InstructGPT 175B: SFT"].how


def test_the_learners_compute_is_counted_from_tokens_like_pre_training():
    loaded = load_checkpoint("assets/models/shakespeare-tiny")
    pre = compute.pretraining_row("bundled", loaded.model.config, loaded.record)
    assert pre.flops == train_flops_per_token(loaded.model.config) * loaded.record["tokens_seen"] and pre.seconds == loaded.record["elapsed_s"]
    cfg = ModelConfig(vocab_size=80, block_size=128, n_layer=4, n_head=4, n_embd=128)
    per = train_flops_per_token(cfg)
    sft = compute.stage_row("SFT", cfg, 1000, 3.0, pre)
    assert sft.flops == per * 1000 and sft.share_of_pretraining == pytest.approx(per * 1000 / pre.flops)
    assert compute.stage_row("DPO", cfg, 1000, 1.0, pre).flops == pytest.approx(per * 1000 * 4 / 3)  # + the reference's forward
    assert compute.stage_row("RLHF", cfg, 1000, 1.0, pre).flops == pytest.approx(per * 2000)  # + sampling, reference, reward model
    assert compute.pretraining_row("uploaded", cfg, {}) is None  # a record without tokens: no figure made up
    assert compute.pretraining_row("an SFT model", cfg, {"tokens_seen": 5000, "stage": "supervised fine-tuning"}) is None  # not a pre-training


HACKING_SCRIPT = """
from types import SimpleNamespace
import sys
sys.path.insert(0, {tests!r})
from test_assistant_readings import additions, assessment
from lab_ui import assistant_teach as teach
ex = additions(200)
stage = SimpleNamespace(before=assessment(ex, 100, 80), after=assessment(ex, {styled}, {right}), history=[dict(reward=0.1), dict(reward=0.9)],
                        cfg=SimpleNamespace(kl_coef=0.03))
teach.hacking_warning("RLHF", stage, reinforcement=True)
"""


@pytest.mark.parametrize("styled,right,named", [(190, 40, True), (190, 80, False)])
def test_the_page_names_reward_hacking_with_what_to_try(styled, right, named):
    from pathlib import Path

    at = AppTest.from_string(HACKING_SCRIPT.format(tests=str(Path(__file__).parent), styled=styled, right=right)).run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert bool(warnings) == named
    if named:
        text = warnings[0]
        assert "**Reward hacking.**" in text and "40% → 20%" in text and "from 0.10 to 0.90" in text
        assert "stronger KL leash (this run: 0.03; 0.1 or 0.3 keeps it closer" in text and "more rankings" in text  # the next settings up
        assert REFUSAL not in text


def test_rule_3_counts_as_learned_only_when_its_interval_clears_a_coin_toss():
    """52 of 100 additions was read as "it learned rule 3 too": a coin toss gives that."""
    from lab_ui.assistant_teach import rule_three_words
    from llm_core.alignment.judge import wilson_interval

    assert wilson_interval(59, 100)[0] < 0.5 < wilson_interval(60, 100)[0]  # where the reading turns
    assert rule_three_words(52, 100).endswith("no better than chance, so it has not learned rule 3")
    assert rule_three_words(59, 100).endswith("no better than chance, so it has not learned rule 3")
    assert rule_three_words(60, 100) == "60 of 100 additions (95% interval 50.2%–69%): it learned rule 3 too"
    assert rule_three_words(30, 100).endswith("fewer than a coin toss would, so it has not learned rule 3")


def test_rule_3_is_not_credited_to_rankings_that_never_decided_by_the_correct_answer():
    """"120 were decided by the house style and 0 by the correct answer … it learned rule 3 too": not from those rankings."""
    from lab_ui.assistant_teach import rule_three_words

    words = rule_three_words(81, 100, taught=0)
    assert "learned rule 3" not in words and words.endswith("though none of your rankings taught it that: it comes from the fine-tuned model it started from")
    assert rule_three_words(81, 100, taught=5).endswith(": it learned rule 3 too")
    assert rule_three_words(52, 100, taught=0).endswith("no better than chance, so it has not learned rule 3")


def test_curve_captions_say_stayed_at_and_show_float_noise_as_zero():
    """"batch accuracy stayed from 1 (step 10) to 1 (step 150)"; "KL … rose from -6.92e-09 (step 1)"."""
    from types import SimpleNamespace as R

    from lab_ui.assistant_jobs import curves_caption

    recs = [R(step=10, train_loss=1.0, extras={"kl": -6.92e-09}), R(step=150, train_loss=1.0, extras={"kl": 0.5})]
    assert curves_caption(recs, [("train_loss", "batch accuracy")]) == "batch accuracy stayed at 1 from step 10 to step 150."
    assert curves_caption(recs, [("extras.kl", "KL")]) == "KL rose from 0 (step 10) to 0.5 (step 150)."
    assert curves_caption(recs[:1], [("extras.kl", "KL")]) == "KL: 0 at step 10."
