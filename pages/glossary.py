"""Glossary: every technical word the app shows, in plain words, each with the chapter where it is live.

Drawn from assets/teaching/glossary.toml (lab_ui/glossary.py), the same file the chapters' "Words on
this page" boxes and the widgets' help texts read.
"""

import streamlit as st

from lab_ui import course, glossary
from lab_ui.shell import ensure_app_shell

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell

course.chapter_intro("glossary")
terms = sorted(glossary.terms(), key=lambda t: t.term.lower())
wanted = st.text_input("Find a word", key="glossary_find", placeholder="for example: token, loss, RLHF")
if wanted.strip():
    needle = wanted.strip().lower()
    terms = [t for t in terms if needle in t.term.lower() or any(needle in a.lower() for a in t.aliases) or needle in t.spelled_out.lower()]
    st.caption(f"{len(terms)} of {len(glossary.terms())} words match.")
if not terms:
    st.info("No word of the glossary matches. Try a shorter part of the word.")

for t in terms:
    chapter = course.chapter(t.chapter)
    with st.container(border=True):
        st.markdown(f"**{t.heading}**  \n{t.definition}")
        if t.aliases:
            st.caption("Also written: " + ", ".join(t.aliases))
        if t.source:
            st.caption(f"Where the idea comes from: {glossary.citation(t.source)}")
        if course.existing(chapter):
            st.page_link(chapter.path, label=f"See it live: {chapter.title}", icon=chapter.icon)
