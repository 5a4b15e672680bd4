"""AppTest logic tests of the "Making an assistant" chapter: SFT, ranking, reward model, preference tuning.

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
    return poll_until(at, lambda a: "as_sft" in a.session_state)


def test_the_page_opens_on_the_bundled_model_and_shows_a_rendered_pair():
    at = assistant_page()
    html = "\n".join(m.value for m in at.markdown)
    assert "&lt;|assistant|&gt;" in html and "#bbf7d0" in html  # chat tokens shown, response tokens marked learned
    assert any("Fine-tune first" in i.value for i in at.info)
    assert not at.button(key="as_sft_start").disabled


@pytest.fixture(scope="module")
def tuned():
    """One page session taken through SFT, automatic ranking and the reward model (shared: each stage takes a while)."""
    at = assistant_page()
    fine_tune(at)
    yield at
    stop_jobs_of(at)


def test_fine_tuning_teaches_the_tasks_and_registers_the_model(tuned):
    at = tuned
    before, after = percent(metric(at, "Exact match, base model")), percent(metric(at, "Exact match, after SFT"))
    assert before < 0.1 and after >= before + 0.15, (before, after)
    name, stage, result = at.session_state["as_sft"]
    assert name in at.session_state["lab_models"] and result.record["steps"] == 300
    assert result.model.config.vocab_size > stage.base.config.vocab_size - 1  # digits and chat tokens added
    table = table_with(at, "after SFT")
    assert list(table.columns) == ["prompt", "right answer", "base model", "after SFT"]
    assert table["after SFT"].str.startswith("✓").mean() == pytest.approx(after, abs=0.006)  # the metric shows whole percents


def test_ranking_by_hand_and_automatically(tuned):
    at = tuned
    rated = len(at.session_state["as_ratings"])
    prompt_before = next(m.value for m in at.markdown if m.value.startswith("**Prompt:**"))
    at.button(key="as_rate_a").click().run()
    assert len(at.session_state["as_ratings"]) == rated + 1 and at.session_state["as_ratings"][-1].rated_by == "you"
    assert next(m.value for m in at.markdown if m.value.startswith("**Prompt:**")) != prompt_before or at.session_state["as_cursor"] > 0
    at.button(key="as_rate_auto").click().run()
    auto = [p for p in at.session_state["as_ratings"] if p.rated_by == "auto"]
    assert auto and all(p.chosen != p.rejected for p in auto)
    assert not at.exception


def test_reward_model_then_preference_tuning(tuned):
    at = tuned
    while len(at.session_state["as_ratings"]) < 24:
        at.button(key="as_rate_auto").click().run()
    at.button(key="as_rm_start").click().run()
    poll_until(at, lambda a: "as_rm" in a.session_state)
    accuracy = percent(metric(at, "Held-out pairs ranked like you"))
    assert accuracy >= 0.5  # the automatic rater's rule (the right answer wins) is learnable
    at.number_input(key="as_extra").set_value(20).run()
    at.button(key="as_pref_start").click().run()
    poll_until(at, lambda a: "as_pref" in a.session_state)
    pname, p_stage, p_res = at.session_state["as_pref"]
    assert pname in at.session_state["lab_models"]
    assert p_res.record["pairs_from_reward_model"] > 0 and p_res.record["kl_last"] is not None and p_res.record["kl_last"] >= 0
    samples = table_with(at, "sampled, preference-tuned")
    assert len(samples) == len(p_stage.probe) and samples["sampled, fine-tuned"].str.match("^[✓✗] ").all()
    headers = [h.value for h in at.header]
    assert "5 · Base → fine-tuned → preference-tuned" in headers
    compare = table_with(at, "preference-tuned")
    assert {"base", "SFT", "preference-tuned"} <= set(compare.columns)


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
