"""AppTest checks of the Tokenization chapter's logic (no browser)."""

import html
import json
import re

import pytest
from browser_harness import ROOT
from page_text import chart_tables, text_blocks
from streamlit.testing.v1 import AppTest

from lab_ui import text_chapters
from llm_core.text.tokenizers import TiktokenTokenizer

PAGE = "pages/tokenization.py"


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def set_text(at: AppTest, text: str) -> AppTest:
    at.text_area(key="tok_text").set_value(text).run()
    assert not at.exception
    return at


def tables_with(at: AppTest, column: str) -> list[list[dict]]:
    """The page's HTML tables (lab_ui.charts.data_table_html) that have this column, as rows of what a learner reads."""
    return [frame.to_dict("records") for frame in chart_tables(at) if column in frame.columns]


def table(at: AppTest) -> dict:
    """The comparison of the tokenizers (the only table with a "chars per token" column)."""
    (rows,) = tables_with(at, "chars per token")
    return {row["tokenizer"]: row for row in rows}


def bars(at: AppTest) -> tuple[str, list[tuple[str, int]]]:
    """The counts chart, drawn as HTML bars: its title and each bar's label and printed total."""
    body = next(h.proto.body for h in at.get("html") if 'class="lab-bars"' in h.proto.body)
    title = re.search(r'<div class="title"[^>]*>(.*?)</div>', body).group(1)
    rows = re.findall(r'<div class="row"><span>(.*?)</span>.*?<span class="value">([\d,]+)</span></div>', body)
    return html.unescape(title), [(html.unescape(label), int(total.replace(",", ""))) for label, total in rows]


def chips(at: AppTest) -> list[str]:
    """The blocks of token chips, in page order (each tokenizer's tab, then the BPE section's sentence)."""
    return [h.proto.body for h in at.get("html") if 'class="chips' in h.proto.body]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def merge_slider(at: AppTest):
    return next(s for s in at.slider if s.label == "Merge number")


@pytest.mark.slow  # five tokenizers on the example text, three of them loading tables: about 17 s here under load
def test_counts_match_every_tokenizer_and_the_chart(char_tok):
    at = open_page()
    text = at.text_area(key="tok_text").value
    rows = table(at)
    assert list(rows) == ["Characters", "LLM Lab BPE", "GPT-2", "GPT-4 (cl100k)", "GPT-4o (o200k)"]
    assert rows["Characters"]["tokens"] == len(char_tok.encode(text)) == len(text)
    assert rows["LLM Lab BPE"]["tokens"] == len(text_chapters.shakespeare_bpe().tokenizer.encode(text))
    assert rows["LLM Lab BPE"]["vocabulary"] == 256 + text_chapters.SHAKESPEARE_MERGES
    for name, label in [("r50k_base", "GPT-2"), ("cl100k_base", "GPT-4 (cl100k)"), ("o200k_base", "GPT-4o (o200k)")]:
        tok = TiktokenTokenizer(name)
        assert rows[label]["tokens"] == len(tok.encode(text))
        assert rows[label]["chars per token"] == pytest.approx(len(text) / rows[label]["tokens"], abs=0.01)
    assert bars(at)[1] == [(name, r["tokens"]) for name, r in rows.items()]  # a bar per tokenizer, its length its count
    # the first five chip rows are the five tokenizers; every chip of the char row is one character
    assert chips(at)[0].count('class="tok"') == len(text)


def test_typing_changes_the_counts_and_the_chart():
    at = open_page()
    before = [n for _, n in bars(at)[1]]
    set_text(at, "hello world")
    title, after = bars(at)
    assert [n for _, n in after] != before and after[0] == ("Characters", 11)
    assert "Tokens for 11 characters" in title


