"""Benchmarks that print figures: training speed and quality per second, generation, BPE.

What it is: `python -m llm_core.bench` measures, on this machine, the tiny preset's training
throughput (bf16 autocast and fp32), a time-budgeted training run on Tiny Shakespeare
(character level, last 10% held out, validation loss in fp32 over the whole held-out split,
evaluation time excluded from the training clock but reported), generation speed of the bundled
model with and without the KV cache (batch 1, on one torch thread as the app's pages run it), and
BPE training speed. `--only generation` (or throughput, training, bpe) runs one part. It prints
numbers and the load average; it asserts nothing.
What it is not: a test. Speed goals live here, not in timed tests that would flake.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from llm_core.generation.sample import generate
from llm_core.model.checkpoint import default_checkpoint_path, load_checkpoint
from llm_core.model.config import model_preset, train_preset
from llm_core.model.device import describe, pick_device, threads, use_bf16
from llm_core.text.bpe import train_merges
from llm_core.text.data import TokenSplit, load_corpus
from llm_core.text.tokenizers import CharTokenizer
from llm_core.training.cost import time_steps
from llm_core.training.loop import TextBatches, build_model, train

PARTS = ("throughput", "training", "generation", "bpe")


def throughput(vocab_size: int, device, bf16: bool, steps: int = 30) -> tuple[float, float]:
    """ms per step and tokens per second of the tiny preset (forward, backward, clip, optimizers)."""
    cfg = train_preset("tiny")
    seconds = time_steps(model_preset("tiny", vocab_size), cfg.batch_size, device, steps=steps, warmup=5, precision="bf16" if bf16 else "fp32")
    return 1000 * seconds, cfg.batch_size * model_preset("tiny", vocab_size).block_size / seconds


def generation_speed(model, tokens: int, use_cache: bool, detailed: bool = False, repeats: int = 3) -> float:
    """Best-of-`repeats` tokens per second for `tokens` new tokens from a one-token prompt."""
    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        n = sum(1 for _ in generate(model, [0], tokens, seed=r, use_cache=use_cache, top_n=10 if detailed else 0, keep_logits=detailed))
        best = max(best, n / (time.perf_counter() - t0))
    return best


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return "load average " + " ".join(f.read().split()[:3])
    except OSError:
        return "load average unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_core.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=180.0, help="seconds of training for the quality run (default 180)")
    parser.add_argument("--eval-every-s", type=float, default=10.0, help="seconds of training between full evaluations")
    parser.add_argument("--target", type=float, nargs="*", default=[1.90, 1.60], help="val losses whose crossing times are reported")
    parser.add_argument("--gen-tokens", type=int, default=500, help="tokens per generation measurement")
    parser.add_argument("--bpe-merges", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="a few seconds of everything, to check the benchmark runs")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts (default: all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.budget, args.eval_every_s, args.gen_tokens, args.bpe_merges = 3.0, 1.5, 50, 50

    device = pick_device(args.device)
    bf16 = use_bf16(device, "auto")
    started = time.perf_counter()
    text = load_corpus("tinyshakespeare")
    tokenizer = CharTokenizer.from_text(text)
    split = TokenSplit.from_ids(tokenizer.encode(text))
    print(f"device: {describe(device)}; bf16 autocast: {bf16}; torch {torch.__version__}; {load_average()}")
    print(f"corpus: Tiny Shakespeare, {len(text):,} characters, vocab {tokenizer.vocab_size}, train {len(split.train):,} / val {len(split.val):,} tokens")
    summary = []

    if "throughput" in args.only:
        timed_steps = 5 if args.quick else 30
        print(f"\n[1] tiny-preset training throughput (median of {timed_steps} steps)")
        for label, flag in (("bf16 autocast", True), ("fp32", False)) if device.type == "cpu" else (("bf16 autocast", bf16),):
            ms, tps = throughput(tokenizer.vocab_size, device, flag, steps=timed_steps)
            print(f"    {label:14s} {ms:7.1f} ms/step   {tps:10,.0f} tokens/s")
            summary.append(f"tiny training ({label}): {tps:,.0f} tokens/s, {ms:.1f} ms/step")

    if "training" in args.only:
        print(f"\n[2] training the tiny preset for {args.budget:g} s of training time (eval every {args.eval_every_s:g} s, whole held-out split, fp32)")
        cfg = train_preset("tiny", max_steps=10_000_000, time_budget_s=args.budget, eval_every_s=args.eval_every_s, log_every=10)
        model = build_model(model_preset("tiny", tokenizer.vocab_size), seed=cfg.seed, device=device)
        print(f"    model: {model.num_params():,} parameters; batch {cfg.batch_size} x context {model.config.block_size}; lr {cfg.lr:g} (AdamW), {cfg.muon_lr:g} (Muon)")
        batches = TextBatches(split, model.config.block_size)
        crossed: dict[float, float | None] = {t: None for t in args.target}
        best, last = math.inf, None
        for m in train(model, batches, cfg):
            last = m
            if m.val_loss is None:
                continue
            best = min(best, m.val_loss)
            for t in crossed:
                if crossed[t] is None and m.val_loss <= t:
                    crossed[t] = m.elapsed_s
            print(f"    {m.elapsed_s:6.1f} s  step {m.step:5d}  val {m.val_loss:.4f}  ({m.tokens_per_s:,.0f} tok/s, eval so far {m.eval_s:.1f} s)", flush=True)
        print(f"    steps {last.step}, tokens {last.tokens_seen:,}, training {last.elapsed_s:.1f} s, evaluating {last.eval_s:.1f} s")
        for t, seconds in crossed.items():
            summary.append(f"val loss <= {t:.2f}: " + (f"after {seconds:.1f} s of training" if seconds is not None else f"not reached in {args.budget:g} s"))
        summary.append(f"best val loss in {args.budget:g} s: {best:.4f} (nanoGPT's CPU recipe side by side: benchmarks/vs_nanogpt.py)")

    if "generation" in args.only:
        loaded = load_checkpoint(default_checkpoint_path(), device=device)
        model = loaded.model.eval()
        print(f"\n[3] generation by the bundled model ({default_checkpoint_path().name}, {model.num_params():,} parameters), "
              f"{args.gen_tokens} tokens from a one-token prompt, batch 1, one torch thread as the app's pages (best of 3); {load_average()}")
        if model.decoding_model() is not model:
            print(f"    the model is on {device}: generation runs it from a float32 copy on the CPU, through NumPy (GPT.decoding_model: "
                  f"faster one token at a time for a model this small)")
        with threads(1):
            cached = generation_speed(model, args.gen_tokens, True)
            uncached = generation_speed(model, args.gen_tokens, False)
            cached_detail = generation_speed(model, args.gen_tokens, True, detailed=True, repeats=1)
        print(f"    KV cache     {cached:8,.0f} tokens/s  (with top-10 candidates and logits kept, as the Generation page does: {cached_detail:,.0f})")
        print(f"    no cache     {uncached:8,.0f} tokens/s")
        print(f"    speed-up     {cached / uncached:8.1f}x")
        summary.append(f"generation (bundled model, batch 1): {cached:,.0f} tokens/s with the KV cache vs {uncached:,.0f} without ({cached / uncached:.1f}x)")

    if "bpe" in args.only:
        print(f"\n[4] BPE training, {args.bpe_merges} merges on Tiny Shakespeare")
        t0 = time.perf_counter()
        merges = train_merges(text, args.bpe_merges)
        bpe_s = time.perf_counter() - t0
        print(f"    {len(merges)} merges in {bpe_s:.2f} s = {len(merges) / bpe_s:,.0f} merges/s")
        summary.append(f"BPE: {len(merges) / bpe_s:,.0f} merges/s ({bpe_s:.1f} s for {len(merges)})")

    print("\nSummary")
    for line in summary:
        print(f"    {line}")
    print(f"    benchmark wall time: {time.perf_counter() - started:.0f} s; {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
