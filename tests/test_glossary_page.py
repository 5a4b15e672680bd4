"""The Glossary page (AppTest): every word of the glossary, A to Z with letters to jump to, or chapter
by chapter in the course's order; the search finds a word by any of its forms."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lab_ui import course, glossary

ROOT = Path(__file__).resolve().parent.parent


def open_glossary() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/glossary.py").run()
    assert not at.exception, at.exception
    return at


def headings(at: AppTest) -> list[str]:
    return [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**") and "  \n" in m.value]


def test_a_to_z_shows_every_word_once_under_its_letter():
    at = open_glossary()
    shown = headings(at)
    assert sorted(shown) == sorted(t.heading for t in glossary.terms()) and len(shown) == len(set(shown))
    letters = [s.value for s in at.subheader]
    assert letters == sorted(letters, key=lambda x: (x == "#", x == "Greek", x)) and "T" in letters  # Greek letters after Z, one heading
    assert "Greek" in letters and not any(len(x) == 1 and x.isalpha() and not x.isascii() for x in letters)  # no Β that reads as a B
    assert any(m.value.startswith("**Jump to:**") and "(#letter-t)" in m.value for m in at.markdown)


def test_chapter_by_chapter_follows_the_course_and_the_search_finds_aliases():
    at = open_glossary()
    at.radio(key="glossary_order").set_value("Chapter by chapter").run()
    titles = [s.value.rsplit(" (", 1)[0] for s in at.subheader]
    in_order = [c.title for c in course.chapters() if any(t.chapter == c.key for t in glossary.terms())]
    assert titles == in_order
    at.text_input(key="glossary_find").set_value("logits").run()  # an alias of "logit"
    assert headings(at) == [glossary.lookup("logit").heading]
    assert any(c.value == f"1 of {len(glossary.terms())} words match." for c in at.caption)
    at.text_input(key="glossary_find").set_value("zzzz").run()
    assert any("No word of the glossary matches" in i.value for i in at.info)
