"""AppTest logic tests of the Generation chapter (pages/generation.py), without a browser."""

import dataclasses
import doctest
import html
import json
import re

import pytest
import torch
from conftest import ROOT, perturbed_model
from gen_helpers import bpe_model, count_model_calls, open_generation, register

import lab_ui.generation_view as gv
import lab_ui.prob_text as prob_text
from lab_ui.state import bundled
from llm_core.generation.sample import Shaping, generate
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import CharTokenizer, visible_whitespace


def status(at) -> tuple[int, int]:
    """(new tokens, model runs) from the status line."""
    line = next(m.value for m in at.markdown if "new tokens" in m.value)
    numbers = re.findall(r"\*\*(\d+)\*\*", line)
    return int(numbers[0]), int(numbers[1])


def chart(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def session(at):
    return at.session_state["gen_session"]


def text_html(at) -> str:
    return next(h.proto.body for h in at.get("html") if 'class="gen-text"' in h.proto.body)


def top_k_slider(at):
    return next(s for s in at.slider if s.key == "gen_top_k")


def step(at, times: int = 1):
    for _ in range(times):
        at.button(key="gen_step").click().run()
    return at


def lock_temperature_guess(app):
    """Lock a guess in the temperature prediction: from then on the chart shows the shaped bars."""
    app.radio(key="predict_generation_temperature_guess").set_value("up").run()
    app.button(key="predict_generation_temperature_lock").click().run()
    return app


@pytest.fixture
def at():
    return lock_temperature_guess(open_generation(ROOT))


@pytest.fixture
def nano_at(char_tok):
    """The page with a small character model as the current model, its runs counted."""
    app = open_generation(ROOT)
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=1, scale=0.3)
    register(app, "nano chars", model, char_tok)
    lock_temperature_guess(app)
    app.calls = count_model_calls(model)
    app.model = model
    return app


def test_page_renders_the_first_distribution(at):
    assert not at.exception
    assert status(at) == (0, 1)  # the model has looked at the prompt once
    spec = chart(at)
    assert spec["layout"]["title"]["text"].startswith("Step 1: the next token")
    assert len(spec["data"]) == 4 and len(spec["data"][0]["y"]) >= 20
    assert sum(spec["data"][1]["y"]) <= 1.0001
    assert [at.button(key=k).label for k in ("gen_step", "gen_play", "gen_reset")] == ["Step", "Play", "Reset"]
    # Its own defaults fit the context: no note about outgrowing it on opening.
    assert not any("context" in i.value for i in at.info) and not at.warning


def test_step_adds_exactly_one_token(at):
    step(at)
    assert not at.exception and status(at) == (1, 2)
    assert len(session(at).history) == 1 and session(at).ids[-1] == session(at).history[0].token_id
    assert text_html(at).count(" gt") == 1 and chart(at)["layout"]["title"]["text"].startswith("Step 2")
    step(at, 3)
    assert status(at) == (4, 5) and text_html(at).count(" gt") == 4


def test_a_step_click_delivered_twice_adds_one_token(nano_at):
    step(nano_at)
    nano_at.session_state["gen_action"] = ("step", 0)  # the same click again: it was drawn at 0 tokens
    nano_at.run()
    assert status(nano_at)[0] == 1
    step(nano_at)
    assert status(nano_at)[0] == 2


def test_the_previewed_token_is_the_one_step_appends(at):
    title = chart(at)["layout"]["title"]["text"]
    promised = re.search(r"Step will pick '(.*)'", title).group(1)
    step(at)
    assert session(at).history[0].token_id == session(at).ids[-1]
    assert visible_whitespace(bundled().tokenizer.token_text(session(at).ids[-1])) == promised


