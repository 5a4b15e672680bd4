"""The Compare chapter (pages/compare.py): two models side by side, every difference sentence computed
from the two, the lineage timeline with a one-click comparison, and its address by content hash."""

import copy

import pytest
import torch
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from lab_ui.model_files import plain
from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
from llm_core.interpret import compare as cmp
from llm_core.model import lineage

APP = str(ROOT / "app.py")


@pytest.fixture
def at():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    return at


def add_child(at, name="Bundled · nudged", scale=0.05, seed=0):
    """A child of the bundled model (its weights nudged), with a lineage that names the bundled model as parent."""
    registry = at.session_state[REGISTRY_KEY]
    base = registry["Shakespeare (bundled)"]
    model = copy.deepcopy(base.model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen).to(p.device) * scale)
    meta = {"lineage": {**lineage.make(model, base.tokenizer, "SFT", parent=base.lineage, steps=7), "name": name}}
    registry[name] = ModelEntry(name, model, base.tokenizer, meta, "fine-tuned")
    at.session_state[CURRENT_KEY] = name
    return base, registry[name]


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_two_models_side_by_side_with_differences_computed_from_both(at):
    base, child = add_child(at)
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="cmp_pick_a").value == child.name and at.selectbox(key="cmp_pick_b").value == base.name  # its parent, by default
    assert at.query_params["cmp_a"] == child.hash and at.query_params["cmp_b"] == base.hash  # the address names models by content
    expected = cmp.next_token_sentence(cmp.compare_next_token(child.model, child.tokenizer, base.model, base.tokenizer, "ROMEO:\n"))
    assert plain(expected) in captions(at)  # shown literally (token texts are not Markdown)
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
    losses = cmp.compare_losses(child.model, child.tokenizer, base.model, base.tokenizer, text)
    assert plain(cmp.losses_sentence(losses)) in captions(at)
    samples = [cmp.sample_text(e.model, e.tokenizer, "ROMEO:\n", 80, 0.8, 0) for e in (child, base)]
    assert any(c.startswith(plain(cmp.samples_sentence(*samples))) for c in captions(at))
    assert any(c.startswith("Layer 1, head 1: The head's weights differ by") for c in captions(at))
    assert any("SFT" in m.value and "bundled" in m.value for m in at.markdown)  # each model's lineage timeline
    at.slider(key="cmp_head").set_value(3).run()
    assert any(c.startswith("Layer 1, head 3:") for c in captions(at))


def test_one_click_on_a_lineage_timeline_compares_a_model_with_an_ancestor(at):
    base, child = add_child(at)
    registry = at.session_state[REGISTRY_KEY]
    grandchild = copy.deepcopy(child.model)
    with torch.no_grad():
        grandchild.wte.weight.mul_(1.01)
    meta = {"lineage": {**lineage.make(grandchild, child.tokenizer, "RLHF", parent=child.lineage, steps=4), "name": "grandchild"}}
    registry["grandchild"] = ModelEntry("grandchild", grandchild, child.tokenizer, meta, "fine-tuned")
    at.session_state[CURRENT_KEY] = "grandchild"
    at.switch_page("pages/compare.py").run()
    assert at.selectbox(key="cmp_pick_b").value == child.name  # the parent first
    timeline = next(m.value for m in at.markdown if "→" in m.value and "grandchild" in m.value)
    assert timeline.index("bundled") < timeline.index("SFT") < timeline.index("RLHF")  # base → SFT → RLHF
    at.button(key=f"cmp_line_a_{base.hash[:12]}").click().run()  # "Compare with Shakespeare (bundled)": one click
    assert not at.exception
    assert at.selectbox(key="cmp_pick_a").value == "grandchild" and at.selectbox(key="cmp_pick_b").value == base.name
    assert at.query_params["cmp_b"] == base.hash


def test_models_of_different_shapes_are_compared_where_they_can_be(at, char_tok):
    from llm_core.model.config import model_preset
    from llm_core.training.loop import build_model

    registry = at.session_state[REGISTRY_KEY]
    registry["Nano chars"] = ModelEntry("Nano chars", build_model(model_preset("nano", char_tok.vocab_size), seed=0), char_tok, {}, "trained")
    at.session_state[CURRENT_KEY] = "Nano chars"
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("A has 2 layers x 2 heads and B 4 x 4" in i.value for i in at.info)
    assert any("Neither model was fine-tuned to answer requests" in i.value for i in at.info)
    assert any("bits per character" in c for c in captions(at))  # the loss lines up character by character


def test_a_chat_model_answers_in_its_chat_format(at):
    from llm_core.alignment.finetune import extend_vocabulary

    base = at.session_state[REGISTRY_KEY]["Shakespeare (bundled)"]
    model, tok = extend_vocabulary(base.model, base.tokenizer, ["Upper: gentle GENTLE"])
    at.session_state[REGISTRY_KEY]["chat"] = ModelEntry("chat", model.eval(), tok, {}, "fine-tuned")
    at.session_state[CURRENT_KEY] = "chat"
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="cmp_request").value == "Upper: gentle"
    assert any("not a chat model: it continues the request as text" in m.value for m in at.markdown)
    assert any(c.startswith("Greedy answers (temperature 0)") or c.startswith("Both give the same answer") for c in captions(at))
    assert any(c.startswith("Layer 1, head 1:") for c in captions(at))  # its tokenizer only adds tokens: the prompt splits the same way


def test_with_one_model_it_says_how_to_get_a_second(at):
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert any("You have one model so far" in i.value for i in at.info)


def test_the_change_chart_labels_points_as_the_table_does_and_never_minus_zero(at):
    """Each bar of "Change from A to B" is labelled with the table's one-decimal points: no "-0", no "+4" for 11% → 14%."""
    import json

    base, child = add_child(at, scale=0.002)  # a tiny nudge: most changes round to zero
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    change = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                  if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Change from A to B"))
    labels = change["data"][0]["text"]
    assert labels and not any(t in ("-0", "-0.0", "+0", "+0.0") for t in labels)
    for x, t in zip(change["data"][0]["x"], labels):
        assert t == ("0.0" if round(x, 1) == 0 else f"{round(x, 1):+.1f}")


def test_a_prompt_the_models_cannot_read_is_named_once(at):
    """Unseen characters: one warning (section 1), not one more per model in section 2; the samples wait."""
    add_child(at)
    at.switch_page("pages/compare.py").run()
    at.text_area(key="cmp_prompt").set_value("ROMEO: 🙂 你好").run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("The prompt cannot be read"), warnings
    assert any(c.startswith("The samples wait for a prompt both models can read") for c in captions(at))
