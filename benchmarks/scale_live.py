"""The Scale chapter's live mini-sweep: its wall time, and how far its points land from the shipped fit.

Prints figures; asserts nothing. Runs the mini-sweep the page starts with its default settings
(the three sizes it preselects at the smallest shipped budget, seed 1) through a background `Job`
exactly as the page does, then prints the wall time (goal: under 3 minutes), each point's held-out
loss beside the shipped IsoFLOP parabola for that budget, and the load average (on the shared
2-core machine the times move a lot with other load).

    PYTHONPATH=. python benchmarks/scale_live.py
    PYTHONPATH=. python benchmarks/scale_live.py --budget 3e10 --seed 2
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

from llm_core.jobs import Job
from llm_core.paths import ASSETS
from llm_core.scale.fit import fit_sweep, residuals
from llm_core.scale.sweep import SweepPlan, load_sweep, run_sweep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, help="a budget of the shipped sweep (default: its smallest)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sweep", default=str(ASSETS / "sweeps" / "shakespeare-scaling.json"))
    args = p.parse_args()

    doc = load_sweep(args.sweep)
    budget = args.budget or min(r["budget"] for r in doc["runs"])
    at_budget = sorted((r for r in doc["runs"] if r["budget"] == budget), key=lambda r: r["params_total"])
    if len(at_budget) < 3:
        raise SystemExit(f"the shipped sweep has fewer than 3 runs at {budget:.0e} FLOPs")
    chosen = [at_budget[1], at_budget[len(at_budget) // 2], at_budget[-1]] if len(at_budget) >= 4 else at_budget[-3:]  # what the page preselects
    plan = SweepPlan.from_dict({**doc["plan"], "budgets": [budget], "sizes": [(r["n_layer"], r["n_embd"]) for r in chosen], "seed": args.seed})
    print(f"mini-sweep: {', '.join(r['label'] for r in chosen)} at {budget:.0e} FLOPs, seed {args.seed}; load average before {os.getloadavg()}")

    job = Job(partial(run_sweep, plan, threads=1), name="scale benchmark")
    t0 = time.perf_counter()
    job.start()
    job.join()
    wall = time.perf_counter() - t0
    snap = job.snapshot()
    if snap.status == "failed":
        raise SystemExit(f"the mini-sweep failed: {snap.error}")
    points = [r.point for r in snap.records if r.point is not None]
    print(f"wall time: {wall:.1f} s for {len(points)} runs (goal: under 180 s); load average after {os.getloadavg()}")

    for key in ("params_total", "params_non_embedding"):
        fit = fit_sweep(doc, key)
        res = residuals(points, fit.minima, key)
        print(f"distance from the shipped IsoFLOP parabola ({key}):")
        for r in res:
            pt = r["point"]
            print(f"  {pt['label']:>6}: loss {pt['val_loss']:.4f}, shipped curve {r['predicted']:.4f}, "
                  f"distance {r['residual']:+.4f} nats ({r['residual'] / r['predicted']:+.1%}), {pt['wall_s']:.1f} s")
        if res:
            print(f"  mean |distance| {sum(abs(r['residual']) for r in res) / len(res):.4f} nats")
    shipped = {r["label"]: r["val_loss"] for r in at_budget}
    diffs = ", ".join(f"{p['label']} {p['val_loss'] - shipped[p['label']]:+.4f}" for p in points)
    print(f"loss minus the same size's in the shipped sweep (seed {doc['plan']['seed']}): {diffs}")


if __name__ == "__main__":
    main()