def test_emoji_example_shows_unknown_characters_and_byte_pieces():
    at = open_page()
    next(b for b in at.button if b.label == "Emoji").click().run()
    assert at.text_area(key="tok_text").value.startswith("I love pizza")
    rows = table(at)
    assert rows["Characters"]["chars without id"] > 0
    assert all(rows[name]["chars without id"] == 0 for name in rows if name != "Characters")
    assert any("never seen" in w.value for w in at.warning)
    html = chips(at)
    assert 'class="tok unknown"' in html[0]
    assert "&lt;0xF0&gt;" in html[2]  # GPT-2: the pizza emoji is split into byte pieces


def test_user_text_is_escaped_in_chips():
    at = set_text(open_page(), '<script>alert("x")</script> & <b>bold</b>')
    for body in chips(at)[:5]:
        assert "<script" not in body and "<b>" not in body
        assert "&lt;" in body


def test_huge_text_draws_few_chips_but_counts_exactly():
    text = "To be, or not to be: that is the question. " * 2400  # ~100,000 characters
    at = set_text(open_page(), text[:100_000])
    rows = table(at)
    assert rows["Characters"]["tokens"] == 100_000
    assert rows["GPT-2"]["tokens"] == len(TiktokenTokenizer("r50k_base").encode(text[:100_000]))
    for body in chips(at)[:5]:
        assert body.count('class="tok') <= 400
        assert "more (not drawn)" in body


def test_empty_and_control_text():
    at = set_text(open_page(), "")
    assert any("Type or paste some text" in i.value for i in at.info)
    assert not tables_with(at, "chars per token") and len(tables_with(at, "new token")) == 1  # only the BPE section's table of merges remains
    at = set_text(at, "bell\x07 escape\x1b[31m nul\x00")
    assert "␇" in chips(at)[0] and "␀" in chips(at)[0]
    assert any("never seen" in w.value for w in at.warning)


def test_merge_slider_moves_the_marker_and_retokenizes_the_sentence():
    at = open_page()
    run = text_chapters.shakespeare_bpe()
    merge_slider(at).set_value(10).run()
    step = run.replay.steps[9]
    assert at.metric[2].label == "Merge 10" and step.new_text in at.metric[2].value
    curve = charts(at)[0]  # the merge curve: the counts are HTML bars
    marker = next(t for t in curve["data"] if t["name"] == "merge 10")
    assert marker["x"] == [10] and marker["y"] == [run.replay.token_counts[10]]
    assert curve["layout"]["shapes"][0]["x0"] == 10
    sentence = at.text_input(key="bpe_sentence").value
    assert chips(at)[-1].count('class="tok"') == len(run.tokenizer.encode(sentence, max_merges=10))
    merge_slider(at).set_value(0).run()
    assert chips(at)[-1].count('class="tok"') == len(sentence.encode())
    assert at.metric[2].value == "bytes only"


def test_play_advances_then_stops_at_the_end():
    at = open_page()
    n = text_chapters.shakespeare_bpe().learned
    assert merge_slider(at).value == 50
    next(b for b in at.button if "Play" in b.label).click().run()
    assert at.session_state["bpe_playing"] is True
    first = merge_slider(at).value
    assert first > 50
    at.run()  # what the fragment timer does in the browser
    assert merge_slider(at).value > first
    merge_slider(at).set_value(n).run()
    at.run()
    assert at.session_state["bpe_playing"] is False
    assert any("Play" in b.label for b in at.button)
    assert not at.exception


def test_train_on_own_text_with_few_pairs():
    at = open_page()
    at.radio(key="bpe_source").set_value("The text above").run()
    text = "low lower lowest " * 10
    set_text(at, text)
    at.slider(key="bpe_user_merges").set_value(50).run()
    run = text_chapters.bpe_on_text(text, 50)
    assert 0 < run.learned < 50
    assert any(f"Only {run.learned:,} of the 50 merges" in i.value for i in at.info)
    merge_slider(at).set_value(run.learned).run()
    assert at.metric[1].value == f"{len(run.tokenizer.encode(text)):,} tokens"


