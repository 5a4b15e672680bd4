"""The Overview chapter (AppTest): every figure it states comes from the current model's own record."""

import math
from pathlib import Path

import pytest
from conftest import ROOT, perturbed_model
from streamlit.testing.v1 import AppTest

from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
from llm_core.model import anatomy
from llm_core.model.checkpoint import MODELS_DIR, checkpoint_bytes, load_checkpoint
from llm_core.model.config import model_preset


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not app.exception, app.exception
    return app


def table_row(at, what: str) -> str:
    table = next(h.proto.body for h in at.get("html") if "Llama 2 70B" in h.proto.body)
    row = table.split(f">{what}</td>")[1].split("</tr>")[0]
    return row.split("</td>")[1].split(">")[-1]  # the current model's cell


def compression(at) -> str:
    """The compression sentence: the reveal of the "file bigger or smaller than its text?" prediction (locked first)."""
    if not any("This model, measured on its own run" in m.value for m in at.markdown):
        at.radio(key="predict_overview_file_vs_text_guess").set_value("smaller than the text").run()
        at.button(key="predict_overview_file_vs_text_lock").click().run()
        assert not at.exception, at.exception
    return next(m.value for m in at.markdown if "This model, measured on its own run" in m.value)


def test_the_bundled_model_states_its_own_run(at):
    record = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").meta["record"]
    assert table_row(at, "cost") == f"no money figure: {record['elapsed_s']:,.0f} s of training on one CPU"
    assert table_row(at, "training text") == f"{record['corpus_chars']:,} characters (tinyshakespeare)"
    bits = record["val_loss"] / math.log(2)  # characters: one token per character
    sentence = compression(at)
    assert f"**{bits:.2f} bits per character**" in sentence and f"{8 / bits:.1f}× fewer bits" in sentence
    assert "*larger*" in sentence  # 3.2 MB of weights against 1.1 M characters
    assert any("the file is bigger" in m.value for m in at.markdown) and any("Not this time" in m.value for m in at.markdown)
    runner_note = next(m.value for m in at.markdown if "standard library" in m.value)
    assert runner_note.endswith("but `safetensors` and `torch`.")
    box5 = next(c.value for c in at.caption if c.value.startswith("80 tokens, each picked at random"))
    assert "**Temperature** 0.8 is a setting that reshapes the odds" in box5 and "**seed** 0" in box5  # the word explained where it is met


def test_a_bpe_model_with_a_large_corpus_says_smaller_and_counts_characters(at, char_tok):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=1)
    weights, _ = checkpoint_bytes(model, char_tok, {})
    chars, tokens = 40 * len(weights), 10 * len(weights)  # 4 characters per token, 40x the file
    record = {"val_loss": 2.0, "corpus_chars": chars, "tokens_in_corpus": tokens, "corpus": "big", "elapsed_s": 12.4, "device": "cpu"}
    at.session_state[REGISTRY_KEY]["Nano (test)"] = ModelEntry("Nano (test)", model, char_tok, {"record": record}, "trained")
    at.session_state[CURRENT_KEY] = "Nano (test)"
    at.run()
    assert not at.exception
    sentence = compression(at)
    bits_token = 2.0 / math.log(2)
    assert f"**{bits_token / 4:.2f} bits per character** ({bits_token:.2f} bits per token; its tokens hold 4.00 characters" in sentence
    assert f"is 40.0× smaller than the {chars:,} characters" in sentence and "larger" not in sentence
    assert table_row(at, "cost") == "no money figure: 12 s of training on one CPU"


def test_a_model_without_a_record_claims_nothing(at, char_tok):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=2)
    at.session_state[REGISTRY_KEY]["Bare (test)"] = ModelEntry("Bare (test)", model, char_tok, {}, "uploaded")
    at.session_state[CURRENT_KEY] = "Bare (test)"
    at.run()
    assert not at.exception
    assert table_row(at, "cost") == table_row(at, "compute") == "not recorded with this model"
    assert not any("This model, measured on its own run" in m.value for m in at.markdown)
    assert not any(b.key == "predict_overview_file_vs_text_lock" for b in at.button)  # no record, no question about it
    assert anatomy.human_bytes(len(checkpoint_bytes(model, char_tok, {})[0])) == table_row(at, "parameters file")


def fresh() -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not app.exception, app.exception
    return app


def markdown_text(app: AppTest) -> str:
    return " ".join(m.value for m in app.markdown)


def test_the_route_says_start_here_then_continue_with_the_first_chapter_not_visited():
    app = fresh()
    text = markdown_text(app)
    assert "**Start here.** This page is step 1 of 10" in text and "1 Overview ✓ → 2 Tokenization → 3 Embeddings" in text
    app.switch_page("pages/tokenization.py").run()
    app.switch_page("pages/overview.py").run()
    text = markdown_text(app)
    assert "**Start here.**" not in text and "**Welcome back. Continue with step 3, Embeddings.** You have visited 2 of 10 chapters" in text
    assert "2 Tokenization ✓ → 3 Embeddings →" in text


