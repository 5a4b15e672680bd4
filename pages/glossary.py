"""Glossary: every technical word the app shows, in plain words, each with the chapter where it is live.

Drawn from assets/teaching/glossary.toml (lab_ui/glossary.py), the same file the chapters' "Words on
this page" boxes and the widgets' help texts read. Two orders: A to Z (with a row of letters to
jump to), or chapter by chapter in the course's order (each word under the chapter that shows it live).
"""

import unicodedata

import streamlit as st

from lab_ui import course, glossary
from lab_ui.shell import ensure_app_shell

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

ORDERS = ["A to Z", "Chapter by chapter"]


def initial(term) -> str:
    """The heading a term is listed under: its first letter; "Greek" for β and σ (a capital Β reads as a Latin B)."""
    first = term.term[0].upper()
    if first.isalpha() and unicodedata.name(first, "").startswith("GREEK"):
        return "Greek"
    return first if first.isalpha() else "#"


def show(t, link: bool = True) -> None:
    chapter = course.chapter(t.chapter)
    with st.container(border=True):
        st.markdown(f"**{t.heading}**  \n{t.now()}")
        notes = []
        if t.aliases:
            notes.append("Also written: " + ", ".join(t.aliases))
        if t.source:
            notes.append(f"Where the idea comes from: {glossary.citation(t.source)}")
        if notes:
            st.caption(" · ".join(notes))
        if link and course.existing(chapter):
            st.page_link(chapter.path, label=f"See it live: {chapter.title}", icon=chapter.icon)


course.chapter_intro("glossary")
everything = sorted(glossary.terms(), key=lambda t: t.term.lower())
left, right = st.columns([2, 1])
wanted = left.text_input("Find a word", key="glossary_find", placeholder="for example: token, loss, RLHF")
order = right.radio("Order", ORDERS, horizontal=True, key="glossary_order")
terms = everything
if wanted.strip():
    needle = wanted.strip().lower()
    terms = [t for t in everything if needle in t.term.lower() or any(needle in a.lower() for a in t.aliases)
             or needle in t.spelled_out.lower()]
    st.caption(f"{len(terms)} of {len(everything)} words match.")
else:
    st.caption(f"{len(everything)} words, each explained without other unexplained words.")
if not terms:
    st.info("No word of the glossary matches. Try a shorter part of the word.")

if order == ORDERS[0]:
    letters = list(dict.fromkeys(initial(t) for t in terms))
    if len(letters) > 1:
        st.markdown("**Jump to:** " + " · ".join(f"[{x}](#letter-{x.lower() if x != '#' else 'other'})" for x in letters))
    for letter in letters:
        st.subheader(letter, anchor=f"letter-{letter.lower() if letter != '#' else 'other'}")
        for t in (t for t in terms if initial(t) == letter):
            show(t)
else:
    for c in course.chapters():
        mine = [t for t in terms if t.chapter == c.key]
        if not mine:
            continue
        st.subheader(f"{c.title} ({len(mine)})", anchor=f"chapter-{c.key}")
        if course.existing(c):
            st.page_link(c.path, label=f"Open {c.title}", icon=c.icon)
        for t in mine:
            show(t, link=False)
