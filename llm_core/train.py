"""Command line for the one training loop (`llm_core.training.loop`).

    python -m llm_core.train --preset tiny --corpus tinyshakespeare --time 180 --out assets/models/shakespeare-tiny

Data-parallel on N processes (gloo on the CPU, NCCL on CUDA; see `training/distributed.py`):
`--batch-size` is then per process, and only rank 0 prints, evaluates and saves.

    torchrun --standalone --nproc_per_node=2 -m llm_core.train --preset tiny --steps 2000
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from llm_core.model.config import ConfigError, model_preset, train_preset
from llm_core.model.device import pick_device, use_bf16
from llm_core.model.lineage import data_hash
from llm_core.text.data import DataError, TokenSplit
from llm_core.training.distributed import DataParallel, launched_by_torchrun
from llm_core.training.loop import TextBatches, TrainState, build_model, train
from llm_core.training.optim import build_optimizers
from llm_core.training.training_run import pretraining_lineage, training_record


def _parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m llm_core.train", description="Train an LLM Lab GPT on a corpus and save a checkpoint.")
    p.add_argument("--preset", default="tiny", help="model and training preset: nano, tiny or small")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--corpus", default="tinyshakespeare", help="a bundled corpus in assets/corpora")
    src.add_argument("--text-file", help="train on this UTF-8 text file instead")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char", help="characters, or LLM Lab's BPE trained on the corpus")
    p.add_argument("--bpe-vocab", type=int, default=512, help="vocabulary size when --tokenizer bpe")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the preset's)")
    p.add_argument("--time", type=float, help="time budget in seconds of training")
    p.add_argument("--batch-size", type=int, help="sequences per step (per process under torchrun)")
    p.add_argument("--lr", type=float, help="AdamW learning rate (embeddings, head, norms)")
    p.add_argument("--muon-lr", type=float, help="Muon learning rate for the block matrices (0: AdamW everywhere)")
    p.add_argument("--n-layer", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--n-embd", type=int)
    p.add_argument("--block-size", type=int, help="context length")
    p.add_argument("--position", choices=["learned", "rope"])
    p.add_argument("--short-windows", type=float, help="train on half-length windows until this fraction of the run (the tiny preset: 0.5; 0: full windows throughout)")
    p.add_argument("--momentum-warmup", type=int, help="steps over which Muon's momentum rises from 0.85 to 0.95 (the tiny preset: 300; 0: 0.95 throughout)")
    p.add_argument("--eval-every", type=int, help="steps between evaluations")
    p.add_argument("--eval-every-s", type=float, help="seconds of training between evaluations")
    p.add_argument("--seed", type=int)
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--out", help="save the checkpoint here (NAME -> NAME.safetensors + NAME.json)")
    p.add_argument("--resume", help="continue from this checkpoint (weights, and optimizer state if saved)")
    p.add_argument("--save-optimizer", action="store_true", help="also save optimizer state for a later --resume")
    p.add_argument("--quiet", action="store_true", help="print only evaluations")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    parallel = None
    if launched_by_torchrun():
        try:
            parallel = DataParallel.from_env(args.device)
        except (ValueError, RuntimeError) as exc:
            print(f"error: could not join the data-parallel run: {exc}", file=sys.stderr)
            return 2
    try:
        return _run(args, argv, parallel)
    finally:
        if parallel is not None:
            parallel.close()


def _run(args, argv, parallel: DataParallel | None) -> int:
    from llm_core.model.checkpoint import (
        CheckpointError,
        load_checkpoint,
        load_optimizer_state,
        save_checkpoint,
    )
    from llm_core.text.data import load_corpus, text_from_bytes
    from llm_core.text.tokenizers import BPETokenizer, CharTokenizer, TokenizerError

    main_rank = parallel is None or parallel.is_main
    say = print if main_rank else (lambda *a, **k: None)  # only rank 0 speaks
    try:
        device = pick_device(args.device) if parallel is None else parallel.device
        if args.text_file:
            with open(args.text_file, "rb") as f:
                text, corpus_name = text_from_bytes(f.read()), args.text_file
        else:
            text, corpus_name = load_corpus(args.corpus), args.corpus
        state = TrainState()
        prior_record, prior_lineage = {}, None
        if args.resume:
            loaded = load_checkpoint(args.resume, device)
            model, tokenizer, prior_record, prior_lineage = loaded.model, loaded.tokenizer, loaded.record, loaded.meta.get("lineage")
        else:
            tokenizer = CharTokenizer.from_text(text) if args.tokenizer == "char" else BPETokenizer.train(text, args.bpe_vocab)
            overrides = {k: v for k, v in dict(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size, position=args.position).items() if v is not None}
            config = model_preset(args.preset, tokenizer.vocab_size, **overrides)
        train_overrides = dict(max_steps=args.steps, time_budget_s=args.time, batch_size=args.batch_size, lr=args.lr, muon_lr=args.muon_lr,
                               eval_every=args.eval_every, eval_every_s=args.eval_every_s, seed=args.seed, precision=args.precision,
                               short_windows_until=args.short_windows, muon_momentum_warmup=args.momentum_warmup)
        cfg = train_preset(args.preset, **{k: v for k, v in train_overrides.items() if v is not None})
        if args.time and args.steps is None:
            cfg.max_steps = 10_000_000  # the time budget decides
        if not args.resume:
            model = build_model(config, cfg.seed, device)
        ids = tokenizer.encode(text)
        batches = TextBatches(TokenSplit.from_ids(ids), model.config.block_size)
        if args.resume:
            state.optimizers = build_optimizers(model, cfg.lr, cfg.muon_lr, cfg.weight_decay)
            load_optimizer_state(args.resume, model, state.optimizers)
            state.step = int(prior_record.get("steps", 0))
            state.tokens_seen = int(prior_record.get("tokens_seen", 0))
            cfg.max_steps = state.step + cfg.max_steps
    except (ConfigError, DataError, TokenizerError, CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    world = "" if parallel is None else f"; data-parallel on {parallel.world_size} processes, global batch {cfg.batch_size * parallel.world_size}"
    say(f"model: {model.num_params():,} parameters, {model.config.n_layer} layers x {model.config.n_head} heads x {model.config.n_embd} wide, context {model.config.block_size}; "
          f"vocab {tokenizer.vocab_size} ({tokenizer.kind}); {len(ids):,} tokens; device {device.type}, bf16 {use_bf16(device, cfg.precision)}{world}", flush=True)
    history, last = [], None
    sample_fn = None
    try:
        for m in train(model, batches, cfg, state=state, sample_fn=sample_fn, parallel=parallel):
            last = m
            if m.val_loss is not None or m.done:
                val = None if m.val_loss is None else round(m.val_loss, 4)
                history.append(dict(step=m.step, tokens=m.tokens_seen, train_loss=round(m.train_loss, 4), val_loss=val, elapsed_s=round(m.elapsed_s, 2)))
            if m.val_loss is not None or not args.quiet:
                val = f" val {m.val_loss:.4f}" if m.val_loss is not None else ""
                say(f"step {m.step:6d} | {m.elapsed_s:7.1f}s | loss {m.train_loss:.4f}{val} | lr x{m.lr_scale:.3f} | {m.tokens_per_s:,.0f} tok/s", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    if last is None:
        return 1
    say(f"done: {last.stop_reason}; best val loss {state.best_val_loss:.4f}; {last.elapsed_s:.1f}s training, {last.eval_s:.1f}s evaluating")
    if args.out and main_rank:
        record = training_record(
            state, last, cfg, corpus=corpus_name, corpus_chars=len(text), tokens_in_corpus=len(ids), device=device.type,
            history=prior_record.get("history", []) + history, command="python -m llm_core.train " + shlex.join(sys.argv[1:] if argv is None else argv),
        )
        if parallel is not None:
            record.update(processes=parallel.world_size, command=record["command"].replace("python -m", "torchrun -m", 1))
        lineage = pretraining_lineage(model, tokenizer, None, cfg, record, prior_lineage, corpus_name=corpus_name, corpus_hash=data_hash(text))
        path = save_checkpoint(args.out, model, tokenizer, record, optimizers=state.optimizers if args.save_optimizer else None, lineage=lineage)
        say(f"saved {path} and {path.with_suffix('.json')}")
    return 0 if not (last.stop_reason or "").startswith("diverged") else 3


if __name__ == "__main__":
    sys.exit(main())
