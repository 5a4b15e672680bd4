"""Command line for `llm_core.compression`: compress a text file with a model, and decode it back.

    python -m llm_core.compress --text-file F [--model M] [--out F.llmz]
    python -m llm_core.compress --decode F.llmz --out G [--model M]

The first prints the compressed size and bits per character for the model and for gzip, bzip2,
xz and an adaptive order-3 count model on the same text, decodes the model's file back and says
whether the round trip was exact. M is a checkpoint (.safetensors) or the name of a bundled model
(default: the bundled Shakespeare model). The .llmz format is documented in
`llm_core/compression/coder.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def resolve_model(name: str | None):
    """A checkpoint path for a name in assets/models, a path, or the default; (loaded model, its name)."""
    from llm_core.model.checkpoint import DEFAULT_MODEL, MODELS_DIR, load_checkpoint

    name = name or DEFAULT_MODEL
    path = Path(name)
    if not path.suffix and not path.exists() and (MODELS_DIR / f"{name}.safetensors").exists():
        path = MODELS_DIR / f"{name}.safetensors"
    loaded = load_checkpoint(path, device="cpu")
    return loaded, path.with_suffix("").name


def _encode(args) -> int:
    from llm_core.compression.baselines import classical, order_k
    from llm_core.compression.coder import compress, decompress
    from llm_core.text.data import text_from_bytes

    loaded, model_name = resolve_model(args.model)
    text = text_from_bytes(Path(args.text_file).read_bytes())
    packed = compress(loaded.model, loaded.tokenizer, text, name=model_name, keep_pieces=False, window=args.window)
    out = Path(args.out or args.text_file + ".llmz")
    out.write_bytes(packed.data)
    n = len(text)
    raw = len(text.encode("utf-8"))
    print(f"{args.text_file}: {n:,} characters, {raw:,} bytes (UTF-8); model {model_name}")
    rows = [(f"model ({model_name})", len(packed.data), packed.bits_per_char)]
    rows += [(r.name, r.size_bytes, r.bits_per_char) for r in [order_k(text, 3), *classical(text)]]
    print(f"{'method':<34}{'bytes':>12}{'bits/char':>11}")
    for label, size, bpc in rows:
        print(f"{label:<34}{size:>12,}{bpc:>11.3f}")
    print(
        f"model file: {packed.header_bytes} bytes of header + {packed.payload_bytes:,} bytes of coded text; "
        f"ideal code length {packed.ideal_bits_per_char:.4f} bits/char, coded {packed.payload_bits_per_char:.4f} "
        f"(coder overhead {100 * (packed.payload_bits_per_char / packed.ideal_bits_per_char - 1) if packed.ideal_bits else 0:.3f}%); "
        f"{packed.n_escapes:,} escaped characters"
    )
    print(f"encoded at {packed.chars_per_s:,.0f} characters/s (load average {os.getloadavg()[0]:.2f}); wrote {out}")
    if args.no_check:
        return 0
    back = decompress(loaded.model, loaded.tokenizer, packed.data)
    exact = back.text == text
    print(f"round trip: {'exact' if exact else 'NOT exact'} (decoded at {back.chars_per_s:,.0f} characters/s)")
    return 0 if exact else 1


def _decode(args) -> int:
    from llm_core.compression.coder import decompress, read_header

    if not args.out:
        print("error: --decode needs --out, the file to write the text to.", file=sys.stderr)
        return 2
    data = Path(args.decode).read_bytes()
    head = read_header(data)
    loaded, model_name = resolve_model(args.model or head["model_name"] or None)
    back = decompress(loaded.model, loaded.tokenizer, data)
    Path(args.out).write_text(back.text, encoding="utf-8", newline="")
    print(f"{args.decode} -> {args.out}: {len(back.text):,} characters, checksum verified ({back.chars_per_s:,.0f} characters/s, model {model_name})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_core.compress", description="Compress text losslessly with a language model and a range coder.")
    parser.add_argument("--text-file", help="the UTF-8 text file to compress")
    parser.add_argument("--decode", metavar="FILE.llmz", help="decode this file instead")
    parser.add_argument("--model", help="a checkpoint (.safetensors) or a bundled model's name (default: the bundled model)")
    parser.add_argument("--out", help="where to write (default for compression: TEXT_FILE.llmz)")
    parser.add_argument("--no-check", action="store_true", help="do not decode the result back to check it")
    parser.add_argument("--window", choices=["slide", "fixed"], default="slide",
                        help="slide: the context slides by half a window (default, smaller); fixed: restarts every context length, as the validation loss")
    args = parser.parse_args(argv)
    if bool(args.text_file) == bool(args.decode):
        parser.error("give either --text-file (to compress) or --decode (to restore).")
    from llm_core.compression.coder import CompressionError
    from llm_core.model.checkpoint import CheckpointError
    from llm_core.text.data import DataError

    try:
        return _decode(args) if args.decode else _encode(args)
    except (CompressionError, CheckpointError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
