"""nanoGPT's CPU recipe and LLM Lab's tiny preset side by side: training time to nanoGPT's final loss.

    git --git-dir=<a clone of github.com/karpathy/nanoGPT>/.git archive HEAD | tar -x -C /tmp/speed-nanogpt
    PYTHONPATH=. python benchmarks/vs_nanogpt.py --nanogpt /tmp/speed-nanogpt [--rounds 2] [--budget 12 20]

nanoGPT is fetched to a temporary folder and never committed. Its data preparation reads
`data/shakespeare_char/input.txt` when it exists, so the bundled Tiny Shakespeare is copied there
(the same text: no download). Each round runs, one after the other, so that the machine's load
hits both alike (A, B, A, B ...):

  A. nanoGPT's command from its README for a CPU ("I only have a macbook"): 4 layers x 4 heads x
     128 wide, context 64, batch 12, 2,000 iterations, its config's learning rate 1e-3 decayed
     over 2,000 iterations, dropout 0, no compile. `--always_save_checkpoint=True` is added so its
     model at step 2,000 is saved (it changes nothing in training).
  B. `python -m llm_core.train --preset tiny --time BUDGET --eval-every-s EVERY` (plus --extra), once
     per budget given: the schedule's cosine ends at the budget, so it decides when the loss falls,
     and the preset trains the first half of the budget on half-length windows (`--extra
     '--short-windows 0'` turns that off). The budgets by default: 12 s, about the shortest run that
     gets there, and 20 s, whose loss at the full context cannot pass nanoGPT's before its half-length
     first 10 s are over (at 20 s the ratio says when that switch comes, not how fast the engine is).

Training time excludes evaluation on both sides: nanoGPT's is the sum of its per-iteration times,
with the iterations that ran an evaluation counted at its median iteration time; LLM Lab's is
the clock its loop keeps (evaluations excluded). nanoGPT's final validation loss is given twice:
as nanoGPT prints it (20 random batches of 12 x 64 held-out tokens) and measured here on its
saved step-2,000 model over the whole held-out split in windows of 64. LLM Lab's losses are over
the whole held-out split in windows of 128 (its context). The benchmark prints, per round, when
LLM Lab's evaluations first reach each of these targets, and the ratio. It prints figures and
the load average; it asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NANOGPT_ARGS = [
    "config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
    "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
    "--lr_decay_iters=2000", "--dropout=0.0",
]
NANOGPT_EVAL_INTERVAL = 250  # from config/train_shakespeare_char.py


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare_nanogpt(folder: Path) -> None:
    data = folder / "data" / "shakespeare_char"
    if not (data / "train.bin").exists():
        shutil.copy(ROOT / "assets" / "corpora" / "tinyshakespeare.txt", data / "input.txt")
        subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True, stdout=subprocess.DEVNULL)


def run_nanogpt(folder: Path, out_dir: Path, env: dict, iters: int = 2000) -> dict:
    recipe = [a.replace("2000", str(iters)) if a.startswith(("--max_iters", "--lr_decay_iters")) else a for a in NANOGPT_ARGS]
    command = [sys.executable, "train.py", *recipe, f"--out_dir={out_dir}", "--always_save_checkpoint=True"]
    print(f"  A. nanoGPT: (cd {folder} && {' '.join(command[1:-2])})  [+ --out_dir, --always_save_checkpoint=True]; load {load_average()}", flush=True)
    started = time.perf_counter()
    out = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"nanoGPT failed:\n{out.stderr[-3000:]}")
    iter_ms = {int(m[1]): float(m[2]) for m in re.finditer(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms", out.stdout, re.M)}
    evals = {int(m[1]): float(m[2]) for m in re.finditer(r"^step (\d+): train loss [\d.]+, val loss ([\d.]+)", out.stdout, re.M)}
    last = max(evals)
    # iteration i's time includes the evaluation that ran at its start when i % 250 == 0
    plain = [ms for i, ms in iter_ms.items() if i % NANOGPT_EVAL_INTERVAL and i < last]
    median = statistics.median(plain)
    seconds = (sum(plain) + median * sum(1 for i in iter_ms if i < last and i % NANOGPT_EVAL_INTERVAL == 0)) / 1000
    full = nanogpt_full_val_loss(folder, out_dir / "ckpt.pt")
    print(f"     {last} iterations in {seconds:.1f} s of training ({time.perf_counter() - started:.0f} s wall, median {median:.1f} ms/iteration); "
          f"final val loss {evals[last]:.4f} as it prints it, {full:.4f} on the whole held-out split; load {load_average()}", flush=True)
    return dict(seconds=seconds, printed=evals[last], full=full, median_ms=median)


def nanogpt_full_val_loss(folder: Path, checkpoint: Path) -> float:
    """Mean loss of nanoGPT's saved model over every held-out token, in windows of its context (64)."""
    import numpy as np
    import torch

    sys.path.insert(0, str(folder))
    try:
        from model import GPT, GPTConfig  # nanoGPT's model.py
    finally:
        sys.path.pop(0)
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)  # a file nanoGPT wrote in this run
    model = GPT(GPTConfig(**saved["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in saved["model"].items()})
    model.eval()
    data = torch.from_numpy(np.fromfile(folder / "data" / "shakespeare_char" / "val.bin", dtype=np.uint16).astype(np.int64))
    T = saved["model_args"]["block_size"]
    n = (len(data) - 1) // T
    x, y = data[: n * T].view(n, T), data[1 : n * T + 1].view(n, T)
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, 64):
            logits, _ = model(x[i : i + 64], y[i : i + 64])  # with targets nanoGPT returns every position's logits
            total += float(torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y[i : i + 64].reshape(-1), reduction="sum"))
    return total / (n * T)


def run_llm_lab(budget: float, every: float, extra: list[str], env: dict) -> list[tuple[float, float]]:
    command = [sys.executable, "-m", "llm_core.train", "--preset", "tiny", "--time", f"{budget:g}", "--eval-every-s", f"{every:g}", *extra]
    print(f"  B. LLM Lab: python {' '.join(command[1:])}; load {load_average()}", flush=True)
    started = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"LLM Lab failed:\n{out.stderr[-3000:]}")
    curve = [(float(m[1]), float(m[2])) for m in re.finditer(r"^step +\d+ \| +([\d.]+)s \| loss [\d.]+ val ([\d.]+)", out.stdout, re.M)]
    print(f"     evaluations (training s, val loss): {', '.join(f'{t:.1f}:{v:.3f}' for t, v in curve)}; "
          f"{time.perf_counter() - started:.0f} s wall; load {load_average()}", flush=True)
    return curve


