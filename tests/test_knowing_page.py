"""AppTest tests of the "Knowing and not knowing" chapter, on the shipped closed-book model and reader: its two
predictions (reveals computed from the models, hidden until the guess is locked), the measurements, retrieval."""

from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT, metric
from page_text import text_blocks
from streamlit.testing.v1 import AppTest

from llm_core.retrieval.chapter import load_shipped
from llm_core.retrieval.readers import closed_book_rows, exact_match, open_book_rows
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import make_world

APP = str(Path(ROOT) / "app.py")
TOWN = sorted({f.value for f in make_world(0).facts if f.attribute == "town"})[0]  # the add-fact form's default value
pytestmark = [pytest.mark.usefixtures("stop_jobs_afterwards"), pytest.mark.slow]


def knowing_page(guessed: bool = True) -> AppTest:
    """The chapter; with `guessed`, both predictions made (the measurements they hide are then shown)."""
    app = AppTest.from_file(APP, default_timeout=600).run()
    app.switch_page("pages/knowing.py").run()
    OPEN_APPS.append(app)
    assert not app.exception, app.exception
    if guessed:
        app.radio(key="predict_knowing_unknown_confident_guess").set_value(app.radio(key="predict_knowing_unknown_confident_guess").options[0]).run()
        app.button(key="predict_knowing_unknown_confident_lock").click().run()
        app.slider(key="predict_knowing_open_book_guess").set_value(0).run()
        app.button(key="predict_knowing_open_book_lock").click().run()
        assert not app.exception, app.exception
    return app


@pytest.fixture(scope="module")
def at():
    return knowing_page()


def reveal_with(at, words: str) -> str:
    return next(m.value for m in at.markdown if ("Right." in m.value or "Not this time." in m.value) and words in m.value)


def test_the_closed_book_reveal_is_its_measured_confidence_on_people_it_never_saw():
    fresh = knowing_page(guessed=False)
    assert not fresh.get("plotly_chart") and "Right on unknown people" not in [m.label for m in fresh.metric]  # nothing measured shows before the guess
    fresh.radio(key="predict_knowing_unknown_confident_guess").set_value("It answers, but unsure (under 50% confident)").run()
    fresh.button(key="predict_knowing_unknown_confident_lock").click().run()
    assert not fresh.exception, fresh.exception
    world, closed = make_world(0), load_shipped("closed-book")
    rows = closed_book_rows(closed.model, closed.tokenizer, world, world.unknown_facts())
    answered = [r for r in rows if r.answer.text.strip() and "know" not in r.answer.text.lower()]
    conf = sum(r.answer.confidence for r in answered) / len(answered)
    text = reveal_with(fresh, "people it never saw")
    assert f"it answered {len(answered)} of them" in text and f"a mean confidence of {conf:.0%}" in text
    assert f"{sum(r.correct for r in rows)} of the {len(rows)} answers were right" in text
    assert ("Right." in text) == (len(answered) >= len(rows) / 2 and conf < 0.5)
    assert len(fresh.get("plotly_chart")) == 4 and metric(fresh, "Right on unknown people") == f"{exact_match(rows):.0%}"  # shown once guessed
    assert "Open book, exact match" not in [m.label for m in fresh.metric]  # the second guess is still to make


def test_the_closed_book_answer_in_section_3_waits_for_section_2s_guess():
    """Section 3's example asks about a stranger: the closed book's answer to it would answer section 2's prediction."""
    fresh = knowing_page(guessed=False)
    assert not any("Closed book (" in m.value for m in fresh.markdown if "kn-answer" in m.value)
    assert any("its answer shows here once your guess in section 2 is locked in" in c.value for c in fresh.caption)
    fresh.radio(key="predict_knowing_unknown_confident_guess").set_value(fresh.radio(key="predict_knowing_unknown_confident_guess").options[0]).run()
    fresh.button(key="predict_knowing_unknown_confident_lock").click().run()
    assert any("Closed book (" in m.value for m in fresh.markdown if "kn-answer" in m.value)
    # the added facts' figures ("the reader answers 22 of 24 right") would hint at section 3's open-book question
    assert not any("Facts added to the store" in m.value for m in fresh.markdown)
    assert any("facts added to the store appears once your guess above is locked in" in c.value for c in fresh.caption)
    assert not any("confidence without knowledge" in h.value for h in fresh.header)  # the heading no longer answers section 2
    fresh.slider(key="predict_knowing_open_book_guess").set_value(0).run()
    fresh.button(key="predict_knowing_open_book_lock").click().run()
    assert any("Facts added to the store" in m.value for m in fresh.markdown)