def test_sliders_reshape_the_chart_without_running_the_model(nano_at):
    step(nano_at, 3)
    runs_before, calls_before = status(nano_at)[1], nano_at.calls["n"]
    before = chart(nano_at)
    nano_at.slider(key="gen_temperature").set_value(1.6).run()
    hot = chart(nano_at)
    assert hot["data"][1]["y"] != before["data"][1]["y"]  # shaped bars changed
    assert hot["data"][0]["y"] == before["data"][0]["y"]  # raw bars did not
    top_k_slider(nano_at).set_value(3).run()
    cut = chart(nano_at)
    assert sum(1 for y in cut["data"][1]["y"] if y > 0) <= 3
    nano_at.slider(key="gen_top_p").set_value(0.5).run()
    nano_at.slider(key="gen_temperature").set_value(0.0).run()
    greedy = chart(nano_at)
    assert sorted(greedy["data"][1]["y"])[-1] == 1.0 and sum(greedy["data"][1]["y"]) == 1.0
    assert nano_at.calls["n"] == calls_before and status(nano_at)[1] == runs_before  # no model call at all
    assert not nano_at.exception
    step(nano_at)
    assert nano_at.calls["n"] == calls_before + 1  # a step runs it exactly once


def test_same_seed_same_text_other_seed_other_text(at):
    step(at, 12)
    first = list(session(at).generated)
    at.button(key="gen_reset").click().run()
    assert status(at)[0] == 0
    step(at, 12)
    assert session(at).generated == first
    at.number_input(key="gen_seed").set_value(1).run()
    step(at, 12)
    assert session(at).generated != first
    # ...and it is the text generate() makes with the same seed and settings.
    expected = [s.token_id for s in generate(session(at).model, session(at).ids[: session(at).prompt_length], 12, 0.8, None, 0.9, seed=1)]
    assert session(at).generated == expected


def test_play_adds_tokens_on_each_tick_and_pause_stops(nano_at):
    nano_at.button(key="gen_play").click().run()
    assert nano_at.session_state["gen_playing"] and status(nano_at)[0] == 1
    assert nano_at.button(key="gen_play").label == "Pause" and nano_at.button(key="gen_step").disabled
    for _ in range(4):  # AppTest does not fire run_every by itself: each run is one tick
        nano_at.run()
    assert status(nano_at)[0] == 5
    nano_at.button(key="gen_play").click().run()
    assert not nano_at.session_state["gen_playing"]
    nano_at.run()
    nano_at.run()
    assert status(nano_at)[0] == 5 and not nano_at.exception


def test_play_stops_by_itself_at_the_max_length(nano_at):
    nano_at.number_input(key="gen_max_new").set_value(3).run()
    nano_at.button(key="gen_play").click().run()
    for _ in range(5):
        nano_at.run()
    assert status(nano_at)[0] == 3 and not nano_at.session_state["gen_playing"]
    assert "reached the max length" in next(m.value for m in nano_at.markdown if "new tokens" in m.value)
    assert nano_at.button(key="gen_step").disabled and not nano_at.exception


def test_past_steps_show_their_own_distribution(nano_at, char_tok):
    step(nano_at, 4)
    nano_at.slider(key="gen_temperature").set_value(1.5).run()
    slider = next(s for s in nano_at.slider if s.key.startswith("gen_show_"))
    slider.set_value(2).run()
    spec = chart(nano_at)
    past = session(nano_at).history[1]
    assert spec["layout"]["title"]["text"].startswith("Step 2: picked") and "temperature 0.8" in spec["layout"]["title"]["text"]
    picked = spec["data"][3]
    assert picked["name"] == "picked" and picked["customdata"][0][0] == html.escape(visible_whitespace(char_tok.token_text(past.token_id)))
    # Re-shaped with the temperature it was sampled at (0.8), not the slider's 1.5.
    assert spec["data"][1]["y"][0] == pytest.approx(max(c.prob for c in past.candidates), abs=1e-6)
    assert ' gs"' in text_html(nano_at) or " gs " in text_html(nano_at)  # its token is outlined in the text


