"""AppTest logic tests of the Attention chapter: the heatmap shows the current model's own trace numbers."""

import base64
import json

import numpy as np
import pytest
import torch
from conftest import ROOT, perturbed_model
from page_text import chart_tables
from streamlit.testing.v1 import AppTest

from lab_ui.attention_figures import LEVELS, MASKED_CODE, grid_colours
from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
from llm_core.interpret.inspect_model import (
    attention_between,
    describe_head,
    head_role,
    inspect_ids,
    word_positions,
)
from llm_core.interpret.walkthrough import DEFAULT_PROMPT  # the page's default: the Overview's line
from llm_core.model.config import model_preset

LONGER_PROMPT = "ROMEO: O, she doth teach the torches to burn bright!\nIt seems she hangs upon the cheek of night"  # 95 characters
EXAMPLE = "The animal didn't cross the road because it was too wide"


def plotly_array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or plotly 6+'s base64 typed array {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
        if value.get("shape"):
            array = array.reshape([int(d) for d in str(value["shape"]).split(",")])
        return array
    return np.array(value, dtype=np.float64)


def grid_pixels(source: str) -> np.ndarray:
    """(rows, columns, 3) uint8: the all-heads grid's image, decoded from its PNG data URI."""
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"))


def cells_inside(path: str, T: int) -> np.ndarray:
    """(T, T) bool: which heatmap cell centres (x=key, y=query) an SVG polygon path "M x,y L x,y ... Z" encloses."""
    points = [tuple(map(float, p.split(","))) for p in path.replace("M", "").replace("Z", "").split("L")]
    inside = np.zeros((T, T), dtype=bool)
    for q in range(T):
        for k in range(T):
            crossings = 0  # even-odd rule: count polygon edges a ray to the right of the centre crosses
            for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
                if (y1 > q) != (y2 > q) and k < x1 + (q - y1) * (x2 - x1) / (y2 - y1):
                    crossings += 1
            inside[q, k] = crossings % 2 == 1
    return inside


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def trace_named(at, name: str) -> dict:
    found = [t for spec in charts(at) for t in spec["data"] if t.get("name") == name]
    assert len(found) == 1, f"expected one trace named {name!r}, found {len(found)}"
    return found[0]


def heatmap(at) -> np.ndarray:
    return plotly_array(trace_named(at, "attention")["z"])


def head_title(at) -> str:
    return next(s["layout"]["title"]["text"] for s in charts(at) if any(t.get("name") == "attention" for t in s["data"]))


@pytest.fixture
def at():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    app.switch_page("pages/attention.py").run()
    assert not app.exception
    return app


def current_entry(at) -> ModelEntry:
    return at.session_state[REGISTRY_KEY][at.session_state[CURRENT_KEY]]


def set_prompt(at, text: str):
    at.text_area(key="attention_prompt").set_value(text).run()
    assert not at.exception
    return at


def expected_attention(entry, ids) -> np.ndarray:
    return entry.model.trace(torch.tensor(ids, device=entry.model.device)).attention.cpu().numpy()


def test_heatmap_numbers_are_the_trace_numbers_for_every_layer_and_head(at):
    entry = current_entry(at)
    ids = entry.tokenizer.encode(DEFAULT_PROMPT)
    expected = expected_attention(entry, ids)
    L, H, T, _ = expected.shape
    assert len(at.get("plotly_chart")) == 4  # head, grid, residual, contributions; the logit lens waits for a guess
    z = heatmap(at)
    assert z.shape == (T, T) and head_title(at).startswith("Layer 1, head 1")
    for layer, head in [(0, 0), (2, 1), (L - 1, H - 1)]:
        at.radio(key="attention_layer").set_value(layer).run()
        at.radio(key="attention_head").set_value(head).run()
        assert not at.exception
        z = heatmap(at)
        np.testing.assert_allclose(z.sum(1), np.ones(T), atol=1e-5)  # each row is a distribution
        assert np.all(np.triu(z, 1) == 0)  # the causal mask: nothing above the diagonal
        assert np.array_equal(z, expected[layer, head])  # exactly the trace path's weights
        assert head_title(at).startswith(f"Layer {layer + 1}, head {head + 1}")
    # The grey causal mask covers exactly the cells above the diagonal.
    spec = next(s for s in charts(at) if any(t.get("name") == "attention" for t in s["data"]))
    mask = next(shape for shape in spec["layout"]["shapes"] if shape.get("name") == "causal mask")
    assert np.array_equal(cells_inside(mask["path"], T), np.triu(np.ones((T, T), dtype=bool), 1))


