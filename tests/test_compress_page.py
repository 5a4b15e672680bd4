"""AppTest logic tests of the Compression and cost chapter (pages/compression.py), without a browser:
the first screen, the four predictions (each reveal checked against figures computed here, another
way, from the same model), the calculator, and sentences that never read inf, nan or -0.00."""

import gzip
import math
import re

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, perturbed_model
from page_text import chart_tables
from streamlit.testing.v1 import AppTest

from llm_core.literature import value
from llm_core.model.anatomy import human_bytes, weights_file_bytes
from llm_core.model.config import model_preset
from llm_core.text.data import VAL_FRACTION, eval_windows, load_corpus

BAD_NUMBERS = re.compile(r"\b(?:inf|nan)\b|-0\.0+(?!\d*[1-9])\b", re.IGNORECASE)


@pytest.fixture
def at():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    app.run()
    app.switch_page("pages/compression.py").run()
    assert not app.exception, app.exception
    return app


def html_blocks(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def page_text(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
                     + [i.value for i in at.info] + [e.value for e in at.error])


def guess(at, key: str, choice: str) -> None:
    at.radio(key=f"predict_{key}_guess").set_value(choice).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception


def progress(at) -> dict:
    from lab_ui.state import find_desk

    return find_desk(at.session_state["lab_desk_id"]).data["course"]["predictions"]


def current_model(at):
    from lab_ui.state import REGISTRY_KEY

    return at.session_state[REGISTRY_KEY][at.session_state["lab_current_model"]]


def test_the_first_screen_is_the_idea_then_the_calculator_checks_llama(at):
    """Plain words first: the takeaway, then the two ideas, before any coder, table or figure of this model."""
    texts = [m.value for m in at.markdown]
    first = next(i for i, t in enumerate(texts) if "Good prediction is compression" in t)
    assert "Training is lossy compression" in texts[first + 1] and "71 times smaller" in texts[first + 1]  # 10 TB / 140 GB, from the register
    assert not any("<table" in t for t in texts[:first + 2])
    page = html_blocks(at)
    assert "1,720,320" in page and "Touvron et al. 2023" in page  # published GPU-hours beside the calculator's
    assert "140 GB" in page and "Karpathy 2023" in page
    assert "43.5%" in page  # the implied utilisation, computed
    assert "not checked: Meta published GPU-hours, not a cost" in page  # the $2M is an assumed price, never a check
    captions = page_text(at)
    assert "Chinchilla 70B" in captions and "enwik9 (the first" in captions and "English Wikipedia" in captions
    assert "KV cache" in page and any("generation" in str(link.proto) for link in at.get("page_link"))  # taught in Generate: linked, not retold


def test_beats_gzip_reveal_is_computed_by_compressing_the_text_with_both(at):
    text = "ROMEO:\nBut soft, what light through yonder window breaks? 🙂 日本\n"
    at.text_area(key="compress_text").input(text).run()
    assert "compress_result" not in at.session_state  # nothing coded before the guess is locked
    assert not any("Round trip exact" in s.value for s in at.success)
    guess(at, "compression_beats_gzip", "gzip: fewer bytes")
    result = at.session_state["compress_result"]
    assert result["back"].text == text and result["packed"].n_escapes == 3  # emoji and the two CJK characters
    model_bytes, gzip_bytes = len(result["packed"].data), len(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    page = html_blocks(at)
    assert f"The model's file is {model_bytes:,} bytes" in page and f"gzip's {gzip_bytes:,}" in page
    packed = result["packed"]  # a short text: the header's share is named apart (its average alone exceeded every character's cost)
    assert f"with its {packed.header_bytes}-byte header, {8 * packed.payload_bytes / len(text):.2f} without" in page
    assert progress(at)["compression_beats_gzip"]["right"] is (gzip_bytes < model_bytes)
    assert any("Round trip exact" in s.value and f"{len(text):,} characters" in s.value for s in at.success)
    for name in ("gzip -9", "bzip2 -9", "xz -9e", "order-3 count model", "+ range coder"):
        assert name in page
    assert not BAD_NUMBERS.search(page_text(at)), BAD_NUMBERS.search(page_text(at))


def test_on_shakespeare_the_model_beats_gzip_and_a_new_text_is_coded_for_the_same_guess(at):
    guess(at, "compression_beats_gzip", "the model: fewer bytes")  # the default text: a held-out Shakespeare speech
    first = at.session_state["compress_result"]
    gz = next(r for r in first["baselines"] if r.name == "gzip -9")
    assert len(first["packed"].data) < gz.size_bytes and progress(at)["compression_beats_gzip"]["right"] is True
    assert "the model wins by" in html_blocks(at) and "cost the model under 1 bit" in html_blocks(at)
    other = "0123456789" * 100
    at.text_area(key="compress_text").input(other).run()
    again = at.session_state["compress_result"]
    assert again["back"].text == other
    model_bytes, gzip_bytes = len(again["packed"].data), len(gzip.compress(other.encode(), compresslevel=9, mtime=0))
    assert progress(at)["compression_beats_gzip"]["right"] is (model_bytes < gzip_bytes)


def heldout_bits_per_char(model, tokenizer, held: str) -> float:
    """The model's cross-entropy on `held`, in bits per character, computed here another way (the loss's windows)."""
    ids = torch.tensor(tokenizer.encode("\n" + held), device=model.device)
    x, y = eval_windows(ids, model.config.block_size)
    with torch.no_grad():
        bits = sum(float(F.cross_entropy(model(x[i:i + 16])[0].double().flatten(0, 1), y[i:i + 16].flatten(), reduction="sum"))
                   for i in range(0, len(x), 16)) / math.log(2)
    tail = ids[1 + x.numel():]  # the last short window, predicted from its own start
    with torch.no_grad():
        logits = model(ids[x.numel():-1][None])[0][0]
    bits += float(F.cross_entropy(logits.double(), ids[x.numel() + 1:], reduction="sum")) / math.log(2) if len(tail) else 0.0
    return bits / len(held)


def held_out_start(n: int = 20_000) -> str:
    corpus = load_corpus("tinyshakespeare")
    return corpus[len(corpus) - int(len(corpus) * VAL_FRACTION):][:n]


def test_the_bundled_models_bits_per_char_reveal_is_the_whole_held_out_file_the_chart_shows(at):
    """One figure for one quantity: the reveal, the chart below it and the sums of section 2 all read the whole held-out split,
    coded for real by the shipped file; and that figure is the model's cross-entropy, checked here on the split's start."""
    guess(at, "compression_bits_per_char", "2 to 3")
    entry = current_model(at)
    page = html_blocks(at)
    found = re.search(r"([\d.]+) bits per character, coded for real on all ([\d,]+) characters of the held-out tinyshakespeare text", page)
    assert found, page[:2000]
    shown, n_chars = float(found.group(1)), int(found.group(2).replace(",", ""))
    assert abs(n_chars - len(load_corpus("tinyshakespeare")) * VAL_FRACTION) <= 1  # the whole split
    (table,) = [t for t in chart_tables(at) if "bits per character" in t.columns and "method" in t.columns and len(t) > 3]
    (row,) = [r for r in table.to_dict("records") if r["method"].startswith("model (")]
    assert f"{row['bits per character']:.2f}" == f"{shown:.2f}"  # the reveal and the chart agree
    assert row["method"] == f"model ({entry.name})"  # named as the sidebar names it
    assert abs(shown - heldout_bits_per_char(entry.model, entry.tokenizer, held_out_start())) < 0.1
    assert progress(at)["compression_bits_per_char"]["right"] is (2 <= shown < 3)


def test_another_models_bits_per_char_reveal_is_its_cross_entropy_measured_now(at, char_tok):
    """A model with no shipped held-out file, trained on a bundled corpus: measured now on the held-out split's first 20,000 characters."""
    from lab_ui.state import REGISTRY_KEY, ModelEntry

    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=5, scale=0.05)
    record = {"corpus": "tinyshakespeare", "corpus_chars": 1_115_394, "tokens_seen": 0}
    at.session_state[REGISTRY_KEY]["other"] = ModelEntry("other", model, char_tok, {"record": record}, "trained")
    at.session_state["lab_current_model"] = "other"
    at.run()
    assert not at.exception, at.exception
    expected = heldout_bits_per_char(model, char_tok, held_out_start())
    band = "5 to 8" if 5 <= expected < 8 else "more than 8" if expected >= 8 else "3 to 5"
    guess(at, "compression_bits_per_char", band)
    assert f"{expected:.2f} bits per character, measured now on the first 20,000 characters" in html_blocks(at)


def test_weights_plus_coded_text_reveal_and_sentence(at):
    guess(at, "compression_description_length", "less room than the text")
    entry = current_model(at)
    weights = weights_file_bytes(entry.model, entry.tokenizer, entry.meta)
    text_bytes = entry.record["corpus_chars"]
    page = page_text(at)
    assert f"Weights {human_bytes(weights)} + the tinyshakespeare text" in page and f"against {human_bytes(text_bytes)} of text" in page
    assert weights > text_bytes and "more room than the text" in page and progress(at)["compression_description_length"]["right"] is False
    assert "times the text it learned from" in page and "pays off against storing the text once the text exceeds" in page
    assert not BAD_NUMBERS.search(page), BAD_NUMBERS.search(page)


def test_running_against_training_figures_follow_the_parameter_count(at):
    guess(at, "compression_run_vs_train", "about 3 times as many")
    entry = current_model(at)
    cfg, tokens_seen = entry.model.config, entry.record["tokens_seen"]
    n = cfg.num_params()
    multiplying = n - cfg.vocab_size * cfg.n_embd
    run = 2 * multiplying + 2 * cfg.n_layer * cfg.block_size * cfg.n_embd
    assert 2.0 * n < run < 2.3 * n  # about 2 FLOPs per parameter: the embedding lookup is free, attention adds a little
    page = html_blocks(at)
    assert f"{run:,}" in page and f"{3 * run:,}" in page  # to run one token, to train on one
    assert f"About {3 * tokens_seen:,} tokens: 3.00 times the {tokens_seen:,} it trained on" in page
    llama_n = value("llama2_70b_params")
    assert f"{2 * llama_n:.2e}" in page and f"{6 * llama_n:.2e}" in page and f"{3 * value('llama2_tokens'):.2e}" in page
    assert progress(at)["compression_run_vs_train"]["right"] is True
    days_ours = 3 * tokens_seen / (1_000_000 * 1_000)
    assert "requests a day of 1,000 tokens each" in page and "16 years for Llama 2 70B" in page
    assert f"{days_ours * 24 * 60:.0f} minutes for" in page
    at.number_input(key="run_requests").set_value(0).run()
    assert "With no requests, running costs nothing" in html_blocks(at)


def test_changing_the_parameter_count_updates_every_figure(at):
    before = html_blocks(at)
    at.number_input(key="cost_params_m").set_value(7000.0).run()  # 70B -> 7B
    after = html_blocks(at)
    assert "280 GB" in before and "28 GB" in after  # fp32 weights file: 4 bytes x 70e9, then x 7e9
    assert "8.4e+23 FLOPs" in before and "8.4e+22 FLOPs" in after
    assert "width = 128 x layers: 33 layers of width 4,224" in after  # 7B: the estimated shape is named
    at.number_input(key="cost_params_m").set_value(0.001).run()  # 1,000 parameters: too few for one layer of width 128
    assert "too few for one of width 128: width 9" in html_blocks(at)


def test_a_model_worse_than_storing_the_text_never_pays_off_and_no_sentence_reads_inf(at, char_tok):
    """A confidently wrong model needs more than 8 bits a character: its sums say it never pays off, in words."""
    from lab_ui.state import REGISTRY_KEY, ModelEntry

    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=3)
    with torch.no_grad():
        model.head.weight.mul_(40.0)  # sharp, wrong predictions: many bits per character
    record = {"corpus": "tinyshakespeare", "corpus_chars": 1_115_394, "tokens_seen": 0}
    at.session_state[REGISTRY_KEY]["wrong"] = ModelEntry("wrong", model, char_tok, {"record": record}, "trained")
    at.session_state["lab_current_model"] = "wrong"
    at.run()
    assert not at.exception, at.exception
    for key, choice in (("compression_bits_per_char", "more than 8"), ("compression_description_length", "more room than the text"),
                        ("compression_beats_gzip", "gzip: fewer bytes"), ("compression_run_vs_train", "about 3 times as many")):
        guess(at, key, choice)
    page = page_text(at)
    assert "never pays off against storing the text" in page
    assert "has no record of the tokens it was trained on" in "\n".join(i.value for i in at.info)
    assert not BAD_NUMBERS.search(page), BAD_NUMBERS.search(page)


