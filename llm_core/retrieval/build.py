"""Command line: fine-tune the chapter's closed-book model or reader from a checkpoint and save it.

    python -m llm_core.retrieval.build --kind closed-book --out assets/models/knowing-closedbook
    python -m llm_core.retrieval.build --kind reader --out assets/models/knowing-reader

It starts from the bundled Shakespeare model unless `--base` names another checkpoint, trains
through the SFT path (`readers.FineTune`), measures the result on the world's questions, and saves
safetensors + JSON with the exact command and the measurements in the record.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time

from llm_core.model.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint
from llm_core.model.device import use_threads
from llm_core.retrieval.calibration import expected_calibration_error
from llm_core.retrieval.readers import KINDS, FineTune, closed_book_config, closed_book_rows, exact_match, open_book_rows, reader_config
from llm_core.retrieval.store import Store
from llm_core.retrieval.world import SEEN_COUNTS, make_world


def measure(kind: str, model, tokenizer, world, chunk_size: int = 60, k: int = 3) -> dict:
    """The figures the chapter states, measured on this model (recorded beside the weights)."""
    if kind == "closed-book":
        unknown = closed_book_rows(model, tokenizer, world, world.unknown_facts())
        known = closed_book_rows(model, tokenizer, world, world.known_facts())
        rows = known + unknown
        by_seen = {n: exact_match([r for r in known if r.seen == n]) for n in SEEN_COUNTS}
        wrong = [r.answer.confidence for r in unknown if not r.correct]
        return dict(
            exact_match_unknown=round(exact_match(unknown), 4), exact_match_known=round(exact_match(known), 4),
            exact_match_by_seen={str(n): round(v, 4) for n, v in by_seen.items()},
            mean_confidence_wrong_unknown=round(sum(wrong) / max(1, len(wrong)), 4),
            ece=round(expected_calibration_error([r.answer.confidence for r in rows], [r.correct for r in rows]), 4),
        )
    store = Store(world.documents(), chunk_size)
    rows = open_book_rows(model, tokenizer, world, store, world.unknown_facts(), k)
    return dict(open_book_exact_match_unknown=round(exact_match(rows), 4), chunk_size=chunk_size, k=k,
                retrieved_right=round(sum(r.retrieved_right for r in rows) / len(rows), 4))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--base", default=str(default_checkpoint_path()), help="checkpoint to start from (.safetensors)")
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="AdamW rate; Muon's rate scales with it")
    p.add_argument("--reader-examples", type=int, default=6000)
    p.add_argument("--reader-chunks", default="1,2,3,3,4", help="context sizes the reader trains on, drawn uniformly from this list")
    p.add_argument("--sentence-share", type=float, default=0.0, help="share of reader examples that are the answer sentence alone (a copying warm-up)")
    p.add_argument("--same-kind-share", type=float, default=0.0, help="chance that a distractor is another person's fact of the asked kind (teaches whose fact it is)")
    p.add_argument("--entry-share", type=float, default=0.0, help="share of reader examples whose chunks are whole entries (larger chunk sizes)")
    p.add_argument("--k", type=int, default=3, help="chunks the reader gets when measured")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    p.add_argument("--out", required=True, help="path without extension, e.g. assets/models/knowing-reader")
    args = p.parse_args(argv)
    use_threads(args.threads)
    base = load_checkpoint(args.base)
    world = make_world(args.world_seed)
    overrides = {k: v for k, v in dict(max_steps=args.steps, batch_size=args.batch_size).items() if v is not None}
    make = closed_book_config if args.kind == "closed-book" else reader_config
    if args.lr is not None:
        overrides.update(lr=args.lr, muon_lr=make().muon_lr_for(args.lr))
    cfg = make(**overrides)
    ft = FineTune(args.kind, base.model, base.tokenizer, world, cfg, base_name=os.path.basename(args.base), n_reader_examples=args.reader_examples,
                  reader_chunks=tuple(int(c) for c in args.reader_chunks.split(",")), sentence_share=args.sentence_share,
                  same_kind_share=args.same_kind_share, entry_share=args.entry_share)
    t0 = time.time()
    last = None
    for m in ft.steps(threading.Event()):
        last = m
        if m.val_loss is not None or m.step % 50 == 0:
            val = "" if m.val_loss is None else f" val {m.val_loss:.3f}"
            print(f"step {m.step}/{cfg.max_steps} loss {m.train_loss:.3f}{val} {time.time() - t0:.0f}s load {os.getloadavg()[0]:.1f}", flush=True)
    result = ft.finish(last, last.stop_reason if last else None)
    figures = measure(args.kind, result.model, result.tokenizer, world, k=args.k)
    earlier = list(base.record.get("earlier_commands", [])) + ([base.record["command"]] if base.record.get("command") else [])
    record = dict(result.record, earlier_commands=earlier, command="python -m llm_core.retrieval.build " + shlex.join(sys.argv[1:] if argv is None else argv),
                  wall_s=round(time.time() - t0, 1), load_average=round(os.getloadavg()[0], 2), measured=figures)
    save_checkpoint(args.out + ".safetensors", result.model, result.tokenizer, record)
    print(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