def test_switching_the_kv_cache_off_keeps_the_text(nano_at):
    step(nano_at, 5)
    nano_at.toggle(key="gen_use_cache").set_value(False).run()
    assert not session(nano_at).use_cache
    step(nano_at, 5)
    s = session(nano_at)
    expected = [x.token_id for x in generate(nano_at.model, s.ids[: s.prompt_length], 10, 0.8, None, 0.9, seed=0)]
    assert s.generated == expected


def test_kv_cache_measurement_and_greedy_comparison(nano_at):
    step(nano_at, 3)
    nano_at.button(key="gen_measure").click().run()
    labels = [m.label for m in nano_at.metric]
    assert "With the cache" in labels and "Without the cache" in labels
    nano_at.number_input(key="gen_max_new").set_value(120).run()
    assert not any(h.value == "Greedy (temperature 0)" for h in nano_at.subheader)  # the comparison waits for the guess
    nano_at.radio(key="predict_generation_greedy_loop_guess").set_value("yes").run()
    nano_at.button(key="predict_generation_greedy_loop_lock").click().run()
    nano_at.button(key="gen_compare_btn").click().run()
    heads = [h.value for h in nano_at.subheader]
    assert "Greedy (temperature 0)" in heads and any(h.startswith("Sampled (temperature 0.8") for h in heads)
    assert any("Distinct 4-token sequences" in c.value for c in nano_at.caption)
    assert not nano_at.exception


def test_the_legend_shows_each_series_as_drawn_when_the_favourite_is_picked(nano_at):
    """Plotly's legend takes a series' swatch from its first bar: the picked bar is a series of its own, drawn over its
    bar, so the raw and shaped swatches stay as drawn even when rank 1 (the first bar) is picked (greedy)."""
    nano_at.slider(key="gen_temperature").set_value(0.0).run()
    raw, shaped, total, picked = chart(nano_at)["data"]
    assert [t["name"] for t in (raw, shaped, picked)] == ["raw (temperature 1)", "shaped (sampled from)", "picked"]
    assert "line" not in raw["marker"] and "pattern" not in raw["marker"] and raw["marker"]["color"][0] == gv.palette.SKY
    assert shaped["marker"] == {"color": gv.palette.BLUE}  # one style for every shaped bar
    assert picked["x"] == [0] and picked["y"] == [shaped["y"][0]] and picked["offsetgroup"] == shaped["offsetgroup"]
    assert picked["marker"]["color"] == gv.CHOSEN and picked["marker"]["pattern"]["shape"] == "x"
    assert [t["legendrank"] for t in (raw, shaped, picked, total)] == [1, 2, 3, 4]


def test_the_chart_leaves_room_for_its_labels(nano_at):
    """A character model's one-character labels stay upright (plotly turned them on their side on a phone, into each
    other); "picked" sits above every bar; "top-p" sits where the running total's dots are not; no slider is mentioned
    before there is one."""
    layout = chart(nano_at)["layout"]
    assert layout["xaxis"]["tickangle"] == 0
    picked = next(a for a in layout["annotations"] if a["text"] == "picked")
    tallest = max(max(t["y"]) for t in chart(nano_at)["data"] if t["type"] == "bar")
    assert picked["ayref"] == "y" and picked["ay"] > tallest and picked["axref"] == "x" and picked["ax"] == picked["x"]
    top_p = next(a for a in layout["annotations"] if a["text"].startswith("top-p"))
    last_total = chart(nano_at)["data"][2]["y"][-1]
    assert top_p["yanchor"] == ("top" if last_total >= 0.9 else "bottom")
    assert not any("slider" in c.value for c in nano_at.caption if c.value.startswith("Colour:"))
    step(nano_at)
    assert any("pick a step with the slider below" in c.value for c in nano_at.caption if c.value.startswith("Colour:"))