def test_the_top_probability_reveal_is_computed_from_the_model_and_the_prompt():
    from lab_ui.overview_view import sureness_band
    from llm_core.interpret.walkthrough import walk

    app = fresh()
    app.text_input(key="overview_prompt").set_value("JULIET:\nO Romeo, Romeo").run()
    entry = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors")
    w = walk(entry.model, entry.tokenizer, "JULIET:\nO Romeo, Romeo", new_tokens=80, temperature=0.8, seed=0)
    top_piece, top_p = w.next_tokens[0]
    guess = "under 10%" if sureness_band(top_p) != "under 10%" else "over 80%"  # a wrong guess, whatever the model says
    assert "Its favourite," not in markdown_text(app)  # nothing revealed before the guess is locked
    app.radio(key="predict_overview_top_probability_guess").set_value(guess).run()
    app.button(key="predict_overview_top_probability_lock").click().run()
    assert not app.exception, app.exception
    text = markdown_text(app)
    assert f"Its favourite, {top_piece!r}, gets {top_p:.0%}" in text and "Not this time" in text
    held = "Its favourite alone holds 90%" if w.tokens_for_90 == 1 else f"It takes its {w.tokens_for_90} likeliest tokens"
    assert held in text


def llama_cell(at, what: str) -> str:
    """The Llama 2 70B cell of a row of "The same idea at two scales"."""
    table = next(h.proto.body for h in at.get("html") if "Llama 2 70B" in h.proto.body)
    row = table.split(f">{what}</td>")[1].split("</tr>")[0]
    return row.split("</td>")[0].split(">")[-1]


def test_the_file_size_is_the_answer_so_it_shows_once_the_guess_is_made():
    app = fresh()
    assert any("its size shows here once you have made the prediction above" in c.value for c in app.caption)
    assert table_row(app, "parameters file") == "(make the prediction above first)"
    # Llama's parameters x bytes each would work this model's file size out from its parameter count: after the guess
    assert llama_cell(app, "parameters file") == "140 GB" and "bytes each" not in next(h.proto.body for h in app.get("html") if "Llama 2 70B" in h.proto.body)
    download = next(b for b in app.get("download_button") if b.proto.label.startswith("Download the parameters"))
    assert download.proto.disabled  # a browser would show the downloaded file's size
    app.radio(key="predict_overview_file_vs_text_guess").set_value("bigger than the text").run()
    app.button(key="predict_overview_file_vs_text_lock").click().run()
    weights = (MODELS_DIR / "shakespeare-tiny.safetensors").stat().st_size
    assert any(c.value.startswith(f"Weights file: {anatomy.human_bytes(weights)}") and "float32, 4 bytes per parameter" in c.value for c in app.caption)
    assert table_row(app, "parameters file") == anatomy.human_bytes(weights)
    assert not next(b for b in app.get("download_button") if b.proto.label.startswith("Download the parameters")).proto.disabled
    text = markdown_text(app)
    assert "Right." in text and "is stored as a number of 4 bytes" in text
    assert llama_cell(app, "parameters file") == "140 GB (70 billion parameters × 2 bytes each, stored as 16-bit numbers (fp16))"


def test_what_llms_are_used_for_reads_every_figure_from_the_register():
    from llm_core import literature

    text = markdown_text(fresh())
    for key in ("generation", "rewrite", "open_qa", "brainstorming", "chat", "summarization", "classification", "extract"):
        assert f"{literature.value(f'instructgpt_use_{key}'):g}%" in text
    assert literature.claim("instructgpt_use_generation").cite() in text and literature.cite("chen2021") in text
    assert f"{literature.value('codex_humaneval_pass1'):g}% of the HumanEval" in text
    assert "cannot store the text, only its patterns" not in text and literature.cite("carlini2021") in text  # issue 21


