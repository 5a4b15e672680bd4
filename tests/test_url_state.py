"""A chapter opened with settings in its URL shows that view; a hand-edited URL's bad values fall
back to the defaults without an error; texts longer than the cap stay out of the URL (lab_ui/url_state.py)."""

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from lab_ui.url_state import URL_TEXT_CAP


def open_with(page: str, params: dict) -> AppTest:
    """A new session that opens `page` with `params` in its URL, as a shared link does. (AppTest's
    first run is always app.py's default page: the link is followed from there.)"""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.query_params.update(params)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def caption_texts(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_a_generation_link_sets_the_prompt_and_the_sampling():
    at = open_with("pages/generation.py", {"gen_prompt": "JULIET:\n", "gen_temperature": "1.3", "gen_top_k": "5",
                                           "gen_top_p": "0.5", "gen_seed": "7", "gen_max_new": "30"})
    assert at.text_area(key="gen_prompt").value == "JULIET:\n"
    assert at.slider(key="gen_temperature").value == pytest.approx(1.3)
    assert at.slider(key="gen_top_k").value == 5 and at.slider(key="gen_top_p").value == pytest.approx(0.5)
    assert at.number_input(key="gen_seed").value == 7 and at.number_input(key="gen_max_new").value == 30
    session = at.session_state["gen_session"]  # the generation itself runs with the link's settings
    assert session.seed == 7 and session.prompt_length == len("JULIET:\n")
    assert any("of 30 new tokens" in m.value for m in at.markdown)
    assert "run" not in at.query_params  # the desk's id stays out of the address: a link is not a desk (lab_ui/state.py)
    assert at.session_state["lab_desk_id"] not in str(dict(at.query_params))
    assert at.query_params["gen_prompt"] == "JULIET:\n"


def test_a_hand_edited_generation_link_falls_back_to_the_defaults():
    at = open_with("pages/generation.py", {"gen_prompt": "x" * (URL_TEXT_CAP + 1), "gen_temperature": "hot", "gen_top_k": "100000",
                                           "gen_top_p": "-3", "gen_seed": "1.5e99", "gen_max_new": "0"})
    assert at.text_area(key="gen_prompt").value == "ROMEO:\n"  # a text over the cap is not taken from a URL
    assert at.slider(key="gen_temperature").value == pytest.approx(0.8)
    assert at.slider(key="gen_top_k").value == 0 and at.slider(key="gen_top_p").value == pytest.approx(0.9)
    assert at.number_input(key="gen_seed").value == 0 and at.number_input(key="gen_max_new").value >= 1
    assert "gen_prompt" not in at.query_params


def test_an_attention_link_opens_its_layer_head_and_view():
    prompt = "To be, or not to be, that is the question."
    at = open_with("pages/attention.py", {"attention_prompt": prompt, "attention_layer": "3", "attention_head": "2",
                                          "attention_token_mode": "all its heads, averaged"})
    assert at.text_area(key="attention_prompt").value == prompt
    assert at.radio(key="attention_layer").value == 2 and at.radio(key="attention_head").value == 1  # the URL counts from 1, as the page does
    assert at.radio(key="attention_token_mode").value is True
    assert any(s.value == "Layer 3, head 2" for s in at.subheader)
    at = open_with("pages/attention.py", {"attention_prompt": prompt, "attention_query": "3: b"})  # the URL names a position as the page shows it
    assert at.select_slider(key="attention_query").value == 3
    assert open_with("pages/attention.py", {"attention_prompt": prompt, "attention_query": "3: x"}).select_slider(key="attention_query").value == len(prompt) - 1


def test_a_bad_attention_link_falls_back_without_an_error():
    at = open_with("pages/attention.py", {"attention_layer": "99", "attention_head": "two", "attention_token_mode": "<b>x</b>"})
    assert at.radio(key="attention_layer").value == 0 and at.radio(key="attention_head").value == 0
    assert at.radio(key="attention_token_mode").value is False
    assert any(s.value == "Layer 1, head 1" for s in at.subheader)


def test_a_tokenization_link_sets_the_text_and_the_text_box_writes_the_url_back():
    at = open_with("pages/tokenization.py", {"tok_text": "hello wörld 👋", "bpe_source": "The text above", "bpe_user_merges": "7"})
    assert at.text_area(key="tok_text").value == "hello wörld 👋"
    assert at.radio(key="bpe_source").value == "The text above" and at.slider(key="bpe_user_merges").value == 7
    at.text_area(key="tok_text").set_value("new text").run()
    assert at.query_params["tok_text"] == "new text"
    long_text = "a b " * URL_TEXT_CAP  # over the cap: out of the URL, and the page says so
    at.text_area(key="tok_text").set_value(long_text).run()
    assert "tok_text" not in at.query_params and at.query_params["bpe_user_merges"] == "7"  # the link keeps the other settings
    assert f"keeps texts of up to {URL_TEXT_CAP:,}" in caption_texts(at)
    at.button(key="tok_example_Numbers").click().run()  # an example picked by a button is a text like any other
    assert at.query_params["tok_text"].startswith("In 2024")


def test_a_tokenization_link_opens_the_merge_it_names():
    at = open_with("pages/tokenization.py", {"bpe_merge": "120"})
    assert at.slider(key="bpe_merge").value == 120 and any(m.label == "Merge 120" for m in at.metric)
    bad = open_with("pages/tokenization.py", {"bpe_merge": "10000000"})  # more merges than were learned: the default
    assert bad.slider(key="bpe_merge").value == 50


def test_an_embeddings_link_sets_the_projection_the_table_and_the_lookup():
    at = open_with("pages/embeddings.py", {"emb_dims": "3-D", "emb_seed": "5", "emb_lookup": "the", "emb_view": "Input table: what training changed"})
    assert at.radio(key="emb_dims").value == "3-D" and at.number_input(key="emb_seed").value == 5
    assert at.text_input(key="emb_lookup").value == "the"
    assert at.radio(key="emb_view").value == "Input table: what training changed"
    bad = open_with("pages/embeddings.py", {"emb_dims": "4-D", "emb_seed": "-1", "emb_view": "nonsense"})
    assert bad.radio(key="emb_dims").value == "2-D" and bad.number_input(key="emb_seed").value == 0
    assert bad.radio(key="emb_view").value == "Input table, as it is"


def test_the_other_chapters_take_their_settings_from_a_link():
    from llm_core.compression import costs

    gpu = list(costs.GPUS)[0]
    at = open_with("pages/compression.py", {"cost_gpu": gpu, "cost_gpus": "64", "cost_util": "40", "cost_context": "2048", "compress_text": "abc abc abc"})
    assert at.selectbox(key="cost_gpu").value == gpu and at.number_input(key="cost_gpus").value == 64
    assert at.slider(key="cost_util").value == pytest.approx(40.0) and at.number_input(key="cost_context").value == 2048
    assert at.text_area(key="compress_text").value == "abc abc abc"
    at = open_with("pages/scale.py", {"sc_seed": "42"})
    assert at.number_input(key="sc_seed").value == 42
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)  # the Overview is the app's first page: the link's first run
    at.query_params["overview_prompt"] = "JULIET: hello"
    at.run()
    assert at.text_input(key="overview_prompt").value == "JULIET: hello" and not at.exception