def test_own_text_edge_cases():
    at = open_page()
    at.radio(key="bpe_source").set_value("The text above").run()
    set_text(at, "")
    assert any("to train on it" in i.value for i in at.info)
    set_text(at, "x")
    assert any("Nothing to merge" in w.value for w in at.warning)
    set_text(at, "ab " * 50_000)  # 150,000 characters: training uses the first 100,000
    assert any("uses the first 100,000" in w.value for w in at.warning)
    assert table(at)["Characters"]["tokens"] == 150_000  # the comparison still reads all of it
    assert not at.exception


def test_a_bpe_current_model_gets_its_own_row():
    from lab_ui.state import CURRENT_KEY, REGISTRY_KEY, ModelEntry
    from llm_core.model.config import model_preset
    from llm_core.text.tokenizers import BPETokenizer
    from llm_core.training.loop import build_model

    tok = BPETokenizer.train("the cat sat on the mat " * 40, 280)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    registry = dict(at.session_state[REGISTRY_KEY])
    registry["BPE nano (test)"] = ModelEntry("BPE nano (test)", build_model(model_preset("nano", tok.vocab_size), seed=0), tok, {}, "trained")
    at.session_state[REGISTRY_KEY] = registry
    at.session_state[CURRENT_KEY] = "BPE nano (test)"
    at.switch_page(PAGE).run()
    set_text(at, "the cat sat")
    rows = table(at)
    assert list(rows)[2] == "Current model's BPE"
    assert rows["Current model's BPE"]["tokens"] == len(tok.encode("the cat sat"))
    assert rows["Characters"]["vocabulary"] == 65  # the bundled model's characters, since the current model reads BPE


def lock(at: AppTest, key: str, guess) -> str:
    """Make and lock a guess; the page's text afterwards."""
    assert not any(b.key == f"predict_{key}_again" for b in at.button)  # not locked yet
    at.radio(key=f"predict_{key}_guess").set_value(guess).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception
    return " ".join(m.value for m in at.markdown)


def test_german_against_english_is_counted_with_gpt2_when_revealed():
    from lab_ui.tokenization_view import TWINS, ratio_band

    gpt2, o200k = TiktokenTokenizer("r50k_base"), TiktokenTokenizer("o200k_base")
    en, de = len(gpt2.encode(TWINS["English"])), len(gpt2.encode(TWINS["German"]))
    at = open_page()
    before = " ".join(m.value for m in at.markdown)
    assert f"cuts the English sentence *{TWINS['English']}* into {en} tokens" in before and f"needs **{de} tokens**" not in before
    wrong = next(b for b in ("fewer than the English", "more than 50% more") if b != ratio_band(de / en))
    text = lock(at, "tokenization_german_english", wrong)
    assert f"GPT-2 needs **{de} tokens** for the German sentence and {en} for the English: {de / en:.2f}× as many" in text
    assert "Not this time" in text and "`·sp|az|ie|ren`" in text  # the why names the word GPT-2 cut into most pieces
    assert f"needs {len(o200k.encode(TWINS['German']))} tokens for the German" in text
    five = next(h.proto.body for h in at.get("html") if ">Japanese<" in h.proto.body)  # the five languages, counted now
    assert f">{len(gpt2.encode(TWINS['Russian']))}<" in five and f">{len(o200k.encode(TWINS['Russian']))}<" in five


def test_the_code_question_is_won_by_the_tokenizers_that_count_fewest():
    from lab_ui.tokenization_view import CODE_SAMPLE
    from llm_core.text.tokenview import fewest

    candidates = {"LLM Lab BPE": text_chapters.shakespeare_bpe().tokenizer, "GPT-2": TiktokenTokenizer("r50k_base"),
                  "GPT-4 (cl100k)": TiktokenTokenizer("cl100k_base"), "GPT-4o (o200k)": TiktokenTokenizer("o200k_base")}
    counts = {name: len(tok.encode(CODE_SAMPLE)) for name, tok in candidates.items()}
    winners = fewest(counts)
    text = lock(open_page(), "tokenization_code_fewest", winners[-1])
    assert "Right." in text and f"with {counts[winners[0]]} tokens" in text
    assert all(f"{name} {n}" in text for name, n in counts.items() if name not in winners)
    gpt2 = candidates["GPT-2"]
    spaces = sum(1 for i in gpt2.encode(CODE_SAMPLE) if not gpt2.token_bytes(i).strip())
    assert f"GPT-2 {spaces} of its {counts['GPT-2']}" in text


