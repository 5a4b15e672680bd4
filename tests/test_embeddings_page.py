"""AppTest checks of the Embeddings chapter's logic (no browser)."""

import base64
import json

import numpy as np
import pytest
from browser_harness import ROOT
from page_text import chart_tables
from streamlit.testing.v1 import AppTest

from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
from llm_core.interpret import embeddings as emb
from llm_core.model.checkpoint import MODELS_DIR, load_checkpoint
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import BPETokenizer
from llm_core.training.loop import build_model

PAGE = "pages/embeddings.py"


def open_page(extra_model: ModelEntry | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    if extra_model is not None:
        registry = dict(at.session_state[REGISTRY_KEY])
        registry[extra_model.name] = extra_model
        at.session_state[REGISTRY_KEY] = registry
        at.session_state[CURRENT_KEY] = extra_model.name
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(field) -> np.ndarray:
    """A plotly array from a chart spec: a plain list, or plotly's typed form {dtype, bdata, shape}."""
    if isinstance(field, dict):
        array = np.frombuffer(base64.b64decode(field["bdata"]), dtype=np.dtype(field["dtype"]))
        shape = field.get("shape")
        return array.reshape([int(n) for n in str(shape).split(",")]) if shape else array
    return np.asarray(field)


def points(spec: dict) -> dict[str, tuple]:
    """token label -> coordinates, over every kind trace (the "looked up" trace left out)."""
    out = {}
    for trace in spec["data"]:
        if trace.get("name") == "looked up":
            continue
        coords = zip(*[values(trace[a]).tolist() for a in ("x", "y", "z") if a in trace])
        for name, xyz in zip(trace["hovertext"], coords):
            out[name] = xyz
    return out


def looked_up(spec: dict) -> list[str]:
    return next((t["text"] for t in spec["data"] if t.get("name") == "looked up"), [])


def neighbour_table(at: AppTest) -> list[dict]:
    """The table of neighbours (an HTML table: lab_ui.charts.data_table_html), as rows of what a learner reads."""
    (frame,) = [f for f in chart_tables(at) if any(c.startswith("nearest: ") for c in f.columns)]
    return frame.to_dict("records")


def look_up(at: AppTest, text: str) -> AppTest:
    at.text_input(key="emb_lookup").set_value(text).run()
    assert not at.exception
    return at


def test_default_view_projects_the_trained_table_and_an_untrained_twin(char_tok):
    at = open_page()
    specs = charts(at)
    assert len(specs) == 6
    trained, untrained = points(specs[0]), points(specs[1])
    assert len(trained) == len(untrained) == 65
    assert specs[0]["data"][0]["type"] == "scatter"
    assert "Trained" in specs[0]["layout"]["title"]["text"] and "Untrained twin (seed 0)" in specs[1]["layout"]["title"]["text"]
    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    expected = emb.pca(emb.token_table(model), k=2).coords
    e = char_tok.stoi["e"]
    assert np.allclose(trained["e"], expected[e].numpy(), atol=1e-5)
    kinds = {t["name"] for t in specs[0]["data"]} - {"looked up"}
    assert {"lower-case vowel", "upper-case consonant", "punctuation", "whitespace", "digit"} <= kinds
    assert looked_up(specs[0]) == ["e"] == looked_up(specs[1])
    row = neighbour_table(at)[0]
    nearest = emb.nearest_neighbours(emb.token_table(model), e, 6)
    assert row["token"] == "e" and row["nearest: trained model"].startswith(f"{char_tok.chars[nearest[0][0]]}\u00a0({nearest[0][1]:+.2f})")  # a no-break space: token and score wrap together


def test_lookup_text_highlights_its_distinct_tokens():
    at = look_up(open_page(), "the theatre")
    assert looked_up(charts(at)[0]) == ["t", "h", "e", "·", "a", "r"]
    assert [r["token"] for r in neighbour_table(at)] == ["t", "h", "e", "·", "a", "r"]
    at.slider(key="emb_neighbours").set_value(3).run()
    assert all(r["nearest: trained model"].count("(") == 3 for r in neighbour_table(at))


def test_three_d_and_the_twin_seed_change_the_charts():
    at = open_page()
    before = points(charts(at)[1])
    at.number_input(key="emb_seed").set_value(5).run()
    after = points(charts(at)[1])
    assert after != before and "seed 5" in charts(at)[1]["layout"]["title"]["text"]
    at.radio(key="emb_dims").set_value("3-D").run()
    spec = charts(at)[0]
    assert {t["type"] for t in spec["data"]} == {"scatter3d"}
    assert all(len(xyz) == 3 for xyz in points(spec).values())


def test_what_training_changed_and_the_output_table(char_tok):
    at = open_page()
    lock(at, "embeddings_moved", "a quarter to a half")
    lock(at, "embeddings_vowel_neighbour", "a consonant")
    at.radio(key="emb_view").set_value("Input table: what training changed").run()
    specs = charts(at)
    assert "What training changed" in specs[0]["layout"]["title"]["text"]
    assert "Before training" in specs[1]["layout"]["title"]["text"]
    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    change = emb.token_table(model) - emb.token_table(build_model(model.config, seed=1337))
    j, s = emb.nearest_neighbours(change, char_tok.stoi["e"], 1)[0]
    assert neighbour_table(at)[0]["nearest: change made by training"].startswith(f"{char_tok.chars[j]}\u00a0({s:+.2f})")
    assert at.radio(key="emb_view").options[2] == "Output table (the model's last layer)"  # not "the head": an attention head here
    at.radio(key="emb_view").set_value("Output table (the model's last layer)").run()
    assert any("all zeros" in i.value for i in at.info)
    assert "The **output table** (the model's last layer) turns" in markdown_text(at) and "(the head)" not in markdown_text(at)
    assert len(charts(at)) == 5  # the untrained twin's all-zero head is explained, not plotted
    assert neighbour_table(at)[0]["nearest: untrained output table"].startswith("—")


def test_what_training_changed_waits_until_both_guesses_are_locked(char_tok):
    """Its scatter, its caption ("they form groups"), its axes beside the start's and its neighbours answer both of
    section 1's questions: before both guesses are locked the view is a note pointing to section 1, nothing of it drawn."""
    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    change = emb.token_table(model) - emb.token_table(build_model(model.config, seed=1337))
    within, between = emb.kind_similarity(change, emb.token_kinds(char_tok))
    grouping = f"average cosine of {within:+.2f} with each other and {between:+.2f}"
    at = open_page()
    at.radio(key="emb_view").set_value("Input table: what training changed").run()

    def shown() -> bool:
        drawn = " ".join(c["layout"]["title"]["text"] for c in charts(at))
        return ("What training changed" in drawn or "Before training" in drawn or any(grouping in c.value for c in at.caption)
                or any(any(col.startswith("nearest: ") for col in f.columns) for f in chart_tables(at)))

    note = next(i.value for i in at.info if "Lock in your" in i.value)
    assert not shown() and len(charts(at)) == 4  # only the position section's charts
    assert "both questions of [section 1](#predict-first)" in note and "nearest to 'a'" in note
    lock(at, "embeddings_moved", "a quarter to a half")
    assert not shown() and any("answers a question of [section 1](#predict-first) (which kind of token ends up nearest to 'a')" in i.value for i in at.info)
    assert grouping not in markdown_text(at) and "asks what it grouped" in markdown_text(at)  # nor does the first reveal say it
    lock(at, "embeddings_vowel_neighbour", "another vowel")
    assert shown() and not any("Lock in your" in i.value for i in at.info)
    assert grouping in markdown_text(at)  # the first reveal, now complete
    assert any(grouping in c.value for c in at.caption)
    assert "What training changed" in charts(at)[0]["layout"]["title"]["text"]


def test_rotary_model_explains_and_shows_the_learned_twin():
    at = open_page()
    rope = next(i.value for i in at.info if "rotary positions (RoPE, Su et al. 2021)" in i.value)
    # queries, keys and dot products belong to the next chapter: said in plain words here, the detail in an expander
    assert not any(word in rope for word in ("query", "key", "dot product", "channels")) and "how far apart the two are" in rope
    detail = next(e for e in at.expander if e.label == "How the turning works (the Attention chapter explains queries and keys)")
    assert "**query** (what it is looking for)" in detail.markdown[0].value
    learned = load_checkpoint(MODELS_DIR / "shakespeare-tiny-learned-pos.safetensors").model
    table = values(charts(at)[2]["data"][0]["z"])
    assert table.shape == (128, 128) and np.allclose(table, learned.wpe.weight.detach().numpy())
    at.radio(key="emb_pos_view").set_value("What training changed").run()
    # how far training moved each position's vector (its colour scale beside the start's) waits for section 1's first guess
    assert any("lock in your guess there first" in i.value for i in at.info)
    assert "What training changed" not in " ".join(c["layout"]["title"]["text"] for c in charts(at))
    lock(at, "embeddings_moved", "a quarter to a half")
    sim = charts(at)[3]
    assert "What training changed" in sim["layout"]["title"]["text"]
    change = learned.wpe.weight.detach() - build_model(learned.config, seed=1337).wpe.weight.detach()
    assert np.allclose(values(sim["data"][0]["z"]), emb.cosine_similarity_matrix(change).numpy(), atol=1e-5)


def test_learned_position_model_shows_its_own_table():
    loaded = load_checkpoint(MODELS_DIR / "shakespeare-tiny-learned-pos.safetensors")
    entry = ModelEntry("learned twin (test)", loaded.model, loaded.tokenizer, loaded.meta, "uploaded")
    at = open_page(entry)
    assert not any("rotary" in i.value for i in at.info)
    assert np.allclose(values(charts(at)[2]["data"][0]["z"]), loaded.model.wpe.weight.detach().numpy())
    assert any("learns **one vector per position**" in m.value for m in at.markdown)
    assert "the current model (learned twin (test))" in " ".join(m.value for m in at.markdown)


def test_bpe_model_without_a_training_seed():
    tok = BPETokenizer.train("the cat sat on the mat with the hat " * 50, 300)
    model = build_model(model_preset("nano", tok.vocab_size), seed=3)
    at = open_page(ModelEntry("BPE nano (test)", model, tok, {}, "trained"))
    spec = charts(at)[0]
    assert len(points(spec)) == tok.vocab_size
    assert all(t.get("mode") != "markers+text" for t in spec["data"] if t.get("name") != "looked up")  # too many to label
    at.radio(key="emb_view").set_value("Input table: what training changed").run()
    assert any("cannot be rebuilt" in i.value for i in at.info)
    assert len(charts(at)) == 4  # no token scatter for a change that cannot be computed; positions still shown
    at.radio(key="emb_view").set_value("Input table, as it is").run()
    look_up(at, " the cat")
    assert looked_up(charts(at)[0]) == [tok.token_text(i).replace(" ", "·") for i in dict.fromkeys(tok.encode(" the cat"))]
    assert not at.exception


def test_hostile_lookups():
    at = open_page()
    look_up(at, "")
    assert any("Type a character or some text" in i.value for i in at.info)
    assert looked_up(charts(at)[0]) == []
    look_up(at, "日本語 🙂 \x07\x00 e")
    assert any("never seen" in w.value for w in at.warning)
    assert looked_up(charts(at)[0]) == ["·", "e"]
    look_up(at, "€∑")
    assert any("None of that text maps" in i.value for i in at.info)
    look_up(at, "abcdefghij" * 12_000)
    assert any("Only the first 10,000" in c.value for c in at.caption)
    assert len(looked_up(charts(at)[0])) == 6


@pytest.mark.slow  # GPT-2's tokenizer and a model of its 50,257 tokens with a context of 512, drawn on the page: 5-11 s here under load
def test_big_vocabulary_and_long_context_stay_drawable():
    from llm_core.text.tokenizers import TiktokenTokenizer

    tok = TiktokenTokenizer("r50k_base")
    model = build_model(model_preset("nano", tok.vocab_size, block_size=512, position="learned"), seed=0)
    at = open_page(ModelEntry("GPT-2 vocabulary nano (test)", model, tok, {}, "trained"))
    look_up(at, " Shakespeare")
    specs = charts(at)
    drawn = points(specs[0])
    assert len(drawn) <= 4_000 + 6 and "first 4,000 of 50,257 tokens drawn" in specs[0]["layout"]["title"]["text"]
    assert looked_up(specs[0]) == [tok.token_text(i).replace(" ", "·") for i in tok.encode(" Shakespeare")]
    assert any("one position in 2 is drawn" in c.value for c in at.caption)
    assert values(specs[2]["data"][0]["z"]).shape == (256, model.config.n_embd)
    assert values(specs[3]["data"][0]["z"]).shape == (256, 256)


def markdown_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def lock(at: AppTest, key: str, guess) -> str:
    at.radio(key=f"predict_{key}_guess").set_value(guess).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception
    return markdown_text(at)


def test_how_far_training_moved_the_vectors_is_measured_when_revealed():
    from lab_ui.embedding_view import MOVED_BANDS, moved_band

    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    start = emb.token_table(build_model(model.config, seed=1337))
    relative = emb.relative_change(emb.token_table(model) - start, start)
    at = open_page()
    assert "In this model training moved each row" not in markdown_text(at)  # the answer waits for the guess
    assert "Training ran 2,000 steps on this model." in markdown_text(at)
    wrong = next(b for b in MOVED_BANDS if b != moved_band(relative))
    text = lock(at, "embeddings_moved", wrong)
    assert f"Training moved each token's vector by **{relative:.0%}** of its starting length" in text and "Not this time" in text
    assert f"In this model training moved each row by {relative:.0%}" in text  # the table's own sentence, now shown
    assert f"{emb.mean_abs_cosine(emb.token_table(model)):.2f} in the trained table" in text


def test_the_nearest_token_to_a_vowel_comes_from_what_training_changed(char_tok):
    from lab_ui.embedding_view import GROUPS

    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    change = emb.token_table(model) - emb.token_table(build_model(model.config, seed=1337))
    j, score = emb.nearest_neighbours(change, char_tok.stoi["a"], 1)[0]
    answer = GROUPS[emb.letter_group(emb.token_kind(char_tok.chars[j]))]
    text = lock(open_page(), "embeddings_vowel_neighbour", answer)
    assert "Right." in text and f"The nearest to 'a' is **'{char_tok.chars[j]}'** ({answer}), cosine {score:+.2f}" in text
    vowels = sum(1 for i, _ in emb.nearest_neighbours(change, char_tok.stoi["a"], 5) if char_tok.chars[i] in "aeiouAEIOU")
    assert f"{vowels} of its 5 nearest are vowels" in text


def test_the_output_table_waits_for_the_vowel_guess(char_tok):
    """The output table is learned from nothing: its scatter puts the vowels in one corner, its caption says "they
    form groups" and a vowel's nearest are the other vowels (e -> a, i, o), the answer to section 1's question; holding
    back the vowels' rows alone left the scatter to say it, so the whole view waits for that guess."""
    from lab_ui.embedding_view import GROUPS

    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    at = open_page()
    n_charts = len(charts(at))
    at.radio(key="emb_view").set_value("Output table (the model's last layer)").run()
    look_up(at, "eat")
    assert any("which kind of token ends up nearest to 'a'" in i.value and "the output table shows here" in i.value for i in at.info)
    assert len(charts(at)) == n_charts - 2 and not any(f.columns[-1].startswith("nearest: ") for f in chart_tables(at))
    lock(at, "embeddings_vowel_neighbour", next(iter(GROUPS.values())))
    rows = {row["token"]: row for row in neighbour_table(at)}
    j, score = emb.nearest_neighbours(emb.output_table(model), char_tok.stoi["e"], 1)[0]
    assert rows["e"]["nearest: trained output table"].startswith(f"{char_tok.chars[j]}\u00a0({score:+.2f})")


def test_a_model_whose_start_cannot_be_rebuilt_says_so_instead_of_an_answer():
    tok = BPETokenizer.train("the cat sat on the mat with the hat " * 50, 300)
    at = open_page(ModelEntry("BPE nano, no record (test)", build_model(model_preset("nano", tok.vocab_size), seed=3), tok, {}, "trained"))
    assert "Training ran" not in markdown_text(at)  # no record: no step count claimed
    lock(at, "embeddings_moved", "a quarter to a half")
    lock(at, "embeddings_vowel_neighbour", "a consonant")
    assert sum("cannot be rebuilt" in i.value and "Choose a model trained in this app" in i.value for i in at.info) == 2
    assert "Right." not in markdown_text(at) and "Not this time" not in markdown_text(at)


def test_every_chart_says_what_it_shows_from_its_data():
    at = open_page()
    captions = [c.value for c in at.caption]
    model = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").model
    kinds = emb.token_kinds(load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").tokenizer)
    within, between = emb.kind_similarity(emb.token_table(model), kinds)
    assert any(f"average cosine of {within:+.2f} with each other and {between:+.2f}" in c for c in captions)
    learned = load_checkpoint(MODELS_DIR / "shakespeare-tiny-learned-pos.safetensors").model
    near, far = emb.similarity_by_distance(emb.cosine_similarity_matrix(emb.position_table(learned)), near=1)
    assert any(c.startswith(f"Neighbouring positions' rows have an average cosine of {near:+.2f}") for c in captions)
    assert sum(e.label.startswith("The table, position by position") for e in at.expander) == 2
