"""How long the server takes per Step of the Generation chapter, and what the KV cache buys.

Goal (issue 6): under 30 ms of server time per Step for the tiny bundled model. Prints:
  1. the model alone: one GenerationSession.step() (sample, append, run the model for the next
     token), with and without the KV cache, over 300 steps (the window slides 3 times);
  2. the page: server-side script time of a whole rerun after a Step click, a slider move and a
     Play tick, measured by the page itself (time.perf_counter around pages/generation.py,
     stored in session state) under AppTest, and AppTest's wall time per run (an upper bound:
     it includes app.py, the sidebar and AppTest's own bookkeeping);
  3. raw generation speed: tokens/s of `generate` with and without the cache, and
     `ms_per_token` (what the page's "Measure" button shows) at several lengths.
It prints numbers; it asserts nothing.

    PYTHONPATH=.:tests python benchmarks/generation_page.py [--steps 40] [--threads N]   # from the repository root
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):6.2f} ms   p90 {p90:6.2f} ms   max {ms[-1]:6.2f} ms   (n={len(ms)})"


def model_steps(model, tokenizer, steps: int) -> None:
    from llm_core.generation.sample import Shaping
    from llm_core.generation.stepper import GenerationSession

    print(f"\n[1] the model alone: GenerationSession.step(), {steps} steps from 'ROMEO:' (context {model.config.block_size})")
    for use_cache in (True, False):
        session = GenerationSession(model, tokenizer.encode("ROMEO:\n"), seed=0, use_cache=use_cache)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            session.step(Shaping(0.8, top_p=0.9))
            times.append(1000 * (time.perf_counter() - t0))
        print(f"    {'KV cache' if use_cache else 'no cache':9s} {summary(times)}")


def page(steps: int) -> None:
    from gen_helpers import open_generation

    print("\n[2] the page under AppTest (server-side script time measured by the page; wall time per AppTest run)")
    at = open_generation(ROOT)
    for _ in range(3):  # warm-up: imports, plotly validators, first figure
        at.button(key="gen_step").click().run()
    script, wall = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        at.button(key="gen_step").click().run()
        wall.append(1000 * (time.perf_counter() - t0))
        script.append(at.session_state["gen_script_ms"])
    print(f"    Step click, page script     {summary(script)}")
    print(f"    Step click, AppTest wall    {summary(wall)}")

    script, wall = [], []
    for i in range(min(steps, 20)):
        t0 = time.perf_counter()
        at.slider(key="gen_temperature").set_value(0.5 + 0.05 * (i % 20)).run()
        wall.append(1000 * (time.perf_counter() - t0))
        script.append(at.session_state["gen_script_ms"])
    print(f"    temperature move, script    {summary(script)}   (no model call)")

    at.slider(key="gen_temperature").set_value(0.8).run()
    at.button(key="gen_play").click().run()
    fragment = []
    for _ in range(steps):
        at.run()  # under AppTest each run is one Play tick (the whole script, the fragment inside it)
        fragment.append(at.session_state["gen_fragment_ms"])
    at.button(key="gen_play").click().run()
    n = len(at.session_state["gen_session"].history)
    print(f"    Play tick, fragment alone   {summary(fragment)}   (text now {n} tokens)")


def raw_speed(model, tokens: int) -> None:
    from llm_core.generation.sample import generate
    from llm_core.generation.stepper import ms_per_token

    print(f"\n[3] raw generation: {tokens} tokens with `generate` (best of 3), and ms_per_token at several lengths")
    for use_cache in (True, False):
        best = 0.0
        for r in range(3):
            t0 = time.perf_counter()
            n = sum(1 for _ in generate(model, [0], tokens, seed=r, use_cache=use_cache, top_n=0, keep_logits=False))
            best = max(best, n / (time.perf_counter() - t0))
        print(f"    {'KV cache' if use_cache else 'no cache':9s} {best:8,.0f} tokens/s")
    for length in (8, 32, 64, 128, 300):
        cost = ms_per_token(model, [1] * length)
        print(
            f"    length {length:4d} (model sees {cost.context_tokens:3d}): cached {cost.cached_ms:6.2f} ms/token, "
            f"uncached {cost.uncached_ms:6.2f} ms/token ({cost.uncached_ms / cost.cached_ms:4.1f}x); refill {cost.refill_ms:.1f} ms every {cost.refill_every}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="Steps per measurement")
    parser.add_argument("--tokens", type=int, default=500, help="tokens per raw generation run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice, as the server)")
    args = parser.parse_args()

    import torch

    from llm_core.model.checkpoint import DEFAULT_MODEL, MODELS_DIR, load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_checkpoint(MODELS_DIR / f"{DEFAULT_MODEL}.safetensors", device="cpu")
    load = os.getloadavg()
    print(f"model: {DEFAULT_MODEL}, {loaded.model.num_params():,} parameters; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (timings on a loaded machine are pessimistic)")
    model_steps(loaded.model, loaded.tokenizer, max(args.steps, 300))
    page(args.steps)
    raw_speed(loaded.model, args.tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
