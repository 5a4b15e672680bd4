"""Knowing and not knowing: hallucination and RAG, measured on the shipped models and on a live run.

    python -m benchmarks.knowing            # shipped models, then a live fine-tune of each (about 90 s each)
    python -m benchmarks.knowing --no-live  # shipped models only

Prints, for each pair of models: closed-book exact match on the unknown people and the mean
confidence of those wrong answers, open-book exact match on the same questions, BM25 recall@3 on
the generated store, the closed-book model's expected calibration error (over known and unknown
questions), facts a user adds (`added facts: N/M right`: people in no document and kinds of fact
no model trained on, each added alone to the store as the page does, read with the page's
settings; then the same facts added all at once, the trained kinds, and each without the
retrieval-score threshold, so what the reader itself does shows), what the open book does with
questions about people in no document (it should abstain), and for the live run the wall time of
each fine-tune. Figures, not tests; the load average is printed beside the times (the
development machine is shared).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from llm_core.model.checkpoint import default_checkpoint_path, load_checkpoint
from llm_core.model.device import use_threads
from llm_core.retrieval.chapter import (
    MIN_CONFIDENCE,
    MIN_SCORE,
    abstention_summary,
    added_fact_rows,
    added_facts,
    closed_book_summary,
    compare_books,
    load_shipped,
)
from llm_core.retrieval.readers import FineTune, closed_book_rows, live_config, open_book_rows
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import ATTRIBUTE_NAMES, NEW_KIND_NAMES, make_world


def report(label: str, closed, closed_tok, reader, reader_tok, world, k: int = 3, chunk_size: int = 60) -> None:
    t0 = time.perf_counter()
    rows = closed_book_rows(closed, closed_tok, world, world.known_facts() + world.unknown_facts())
    s = closed_book_summary(rows)
    store = Store(world.documents(), chunk_size)
    g = compare_books(closed, closed_tok, reader, reader_tok, world, store, k, closed_rows=[r for r in rows if r.seen == 0]).figures
    print(f"\n== {label} ({g['n']} questions about unknown people; chunk size {chunk_size}, k={k})")
    print(f"closed-book exact match, unknown people   {g['closed_book_em']:6.1%}   mean confidence of its wrong answers {g['closed_book_conf_wrong']:.1%}")
    print(f"closed-book exact match, known people     {s['em_known']:6.1%}   by times seen: " + ", ".join(f"{n}x {v[0]:.0%}" for n, v in s["by_seen"].items() if n))
    print(f"open-book exact match, same questions     {g['open_book_em']:6.1%}   (mean confidence {g['open_book_conf']:.1%})")
    print(f"open-book exact match, retrieval missed   {g['miss_em']:6.1%}   (mean confidence {g['miss_conf']:.1%})")
    print(f"BM25 recall@{k} on the generated store      {g['recall']:6.1%}")
    print(f"closed-book expected calibration error    {s['ece']:.3f}   (10 bins, {len(rows)} questions)")
    added(reader, reader_tok, world, k, chunk_size)
    print(f"(measuring took {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f})")


def _right(rows) -> str:
    return f"{sum(r.correct for r in rows)}/{len(rows)} right"


def added(reader, reader_tok, world, k: int, chunk_size: int) -> None:
    """Facts a user adds: 8 people in no document, one fact of each kind, read with the page's settings (and without the score threshold)."""
    new_kinds, trained_kinds = added_facts(world, 8, NEW_KIND_NAMES), added_facts(world, 8, ATTRIBUTE_NAMES)
    rows = added_fact_rows(reader, reader_tok, world, new_kinds, k, chunk_size, min_score=MIN_SCORE)
    print(f"added facts: {_right(rows)}   (8 people in no document x 3 kinds of fact no model trained on "
          f"({', '.join(NEW_KIND_NAMES)}), each added alone; k={k}, chunks read only at BM25 score >= {MIN_SCORE:g})")
    by_kind = ", ".join(f"{kind} {sum(r.correct for r in rows if r.fact.attribute == kind)}/{sum(r.fact.attribute == kind for r in rows)}" for kind in NEW_KIND_NAMES)
    print(f"  by kind: {by_kind}; abstained {sum(r.abstained for r in rows)}")
    for label, facts in (("new kinds", new_kinds), ("trained kinds", trained_kinds)):
        for together in (False, True):
            for min_score in (MIN_SCORE, 0.0):
                if label == "new kinds" and not together and min_score == MIN_SCORE:
                    continue  # the headline line above
                r = added_fact_rows(reader, reader_tok, world, facts, k, chunk_size, together, min_score)
                how = "all added at once" if together else "each added alone"
                gate = f"score >= {MIN_SCORE:g}" if min_score else "every top-k chunk read (no score threshold)"
                print(f"  {label}, {how}, {gate}: {_right(r)}")
    store = Store(world.documents(), chunk_size)
    absent = open_book_rows(reader, reader_tok, world, store, new_kinds + trained_kinds, k, min_score=MIN_SCORE)
    a = abstention_summary(absent, MIN_CONFIDENCE)
    print(f"questions about people in no document ({a['n']}): abstained {a['no_chunk'] + a['low_confidence']} "
          f"({a['no_chunk']} no chunk scored >= {MIN_SCORE:g}, {a['low_confidence']} confidence < {MIN_CONFIDENCE:.0%}), answered {a['answered']}")


def live(kind: str, base, world, budget_s: float):
    ft = FineTune(kind, base.model, base.tokenizer, world, live_config(kind, budget_s), base_name="shakespeare-tiny")
    t0 = time.perf_counter()
    last = None
    for record in ft.steps(threading.Event()):
        last = record
    ft.measure()
    result = ft.finish(last, last.stop_reason)
    wall = time.perf_counter() - t0
    print(f"live {kind} fine-tune: {wall:.0f} s wall ({ft.state.step} steps, budget {budget_s:g} s), load average {os.getloadavg()[0]:.1f}")
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--no-live", action="store_true")
    p.add_argument("--budget", type=float, default=90.0, help="seconds of training per live fine-tune")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    use_threads(args.threads)
    print(f"load average at start: {os.getloadavg()}, torch threads {args.threads}")
    world = make_world(0)
    closed, reader = load_shipped("closed-book"), load_shipped("reader")
    report("shipped models", closed.model, closed.tokenizer, reader.model, reader.tokenizer, world)
    if args.no_live:
        return
    base = load_checkpoint(default_checkpoint_path())
    print("\nLive run from the bundled Shakespeare model:")
    live_closed = live("closed-book", base, world, args.budget)
    live_reader = live("reader", base, world, args.budget)
    report("live models", live_closed.model, live_closed.tokenizer, live_reader.model, live_reader.tokenizer, world)


if __name__ == "__main__":
    main()
