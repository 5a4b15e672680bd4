"""The course: the route's order, every chapter's opening and way on, and progress kept on the desk."""

from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lab_ui import course

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["Overview", "Tokenization", "Embeddings", "Attention", "Generate", "Train a model", "Why scale matters",
         "Compression and cost", "Fine-tune and align", "Knowing and not knowing"]


def progress_of(at: AppTest) -> dict:
    """The course progress on the desk of an AppTest session."""
    from lab_ui.state import find_desk

    return find_desk(at.session_state["lab_desk_id"]).data["course"]


def test_the_route_is_in_teaching_order_with_a_glossary():
    assert [c.title for c in course.route()] == ORDER
    assert any(c.key == "glossary" and not c.course for c in course.chapters())
    for c in course.chapters():
        assert (ROOT / c.path).exists(), c.path
        assert all(n in {x.key for x in course.chapters()} for n in c.need), c.key


def calls(path: str, name: str) -> list[str]:
    """The first arguments of `course.<name>(...)` calls in a page's source."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == name and n.args and isinstance(n.args[0], ast.Constant)]


def test_every_chapter_opens_and_ends_through_the_course():
    for c in course.chapters():
        assert calls(c.path, "chapter_intro") == [c.key], c.path
        if c.course:
            assert calls(c.path, "chapter_end") == [c.key], c.path


def test_every_prediction_is_declared_and_every_declared_one_is_drawn():
    """`predict.checkpoint("key", ...)` calls in a chapter (its page or its lab_ui views) match its declared keys."""
    drawn: set[str] = set()
    for path in list(ROOT.glob("pages/*.py")) + list(ROOT.glob("lab_ui/*.py")):
        drawn |= set(calls(str(path.relative_to(ROOT)), "checkpoint"))
    declared = {k for c in course.chapters() for k in c.predictions}
    assert drawn == declared


def test_a_chapter_opens_with_in_this_chapter_and_links_to_the_next():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.switch_page("pages/attention.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Attention"
    text = " ".join(m.value for m in at.markdown)
    assert "In this chapter" in text and "You need first" in text and "Next:** Generate" in text
    assert "attention" in progress_of(at)["visited"]


def test_progress_comes_back_on_the_same_desk():
    """Visits are kept on the desk: a second session given the desk's id (a reload) finds them."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.switch_page("pages/tokenization.py").run()
    desk_id = at.session_state["lab_desk_id"]
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    again.query_params["run"] = desk_id
    again.run()
    assert not again.exception, again.exception
    visited = progress_of(again)["visited"]
    assert {"overview", "tokenization"} <= set(visited)
    route_text = " ".join(str(getattr(h, "value", "")) for h in again.get("html"))
    assert "Tokenization" in route_text and "visited" in route_text
