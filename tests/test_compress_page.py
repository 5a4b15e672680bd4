"""AppTest logic tests of the Compression and cost chapter (pages/compression.py), without a browser."""

import pytest
from conftest import ROOT, perturbed_model
from streamlit.testing.v1 import AppTest

from llm_core.model.config import model_preset


@pytest.fixture
def at():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/compression.py").run()
    assert not app.exception, app.exception
    return app


def html_blocks(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_page_opens_with_the_calculator_and_the_llama_check(at):
    page = html_blocks(at)
    assert "Compression and cost" in at.title[0].value
    assert "1,720,320" in page and "Touvron et al. 2023" in page  # published GPU-hours beside the calculator's
    assert "140 GB" in page and "Karpathy 2023" in page
    assert "43.5%" in page  # the implied utilisation, computed


def test_compress_a_pasted_text_shows_sizes_and_an_exact_round_trip(at):
    text = "ROMEO:\nBut soft, what light through yonder window breaks? 🙂 日本\n"
    at.text_area(key="compress_text").input(text).run()
    at.button(key="compress_go").click().run()
    assert not at.exception, at.exception
    assert any("Round trip exact" in s.value and f"{len(text):,} characters" in s.value for s in at.success)
    page = html_blocks(at)
    for name in ("gzip -9", "bzip2 -9", "xz -9e", "order-3 count model", "+ range coder"):
        assert name in page
    result = at.session_state["compress_result"]
    assert result["back"].text == text and result["packed"].n_escapes == 3  # emoji and the two CJK characters


def test_changing_the_parameter_count_updates_every_figure(at):
    before = html_blocks(at)
    at.number_input(key="cost_params_m").set_value(7000.0).run()  # 70B -> 7B
    after = html_blocks(at)
    assert "280 GB" in before and "28 GB" in after  # fp32 weights file: 4 bytes x 70e9, then x 7e9
    assert "8.4e+23 FLOPs" in before and "8.4e+22 FLOPs" in after


def test_another_model_compresses_too_and_the_precomputed_split_says_whose_it_is(at, char_tok):
    from lab_ui.state import REGISTRY_KEY, ModelEntry

    model = perturbed_model(model_preset("nano", char_tok.vocab_size))
    at.session_state[REGISTRY_KEY]["nano test"] = ModelEntry("nano test", model, char_tok, {}, "trained")
    at.session_state["lab_current_model"] = "nano test"
    at.run()
    assert not at.exception, at.exception
    assert any("Precomputed for the bundled model only" in c.value for c in at.caption)
    at.text_area(key="compress_text").input("to be, or not to be").run()
    at.button(key="compress_go").click().run()
    assert any("Round trip exact" in s.value for s in at.success)
