"""Compression figures: the model vs gzip/bzip2/xz on the held-out split, coding speed, and Llama 2 70B's costs.

    python -m benchmarks.compression                 # the full held-out split (~111k characters; minutes on 2 cores)
    python -m benchmarks.compression --chars 5000    # a quick look
    python -m benchmarks.compression --write-asset   # also writes assets/compression/<model>-heldout.json for the page

Prints, for the held-out split (the last 10% of the corpus, as in training): the model's compressed
size and bits per character (whole .llmz file, and the coded text alone), its ideal code length,
the coder's overhead, the model's measured cross-entropy from its checkpoint record and the gap,
gzip -9 / bzip2 -9 / xz -9e / an adaptive order-3 count model on the same text, encode and decode
speed in characters per second (with the load average: the machine is shared), whether the round
trip was exact; then the memorization scan (longest passage the model recites from its training
text) and the cost calculator's Llama 2 70B figures beside the published ones. Figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from llm_core.compress import resolve_model
from llm_core.compression import costs
from llm_core.compression.baselines import classical, order_k
from llm_core.compression.coder import compress, decompress, model_fingerprint
from llm_core.compression.memorization import correct_predictions, longest_runs, mean_run, probe
from llm_core.model.device import threads
from llm_core.paths import ASSETS
from llm_core.text.data import VAL_FRACTION, load_corpus

ASSET_DIR = ASSETS / "compression"


def held_out(corpus: str) -> tuple[str, str]:
    n_val = int(len(corpus) * VAL_FRACTION)  # a character corpus: characters = tokens, as TokenSplit splits them
    return corpus[: len(corpus) - n_val], corpus[len(corpus) - n_val :]


def memorization(loaded, train_text: str, val_text: str) -> dict:
    tok = loaded.tokenizer
    train_ids, val_ids = tok.encode(train_text, allowed_special=False), tok.encode(val_text, allowed_special=False)
    with threads(os.cpu_count() or 1):
        right_train = correct_predictions(loaded.model, train_ids)
        right_val = correct_predictions(loaded.model, val_ids)
    runs = longest_runs(right_train, 3)
    recited = [probe(loaded.model, tok, train_ids, s + 1, 64, length + 20) for s, length in runs]
    typical_start = len(train_ids) // 2 + train_text[len(train_text) // 2 :].index("\n") + 1  # a line start mid-corpus
    typical = probe(loaded.model, tok, train_ids, typical_start, 64, 80)
    as_dict = lambda p: dict(prompt=p.prompt, truth=p.truth, output=p.output, matched_chars=p.matched_chars)
    return dict(
        top1_train=float(right_train.float().mean()),
        top1_val=float(right_val.float().mean()),
        mean_run_train=mean_run(right_train),
        mean_run_val=mean_run(right_val),
        longest_run_train=runs[0][1] if runs else 0,
        longest_run_val=longest_runs(right_val, 1)[0][1] if right_val.any() else 0,
        recited=[as_dict(p) for p in recited],
        typical=as_dict(typical),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compression", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a checkpoint or bundled model name (default: the bundled model)")
    parser.add_argument("--chars", type=int, default=None, help="only the first N characters of the held-out split")
    parser.add_argument("--write-asset", action="store_true", help="write assets/compression/<model>-heldout.json")
    parser.add_argument("--no-memorization", action="store_true", help="skip the memorization scan")
    parser.add_argument("--keep-memorization", action="store_true", help="reuse the memorization scan of an existing asset for the same weights")
    parser.add_argument("--mem-chars", type=int, default=100_000, help="characters of training text (and of held-out text) the memorization scan reads")
    args = parser.parse_args(argv)
    loaded, name = resolve_model(args.model)
    corpus_name = loaded.record.get("corpus", "tinyshakespeare")
    train_text, text = held_out(load_corpus(corpus_name))
    if args.chars:
        text = text[: args.chars]
    print(f"model {name} ({loaded.model.num_params():,} parameters); held-out split of {corpus_name}: {len(text):,} characters")
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (2-core shared machine: speeds move with load)")

    packed = compress(loaded.model, loaded.tokenizer, text, name=name, keep_pieces=True)
    back = decompress(loaded.model, loaded.tokenizer, packed.data)
    exact = back.text == text
    load_after = os.getloadavg()
    val_loss = loaded.record.get("val_loss")
    measured_bpc = val_loss / math.log(2) if val_loss else None
    rows = [(f"model ({name})", len(packed.data), packed.bits_per_char)]
    baselines = [order_k(text, 3), *classical(text)]
    rows += [(r.name, r.size_bytes, r.bits_per_char) for r in baselines]
    print(f"\n{'method':<32}{'bytes':>10}{'bits/char':>11}")
    for label, size, bpc in rows:
        print(f"{label:<32}{size:>10,}{bpc:>11.3f}")
    overhead = packed.payload_bits_per_char / packed.ideal_bits_per_char - 1
    print(f"\nideal code length (sum of -log2 p): {packed.ideal_bits_per_char:.4f} bits/char")
    print(f"coded text alone: {packed.payload_bits_per_char:.4f} bits/char (range coder overhead {100 * overhead:.3f}%); with the {packed.header_bytes}-byte header: {packed.bits_per_char:.4f}")
    if measured_bpc:
        gap = packed.bits_per_char / measured_bpc - 1
        print(f"model's measured cross-entropy (checkpoint val loss {val_loss:.4f} nats): {measured_bpc:.4f} bits/char; the file is {100 * gap:+.2f}% from it")
        print("  (the validation loss restarts the context every block; the coder slides it by half a block, so each character sees more context)")
    print(f"encode {packed.chars_per_s:,.0f} chars/s, decode {back.chars_per_s:,.0f} chars/s (one thread, fp32, one token per step); load average after: {load_after[0]:.2f}")
    print(f"round trip: {'exact' if exact else 'NOT EXACT'}")

    # The same split with the context restarting every block, exactly as the validation loss sees it.
    fixed = compress(loaded.model, loaded.tokenizer, text, name=name, keep_pieces=False, window="fixed")
    fixed_exact = decompress(loaded.model, loaded.tokenizer, fixed.data).text == text
    exact = exact and fixed_exact
    print(f"\nfixed windows (--window fixed, the validation loss's protocol): {fixed.bits_per_char:.4f} bits/char with the header, "
          f"{fixed.payload_bits_per_char:.4f} coded, ideal {fixed.ideal_bits_per_char:.4f}; round trip {'exact' if fixed_exact else 'NOT EXACT'}")
    if measured_bpc:
        print(f"  {100 * (fixed.bits_per_char / measured_bpc - 1):+.2f}% from the validation loss's {measured_bpc:.4f} bits/char")

    result = dict(
        command=" ".join(["python -m benchmarks.compression --write-asset"] + ([f"--model {args.model}"] if args.model else [])
                         + ([f"--chars {args.chars}"] if args.chars else []) + (["--keep-memorization"] if args.keep_memorization else [])),
        model=name, fingerprint=model_fingerprint(loaded.model, loaded.tokenizer).hex(), corpus=corpus_name,
        n_chars=len(text), file_bytes=len(packed.data), header_bytes=packed.header_bytes, payload_bytes=packed.payload_bytes,
        bits_per_char=packed.bits_per_char, payload_bits_per_char=packed.payload_bits_per_char, ideal_bits_per_char=packed.ideal_bits_per_char,
        coder_overhead=overhead, measured_bits_per_char=measured_bpc, exact=exact,
        encode_chars_per_s=packed.chars_per_s, decode_chars_per_s=back.chars_per_s, loadavg=list(load_after),
        baselines=[dict(name=r.name, bytes=r.size_bytes, bits_per_char=r.bits_per_char) for r in baselines],
        bits_per_1000_chars=[sum(b for _, b in packed.pieces[i : i + 1000]) / len(packed.pieces[i : i + 1000]) for i in range(0, len(packed.pieces), 1000)],
        measured_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        fixed_window=dict(bits_per_char=fixed.bits_per_char, payload_bits_per_char=fixed.payload_bits_per_char,
                          ideal_bits_per_char=fixed.ideal_bits_per_char, exact=fixed_exact),
    )
    old_path = ASSET_DIR / f"{name}-heldout.json"
    old = json.loads(old_path.read_text(encoding="utf-8")) if args.keep_memorization and old_path.exists() else {}
    if old.get("fingerprint") == result["fingerprint"] and "memorization" in old:
        result["memorization"] = old["memorization"]
        args.no_memorization = True
        print("\nmemorization scan: kept from the existing asset (same weights)")
    if not args.no_memorization:
        t0 = time.perf_counter()
        mem = memorization(loaded, train_text[: args.mem_chars], held_out(load_corpus(corpus_name))[1][: args.mem_chars])
        mem["scanned_chars"] = args.mem_chars
        result["memorization"] = mem
        print(f"\nmemorization scan of {args.mem_chars:,} training and held-out characters ({time.perf_counter() - t0:.0f} s):")
        print(f"  top-1 right {100 * mem['top1_train']:.1f}% on training text, {100 * mem['top1_val']:.1f}% held out;")
        print(f"  greedy stays on the text for {mem['mean_run_train']:.2f} characters on average (training) vs {mem['mean_run_val']:.2f} (held out);")
        print(f"  longest run {mem['longest_run_train']} vs {mem['longest_run_val']}")
        best = mem["recited"][0]
        print(f"  longest recital: prompt ...{best['prompt'][-40:]!r} -> {best['output']!r} (matches {best['matched_chars']} chars of {best['truth']!r})")

    check = costs.llama2_70b_check()
    print("\nLlama 2 70B, the calculator against the published figures")
    print(f"  training compute 6 x 70e9 x 2e12 = {check.flops:.2e} FLOPs")
    print(f"  A100 GPU-hours: paper {check.paper_gpu_hours:,.0f} ({costs.LLAMA2_SOURCE}); talk 6,000 GPUs x 12 days = {check.talk_gpu_hours:,.0f}")
    print(f"  implied utilisation of the A100's 312 TFLOP/s bf16 peak: {100 * check.utilisation_paper:.1f}% (paper's hours), {100 * check.utilisation_talk:.1f}% (talk's)")
    est = costs.estimate(70e9, 2e12, costs.GPUS["A100"], check.utilisation_paper, 6000, check.talk_price_per_gpu_hour)
    print(f"  calculator at that utilisation: {est.gpu_hours:,.0f} GPU-hours, {est.days:.1f} days on 6,000 GPUs (talk: ~12),")
    print(f"    ${est.cost / 1e6:.2f}M at ${check.talk_price_per_gpu_hour:.2f}/GPU-hour (talk: ~$2M)")
    gb = {p: costs.weights_bytes(70e9, p) / 1e9 for p in ("bf16", "fp32", "int4")}
    print(f"  weights file: {gb['bf16']:.0f} GB in bf16 (talk: 140 GB), {gb['fp32']:.0f} GB fp32, {gb['int4']:.0f} GB int4")
    print(f"  10 TB of text / 140 GB = {costs.TALK['text_bytes'] / costs.TALK['weights_bytes']:.0f}x smaller: lossy")

    if args.write_asset:
        ASSET_DIR.mkdir(parents=True, exist_ok=True)
        path = ASSET_DIR / f"{name}-heldout.json"
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {path}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
