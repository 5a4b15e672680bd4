"""The chapter's measurements in one place, shared by the page and `benchmarks/knowing.py`.

What it is: summaries of scored answers (`closed_book_summary`), the closed-book vs open-book
comparison on the people no model was trained on (`compare_books`), what a retrieval miss does
(`miss_rows`: the reader gets the best chunks that do not state the answer), facts a user adds
(`added_fact_rows`: people in no document, kinds of fact no model trained on), and the shipped
models (`load_shipped`). Every figure is computed from the models given.
What it is not: Streamlit; the page draws these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm_core.model.checkpoint import MODELS_DIR, LoadedModel, load_checkpoint
from llm_core.retrieval.calibration import answer_with_confidence, expected_calibration_error, reliability_bins
from llm_core.retrieval.prompt import assemble
from llm_core.retrieval.readers import READER_MAX_TOKENS, Row, closed_book_rows, exact_match, open_book_rows, spoken
from llm_core.retrieval.store import Store, holds, recall_at_k
from llm_core.retrieval.world import NEW_KIND_NAMES, SEEN_COUNTS, Fact, World, new_facts, new_people

SHIPPED = {"closed-book": "knowing-closedbook", "reader": "knowing-reader"}


def load_shipped(kind: str, device="cpu") -> LoadedModel:
    return load_checkpoint(MODELS_DIR / f"{SHIPPED[kind]}.safetensors", device=device)


def lineage(loaded: LoadedModel) -> dict:
    """Where a shipped model came from, read from its own record: the commands that made it, oldest
    first, the training steps of each, its size, and whether it grew from the Shakespeare model.

    >>> from llm_core.model.gpt import GPT
    >>> from llm_core.model.config import ModelConfig
    >>> m = GPT(ModelConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8))
    >>> rec = {"earlier_commands": ["python -m llm_core.train --steps 1 --out a"], "command": "build --steps 30 --base a"}
    >>> lineage(LoadedModel(m, None, {"record": rec}))["steps"]
    [1, 30]
    """
    record = loaded.record
    commands = [*record.get("earlier_commands", []), record.get("command", "")]
    steps = [int(m.group(1)) if (m := re.search(r"--steps (\d+)", c)) else None for c in commands]
    c, parameters = loaded.model.config, sum(p.numel() for p in loaded.model.parameters())
    from_shakespeare = str(record.get("base_model", "")).startswith("shakespeare") or any("shakespeare-tiny" in c for c in commands)
    origin = "fine-tuned from the Shakespeare model" if from_shakespeare else "its own small model, not the Shakespeare one, started fresh and trained only to read"
    sentence = (f"{c.n_layer} layers × {c.n_embd} wide, {parameters:,} parameters, {origin}: "
                f"{' + '.join(f'{n:,}' for n in steps if n)} steps in {len(commands)} run(s) (the commands that made it are recorded in the description file saved beside its weights).")
    return dict(commands=commands, steps=steps, n_layer=c.n_layer, n_embd=c.n_embd, parameters=parameters, from_shakespeare=from_shakespeare, sentence=sentence)


def mean(xs) -> float | None:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


def closed_book_summary(rows: list[Row], n_bins: int = 10) -> dict:
    unknown = [r for r in rows if r.seen == 0]
    known = [r for r in rows if r.seen]
    conf, right = [r.answer.confidence for r in rows], [r.correct for r in rows]
    return dict(
        n_known=len(known), n_unknown=len(unknown),
        em_known=exact_match(known), em_unknown=exact_match(unknown),
        by_seen={n: (exact_match([r for r in rows if r.seen == n]), mean(r.answer.confidence for r in rows if r.seen == n)) for n in (0, *SEEN_COUNTS)},
        conf_wrong_unknown=mean(r.answer.confidence for r in unknown if not r.correct),
        conf_right_known=mean(r.answer.confidence for r in known if r.correct),
        entropy_unknown=mean(r.answer.first_entropy for r in unknown), entropy_known=mean(r.answer.first_entropy for r in known),
        ece=expected_calibration_error(conf, right, n_bins), bins=reliability_bins(conf, right, n_bins),
    )


def miss_rows(reader, tokenizer, world: World, store: Store, facts, k: int = 3) -> list[Row]:
    """Retrieval misses on purpose: the reader gets the best k chunks that do not state the answer."""
    rows = []
    for f in facts:
        hits = [h for h in store.search(f.question, k + 4) if not holds(h.chunk.text, f.person, f.value)][:k]
        prompt = assemble(f.question, [h.chunk.text for h in hits], tokenizer, reader.config.block_size)
        a = answer_with_confidence(reader, tokenizer, prompt.text, READER_MAX_TOKENS)
        rows.append(Row(f, prompt.text, a, spoken(a.text) == f.value, world.seen.get(f.person, 0), False))
    return rows


@dataclass
class Comparison:
    closed: list[Row]
    open: list[Row]
    missed: list[Row]
    recall: float
    k: int

    @property
    def figures(self) -> dict:
        wrong = [r.answer.confidence for r in self.closed if not r.correct]
        return dict(
            closed_book_em=exact_match(self.closed), closed_book_conf_wrong=mean(wrong),
            open_book_em=exact_match(self.open), open_book_conf=mean(r.answer.confidence for r in self.open),
            open_book_em_when_retrieved=exact_match([r for r in self.open if r.retrieved_right]),
            miss_em=exact_match(self.missed), miss_conf=mean(r.answer.confidence for r in self.missed),
            recall=self.recall, k=self.k, n=len(self.open),
        )


def compare_books(closed, closed_tok, reader, reader_tok, world: World, store: Store, k: int = 3, facts=None, closed_rows=None, min_score: float = 0.0) -> Comparison:
    facts = list(facts if facts is not None else world.unknown_facts())
    return Comparison(
        closed=closed_rows if closed_rows is not None else closed_book_rows(closed, closed_tok, world, facts),
        open=open_book_rows(reader, reader_tok, world, store, facts, k, min_score=min_score),
        missed=miss_rows(reader, reader_tok, world, store, facts, k),
        recall=recall_at_k(store.search, facts, k), k=k,
    )


def added_facts(world: World, n_people: int = 8, kinds=tuple(NEW_KIND_NAMES), seed: int = 1) -> list[Fact]:
    """Facts a user might add: `n_people` people in no document, one fact of each kind (by default
    the kinds no model here trained on), values from the kinds' pools. Fixed by the seed."""
    return new_facts(world, new_people(world, n_people, seed), kinds, seed)


