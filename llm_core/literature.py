"""The literature the app cites: its sources and every published figure it shows, read from one register.

What it is: `assets/teaching/sources.toml` (each paper, talk, post or datasheet under a short key
such as `vaswani2017`) and `assets/teaching/claims.toml` (each published figure: its value, unit,
what it is, the source's key and where in the source it stands), read with `tomllib` and checked
once. `source(key)` and `claim(key)` return them, `cite(key)` gives the short citation a sentence
uses ("Vaswani et al. 2017"), `reference(key)` the full line a list of sources shows, and
`value(key)` a claim's number. A page that shows a published figure reads it here, so no figure
is typed twice (tests/test_literature.py checks the code for figures typed outside the register).
What it is not: Streamlit (pages call it), or a bibliography manager.

    >>> cite("vaswani2017")
    'Vaswani et al. 2017'
    >>> value("chinchilla_tokens_per_param")
    20.0
    >>> claim("deletang_chinchilla70b_enwik9").cite()
    'Delétang et al. 2023, Table 1'
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache

from llm_core.paths import ASSETS

TEACHING = ASSETS / "teaching"
SOURCE_FIELDS = ("short", "authors", "year", "title", "venue", "url", "used_for")
CLAIM_FIELDS = ("value", "unit", "what", "source", "where")
KEY = re.compile(r"[a-z][a-z0-9_]{2,40}")


class LiteratureError(KeyError):
    """A key that is not in the register, or a register entry that is incomplete."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Source:
    key: str
    short: str  # "Vaswani et al."
    authors: str
    year: int
    title: str
    venue: str
    url: str
    used_for: str

    def cite(self) -> str:
        return f"{self.short} {self.year}"

    def reference(self) -> str:
        return f"{self.authors} ({self.year}). \"{self.title}\". {self.venue}. {self.url}"


@dataclass(frozen=True)
class Claim:
    key: str
    value: float | tuple  # a number, or (low, high) for a published range
    unit: str  # "" for a pure number; "FLOP/s", "parameters", "tokens", "%", "GPU-hours", ...
    what: str  # what the figure is, in words
    source: str  # a key of sources.toml
    where: str  # page, table, section or minute in the source

    def cite(self) -> str:
        """'Kaplan et al. 2020, Section 1.2': the source and where the figure stands in it."""
        return f"{source(self.source).cite()}, {self.where}"


def _read(name: str) -> dict:
    with open(TEACHING / name, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def sources() -> dict[str, Source]:
    out = {}
    for key, entry in _read("sources.toml").items():
        missing = [f for f in SOURCE_FIELDS if f not in entry]
        if missing or not KEY.fullmatch(key):
            raise LiteratureError(f"sources.toml: [{key}] " + (f"lacks {', '.join(missing)}." if missing else "is not a short lower-case key."))
        out[key] = Source(key, **{f: entry[f] for f in SOURCE_FIELDS})
    return out


@lru_cache(maxsize=1)
def claims() -> dict[str, Claim]:
    known = sources()
    out = {}
    for key, entry in _read("claims.toml").items():
        missing = [f for f in CLAIM_FIELDS if f not in entry]
        if missing or not KEY.fullmatch(key):
            raise LiteratureError(f"claims.toml: [{key}] " + (f"lacks {', '.join(missing)}." if missing else "is not a short lower-case key."))
        if entry["source"] not in known:
            raise LiteratureError(f"claims.toml: [{key}] cites {entry['source']!r}, which sources.toml does not hold.")
        raw = entry["value"]
        value = tuple(float(v) for v in raw) if isinstance(raw, list) else float(raw)
        out[key] = Claim(key, value, entry["unit"], entry["what"], entry["source"], entry["where"])
    return out


def source(key: str) -> Source:
    try:
        return sources()[key]
    except KeyError:
        raise LiteratureError(f"no source {key!r} in assets/teaching/sources.toml.") from None


def claim(key: str) -> Claim:
    try:
        return claims()[key]
    except KeyError:
        raise LiteratureError(f"no claim {key!r} in assets/teaching/claims.toml.") from None


def value(key: str):
    """A claim's number (or its (low, high) range)."""
    return claim(key).value


def cite(key: str) -> str:
    """The short citation of a source ('Kaplan et al. 2020'), or of a claim with where it stands ('..., Table 2')."""
    if key in sources():
        return source(key).cite()
    if key in claims():
        return claim(key).cite()
    raise LiteratureError(f"{key!r} is neither a source nor a claim of the register (assets/teaching/).")


def reference(key: str) -> str:
    """The full line for a list of sources: authors (year). "Title". Venue. URL."""
    return source(key).reference()


def references(keys) -> str:
    """Several sources as one short line: 'Kaplan et al. 2020, "Scaling Laws ..." (URL); ...'."""
    return "; ".join(f"{source(k).cite()}, \"{source(k).title}\" ({source(k).url})" for k in dict.fromkeys(keys))
