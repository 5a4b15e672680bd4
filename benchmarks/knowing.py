"""Knowing and not knowing: hallucination and RAG, measured on the shipped models and on a live run.

    python -m benchmarks.knowing            # shipped models, then a live fine-tune of each (about 90 s each)
    python -m benchmarks.knowing --no-live  # shipped models only

Prints, for each pair of models: closed-book exact match on the unknown people and the mean
confidence of those wrong answers, open-book exact match on the same questions, BM25 recall@3 on
the generated store, the closed-book model's expected calibration error (over known and unknown
questions), and for the live run the wall time of each fine-tune. Figures, not tests; the load
average is printed beside the times (the development machine is shared).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from llm_core.model.checkpoint import default_checkpoint_path, load_checkpoint
from llm_core.model.device import use_threads
from llm_core.retrieval.chapter import closed_book_summary, compare_books, load_shipped
from llm_core.retrieval.readers import FineTune, closed_book_rows, live_config
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import make_world


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
    print(f"(measuring took {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f})")


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
