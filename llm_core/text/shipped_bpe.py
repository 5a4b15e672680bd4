"""LLM Lab's own BPE on the bundled Tiny Shakespeare (256 bytes + 1,000 merges), trained once and
shipped with its merge-by-merge replay.

    python -m llm_core.text.shipped_bpe    # writes assets/tokenizers/tinyshakespeare-bpe-1000.json

What it is: the Tokenization chapter compares tokenizers, LLM Lab's own BPE among them, and shows
its training merge by merge. Training it (`bpe.train_merges`) and replaying it (`tokenview.replay_bpe`)
took about 2.6 s of the server on the chapter's first visit, paid while a class waits; on the
bundled corpus both are fixed (training breaks ties by the smaller pair), so this command computes
them once. `load(text, n_merges)` gives the merges and the replay only when the file was made from
this very text (its SHA-256) with as many merges, else None and the caller trains.
`tests/test_shipped_bpe.py` pins the file to a live training run.
What it is not: BPE on a learner's own text, which is always trained live.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from llm_core.text import bpe
from llm_core.text.data import load_corpus
from llm_core.text.tokenizers import TOKENIZER_DIR
from llm_core.text.tokenview import BPEReplay, ReplayStep, replay_bpe

CORPUS, MERGES = "tinyshakespeare", 1000
PATH = TOKENIZER_DIR / f"{CORPUS}-bpe-{MERGES}.json"
STEP_FIELDS = ("merge", "pair", "left", "right", "new_id", "new_text", "occurrences", "vocab_size", "token_count")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record(text: str, n_merges: int, corpus: str) -> dict:
    """BPE trained on `text` and replayed, as a JSON-able record."""
    merges = bpe.train_merges(text, n_merges)
    replay = replay_bpe(text, merges)
    return {
        "command": "python -m llm_core.text.shipped_bpe",
        "corpus": corpus,
        "corpus_sha256": text_sha256(text),
        "merges_asked": n_merges,
        "merges": [[m.pair[0], m.pair[1], m.new_id, m.count] for m in merges],
        "n_bytes": replay.n_bytes,
        "steps": [[getattr(s, f) if f != "pair" else list(s.pair) for f in STEP_FIELDS] for s in replay.steps],
    }


def load(text: str, n_merges: int, path: Path = PATH) -> tuple[list[bpe.Merge], BPEReplay] | None:
    """The shipped merges and replay for `text` and `n_merges`, or None (missing file, other text or count)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data["merges_asked"] != n_merges or data["corpus_sha256"] != text_sha256(text):
            return None
        merges = [bpe.Merge((a, b), new_id, count) for a, b, new_id, count in data["merges"]]
        steps = [ReplayStep(**{f: (tuple(v) if f == "pair" else v) for f, v in zip(STEP_FIELDS, row, strict=True)}) for row in data["steps"]]
        return merges, BPEReplay(data["n_bytes"], steps)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(PATH))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    data = record(load_corpus(CORPUS), MERGES, CORPUS)
    if args.out != str(PATH):
        data["command"] += f" --out {args.out}"
    lines = [f' "{k}": {json.dumps(v)}' for k, v in data.items() if k not in ("merges", "steps")]
    lines += [' "merges": [\n' + ",\n".join("  " + json.dumps(m) for m in data["merges"]) + "\n ]",
              ' "steps": [\n' + ",\n".join("  " + json.dumps(s) for s in data["steps"]) + "\n ]"]
    tmp = f"{args.out}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:  # a merge per line: a re-made file diffs merge by merge
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    os.replace(tmp, args.out)
    print(f"{len(data['merges'])} merges on {CORPUS} ({data['n_bytes']:,} bytes -> {data['steps'][-1][-1]:,} tokens) in {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
