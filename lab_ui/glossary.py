"""The glossary: plain-words definitions of every technical word the app shows, from one data file
(`assets/teaching/glossary.toml`).

What it is: the reader of that file (`terms()`, `lookup()`), the matcher that finds glossary words
in a text (`used_in()`, also run by tests/test_glossary.py on every rendered chapter), and the two
ways a page shows definitions: `words_box(terms)` (each chapter's "Words on this page", opened by
lab_ui.course.chapter_intro) and `help_text(term)` (a widget's `help=` tooltip).
What it is not: the Glossary page (pages/glossary.py draws it from here).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY_FILE = ROOT / "assets" / "teaching" / "glossary.toml"
WORDS_BOX_LABEL = "Words on this page"  # tests/page_text.py leaves this box's own text out of a page's "uses"


@dataclass(frozen=True)
class Term:
    term: str
    definition: str
    chapter: str
    aliases: tuple[str, ...] = ()
    spelled_out: str = ""
    source: str = ""
    until: tuple[str, ...] = ()  # predictions whose answer the definition gives: until all are locked, pages show `before`
    before: str = ""  # the definition without those answers

    def now(self) -> str:
        """The definition a page shows now: `before` while the prediction it would answer waits for a guess.

        >>> Term("loss", "How wrong the model is.", "x").now()
        'How wrong the model is.'
        """
        if self.until:
            from lab_ui import predict  # a page's session: what this learner has locked

            open_keys = [key for key in self.until if predict.made(key) is None]
            if open_keys:
                return f"{self.before} {self.rest_after(open_keys)}"
        return self.definition

    @staticmethod
    def rest_after(open_keys: list[str]) -> str:
        """The sign that a definition is held back, and until when.

        >>> Term.rest_after(["generation_temperature"])
        '(The rest of this definition appears once your guess in Generate is locked.)'
        """
        return f"(The rest of this definition appears once your guess in {' and '.join(_titles_of(open_keys)) or 'this chapter'} is locked.)"

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.term, *self.aliases)

    @property
    def heading(self) -> str:
        """The term as a definition list shows it: an acronym with what it stands for.

        >>> Term("KL", "d", "x", spelled_out="Kullback-Leibler divergence").heading
        'KL (Kullback-Leibler divergence)'
        """
        return f"{self.term} ({self.spelled_out})" if self.spelled_out else self.term


def _titles_of(keys: list[str]) -> list[str]:
    """The titles of the chapters whose checkpoints these are (course.toml), in course order."""
    from lab_ui import course

    return [c.title for c in course.chapters() if any(k in c.predictions for k in keys)]


def _pattern(form: str) -> re.Pattern:
    """A whole-word matcher for `form`: as written when it has a capital, a digit or a symbol
    (an acronym, "R²"), in any case when it is all lower-case letters, spaces and hyphens.

    >>> bool(_pattern("loss").search("Val Loss fell")), bool(_pattern("KL").search("a kl term"))
    (True, False)
    >>> bool(_pattern("head").search("ahead")), bool(_pattern("pass@k").search("its pass@k rose"))
    (False, True)
    """
    flags = re.IGNORECASE if re.fullmatch(r"[a-z][a-z \-/]*", form) else 0
    return re.compile(r"(?<![\w@-])" + re.escape(form) + r"(?![\w@-]|-\w)", flags)


@functools.cache
def _load() -> tuple[tuple[Term, ...], tuple[str, ...]]:
    doc = tomllib.loads(GLOSSARY_FILE.read_text(encoding="utf-8"))
    terms = tuple(
        Term(t["term"], " ".join(t["definition"].split()), t["chapter"], tuple(t.get("aliases", ())), t.get("spelled_out", ""), t.get("source", ""),
             tuple([t["until"]] if isinstance(t.get("until"), str) else t.get("until", ())), " ".join(t.get("before", "").split()))
        for t in doc["term"]
    )
    return terms, tuple(doc.get("jargon", {}).get("words", ()))


def terms() -> tuple[Term, ...]:
    return _load()[0]


def jargon() -> tuple[str, ...]:
    """Known technical words that must be defined here if a page shows them."""
    return _load()[1]


@functools.cache
def _by_form() -> dict[str, Term]:
    out: dict[str, Term] = {}
    for t in terms():
        for f in t.forms:
            out.setdefault(f.lower(), t)
    return out


def lookup(word: str) -> Term | None:
    """The term a word (or one of its forms) belongs to.

    >>> lookup("logits").term, lookup("no such word") is None
    ('logit', True)
    """
    return _by_form().get(word.lower())


@functools.cache
def _matchers() -> tuple[tuple[re.Pattern, str, Term | None], ...]:
    """(pattern, form, term) for every form, longest first (so "validation loss" wins over "loss"),
    and for every jargon word with no entry (term None)."""
    pairs = [(f, t) for t in terms() for f in t.forms]
    pairs += [(w, None) for w in jargon() if lookup(w) is None]
    pairs.sort(key=lambda p: -len(p[0]))
    return tuple((_pattern(f), f, t) for f, t in pairs)


def used_in(text: str) -> dict[str, list[str]]:
    """The glossary terms (and undefined jargon, under "?<word>") a text uses: {term: [forms seen]}.
    A longer form hides the shorter ones inside it ("validation loss" is not also "loss").

    >>> sorted(used_in("The validation loss fell; a KL leash held. Perplexity rose."))
    ['?perplexity', 'KL', 'validation loss']
    """
    found: dict[str, list[str]] = {}
    taken = [False] * len(text)
    for pattern, form, term in _matchers():
        for m in pattern.finditer(text):
            if any(taken[m.start():m.end()]):
                continue
            taken[m.start():m.end()] = [True] * (m.end() - m.start())
            found.setdefault(term.term if term else f"?{form.lower()}", []).append(m.group(0))
    return found


def undefined(text: str, defined: tuple[str, ...] | list[str]) -> list[str]:
    """The technical words a text uses that `defined` (a page's "Words on this page") does not cover:
    glossary terms missing from the list, and known jargon with no glossary entry ("?word").

    >>> undefined("Its logits and its perplexity; every token counts.", ["token"])
    ['?perplexity', 'logit']
    """
    covered = {lookup(d).term for d in defined if lookup(d) is not None}
    return sorted(k for k in used_in(text) if k not in covered)


def help_text(term: str) -> str:
    """A widget's tooltip: the term's definition (acronyms spelled out), as the page shows it now.

    >>> help_text("token").startswith("**token**: ")
    True
    """
    t = lookup(term)
    if t is None:
        raise KeyError(f"{term!r} is not in {GLOSSARY_FILE.name}")
    return f"**{t.heading}**: {t.now()}"


def citation(source_key: str) -> str:
    """A short citation for a source key, from assets/teaching/sources.toml once it exists (the key itself before)."""
    try:
        from llm_core import literature  # the sources register (assets/teaching/sources.toml)
    except ImportError:
        return source_key
    try:
        return literature.cite(source_key)
    except KeyError:
        return source_key


def words_box(names: tuple[str, ...] | list[str], key: str | None = None) -> None:
    """A chapter's "Words on this page": every term it uses, defined, in one closed expander."""
    import streamlit as st
    from streamlit.errors import StreamlitAPIException

    chosen = [lookup(n) for n in names]
    missing = [n for n, t in zip(names, chosen) if t is None]
    if missing:
        raise KeyError(f"not in {GLOSSARY_FILE.name}: {missing}")
    if not chosen:
        return
    chosen = sorted({t.term: t for t in chosen}.values(), key=lambda t: t.term.lower())
    with st.expander(f"{WORDS_BOX_LABEL} ({len(chosen)}): what each technical word means", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{t.heading}**: {t.now()}" for t in chosen))
        try:
            st.page_link("pages/glossary.py", label="Every word, in the Glossary", icon=":material/dictionary:")
        except StreamlitAPIException:  # a page outside the app's navigation (a test script) has no Glossary to link to
            pass
