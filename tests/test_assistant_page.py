"""AppTest logic tests of the "Making an assistant" chapter: SFT, rankings, reward model, RLHF and DPO.

The stages run as background jobs; like the training page's tests, these rerun the page to poll.
The bundled tiny Shakespeare model is the base: fine-tuning it for a few hundred steps is what
the chapter shows, and it is fast enough for a test.
"""

from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT, metric, poll_until, stop_jobs_of
from streamlit.testing.v1 import AppTest

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


def fine_tune(at, steps=300):
    at.number_input(key="as_sft_steps").set_value(steps).run()
    at.button(key="as_sft_start").click().run()
    assert not at.exception, at.exception
    return poll_until(at, lambda a: "as_sft" in a.session_state, timeout=900)


def test_the_page_opens_on_the_bundled_model_and_shows_a_rendered_pair():
    at = assistant_page()
    html = "\n".join(m.value for m in at.markdown)
    assert "&lt;|assistant|&gt;" in html and "#bbf7d0" in html  # chat tokens shown, response tokens marked learned
    assert any("Fine-tune first" in i.value for i in at.info)
    assert not [w for w in at.warning if "Session State" in w.value]
    assert not at.button(key="as_sft_start").disabled


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
    assert table["sampled answer"].str.match("^[✓✗] ").all()


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


@pytest.mark.slow
def test_reward_model_then_rlhf_and_dpo_compared(tuned):
    at = tuned
    at.select_slider(key="as_auto_n").set_value(50).run()
    while len(at.session_state["as_ratings"]) < 40:
        at.button(key="as_rate_auto").click().run()
    at.button(key="as_rm_start").click().run()
    poll_until(at, lambda a: "as_rm" in a.session_state, timeout=900)
    rm = at.session_state["as_rm"]
    label = "Held-out pairs ranked as the instructions rank them"
    assert percent(metric(at, label)) == pytest.approx(rm.accuracy, abs=0.006)
    assert ("at chance" in next(m.delta for m in at.metric if m.label == label)) == rm.at_chance
    at.number_input(key="as_rl_steps").set_value(4).run()
    at.button(key="as_rl_start").click().run()
    poll_until(at, lambda a: "as_rlhf" in a.session_state, timeout=900)
    rl = at.session_state["as_rlhf"]
    assert rl.steps_done == 4 and rl.after.n == len(rl.held_out) and all("reward" in h and "kl" in h for h in rl.history)
    at.button(key="as_dpo_start").click().run()
    poll_until(at, lambda a: "as_dpo" in a.session_state, timeout=900)
    table = table_with(at, "preferred by the instructions")
    assert list(table["model"]) == ["SFT (start)", "RLHF", "DPO"]
    assert (table["samples"] == len(rl.held_out)).all()
    assert any("pass@" in c.value for c in at.caption)
    compare = table_with(at, "SFT")
    assert {"prompt", "SFT", "RLHF", "DPO"} <= set(compare.columns)


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
    assert any(c.value == "<|user|>Upper: rose<|end|><|assistant|>" for c in at.code)
    session = at.session_state["gen_session"]
    assert tok.decode(session.ids[: session.prompt_length]) == "<|user|>Upper: rose<|end|><|assistant|>"
