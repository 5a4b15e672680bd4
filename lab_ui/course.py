"""The course: the chapters in teaching order, each chapter's opening and its way on, and the
learner's progress along the route.

What it is: the one place that knows the route. The data (titles, takeaways, "In this chapter",
the terms and predictions of each chapter) is `assets/teaching/course.toml`; app.py builds the
navigation from it, every chapter opens with `chapter_intro(key)` and ends with `chapter_end(key)`,
and the Overview draws `route()`. Progress (chapters visited, predictions made and right) is kept
on the learner's desk (`state.desk().data["course"]`, JSON-able), so a reload or a second tab with
the desk finds it.

What it is not: the chapters' content. Pages tell their own story; this module frames it.
"""

from __future__ import annotations

import functools
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
COURSE_FILE = ROOT / "assets" / "teaching" / "course.toml"
PROGRESS_KEY = "course"  # desk().data[PROGRESS_KEY]: {"visited": {key: time}, "predictions": {key: {...}}}


@dataclass(frozen=True)
class Chapter:
    key: str
    path: str
    title: str
    icon: str
    section: str
    takeaway: str
    see: str = ""
    do: str = ""
    need: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    predictions: tuple[str, ...] = ()
    course: bool = True  # a step of the route (False: the Glossary, tools)
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@functools.cache
def chapters() -> tuple[Chapter, ...]:
    """Every page in navigation order, read from course.toml.

    >>> [c.key for c in chapters() if c.course][:5]
    ['overview', 'tokenization', 'embeddings', 'attention', 'generation']
    """
    doc = tomllib.loads(COURSE_FILE.read_text(encoding="utf-8"))
    known = set(Chapter.__dataclass_fields__) - {"extra"}
    out = []
    for raw in doc["chapter"]:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        fields["takeaway"] = " ".join(fields.get("takeaway", "").split())
        out.append(Chapter(**fields, extra={k: v for k, v in raw.items() if k not in known}))
    return tuple(out)


def route() -> tuple[Chapter, ...]:
    """The course's steps, in order (pages with `course = false` left out)."""
    return tuple(c for c in chapters() if c.course)


def chapter(key: str) -> Chapter:
    for c in chapters():
        if c.key == key:
            return c
    raise KeyError(f"no chapter {key!r} in {COURSE_FILE.name}")


def next_chapter(key: str) -> Chapter | None:
    """The route's next step after `key`, or None after the last.

    >>> next_chapter("attention").title, next_chapter("knowing")
    ('Generate', None)
    """
    steps = route()
    keys = [c.key for c in steps]
    i = keys.index(key)
    return steps[i + 1] if i + 1 < len(steps) else None


def existing(c: Chapter) -> bool:
    return (ROOT / c.path).exists()


def navigation_pages() -> dict[str, list]:
    """`st.navigation`'s sections: {section: [st.Page, ...]}, in course order, pages that exist."""
    sections: dict[str, list] = {}
    for c in chapters():
        if existing(c):
            sections.setdefault(c.section, []).append(st.Page(c.path, title=c.title, icon=c.icon, default=c.key == "overview"))
    return sections


# ---- progress, on the desk -------------------------------------------------------------------

def progress() -> dict:
    """This learner's progress (the desk's, created empty): {"visited": {...}, "predictions": {...}}."""
    from lab_ui import state  # here, not at import: state loads torch-backed models

    data = state.desk().data
    found = data.get(PROGRESS_KEY)
    if not isinstance(found, dict):
        found = data[PROGRESS_KEY] = {}
    found.setdefault("visited", {})
    found.setdefault("predictions", {})
    return found


def mark_visited(key: str) -> None:
    progress()["visited"].setdefault(key, time.time())


def score(prog: dict | None = None, keys: tuple[str, ...] | None = None) -> tuple[int, int, int]:
    """(made, right, total) over the route's predictions (or over `keys`).

    >>> score({"visited": {}, "predictions": {"a": {"right": True}, "b": {"right": False}}}, ("a", "b", "c"))
    (2, 1, 3)
    """
    prog = progress() if prog is None else prog
    keys = tuple(k for c in route() for k in c.predictions) if keys is None else keys
    made = [prog["predictions"][k] for k in keys if k in prog["predictions"]]
    return len(made), sum(1 for p in made if p.get("right") is True), len(keys)


# ---- what a chapter shows ---------------------------------------------------------------------

def _link(c: Chapter, label: str | None = None) -> None:
    if existing(c):
        st.page_link(c.path, label=label or c.title, icon=c.icon)


def chapter_intro(key: str) -> Chapter:
    """A chapter's first screen: its title, its takeaway, "In this chapter" (see, do, need first,
    linking back) and the words it uses, each defined. Marks the chapter visited."""
    from lab_ui import glossary

    c = chapter(key)
    mark_visited(key)
    st.title(c.extra.get("heading", c.title))
    st.markdown(c.takeaway)
    if c.see or c.do or c.need:
        with st.container(border=True):
            st.markdown("**In this chapter**")
            lines = []
            if c.see:
                lines.append(f"- **You will see** {c.see}.")
            if c.do:
                lines.append(f"- **You will** {c.do}.")
            if not c.need:
                lines.append("- **You need first:** nothing. Start here.")
            st.markdown("\n".join(lines))
            if c.need:
                st.markdown("- **You need first:** the chapters below (open them first if they are new to you).")
                cols = st.columns(len(c.need))
                for col, need in zip(cols, c.need):
                    with col:
                        _link(chapter(need))
    glossary.words_box(c.terms, key=f"words_{key}")
    return c


def chapter_end(key: str) -> None:
    """A chapter's last lines: its predictions' score, and the way on (the next chapter, or the route's end)."""
    c = chapter(key)
    st.divider()
    if c.predictions:
        made, right, total = score(keys=c.predictions)
        st.markdown(f"**Your predictions in this chapter:** {made} of {total} made, {right} right.")
    nxt = next_chapter(key) if c.course else None
    if nxt is not None:
        st.markdown(f"**Next:** {nxt.title}. {nxt.takeaway.split('. ')[0].rstrip('.')}.")
        _link(nxt, label=f"Go on to {nxt.title}")
    elif c.course:
        st.markdown("**You have reached the end of the route.** The Overview shows what you visited and predicted.")
        _link(chapter("overview"), label="Back to the route on the Overview")


def route_view() -> None:
    """The Overview's route: every step with what the learner did there, and where to go now."""
    prog = progress()
    steps = route()
    made, right, total = score(prog)
    visited = [c for c in steps if c.key in prog["visited"]]
    first_new = next((c for c in steps if c.key not in prog["visited"]), None)
    st.markdown(
        f"**Your route.** {len(visited)} of {len(steps)} chapters visited; predictions: {made} of {total} made, {right} right. "
        "Your progress is kept with your work in this browser's address (a reload keeps it)."
    )
    rows = []
    for i, c in enumerate(steps, 1):
        mine = [k for k in c.predictions if k in prog["predictions"]]
        good = sum(1 for k in mine if prog["predictions"][k].get("right") is True)
        rows.append({
            "step": str(i),
            "chapter": c.title,
            "visited": "yes" if c.key in prog["visited"] else "not yet",
            "predictions": f"{len(mine)} of {len(c.predictions)} made, {good} right" if c.predictions else "none",
        })
    from lab_ui.widgets import table_html

    st.html(table_html(rows))
    if first_new is not None and first_new.key != "overview":
        st.markdown(f"**Where to go now:** {first_new.title}.")
        _link(first_new, label=f"Continue with {first_new.title}")