def test_changing_layer_or_head_changes_the_heatmap_and_its_words(at):
    first = heatmap(at)
    words_before = [m.value for m in at.markdown if m.value.startswith("Layer 1, head 1 ")]
    at.radio(key="attention_head").set_value(2).run()
    assert not np.array_equal(heatmap(at), first)
    entry = current_entry(at)
    view = inspect_ids(entry.model, entry.tokenizer, entry.tokenizer.encode(DEFAULT_PROMPT))
    # The sentence beside the heatmap is the measured description of that head.
    assert describe_head(view.head(0, 2), "character") in [m.value for m in at.markdown]
    assert words_before and words_before[0] == describe_head(view.head(0, 0), "character")


def test_grid_shows_every_head_and_outlines_the_chosen_one(at):
    at.radio(key="attention_layer").set_value(2).run()
    at.radio(key="attention_head").set_value(3).run()
    spec = next(s for s in charts(at) if any(t.get("name") == "all heads" for t in s["data"]))
    pixels = grid_pixels(spec["data"][0]["source"])
    entry = current_entry(at)
    expected = expected_attention(entry, entry.tokenizer.encode(DEFAULT_PROMPT))
    T = expected.shape[-1]
    step = round((pixels.shape[0] + round(0.35 * T)) / 4)  # 4 layers: tile + gap
    tile = pixels[2 * step : 2 * step + T, 3 * step : 3 * step + T].astype(int)
    below = np.tril(np.ones((T, T), dtype=bool))
    # One pixel per cell, in the colour of its weight: read back through the colour scale, the weight to
    # within 1/250 (a level, or its neighbour where two levels share a colour).
    scale = grid_colours()[: LEVELS + 1].astype(int)
    levels = np.abs(tile[below][:, None, :] - scale[None, :, :]).sum(-1).argmin(-1)
    assert np.abs(levels / LEVELS - expected[2, 3][below]).max() <= 1.5 / LEVELS + 1e-6
    assert np.all(tile[~below] == grid_colours()[MASKED_CODE])  # the causal mask, grey
    rect = next(shape for shape in spec["layout"]["shapes"] if shape.get("name") == "chosen head")
    assert rect["x0"] < 3 * step < rect["x1"] and rect["y0"] < 2 * step < rect["y1"]
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert len(titles) == 16 and titles[0].startswith("<b>L1 H1</b>")
    # The chart's caption counts the heads' labels, and its table holds every head's measurements.
    view = inspect_ids(entry.model, entry.tokenizer, entry.tokenizer.encode(DEFAULT_PROMPT))
    roles = [head_role(s, "character") for s in view.heads]
    caption = next(c.value for c in at.caption if c.value.startswith("Layers down, heads across"))
    assert "outlined tile is layer 3, head 4" in caption and f"{roles[0]} {roles.count(roles[0])}" in caption
    table = next(t for t in chart_tables(at) if "looks mostly at" in t.columns)
    assert len(table) == 16 and table["looks mostly at"].tolist() == roles


def test_a_different_current_model_is_what_the_page_shows(at, char_tok):
    nano = perturbed_model(model_preset("nano", char_tok.vocab_size, n_layer=3, n_head=2), seed=5, scale=0.4)
    registry = at.session_state[REGISTRY_KEY]
    registry["Nano (test)"] = ModelEntry("Nano (test)", nano, char_tok, {}, "trained")
    at.session_state[CURRENT_KEY] = "Nano (test)"
    set_prompt(at, LONGER_PROMPT)  # longer than nano's context
    intro = next(m.value for m in at.markdown if "Nano (test)" in m.value)
    assert "3 layers × 2 heads" in intro
    assert [len(r.options) for r in at.radio if r.key and r.key.startswith("attention_")][:2] == [3, 2]
    ids = char_tok.encode(LONGER_PROMPT)[-nano.config.block_size:]  # nano reads 64 characters
    assert any("longer than this model's context of 64" in i.value for i in at.info)
    at.radio(key="attention_layer").set_value(2).run()
    at.radio(key="attention_head").set_value(1).run()
    assert np.array_equal(heatmap(at), nano.trace(torch.tensor(ids)).attention[2, 1].numpy())
    view = inspect_ids(nano, char_tok, char_tok.encode(LONGER_PROMPT))
    assert describe_head(view.head(2, 1), "character") in [m.value for m in at.markdown]

    # Trained further in place (same entry, same name): the page must not serve the old trace.
    with torch.no_grad():
        for p in nano.parameters():
            p.mul_(1.5)
    at.run()
    assert np.array_equal(heatmap(at), nano.trace(torch.tensor(ids)).attention[2, 1].numpy())