def test_the_temperature_answer_waits_for_the_guess():
    """Before the temperature prediction is locked, nothing on screen shows what temperature does to the favourite."""
    app = open_generation(ROOT)
    spec = chart(app)
    assert [t["name"] for t in spec["data"]] == ["raw (temperature 1)", "picked"]
    assert "yaxis2" not in spec["layout"] and not any(a["text"].startswith("top-p") for a in spec["layout"]["annotations"])
    seen = " ".join([m.value for m in app.markdown] + [c.value for c in app.caption])
    assert "after temperature" not in seen and "(shaped)" not in seen and "sharpens" not in seen
    assert "sharpens" not in (app.slider(key="gen_temperature").help or "")
    assert "Entropy, shaped" not in [m.label for m in app.metric]
    lock_temperature_guess(app)
    assert len(chart(app)["data"]) == 4 and "sharpens" in app.slider(key="gen_temperature").help
    assert any("after temperature 0.8" in c.value for c in app.caption)


def test_greedy_settings_are_compared_with_temperature_1(nano_at):
    nano_at.slider(key="gen_temperature").set_value(0.0).run()
    nano_at.radio(key="predict_generation_greedy_loop_guess").set_value("yes").run()
    nano_at.button(key="predict_generation_greedy_loop_lock").click().run()
    heads = [h.value for h in nano_at.subheader]
    assert "Greedy (temperature 0)" in heads and any(h.startswith("Sampled (temperature 1, top-k off, top-p 0.9") for h in heads)
    assert not any(h.startswith("Sampled (temperature 0") for h in heads)
    assert any("Your settings are greedy (temperature 0)" in m.value for m in nano_at.markdown)
    greedy, sampled = nano_at.session_state["gen_compare"][1].values()
    assert greedy != sampled and not nano_at.exception


def test_a_repeated_stretch_shows_its_line_breaks_as_in_the_chips(char_tok):
    ids = char_tok.encode("the sea, and the sea,\nAnd the sea, and the sea,\nAnd the sea, and the sea,\nAnd")
    words, repeated = gv.loop_words(ids, char_tok, "character")
    assert repeated and "↵" in words and "\\n" not in words


def test_the_stepped_text_is_kept_across_a_reload(nano_at):
    """A reload is a new session on the same desk: the text stepped so far comes back, token for token."""
    from streamlit.testing.v1 import AppTest

    from lab_ui.state import CURRENT_KEY, DESK_KEY, REGISTRY_KEY

    step(nano_at, 5)
    before = list(session(nano_at).ids)
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    again.session_state[DESK_KEY] = nano_at.session_state[DESK_KEY]  # what the desk cookie gives a reloaded tab
    again.run()
    assert "nano chars" in again.session_state[REGISTRY_KEY]  # the desk's models, found again
    again.session_state[CURRENT_KEY] = "nano chars"
    again.switch_page("pages/generation.py").run()
    assert not again.exception
    assert list(session(again).ids) == before and status(again)[0] == 5
    assert any("5 kept from before" in m.value for m in again.markdown)
    again.button(key="gen_reset").click().run()
    assert status(again)[0] == 0


# --- hostile input ---


def test_empty_prompt_starts_from_a_newline(at):
    at.text_area(key="gen_prompt").set_value("").run()
    assert any("starts from a newline" in i.value for i in at.info)
    step(at, 3)
    assert status(at)[0] == 3 and not at.exception
    assert session(at).ids[: session(at).prompt_length] == bundled().tokenizer.encode("\n")


def test_empty_prompt_without_a_newline_in_the_vocabulary_is_explained():
    at = open_generation(ROOT)
    tok = CharTokenizer.from_text("abc d")
    register(at, "no newline", perturbed_model(model_preset("nano", tok.vocab_size)), tok)
    at.text_area(key="gen_prompt").set_value("").run()
    assert any("no newline" in w.value for w in at.warning) and not at.exception
    assert at.button(key="gen_step").disabled and not at.get("plotly_chart")