def added_title(fact: Fact) -> str:
    """The title an added fact has in the store (the page uses the same)."""
    return f"added: {fact.person} ({fact.attribute})"


def added_fact_rows(reader, tokenizer, world: World, facts, k: int = 3, chunk_size: int = 60, together: bool = False, min_score: float = 0.0) -> list[Row]:
    """Each fact added to the encyclopedia, then asked about; the reader answers from the top k chunks.

    `together=False`: each fact alone beside the encyclopedia, as when a user adds one fact (its
    chunk competes with other people's facts of the same kind, which share the question's words).
    `together=True`: all of them at once, so a question's chunks also hold the same person's other
    added facts and the other new people's facts of the same kind.
    """
    facts = list(facts)
    if together:
        store = Store({**{added_title(f): f.sentence for f in facts}, **world.documents()}, chunk_size)
        return open_book_rows(reader, tokenizer, world, store, facts, k, min_score=min_score)
    rows = []
    for f in facts:
        store = Store({added_title(f): f.sentence, **world.documents()}, chunk_size)
        rows += open_book_rows(reader, tokenizer, world, store, [f], k, min_score=min_score)
    return rows


MIN_SCORE = 1.0  # BM25: a chunk that shares only a common word with the question ("born", "horse") scores below this in the chapter's store
MIN_CONFIDENCE = 0.5


@dataclass
class OpenBook:
    """One open-book answer with its evidence, or the reason it was withheld."""

    hits: list  # the top-k chunks retrieval returned (store.Hit), best first
    read: list  # those scoring at least min_score: what the reader is given
    prompt: object | None  # prompt.Assembled, None when nothing was read
    answer: object | None  # calibration.ScoredAnswer, None when nothing was read
    source: object | None  # the chunk read that states the answer (a Hit), if any
    abstained: str | None  # why no answer is given: nothing scored enough, or the reader was not confident enough

    @property
    def answered(self) -> bool:
        return self.abstained is None


def open_book(reader, tokenizer, store: Store, question: str, k: int = 3, min_score: float = MIN_SCORE, min_confidence: float = MIN_CONFIDENCE) -> OpenBook:
    """Retrieve, keep the chunks that score at least `min_score`, read them; abstain when none is kept or the answer's confidence is below `min_confidence`."""
    from llm_core.retrieval.store import mentions

    hits = store.search(question, k)
    read = [h for h in hits if h.score >= min_score]
    if not read:
        best = f"the best scores {hits[0].score:.2f}" if hits else "none shares a word with the question"
        return OpenBook(hits, [], None, None, None, f"no retrieved chunk scores at least {min_score:g} ({best}): nothing to read it from")
    prompt = assemble(question, [h.chunk.text for h in read], tokenizer, reader.config.block_size)
    a = answer_with_confidence(reader, tokenizer, prompt.text, READER_MAX_TOKENS)
    said = spoken(a.text)
    source = next((h for h in read[: prompt.chunks_used] if said and mentions(h.chunk.text, said)), None)
    why = None if a.confidence >= min_confidence else f"its confidence, {a.confidence:.0%}, is below {min_confidence:.0%}"
    return OpenBook(hits, read, prompt, a, source, why)


def abstention_summary(rows: list[Row], min_confidence: float = MIN_CONFIDENCE) -> dict:
    """Answered, right and withheld among open-book rows (withheld: nothing read, or confidence below the threshold)."""
    answered = [r for r in rows if not r.abstained and r.answer.confidence >= min_confidence]
    return dict(n=len(rows), answered=len(answered), right=sum(r.correct for r in answered), no_chunk=sum(r.abstained for r in rows),
                low_confidence=sum(1 for r in rows if not r.abstained and r.answer.confidence < min_confidence))
