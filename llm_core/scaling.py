"""Command line for the Scale chapter: a scaling sweep, its fits, and the emergence sweep.

    python -m llm_core.scaling sweep --out assets/sweeps/shakespeare-scaling.json
    python -m llm_core.scaling fit assets/sweeps/shakespeare-scaling.json
    python -m llm_core.scaling emergence --out assets/sweeps/addition-emergence.json
    python -m llm_core.scaling emergence --sizes 1x16,2x32,4x64 --seeds 1,2 --out assets/sweeps/addition-emergence-sizes.json

Each file records the exact command that made it. The engine is `llm_core.scale`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import torch


def _floats(text: str) -> tuple:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _ints(text: str) -> tuple:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def _sizes(text: str) -> tuple:
    """'2x16,4x64' -> ((2, 16), (4, 64)): layers x width."""
    try:
        return tuple(tuple(int(v) for v in s.lower().split("x")) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are LAYERSxWIDTH separated by commas (e.g. 2x16,4x64), got {text!r}") from None


def _parse(argv):
    from llm_core.scale.emergence import EmergencePlan
    from llm_core.scale.sweep import DEFAULT_BUDGETS, DEFAULT_SIZES, SweepPlan

    p = argparse.ArgumentParser(prog="python -m llm_core.scaling", description="Scaling sweeps, their fits, and emergence on a toy task.")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sweep", help="train a ladder of sizes at several compute budgets; write every run to JSON")
    s.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, help="LAYERSxWIDTH,... (default: %(default)s)")
    s.add_argument("--budgets", type=_floats, default=DEFAULT_BUDGETS, help="training FLOPs per run, comma-separated (default: %(default)s)")
    s.add_argument("--corpus", default=SweepPlan.corpus)
    s.add_argument("--batch-size", type=int, default=SweepPlan.batch_size)
    s.add_argument("--block-size", type=int, default=SweepPlan.block_size)
    s.add_argument("--max-epochs", type=float, default=SweepPlan.max_epochs)
    s.add_argument("--min-steps", type=int, default=SweepPlan.min_steps)
    s.add_argument("--seed", type=int, default=SweepPlan.seed)
    s.add_argument("--workers", type=int, default=1, help="train the budgets in this many processes at once (default: 1)")
    s.add_argument("--dry-run", action="store_true", help="list the runs and their cost, train nothing")
    s.add_argument("--out", help="write the sweep here (JSON)")
    f = sub.add_parser("fit", help="fit power laws and IsoFLOP curves to a sweep file and print them")
    f.add_argument("path")
    e = sub.add_parser("emergence", help="train on reversed-answer 3-digit addition; exact match and smooth metrics over steps")
    e.add_argument("--sizes", type=_sizes, default=EmergencePlan.sizes, help="LAYERSxWIDTH,... (default: %(default)s)")
    e.add_argument("--steps", type=int, default=EmergencePlan.steps)
    e.add_argument("--eval-every", type=int, default=EmergencePlan.eval_every)
    e.add_argument("--batch-size", type=int, default=EmergencePlan.batch_size)
    e.add_argument("--seed", type=int, default=EmergencePlan.seed, help="seed of the held-out split (and of the run, unless --seeds)")
    e.add_argument("--seeds", type=_ints, default=(), help="train each size once per seed, comma-separated (default: --seed alone)")
    e.add_argument("--workers", type=int, default=1, help="train this many (size, seed) runs at once, each in its own process (default: 1)")
    e.add_argument("--resume", action="store_true", help="keep the finished runs already in --out (same plan) and train only the others")
    e.add_argument("--out", help="write the series here (JSON)")
    return p.parse_args(argv)


def _sweep(args, command: str) -> int:
    from llm_core.scale.sweep import SweepError, SweepPlan, char_split, run_sweep, run_sweep_parallel, save_sweep, sweep_document

    plan = SweepPlan(sizes=args.sizes, budgets=args.budgets, corpus=args.corpus, batch_size=args.batch_size, block_size=args.block_size,
                     max_epochs=args.max_epochs, min_steps=args.min_steps, seed=args.seed)
    vocab, split = char_split(plan.corpus)
    try:
        specs = plan.runs(vocab, len(split.train))
    except (SweepError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(specs)} runs, {sum(s.flops for s in specs):.3g} training FLOPs in all, on {len(split.train):,} training tokens")
    if args.dry_run:
        for s in specs:
            print(f"  {s.label:>6} at {s.budget:.0e}: {s.steps:,} steps, {s.tokens:,} tokens, {s.epochs:.2f} epochs")
        return 0
    points, t0 = [], time.perf_counter()
    if args.workers > 1:
        for budget_points in run_sweep_parallel(plan, args.workers, args.threads or 1):
            points = sorted(points + budget_points, key=lambda p: (p["budget"], p["params_total"]))
            if args.out:
                save_sweep(args.out, sweep_document(plan, points, command, time.perf_counter() - t0, len(specs)))
    for rec in run_sweep(plan, split=split, vocab_size=vocab) if args.workers <= 1 else ():
        if rec.point is not None:
            pt = rec.point
            points.append(pt)
            print(f"[{rec.run_index + 1}/{rec.runs}] {pt['label']:>6} at {pt['budget']:.0e} FLOPs: {pt['steps']:,} steps, {pt['epochs']:.2f} epochs, "
                  f"val loss {pt['val_loss']:.4f}, {pt['wall_s']:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
            if args.out:  # after every run: a sweep cut short still leaves every finished run on disk
                save_sweep(args.out, sweep_document(plan, points, command, time.perf_counter() - t0, len(specs)))
    wall = time.perf_counter() - t0
    doc = sweep_document(plan, points, command, wall, len(specs))
    print(f"done in {wall:.0f} s; load average {doc['load_average']}")
    if args.out:
        print(f"wrote {save_sweep(args.out, doc)}")
    from llm_core.scale.fit import fit_sweep, summary_lines

    try:
        for line in summary_lines(fit_sweep(doc)):
            print(line)
    except ValueError as exc:
        print(f"no fit: {exc}")
    return 0


def _fit(args) -> int:
    from llm_core.scale.fit import fit_sweep, summary_lines
    from llm_core.scale.reading import COUNTS, read_sweep
    from llm_core.scale.sweep import SweepError, load_sweep

    try:
        doc = load_sweep(args.path)
        fits = {count: fit_sweep(doc, count) for count in COUNTS}
        for line in summary_lines(fits["params_total"]):
            print(line)
        print("\nThe reading (llm_core/scale/reading.py):")
        for line in read_sweep(doc, fits).sentences():
            print(f"- {line}")
    except (SweepError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _emergence(args, command: str) -> int:
    from llm_core.scale.emergence import EmergenceError, EmergencePlan, emergence_document, finished_rungs, load_emergence, rung_points, save_emergence

    plan = EmergencePlan(sizes=args.sizes, steps=args.steps, eval_every=args.eval_every, batch_size=args.batch_size, seed=args.seed,
                         seeds=args.seeds)
    # --workers and --resume change how the runs are scheduled, not what they compute: the file records the command without them
    canonical = _without(command, ("--resume",), ("--workers",))
    series, t0 = [], time.perf_counter()
    if args.resume and args.out and os.path.exists(args.out):
        try:
            old = load_emergence(args.out)
        except EmergenceError as exc:
            print(f"error: cannot resume: {exc}", file=sys.stderr)
            return 2
        same = {k: v for k, v in old["plan"].items() if k not in ("sizes", "seeds")} == {k: v for k, v in plan.to_dict().items() if k not in ("sizes", "seeds")}
        if not same:
            print("error: cannot resume: the file was made with another plan (steps, batch, evaluation or seed differ).", file=sys.stderr)
            return 2
        wanted = {(f"{n}x{w}", seed) for (n, w), seed in plan.rungs()}
        keep = finished_rungs(old["series"]) & wanted
        series = [p for p in old["series"] if (p["label"], p.get("seed")) in keep]
        print(f"resuming: {len(keep)} of {len(wanted)} runs already finished in {args.out}")
    done = finished_rungs(series)
    todo = [(size, seed) for size, seed in plan.rungs() if (f"{size[0]}x{size[1]}", seed) not in done]

    def save():
        series.sort(key=lambda p: (p["params_total"], p.get("seed") or 0, p["step"]))
        if args.out:  # after every run (or point): a sweep cut short still leaves its series on disk
            save_emergence(args.out, {**emergence_document(plan, series, canonical, time.perf_counter() - t0), "ran_as": command})

    def show(pt):
        print(f"{pt['label']:>6} seed {pt['seed']} step {pt['step']:>5}: exact match {pt['exact_match']:.1%}, per digit {pt['digit_accuracy']:.1%}, "
              f"answer log-prob {pt['answer_logprob']:.3f}, train exact {pt['train_exact_match']:.1%} (load {os.getloadavg()[0]:.2f})", flush=True)

    if args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(rung_points, plan.to_dict(), size, seed, args.threads or 1) for size, seed in reversed(todo)]  # largest first
            for future in as_completed(futures):
                points = future.result()
                series.extend(points)
                show(points[-1])
                save()
    else:
        from llm_core.scale.emergence import run_emergence

        for size, seed in todo:
            for rec in run_emergence(EmergencePlan.from_dict({**plan.to_dict(), "sizes": [list(size)], "seeds": [seed]})):
                if rec.point is not None:
                    series.append(rec.point)
                    show(rec.point)
                    save()
    wall = time.perf_counter() - t0
    save()
    print(f"done in {wall:.0f} s; load average {list(os.getloadavg())}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _without(command: str, flags=(), options=()) -> str:
    """The command with some flags (no value) and options (one value) taken out.

    >>> _without("python -m x emergence --workers 2 --resume --out f.json", ("--resume",), ("--workers",))
    'python -m x emergence --out f.json'
    """
    words, out, skip = shlex.split(command), [], False
    for w in words:
        if skip:
            skip = False
        elif w in flags:
            continue
        elif w in options:
            skip = True
        elif any(w.startswith(o + "=") for o in options):
            continue
        else:
            out.append(w)
    return " ".join(shlex.quote(w) for w in out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m llm_core.scaling " + " ".join(shlex.quote(a) for a in argv)
    if args.command == "sweep":
        return _sweep(args, command)
    if args.command == "fit":
        return _fit(args)
    return _emergence(args, command)


if __name__ == "__main__":
    raise SystemExit(main())