def first_reached(curve: list[tuple[float, float]], target: float) -> float:
    return next((t for t, v in curve if v <= target), math.inf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nanogpt", type=Path, required=True, help="a folder holding nanoGPT's files (train.py, model.py, config/, data/)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--budget", type=float, nargs="+", default=[12.0, 20.0],
                        help="LLM Lab's time budget(s) in seconds of training (its schedule ends there); one run each. A 20 s run "
                             "spends its first 10 s on half-length windows, whose loss at the full context cannot reach the target before then")
    parser.add_argument("--eval-every-s", type=float, default=0.5, help="LLM Lab: seconds of training between evaluations")
    parser.add_argument("--extra", default="", help="more arguments for llm_core.train, e.g. '--batch-size 32'")
    parser.add_argument("--quick", action="store_true", help="250 nanoGPT iterations and a 3 s budget: checks that the benchmark runs")
    args = parser.parse_args()
    if args.quick:
        args.budget = [3.0]
    prepare_nanogpt(args.nanogpt)
    env = dict(os.environ)
    print(f"{os.cpu_count()} cores; OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}, OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'unset')} for both; load {load_average()}")
    ratios = []
    for r in range(args.rounds):
        print(f"round {r + 1}", flush=True)
        with tempfile.TemporaryDirectory(prefix="vs-nanogpt-") as out_dir:
            nano = run_nanogpt(args.nanogpt, Path(out_dir), env, iters=250 if args.quick else 2000)
        best = 0.0
        for budget in args.budget:
            curve = run_llm_lab(budget, args.eval_every_s, args.extra.split(), env)
            for name in ("printed", "full"):
                t = first_reached(curve, nano[name])
                ratio = nano["seconds"] / t if t > 0 else 0.0
                if name == "printed":
                    best = max(best, ratio)
                print(f"     nanoGPT's final loss {nano[name]:.4f} ({'as it prints it' if name == 'printed' else 'whole held-out split'}): nanoGPT {nano['seconds']:.1f} s, "
                      f"LLM Lab (--time {budget:g}) " + (f"{t:.1f} s -> {ratio:.1f}x sooner" if math.isfinite(t) else f"not reached in {budget:g} s"), flush=True)
        ratios.append(best)
    print(f"ratios (nanoGPT's printed final loss, the best budget of each round): {', '.join(f'{x:.1f}x' for x in ratios)}; "
          f"median {statistics.median(ratios):.1f}x; load {load_average()}")


if __name__ == "__main__":
    main()