def test_another_model_compresses_too_and_the_precomputed_split_says_whose_it_is(at, char_tok):
    from lab_ui.state import REGISTRY_KEY, ModelEntry

    model = perturbed_model(model_preset("nano", char_tok.vocab_size))
    at.session_state[REGISTRY_KEY]["nano test"] = ModelEntry("nano test", model, char_tok, {}, "trained")
    at.session_state["lab_current_model"] = "nano test"
    at.run()
    assert not at.exception, at.exception
    guess(at, "compression_bits_per_char", "5 to 8")
    assert any("precomputed for the bundled model only" in c.value for c in at.caption)
    at.text_area(key="compress_text").input("to be, or not to be").run()
    guess(at, "compression_beats_gzip", "gzip: fewer bytes")
    assert any("Round trip exact" in s.value for s in at.success)


def test_a_bpe_model_of_a_users_text_is_read_from_its_record(at, shakespeare):
    """No bundled corpus to measure on: the bits per character come from the record's validation loss, converted from tokens."""
    from lab_ui.state import REGISTRY_KEY, ModelEntry
    from llm_core.text.tokenizers import BPETokenizer

    tok = BPETokenizer.train(shakespeare[:20000], 300)
    model = perturbed_model(model_preset("nano", tok.vocab_size), seed=1)
    record = {"corpus": "my notes", "corpus_chars": 50_000, "tokens_in_corpus": 20_000, "val_loss": 3.0, "tokens_seen": 64_000}
    at.session_state[REGISTRY_KEY]["bpe"] = ModelEntry("bpe", model, tok, {"record": record}, "trained")
    at.session_state["lab_current_model"] = "bpe"
    at.run()
    assert not at.exception, at.exception
    guess(at, "compression_bits_per_char", "1 to 2")
    expected = 3.0 / math.log(2) * 20_000 / 50_000  # nats per token -> bits per character
    assert f"{expected:.2f} bits per character, from its training record's validation loss" in html_blocks(at)
    guess(at, "compression_run_vs_train", "about 3 times as many")
    assert f"About {3 * 64_000:,} tokens" in html_blocks(at)
    assert not BAD_NUMBERS.search(page_text(at))