def test_a_pasted_text_is_added_once_and_an_empty_question_is_named():
    app = knowing_page(guessed=False)
    app.text_area(key="kn_paste").set_value("Ilda Morrow was born in Quelport.").run()
    next(b for b in app.button if b.label == "Add to the store").click()
    app.run()
    assert [t for t in app.session_state["kn_docs"]] == ["yours: pasted #1"] and any(t.value.startswith("Added the pasted text") for t in app.text)
    next(b for b in app.button if b.label == "Add to the store").click()
    app.run()
    assert len(app.session_state["kn_docs"]) == 1 and any("the pasted text is already in the store" in t.value for t in app.text)
    app.text_area(key="kn_paste").set_value("   ").run()
    next(b for b in app.button if b.label == "Add to the store").click()
    app.run()
    assert len(app.session_state["kn_docs"]) == 1 and any("the pasted text is empty" in t.value for t in app.text)
    app.text_input(key="kn_question").set_value("  ").run()
    assert not app.exception and any("The question is empty" in t.value for t in app.text)


def test_a_fact_the_reader_cannot_read_is_refused_and_a_value_it_cannot_copy_is_warned():
    at = knowing_page(guessed=False)  # its own page: the form keeps what is typed in it
    n = len(at.session_state["kn_docs"])
    at.text_input(key="kn_person").set_value("🙂 李明")  # a form: its values go with the submit
    next(b for b in at.button if b.label == "Add fact").click()
    at.run()
    assert len(at.session_state["kn_docs"]) == n and any(w.value == "The fact was not added:" for w in at.warning)
    assert any("the reader has no token for" in t.value and "李" in t.value for t in at.text)
    at.text_input(key="kn_person").set_value("Orla Penn")
    at.text_input(key="kn_value").set_value("Tokyo")
    next(b for b in at.button if b.label == "Add fact").click()
    at.run()
    assert len(at.session_state["kn_docs"]) == n + 1 and any("'Tokyo' is not one of the reader's" in t.value for t in at.text)


def test_the_open_book_reveal_counts_the_readers_right_answers(at):
    from llm_core.retrieval.chapter import MIN_SCORE

    world, closed, reader = make_world(0), load_shipped("closed-book"), load_shipped("reader")
    facts = world.unknown_facts()
    right = sum(r.correct for r in open_book_rows(reader.model, reader.tokenizer, world, Store(world.documents(), 60), facts, 3, min_score=MIN_SCORE))
    closed_right = sum(r.correct for r in closed_book_rows(closed.model, closed.tokenizer, world, facts))
    text = reveal_with(at, "the reader got")
    assert f"the reader got {right} of {len(facts)} right; the closed-book model, from its weights alone, {closed_right} of {len(facts)}" in text
    assert ("Right." in text) == (right <= max(1, round(len(facts) / 10)))  # the guess was 0


def text_of(at) -> str:
    return "\n".join([m.value for m in at.markdown] + text_blocks(at) + [t.value for t in at.text] + [c.value for c in at.caption])


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
    assert "<|assistant|>" in "\n".join(text_blocks(at))  # the prompt exactly as the reader reads it


def test_adding_a_fact_puts_it_in_the_readers_prompt_and_leaves_the_closed_book_answer_alone(at):
    def answers():
        cards = [m.value for m in at.markdown if "kn-answer" in m.value]
        return cards[0], cards[1]

    at.text_input(key="kn_question").set_value("Where was Merra Vantis born?").run()  # in no document yet
    closed_before, open_before = answers()
    assert "Merra Vantis was born" not in text_blocks(at)[1]
    assert "I don&#x27;t know" in open_before and "withheld: no retrieved chunk scores at least" in open_before  # the open book abstains
    next(b for b in at.button if b.label == "Add fact").click()  # the form's defaults: Merra Vantis, town, TOWN
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="kn_question").value == "Where was Merra Vantis born?"
    assert f"[1] Merra Vantis was born in {TOWN}." in text_blocks(at)[1]  # retrieved first, in the prompt at once
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
