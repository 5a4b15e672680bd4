"""A seeded world of invented people and facts no pre-trained model can already know.

What it is: `make_world(seed)` invents people (names built from syllables) with three facts each:
the town they were born in, their trade and their horse's name. Every fact is written two ways:
as a question/answer pair ("Where was Orvel Tamsin born?" -> "Quillmar") and as a sentence of a
short encyclopedia entry ("Orvel Tamsin was born in Quillmar."). People are split three ways:
  - known: a closed-book model is trained on their question/answer pairs, each fact repeated a
    controlled number of times (1, 2, 4, 8 or 16), so how often a fact was seen can be set
    against whether the model gets it right (Kalai and Vempala, 2024: facts seen once are where
    hallucination starts);
  - unknown: never in any training data; only their encyclopedia entries exist (in the store);
  - practice: fresh people, used only to teach a reader model to answer from a given context, so
    it learns to copy from documents rather than to remember anyone.
`NEW_KINDS` are kinds of fact no model is trained on (where someone lives, their dog, their
father's trade), for facts a user adds about `new_people`, who are in no document either.
Answers come from shared pools of 24 towns, 16 trades and 40 horse names (a closed-book model that
guesses picks a plausible one: a confident, well-formed, wrong answer; a reader learns to read out
whichever of them the context states, for people it has never seen).
What it is not: retrieval (`store.py`) or training (`readers.py`).

    >>> w = make_world(seed=0)
    >>> w == make_world(seed=0), len(w.known), len(w.unknown)
    (True, 50, 30)
    >>> f = w.facts_of(w.unknown[0])[0]
    >>> f.question.startswith("Where was ") and f.sentence.startswith(w.unknown[0])
    True
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

SEEN_COUNTS = (1, 2, 4, 8, 16)

ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "qu", "r", "s", "st", "t", "th", "v", "w", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "ia", "ou"]
CODAS = ["", "", "l", "n", "r", "s", "th", "m", "nd", "rk", "x"]

TRADES = ["baker", "cooper", "tanner", "weaver", "potter", "mason", "miller", "smith",
          "carter", "glazier", "fletcher", "thatcher", "brewer", "dyer", "chandler", "saddler"]

# (attribute, question template, sentence template)
ATTRIBUTES = [
    ("town", "Where was {name} born?", "{name} was born in {value}."),
    ("trade", "What is the trade of {name}?", "By trade, {name} is a {value}."),
    ("horse", "What is the name of {name}'s horse?", "The horse of {name} is called {value}."),
]
ATTRIBUTE_NAMES = [a for a, _, _ in ATTRIBUTES]
# Kinds of fact no model here is trained on, for facts a user adds: (kind, question, sentence, the
# pool its values come from). Their wording is new; their values are town, trade and horse names,
# the words the reader has one token each for (it reads a value out by copying that token).
NEW_KINDS = [
    ("home", "Which town does {name} live in?", "{name} lives in {value}.", "town"),
    ("dog", "What is {name}'s dog called?", "{name} has a dog named {value}.", "horse"),
    ("father", "What did the father of {name} do for a living?", "The father of {name} worked as a {value}.", "trade"),
]
NEW_KIND_NAMES = [a for a, _, _, _ in NEW_KINDS]
TEMPLATES = {a: (q, s) for a, q, s in ATTRIBUTES} | {a: (q, s) for a, q, s, _ in NEW_KINDS}
POOL_OF = {a: a for a in ATTRIBUTE_NAMES} | {a: pool for a, _, _, pool in NEW_KINDS}


@dataclass(frozen=True)
class Fact:
    person: str
    attribute: str  # "town", "trade" or "horse"
    value: str

    @property
    def question(self) -> str:
        return TEMPLATES[self.attribute][0].format(name=self.person)

    @property
    def sentence(self) -> str:
        return TEMPLATES[self.attribute][1].format(name=self.person, value=self.value)


@dataclass(frozen=True)
class World:
    seed: int
    known: tuple[str, ...]
    unknown: tuple[str, ...]
    practice: tuple[str, ...]
    facts: tuple[Fact, ...]  # every fact of every person, in a fixed order
    seen: dict = field(default_factory=dict, compare=False, hash=False)  # known person -> times each fact is trained on

    def facts_of(self, person: str) -> list[Fact]:
        return [f for f in self.facts if f.person == person]

    def document(self, person: str) -> str:
        """The encyclopedia entry of one person: one sentence per fact."""
        return " ".join(f.sentence for f in self.facts_of(person))

    def documents(self, people=None) -> dict[str, str]:
        """Title -> entry for the known and unknown people (the store; practice people are not in it)."""
        return {p: self.document(p) for p in (people if people is not None else self.known + self.unknown)}

    def known_facts(self) -> list[Fact]:
        names = set(self.known)
        return [f for f in self.facts if f.person in names]

    def unknown_facts(self) -> list[Fact]:
        names = set(self.unknown)
        return [f for f in self.facts if f.person in names]

    def practice_facts(self) -> list[Fact]:
        names = set(self.practice)
        return [f for f in self.facts if f.person in names]

    def values(self, kind: str) -> list[str]:
        """The values a fact of this kind takes (a new kind takes those of its pool), sorted."""
        pool = POOL_OF[kind]
        return sorted({f.value for f in self.facts if f.attribute == pool})

    def names(self) -> set[str]:
        """Every first name and surname in the world, lower-cased."""
        return {w.lower() for p in self.known + self.unknown + self.practice for w in p.split()}

    def closed_book_pairs(self) -> list[tuple[str, str]]:
        """(question, answer) training pairs: each known fact repeated as often as it is 'seen'."""
        return [(f.question, f.value) for f in self.known_facts() for _ in range(self.seen[f.person])]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)).capitalize()


def _unique_words(rng: random.Random, n: int, taken: set, syllables=(2, 3), min_len: int = 4, max_len: int = 9) -> list[str]:
    out = []
    while len(out) < n:
        w = _word(rng, rng.choice(syllables))
        if min_len <= len(w) <= max_len and w.lower() not in taken:
            taken.add(w.lower())
            out.append(w)
    return out


def make_world(seed: int = 0, n_known: int = 50, n_unknown: int = 30, n_practice: int = 400, n_towns: int = 24, n_horses: int = 40) -> World:
    """The same seed always gives the same world. Every first name and every surname is used once,
    so a name picks out one person (and one encyclopedia entry)."""
    if n_known % len(SEEN_COUNTS):
        raise ValueError(f"n_known must be a multiple of {len(SEEN_COUNTS)} (one group per seen count).")
    rng = random.Random(seed)
    taken = {t for t in TRADES}
    towns = _unique_words(rng, n_towns, taken)
    horses = _unique_words(rng, n_horses, taken, syllables=(1, 2), min_len=3, max_len=7)
    n = n_known + n_unknown + n_practice
    firsts, lasts = _unique_words(rng, n, taken), _unique_words(rng, n, taken)
    people = [f"{a} {b}" for a, b in zip(firsts, lasts)]
    facts = []
    for person in people:
        town, horse = rng.choice(towns), rng.choice(horses)  # drawn in this order: the shipped models were trained on this world
        facts += [Fact(person, "town", town), Fact(person, "trade", rng.choice(TRADES)), Fact(person, "horse", horse)]
    known = tuple(people[:n_known])
    seen = {p: SEEN_COUNTS[i % len(SEEN_COUNTS)] for i, p in enumerate(known)}
    return World(seed, known, tuple(people[n_known : n_known + n_unknown]), tuple(people[n_known + n_unknown :]), tuple(facts), seen)


def new_people(world: World, n: int, seed: int = 1) -> list[str]:
    """People in no document and no training set: first names and surnames the world never used.

    >>> w = make_world(0)
    >>> people = new_people(w, 8)
    >>> len(people), any(part.lower() in w.names() for p in people for part in p.split())
    (8, False)
    """
    rng = random.Random(f"new people {seed}")
    taken = world.names() | {v.lower() for f in world.facts for v in f.value.split()}
    firsts, lasts = _unique_words(rng, n, taken), _unique_words(rng, n, taken)
    return [f"{a} {b}" for a, b in zip(firsts, lasts)]


def new_facts(world: World, people: list[str], kinds, seed: int = 1) -> list[Fact]:
    """One fact of each kind for each person, its value drawn from the kind's pool.

    >>> w = make_world(0)
    >>> [f.sentence.endswith(".") and f.value in w.values(f.attribute) for f in new_facts(w, new_people(w, 2), NEW_KIND_NAMES)]
    [True, True, True, True, True, True]
    """
    rng = random.Random(f"new facts {seed}")
    return [Fact(p, kind, rng.choice(world.values(kind))) for p in people for kind in kinds]


def answer_value(sentence: str) -> str:
    """The value a sentence in the encyclopedia's wording states, or the text itself if it has another shape.

    >>> answer_value("The horse of Ann Lee is called Pell."), answer_value("By trade, Ann Lee is a smith."), answer_value("Tor")
    ('Pell', 'smith', 'Tor')
    """
    text = sentence.strip()
    for _, template in TEMPLATES.values():
        pattern = re.escape(template).replace(re.escape("{name}"), r".+?").replace(re.escape("{value}"), r"(.+?)")
        m = re.fullmatch(pattern, text)
        if m:
            return m.group(1)
    return text


def new_fact_sentence(person: str, attribute: str, value: str) -> str:
    """The sentence a user-added fact becomes in the store (same wording as the encyclopedia)."""
    return Fact(person, attribute, value).sentence