def test_the_compute_chart_names_its_models_down_the_axis():
    """Phone (390 px): the model names, turned on their side under upright bars, overlapped and were cut off. The bars
    now run across, the names down the axis on lines of at most NAME_LINE characters (escaped), the full names in the
    table; the log axis keeps a gridline every 10^3 and room for every bar and its value."""
    import html

    from lab_ui import compression_figures as figs

    rows = figs.compute_rows("Shakespeare <bundled> with a long name (yours)", 2.1e13, 12.0)
    fig = figs.compute_chart(rows)
    bar = fig.data[0]
    assert bar.orientation == "h" and list(bar.x) == [r["flops"] for r in rows]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.dtick == 3 and fig.layout.yaxis.autorange == "reversed"
    lines = [html.unescape(line) for label in bar.y for line in label.split("<br>")]
    assert max(len(line) for line in lines) <= figs.NAME_LINE and "<bundled>" not in "".join(bar.y)
    assert [html.unescape(label.replace("<br>", " ")) for label in bar.y] == [r["name"] for r in rows]
    low, high = fig.layout.xaxis.range
    assert low % 3 == 0 and low < math.log10(min(bar.x)) and high > math.log10(max(bar.x))


def test_every_pieces_cost_is_a_table_once_opened_and_repeated_surprises_say_where(at):
    """The coloured text gave each character's cost by colour and hover alone (no hover on a phone)."""
    text = "ZQX and ZQX again"
    at.text_area(key="compress_text").input(text).run()
    guess(at, "compression_beats_gzip", "gzip: fewer bytes")
    pieces = at.session_state["compress_result"]["packed"].pieces
    assert not any("piece</th>" in m.value for m in at.markdown)  # closed: not sent
    top = next(m.value for m in at.markdown if "came</th>" in m.value)
    assert "at character</th>" in top  # the five costliest name where each is
    at.session_state["compress_every_piece"] = True
    at.run()
    table = next(m.value for m in at.markdown if "piece</th>" in m.value)
    assert table.count("<tr>") == len(pieces) + 1 and sum(len(p) for p, _ in pieces) == len(text)