def test_unseen_characters_are_explained_and_can_be_dropped(at):
    at.text_area(key="gen_prompt").set_value("ROMEO: ☃ café\n").run()
    assert any("never seen" in w.value for w in at.warning) and not at.exception
    assert at.button(key="gen_step").disabled
    at.button(key="gen_drop").click().run()
    assert at.text_area(key="gen_prompt").value == "ROMEO:  caf\n"
    assert not at.warning and status(at) == (0, 1)


def test_max_length_beyond_the_context_slides_the_window(nano_at):
    nano_at.number_input(key="gen_max_new").set_value(500).run()
    assert any("window slides forward by half a context (32 tokens)" in i.value for i in nano_at.info)
    nano_at.text_area(key="gen_prompt").set_value("To be, or not to be, that is the question. " * 3).run()
    assert any("The prompt alone is" in i.value for i in nano_at.info)
    step(nano_at, 2)
    s = session(nano_at)
    assert s.history[-1].context_start > 0 and s.history[-1].context_length <= 64
    assert ' gf"' in text_html(nano_at)  # tokens outside the window are faded
    assert not nano_at.exception


def test_huge_and_strange_settings_do_not_break_the_page(nano_at):
    nano_at.text_area(key="gen_prompt").set_value("<script>alert(1)</script>").run()
    assert any("never seen" in w.value for w in nano_at.warning) and not nano_at.exception
    nano_at.text_area(key="gen_prompt").set_value("$3 & 3$ -- 'A'!\n\n\n- list; &amp; ?\n" * 40).run()
    assert not nano_at.exception
    assert "\n" not in text_html(nano_at) and "&amp;amp;" in text_html(nano_at)
    nano_at.slider(key="gen_temperature").set_value(2.0).run()
    step(nano_at, 3)
    nano_at.slider(key="gen_top_p").set_value(0.05).run()
    step(nano_at, 2)
    assert status(nano_at)[0] == 5 and not nano_at.exception


# --- every tokenizer ---


@pytest.mark.slow  # trains a small BPE first: about 20 s here under load
def test_a_bpe_model_works_and_shows_partial_bytes(shakespeare):
    at = open_generation(ROOT)
    tokenizer, model = bpe_model(shakespeare)
    register(at, "tiny BPE", model, tokenizer)
    prompt = "<script>alert(1)</script> ROMEO: ☃"
    at.text_area(key="gen_prompt").set_value(prompt).run()
    assert not at.exception and not at.warning
    assert "<script>" not in text_html(at) and "&lt;script&gt;" in text_html(at)
    step(at, 20)
    assert status(at)[0] == 20 and not at.exception
    s = session(at)
    assert s.generated == [x.token_id for x in generate(model, tokenizer.encode(prompt), 20, 0.8, None, 0.9, seed=0)]
    # A generated piece that is part of a character's bytes shows as <0xNN>, escaped.
    partial = next(t for t in tokenizer.encode("☃") if tokenizer.token_text(t).startswith("<0x"))
    s.ids.append(partial)
    s.history.append(s.preview(Shaping()))
    s.history[-1].token_id = partial
    at.run()
    assert "&lt;0x" in text_html(at) and not at.exception
    spec = chart(at)
    assert len(spec["data"][0]["y"]) >= 20
    assert top_k_slider(at).key == "gen_top_k" and top_k_slider(at).max == 100  # the slider follows the vocabulary (300 tokens)


def test_prob_text_escapes_and_colours():
    assert doctest.testmod(prob_text).failed == 0
    out = prob_text.prob_text_html([prob_text.Piece("a\n\nb", None), prob_text.Piece('<i x="1">', 0.02, 'hover "q" <b>')])
    assert "\n" not in out  # no blank line may end Markdown's HTML block
    assert "<i x=" not in out and "&lt;i x=&quot;1&quot;&gt;" in out
    assert 'title="hover &quot;q&quot; &lt;b&gt;"' in out and "b0" in out