def test_long_prompt_shows_a_window_the_user_can_move(at):
    entry = current_entry(at)
    text = "To be, or not to be, that is the question. " * 8
    ids = entry.tokenizer.encode(text)
    block = entry.config.block_size
    set_prompt(at, text)
    assert any("longer than this model's context" in i.value for i in at.info)
    window = at.slider(key=f"attention_window::{len(ids)}::{block}")
    assert window.value == len(ids) - block
    assert np.array_equal(heatmap(at), expected_attention(entry, ids[-block:])[0, 0])
    window.set_value(0).run()
    assert not at.exception
    assert np.array_equal(heatmap(at), expected_attention(entry, ids[:block])[0, 0])
    assert any("reads characters 0–127" in c.value for c in at.caption)


def test_hostile_prompts(at):
    set_prompt(at, "")
    assert any("Type a prompt" in i.value for i in at.info) and not at.get("plotly_chart")

    set_prompt(at, "a")
    assert heatmap(at).tolist() == [[1.0]]
    assert any("can only look at itself" in i.value for i in at.info)
    assert any("too short" in m.value for m in at.markdown)

    entry = current_entry(at)
    set_prompt(at, "日本語 🙂 \x07 hello")
    assert any("never seen these 5 characters" in w.value and "(s)" not in w.value for w in at.warning) and not at.get("plotly_chart")
    at.checkbox(key="attention_drop_unknown").check().run()
    assert not at.exception
    kept = entry.tokenizer.encode("日本語 🙂 \x07 hello", errors="skip")
    assert entry.tokenizer.decode(kept) == "   hello"
    assert np.array_equal(heatmap(at), expected_attention(entry, kept)[0, 0])

    set_prompt(at, "日本語")
    assert any("Nothing is left to read" in i.value for i in at.info) and not at.get("plotly_chart")


ANSWERS = {"attention_it": "Averaged over all", "attention_lens": "is first the top guess"}  # a phrase of each answer


def lock(at, key: str, guess):
    """Make a "Predict, then see" guess and lock it in; the verdict line ("Right." or "Not this time." and the answer)."""
    at.radio(key=f"predict_{key}_guess").set_value(guess).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception
    return next(m.value for m in at.markdown if ("**Right.**" in m.value or "**Not this time.**" in m.value) and ANSWERS[key] in m.value)


def test_where_it_looks_is_predicted_then_measured_on_the_current_model(at):
    assert not any(c.value.startswith("Head by head on the example") for c in at.caption)  # nothing shown before the guess
    entry = current_entry(at)
    ids = entry.tokenizer.encode(EXAMPLE)
    attention = expected_attention(entry, ids)
    it = word_positions(entry.tokenizer, ids, "it")[-1]
    on_animal = attention_between(attention, it, word_positions(entry.tokenizer, ids, "animal")[-1])
    on_road = attention_between(attention, it, word_positions(entry.tokenizer, ids, "road")[-1])
    nearby = attention_between(attention, it, list(range(it[0] - 3, it[-1] + 1)))
    averages = {"animal": on_animal.mean(), "road": on_road.mean(), "nearby": nearby.mean()}
    wrong = next(k for k in averages if k != max(averages, key=averages.get))
    verdict = lock(at, "attention_it", wrong)
    assert "**Not this time.**" in verdict
    assert f"**{on_animal.mean():.1%}** on “animal” and **{on_road.mean():.1%}** on “road”" in verdict
    assert f"**{nearby.mean():.0%}** of their weight on themselves" in verdict
    layer, head = np.unravel_index(int(on_road.argmax()), on_road.shape)
    caption = next(c.value for c in at.caption if c.value.startswith("Head by head on the example"))
    assert f"“road” is layer {layer + 1}, head {head + 1} ({on_road[layer, head]:.0%})" in caption
    bars = trace_named(at, "on “road”")
    assert np.allclose(plotly_array(bars["y"]), on_road.ravel(), atol=1e-6)
    at.button(key="predict_attention_it_again").click().run()
    assert "**Right.**" in lock(at, "attention_it", max(averages, key=averages.get))


def test_the_example_button_waits_for_the_it_guess(at):
    """"Try the example sentence" loaded the "it" question's sentence into the head explorer, whose heads and token view
    show where "it" looks: the button waits until that guess is locked, and says why."""
    button = at.button(key="attention_example")
    assert button.disabled
    assert any("lock in your guess there first" in c.value and "What does “it” look at?" in c.value for c in at.caption)
    lock(at, "attention_it", "road")
    button = at.button(key="attention_example")
    assert not button.disabled and not any("lock in your guess there first" in c.value for c in at.caption)
    button.click().run()
    assert not at.exception and at.text_area(key="attention_prompt").value == EXAMPLE
    assert heatmap(at).shape[0] == len(current_entry(at).tokenizer.encode(EXAMPLE))
    at.button(key="predict_attention_it_again").click().run()  # guessing again: the button waits again
    assert at.button(key="attention_example").disabled


