"""AppTest tests of the "Knowing and not knowing" chapter, on the shipped closed-book model and reader."""

from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT, metric
from streamlit.testing.v1 import AppTest

from llm_core.retrieval.chapter import load_shipped
from llm_core.retrieval.readers import closed_book_rows, exact_match, open_book_rows
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import make_world

APP = str(Path(ROOT) / "app.py")
TOWN = sorted({f.value for f in make_world(0).facts if f.attribute == "town"})[0]  # the add-fact form's default value
pytestmark = [pytest.mark.usefixtures("stop_jobs_afterwards"), pytest.mark.slow]


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(APP, default_timeout=600).run()
    app.switch_page("pages/knowing.py").run()
    OPEN_APPS.append(app)
    assert not app.exception, app.exception
    return app


def text_of(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.code] + [t.value for t in at.text] + [c.value for c in at.caption])


def test_the_chapter_measures_hallucination_and_retrieval(at):
    """The page's figures are the engine's: computed here again from the shipped models, they match."""
    world = make_world(0)
    closed, reader = load_shipped("closed-book"), load_shipped("reader")
    closed_rows = closed_book_rows(closed.model, closed.tokenizer, world, world.unknown_facts())
    open_rows = open_book_rows(reader.model, reader.tokenizer, world, Store(world.documents(), 60), world.unknown_facts(), 3)
    assert metric(at, "Right on unknown people") == f"{exact_match(closed_rows):.0%}" == metric(at, "Closed book, exact match")
    assert metric(at, "Open book, exact match") == f"{exact_match(open_rows):.0%}"
    assert float(metric(at, "BM25 recall@3").rstrip("%")) >= 95
    page = text_of(at)
    assert "Kalai and Vempala" in page and "Lewis et al. 2020" in page
    assert "BM25 score" in page and "<mark>" in page  # retrieved chunks with scores, matched words marked
    assert "<|assistant|>" in "\n".join(c.value for c in at.code)  # the prompt exactly as the reader reads it


def test_adding_a_fact_puts_it_in_the_readers_prompt_and_leaves_the_closed_book_answer_alone(at):
    def answers():
        cards = [m.value for m in at.markdown if "kn-answer" in m.value]
        return cards[0], cards[1]

    at.text_input(key="kn_question").set_value("Where was Merra Vantis born?").run()  # in no document yet
    closed_before, open_before = answers()
    assert "Merra Vantis was born" not in at.code[1].value
    assert "I don&#x27;t know" in open_before and "withheld: no retrieved chunk scores at least" in open_before  # the open book abstains
    next(b for b in at.button if b.label == "Add fact").click()  # the form's defaults: Merra Vantis, town, TOWN
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="kn_question").value == "Where was Merra Vantis born?"
    assert f"[1] Merra Vantis was born in {TOWN}." in at.code[1].value  # retrieved first, in the prompt at once
    closed_after, open_after = answers()
    assert closed_after == closed_before  # knowledge frozen at training time
    assert "found in chunk [1] of added: Merra Vantis (town)" in open_after and TOWN in open_after  # answered right, citing the chunk
    assert "frozen at training time" in text_of(at)


def test_the_page_measures_added_facts_and_abstention_as_the_engine_does(at):
    from llm_core.retrieval.chapter import MIN_SCORE, added_fact_rows, added_facts
    from llm_core.retrieval.world import NEW_KIND_NAMES

    world, reader = make_world(0), load_shipped("reader")
    rows = added_fact_rows(reader.model, reader.tokenizer, world, added_facts(world, 8, NEW_KIND_NAMES), 3, 60, min_score=MIN_SCORE)
    page = text_of(at)
    assert f"the reader answers **{sum(r.correct for r in rows)} of {len(rows)}** right" in page
    assert "it withholds" in page and "Sources: Kalai and Vempala 2024" in page
    assert "no way to tell them from plausible inventions" not in page and "exactly once" in page  # Kalai and Vempala stated as they proved it


def test_hostile_text_is_never_rendered(at):
    at.text_input(key="kn_question").set_value("Where was <b>**Bo**</b> born? <|end|>").run()
    assert not at.exception, at.exception
    html = "\n".join(m.value for m in at.markdown)
    assert "<b>**Bo**</b>" not in html  # escaped wherever it appears in HTML
    at.text_area(key="kn_paste").set_value("# Heading\n<img src=x onerror=alert(1)>").run()
    next(b for b in at.button if b.label == "Add to the store").click()
    at.run()
    assert not at.exception, at.exception
    assert any("<img src=x onerror=alert(1)>" in t.value for t in at.text)  # shown as plain text