def test_the_parameters_chart_is_html_bars_in_proportion_to_the_model_own_counts(at):
    """The Overview's one chart is HTML (no plotly.js for the first page): a bar per part of the model,
    each as long as its share of the largest part, and a caption read from the same counts."""
    import re

    body = next(h.proto.body for h in at.get("html") if 'class="lab-bars"' in h.proto.body)
    assert not at.main.get("plotly_chart")  # nothing for plotly in the page (the sidebar has the warm-up: app.py)
    model = at.session_state[REGISTRY_KEY][at.session_state[CURRENT_KEY]].model  # the current model (an earlier test may have changed it)
    groups = anatomy.param_breakdown(model)
    by_part = {}
    for g in groups:
        part = re.sub(r"^block (\d+)$", lambda m: f"block {int(m.group(1)) + 1}", g.part)  # shown counted from 1, as Attention counts layers
        by_part[part] = by_part.get(part, 0) + g.count
    largest = max(by_part.values())
    rows = re.findall(r'<div class="row"><span>([^<]+)</span><span class="track">(.*?)</span><span class="value">([\d,]+)</span>', body)
    assert [r[0] for r in rows] == list(by_part)  # the model's order: embeddings, the blocks, the output
    for part, track, value in rows:
        assert int(value.replace(",", "")) == by_part[part]
        widths = [float(w) for w in re.findall(r"width:([\d.]+)%", track)]
        assert sum(widths) == pytest.approx(100 * by_part[part] / largest, abs=0.05 * len(widths))
    caption = next(c.value for c in at.caption if c.value.startswith("Each bar's length"))
    blocks = [p for p in by_part if p.startswith("block")]
    assert f"the {len(blocks)} blocks, {by_part[blocks[0]]:,} parameters each" in caption  # equal blocks read as a tie
    assert f"{model.num_params():,} parameters, by part of the model" in body


def test_runner_py_is_drawn_once_its_expander_is_opened_and_is_the_file_itself():
    """Closed, the expander holds nothing: the browser loads no code highlighter for the first page."""
    from llm_core.model import runner

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    expander = next(e for e in app.expander if e.label.endswith("lines of runner.py"))
    assert not expander.code and not any("nothing but" in c.value for c in app.code)
    app.session_state["ov_runner_code"] = True
    app.run()
    assert not app.exception, app.exception
    expander = next(e for e in app.expander if e.label.endswith("lines of runner.py"))
    assert [c.value for c in expander.code] == [Path(runner.__file__).read_text(encoding="utf-8").rstrip("\n")]  # st.code drops the last newline
    assert expander.label == f"Read all {len(expander.code[0].value.splitlines())} lines of runner.py"


def caption_starting(app: AppTest, start: str) -> str:
    return next(c.value for c in app.caption if c.value.startswith(start))


def test_a_prompt_with_characters_the_model_never_saw_is_walked_without_them():
    """No dead end on step 1: the boxes and the first prediction stay, for the prompt without the unseen characters,
    and the page says which were dropped, in plain words (no "byte-level tokenizer" to try, no "character(s)")."""
    from llm_core.interpret.walkthrough import DEFAULT_PROMPT

    app = fresh()
    app.text_input(key="overview_prompt").set_value("Héllo 😀 wörld").run()
    assert not app.exception, app.exception
    note = next(i.value for i in app.info if "never seen" in i.value)
    assert note.startswith("This model has never seen 3 characters of your prompt: 'é', '😀', 'ö'.") and "65 characters" in note
    assert "The boxes below use your prompt without them: 'Hllo··wrld'." in note
    assert not any("byte-level" in x.value or "(s)" in x.value for x in [*app.warning, *app.info])
    assert caption_starting(app, "10 tokens, ids")  # "Hllo  wrld": ten characters, ten tokens
    assert any(b.key == "predict_overview_top_probability_lock" for b in app.button)
    next(b for b in app.button if b.key == "ov_drop_unseen").click().run()
    assert app.text_input(key="overview_prompt").value == "Hllo  wrld" and not any("never seen" in i.value for i in app.info)
    app.text_input(key="overview_prompt").set_value("😀").run()
    note = next(i.value for i in app.info if "never seen" in i.value)
    assert note.startswith("This model has never seen 1 character of your prompt: '😀'.") and "use the first prompt instead" in note
    assert caption_starting(app, f"{len(DEFAULT_PROMPT)} tokens, ids")  # the first prompt, one token per character


def test_counts_are_said_in_the_singular_and_the_chip_symbols_explained():
    app = fresh()
    app.text_input(key="overview_prompt").set_value("a").run()
    assert not app.exception, app.exception
    box1 = caption_starting(app, "1 token, ids")  # not "1 tokens"
    assert "`·` stands for a space and `↵` for a new line" in box1
    assert "(tokens counted from 0: the first token is token 0)" in caption_starting(app, "4 layers × 4 heads")


def test_the_sidebar_says_the_model_in_plain_words():
    from llm_core.training.diagnosis import headline

    app = fresh()
    record = load_checkpoint(MODELS_DIR / "shakespeare-tiny.safetensors").meta["record"]
    sidebar = " ".join(c.value for c in app.sidebar.caption)
    for jargon in (" wide", "positions: rotary", "vocabulary 65 (char)", "context 128 tokens"):
        assert jargon not in sidebar
    assert "each token is a list of 128 numbers" in sidebar and "reads up to 128 tokens at once" in sidebar
    assert "tells positions apart by turning each token's numbers by its position (rotary positions)" in sidebar
    # the model's one figure stays word for word (the Train chapter shows the same), after what it means
    assert f"how well it predicts text it never trained on (lower is better): {headline(record).text}" in sidebar