def test_the_logit_lens_words_are_plain_and_the_last_row_is_named_with_its_chart(at):
    """"Final norm" read as "final length" (the section before calls a vector's length its norm); "the last row" was
    named while the chart it belongs to was still hidden behind the guess."""
    from page_text import page_text

    last_row = "is the model's real prediction"
    text = page_text(at)
    assert "final norm" not in text and "The model ends with a rescaling of the vector and then the output layer." in text
    assert last_row not in text  # the chart waits for the guess, and so does the sentence about its rows
    lock(at, "attention_lens", 0)
    L = current_entry(at).config.n_layer
    words = next(m.value for m in at.markdown if last_row in m.value)
    assert f"The last row, after block {L} (the output)" in words
    assert f"after block {L} (output)" == trace_named(at, "logit lens")["y"][-1]  # the chart's last row is that stage


def test_the_logit_lens_is_predicted_then_shown(at):
    entry = current_entry(at)
    ids = entry.tokenizer.encode(DEFAULT_PROMPT)
    trace = entry.model.trace(torch.tensor(ids))
    probs = torch.softmax(trace.lens_logits[:, -1], -1)  # (L+1, V): each stage's read-out after the last character
    final = int(probs[-1].argmax())
    first = int(next(i for i in range(probs.shape[0]) if int(probs[i].argmax()) == final))
    assert not any(getattr(e, "key", None) == "attention_lens" for e in at.get("plotly_chart"))
    verdict = lock(at, "attention_lens", first)
    assert "**Right.**" in verdict and ", ".join(f"{p:.0%}" for p in probs[:, final].tolist()) in verdict
    lens = trace_named(at, "logit lens")
    assert np.allclose(plotly_array(lens["z"]), probs_top(trace)[:, -40:], atol=1e-6)  # the last 40 positions: each stage's top-guess probability
    assert len(at.get("plotly_chart")) == 5


def probs_top(trace) -> np.ndarray:
    return torch.softmax(trace.lens_logits, -1).max(-1).values.cpu().numpy()


def test_token_view_follows_the_chosen_token_and_head(at):
    entry = current_entry(at)
    ids = entry.tokenizer.encode(DEFAULT_PROMPT)
    attention = expected_attention(entry, ids)
    at.radio(key="attention_layer").set_value(1).run()
    at.select_slider(key="attention_query").set_value(20).run()
    strip = next(h.proto.body for h in at.get("html") if 'attention-strip' in h.proto.body)
    shown = [float(w) for w in strip.split('data-weight="')[1:] for w in [w.split('"')[0]]]
    assert np.allclose(shown, attention[1, 0, 20, :21], atol=1e-6)  # 21 visible tokens, later ones greyed
    assert strip.count('class="tok future"') == len(ids) - 21
    at.radio(key="attention_token_mode").set_value(True).run()
    strip = next(h.proto.body for h in at.get("html") if 'attention-strip' in h.proto.body)
    shown = [float(w.split('"')[0]) for w in strip.split('data-weight="')[1:]]
    assert np.allclose(shown, attention[1, :, 20, :21].mean(0), atol=1e-6)


def test_an_untrained_model_reveals_both_predictions_without_nan_or_inf(at, char_tok):
    """Untrained: every score ties, so every head spreads evenly and the lens guesses the same token at every stage."""
    import re

    from page_text import page_text

    from llm_core.training.loop import build_model

    model = build_model(model_preset("nano", char_tok.vocab_size), seed=0)
    at.session_state[REGISTRY_KEY]["Untrained (test)"] = ModelEntry("Untrained (test)", model, char_tok, {}, "trained")
    at.session_state[CURRENT_KEY] = "Untrained (test)"
    at.run()
    lock(at, "attention_it", "nearby")
    verdict = lock(at, "attention_lens", 0)
    assert "**Right.**" in verdict and "the embeddings alone" in verdict  # all stages tie on the same first token
    text = page_text(at)
    bad = re.search(r"\bnan\b|\binf\b|-0\.0+\b|-0%", text, re.IGNORECASE)
    assert not bad, text[max(0, bad.start() - 200) : bad.end() + 50]


@pytest.mark.parametrize("key", ["attention_query", "attention_residual_token"])
def test_a_position_on_the_last_token_follows_a_longer_prompt_and_a_chosen_one_stays(at, key):
    T = len(current_entry(at).tokenizer.encode(DEFAULT_PROMPT))
    assert at.select_slider(key=key).value == T - 1
    set_prompt(at, LONGER_PROMPT)  # longer: it moves to the new last token (the query: nothing shown as unseen)
    assert at.select_slider(key=key).value == len(LONGER_PROMPT) - 1
    at.select_slider(key=key).set_value(10).run()
    set_prompt(at, DEFAULT_PROMPT)  # a position the learner chose stays where it is
    assert at.select_slider(key=key).value == 10