@pytest.mark.slow  # the Knowing chapter's first visit in a process makes its world, loads its models and answers every question closed-book: 8 s of CPU here (its page tests are slow too)
def test_a_knowing_link_sets_the_question_and_the_retrieval():
    at = open_with("pages/knowing.py", {"kn_question": "Where does Ada live?", "kn_k": "5", "kn_chunk": "100", "kn_threshold": "2.5"})
    assert at.text_input(key="kn_question").value == "Where does Ada live?"
    assert at.slider(key="kn_k").value == 5 and at.slider(key="kn_chunk").value == 100
    at.radio(key="predict_knowing_unknown_confident_guess").set_value("It says it does not know").run()
    at.button(key="predict_knowing_unknown_confident_lock").click().run()  # the threshold sits with the measurements this guess reveals
    assert at.slider(key="kn_threshold").value == pytest.approx(0.5)  # 2.5 is out of range: the default
    # a threshold in range, from a link, is there once the guess reveals its slider
    at = open_with("pages/knowing.py", {"kn_threshold": "0.7"})
    at.radio(key="predict_knowing_unknown_confident_guess").set_value("It says it does not know").run()
    at.button(key="predict_knowing_unknown_confident_lock").click().run()
    assert at.slider(key="kn_threshold").value == pytest.approx(0.7)