def test_a_gpt2_tokenizer_model_works_and_stops_at_its_end_token():
    from llm_core.text.tokenizers import TiktokenTokenizer

    at = open_generation(ROOT)
    tokenizer = TiktokenTokenizer("r50k_base")
    model = perturbed_model(model_preset("nano", tokenizer.vocab_size), seed=2)
    register(at, "nano GPT-2 vocabulary", model, tokenizer)
    at.run()
    assert not at.exception and status(at) == (0, 1)
    assert top_k_slider(at).max == 100
    step(at, 3)
    assert status(at)[0] == 3 and not at.exception
    s = session(at)
    assert s.stop_ids == {tokenizer.special_tokens["<|endoftext|>"]}
    # Make the end token the only possible next token: the step takes it and the page stops.
    only_end = torch.full((tokenizer.vocab_size,), -1e9)
    only_end[50256] = 0.0
    s.pending = dataclasses.replace(s.pending, logits=only_end)
    step(at)
    assert session(at).stopped and "stop token" in next(m.value for m in at.markdown if "new tokens" in m.value)
    assert at.button(key="gen_step").disabled and at.button(key="gen_play").disabled and not at.exception


class WordTokens:
    """A tokenizer with a BPE model's kind of tokens: several characters each, some longer than the axis shows."""

    texts = [" the", " and", "ing", " together", "<b>", " thou", "ROMEO", " shall"] + [f" w{i:02d}" for i in range(32)]

    def token_text(self, token_id: int) -> str:
        return self.texts[token_id]


def test_a_bpe_models_labels_stand_on_their_side_short_and_above_the_legend():
    """Phone (390 px): a BPE model's labels, several characters each, were turned by plotly at an angle of its choosing
    and ran into each other and under the legend (at 1300 px too). They now stand on their side at a fixed angle, at
    10 px, cut to TICK_CHARS characters (whole in hover and in the table), the legend at the figure's bottom edge so
    plotly makes room for it below them, the figure taller for that."""
    from llm_core.generation.stepper import step_view

    tokenizer = WordTokens()
    logits = torch.linspace(3.0, 0.0, len(tokenizer.texts))
    spec = gv.chart_spec(tokenizer, step_view(logits, Shaping(0.8, None, 0.9), 0.05, 20), "t", 20)
    layout = spec["layout"]
    assert layout["xaxis"]["tickangle"] == -90 and layout["xaxis"]["tickfont"]["size"] == gv.LONG_TICKS["size"] <= 10 and layout["height"] > 380
    shown = [html.unescape(re.sub(r"<[^>]+>", "", t)).split(" (#")[0] for t in layout["xaxis"]["ticktext"]]
    assert max(len(t) for t in shown) <= gv.TICK_CHARS and "·toge…" in shown and "<b>" in shown
    assert "&lt;b&gt;" in "".join(layout["xaxis"]["ticktext"])  # the token's own markup is escaped, not read by plotly
    assert "·together" in [c[0] for c in spec["data"][0]["customdata"]]  # whole in the hover
    assert layout["legend"]["yref"] == "container" and layout["legend"]["y"] == 0


def test_before_the_temperature_guess_the_draw_is_not_read_against_bars_the_page_does_not_show():
    """The audit: "walking down the shaped bars ... first passes it at 'A' (rank 4)" sat beside the raw bars
    (shaped ones wait for the guess), on which the running total at 'A' had not yet passed the draw."""
    app = step(open_generation(ROOT))
    captions = [c.value for c in app.caption]
    assert not any("walking down the shaped bars" in c for c in captions)
    assert any(c.startswith("The random draw was") and "once your temperature guess is locked in" in c for c in captions)
    entropy = next(m for m in app.metric if m.label == "Entropy, raw")
    assert "ln V" not in entropy.proto.help and "equally likely" in entropy.proto.help
    lock_temperature_guess(app)
    assert any("walking down the shaped bars" in c.value for c in step(app).caption)