def test_each_tokenizer_tab_lists_its_tokens_ids_and_bytes_as_text():
    at = set_text(open_page(), "héllo")
    assert [t.label for t in at.tabs][:2] == ["Characters", "LLM Lab BPE"]
    at.session_state["tok_as_text"] = True  # the expander "Each token as text", opened
    at.run()
    gpt2 = TiktokenTokenizer("r50k_base")
    tables = [h.proto.body for h in at.get("html") if "<th" in h.proto.body and ">bytes<" in h.proto.body]
    gpt2_table = tables[2]
    for i in gpt2.encode("héllo"):
        assert f">{i}<" in gpt2_table
    assert ">C3 A9<" in gpt2_table  # é's two bytes, written out
    assert ">no id<" in tables[0] and ">no id<" not in tables[1]  # the character tokenizer never saw é; byte-level BPE reads it


def test_each_token_as_text_is_drawn_once_its_expander_is_opened_with_every_tokenizers_ids():
    """Closed, the expander sends nothing (five tables and five id lists every browser would draw hidden);
    opened, each tokenizer's ids are the ones it gives the page's text, in a text box."""
    def piece_tables():
        return [h.value for h in at.get("html") if "<th " in h.value and ">bytes</th>" in h.value]

    at = set_text(open_page(), "Hello, world")
    assert not [t for t in text_blocks(at) if t.startswith("[")] and not piece_tables()
    at.session_state["tok_as_text"] = True
    at.run()
    assert not at.exception
    ids = [t for t in text_blocks(at) if t.startswith("[")]
    assert ids[2] == str(TiktokenTokenizer("r50k_base").encode("Hello, world"))  # the third tab: GPT-2
    assert ids[4] == str(TiktokenTokenizer("o200k_base").encode("Hello, world"))
    assert len(ids) == 5 and len(piece_tables()) == 5
    assert ">48 65 6C 6C 6F</td>" in piece_tables()[2]  # GPT-2's first token, "Hello", as its bytes


EXAMPLES_CODE = "def greet(name):\n    if not name:\n        return None\n    return f\"Hello, {name}!\"  # 4 spaces of indent\n"  # pages/tokenization.py


def test_the_counts_caption_names_the_fewest_only_once_the_code_guess_is_locked():
    """The Code example is one click from the code question: its caption must not name the tokenizer that needs
    the fewest tokens (the question's answer) before the guess, nor on the question's own code; the counts
    themselves stay in the table and bars."""
    from lab_ui.tokenization_view import CODE_SAMPLE
    from llm_core.text.tokenview import fewest

    at = open_page()
    assert any(" the fewest tokens for this text (" in c.value for c in at.caption)  # prose: named, as before
    code_button = next(b for b in at.button if b.label == "Code")
    assert code_button.disabled and "lock in your guess there first" in code_button.help  # its counts are the answer
    set_text(at, CODE_SAMPLE)  # the question's own code, pasted: the caption waits
    assert not any(" the fewest tokens for this text (" in c.value for c in at.caption)
    set_text(at, EXAMPLES_CODE)
    counts = {name: row["tokens"] for name, row in table(at).items()}
    assert bars(at)[1] == list(counts.items())  # every count still shown
    caption = next(c.value for c in at.caption if c.value.startswith("Fewer tokens means more text fits"))
    assert "the fewest tokens for this text" not in caption and "once you have locked in your guess on the code question" in caption
    lock(at, "tokenization_code_fewest", "GPT-2")
    assert not next(b for b in at.button if b.label == "Code").disabled
    winners = fewest(counts)
    said = f"{' and '.join(winners)} {'need' if len(winners) > 1 else 'needs'} the fewest tokens for this text ({counts[winners[0]]:,})"
    assert any(c.value.startswith(said) for c in at.caption)
