"""The Generate chapter's two measurements on a model, printed: in-context (few-shot) learning and
one pass over a window against writing one token at a time. Figures, not tests; the load average
is printed beside them (the timings move with whatever else the machine runs).

    PYTHONPATH=. python benchmarks/generation_lessons.py [--model assets/models/shakespeare-tiny.safetensors] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from llm_core.generation.in_context import TASKS, few_shot_curve
from llm_core.generation.parallel import measure_parallel
from llm_core.model.checkpoint import load_checkpoint


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="assets/models/shakespeare-tiny.safetensors")
    parser.add_argument("--prompt", default="ROMEO:\n")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="times the one-pass measurement is made")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.model)
    model, tokenizer = loaded.model, loaded.tokenizer
    print(f"model {args.model}: {model.num_params():,} parameters; torch threads {args.threads}")

    print(f"\nIn-context learning (load average {load()}): probability of the right answer's first token, mean of 8 questions")
    for key, task in TASKS.items():
        t0 = time.perf_counter()
        curve = few_shot_curve(model, tokenizer, key)
        cells = "  ".join(f"K={p.shots}: {p.first_prob:.2%} (whole answer {p.answer_prob:.1e}, greedy exact {p.exact}/{len(p.questions)})" for p in curve.points)
        print(f"  {task.name:32s} {cells}   gain x{curve.gain:.2f}   [{time.perf_counter() - t0:.1f} s]")

    print(f"\nOne pass against one token at a time, prompt {args.prompt!r}:")
    for i in range(args.repeats):
        before = load()
        cost = measure_parallel(model, tokenizer.encode(args.prompt))
        ways = "; ".join(f"{w.name}: {w.ms_per_prediction:.3f} ms/prediction ({w.predictions_per_run} per run)" for w in cost.ways())
        print(f"  run {i + 1} (load {before}): {ways}; cached/pass x{cost.cached.ms_per_prediction / cost.one_pass.ms_per_prediction:.0f}, "
              f"uncached/pass x{cost.uncached.ms_per_prediction / cost.one_pass.ms_per_prediction:.0f}; "
              f"pass guessed the generated token at {cost.matches}/{cost.generated_in_window} positions")


if __name__ == "__main__":
    main()
