"""Command line for sampling (`llm_core.generation.sample`): generate text from a checkpoint.

    python -m llm_core.sample --prompt "ROMEO:" --tokens 300 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time

from llm_core.generation.sample import generate


def main(argv=None) -> int:
    from llm_core.model.checkpoint import (
        CheckpointError,
        default_checkpoint_path,
        load_checkpoint,
    )
    from llm_core.model.device import pick_device

    parser = argparse.ArgumentParser(prog="python -m llm_core.sample", description="Generate text from an LLM Lab checkpoint.")
    parser.add_argument("--checkpoint", default=str(default_checkpoint_path()), help="a .safetensors file written by llm_core (default: the bundled model)")
    parser.add_argument("--prompt", default="\n", help="text to continue")
    parser.add_argument("--tokens", type=int, default=300, help="how many tokens to generate")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy; higher = more varied")
    parser.add_argument("--top-k", type=int, default=None, help="keep only the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="keep the smallest set of tokens with probability >= p")
    parser.add_argument("--seed", type=int, default=None, help="same seed, same text")
    parser.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args(argv)
    try:
        loaded = load_checkpoint(args.checkpoint, device=pick_device(args.device))
        prompt = loaded.tokenizer.encode(args.prompt)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(args.prompt)
    t0, n = time.perf_counter(), 0
    steps = generate(loaded.model, prompt, args.tokens, args.temperature, args.top_k, args.top_p, args.seed, use_cache=not args.no_cache, top_n=0, keep_logits=False)
    for step in steps:
        sys.stdout.write(loaded.tokenizer.decode([step.token_id]))
        sys.stdout.flush()
        n += 1
    print(f"\n\n[{n} tokens in {time.perf_counter() - t0:.2f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
