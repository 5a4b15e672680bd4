"""The shipped closed-book model's answers to every question of the chapter's world, computed once
and shipped beside the model.

    python -m llm_core.retrieval.shipped_answers    # writes assets/models/knowing-closedbook.answers.json

What it is: the Knowing chapter opens with the closed-book model answering all 240 questions
(`readers.closed_book_rows`, greedy decoding: the same weights give the same answers), about 3 s
of the server's time on the chapter's first visit, paid while a class waits. For the shipped model
and world those answers are fixed, so this command computes them once and the page reads them:
`shipped_closed_rows` returns the rows only when the file was made from these very weights (their
content hash) and these questions, else None and the caller measures live (a model the learner
fine-tuned is always measured live). `tests/test_knowing_shipped.py` pins the file to a live
measurement of the shipped model.
What it is not: a cache of anything else; the confidences are the CPU's float32 arithmetic (a GPU
may differ in the last digits).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from llm_core.model.checkpoint import MODELS_DIR, load_checkpoint
from llm_core.model.device import use_threads
from llm_core.model.lineage import content_hash
from llm_core.retrieval.calibration import ScoredAnswer
from llm_core.retrieval.readers import Row, closed_book_rows
from llm_core.retrieval.world import World, make_world

MODEL = "knowing-closedbook"
ANSWERS_PATH = MODELS_DIR / f"{MODEL}.answers.json"


def chapter_facts(world: World) -> list:
    """The questions the chapter asks the closed-book model, in its order: known people, then unknown."""
    return world.known_facts() + world.unknown_facts()


def answers_record(model, tokenizer, world: World, world_seed: int, command: str) -> dict:
    """Every chapter question answered live by `model`, as a JSON-able record."""
    rows = closed_book_rows(model, tokenizer, world, chapter_facts(world))
    return {
        "command": command,
        "model": MODEL,
        "model_hash": content_hash(model, tokenizer),
        "world_seed": world_seed,
        "answers": [{"question": r.prompt, "text": r.answer.text, "confidence": r.answer.confidence,
                     "first_entropy": r.answer.first_entropy, "token_probs": list(r.answer.token_probs)} for r in rows],
    }


def shipped_closed_rows(model, tokenizer, world: World, facts, path: Path = ANSWERS_PATH) -> list[Row] | None:
    """The shipped answers as `closed_book_rows(model, tokenizer, world, facts)` would give them, or
    None when the file is missing or was made from other weights or other questions."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        answers = record["answers"]
        if [a["question"] for a in answers] != [f.question for f in facts] or record["model_hash"] != content_hash(model, tokenizer):
            return None
        return [Row(f, f.question, ScoredAnswer(a["text"], a["confidence"], a["first_entropy"], tuple(a["token_probs"])),
                    a["text"].strip() == f.value, world.seen.get(f.person, 0)) for f, a in zip(facts, answers)]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--out", default=str(ANSWERS_PATH))
    args = p.parse_args(argv)
    use_threads(1)  # as the app's pages, which would otherwise measure these answers themselves
    loaded = load_checkpoint(MODELS_DIR / f"{MODEL}.safetensors", device="cpu")
    world = make_world(args.world_seed)
    t0 = time.perf_counter()
    command = "python -m llm_core.retrieval.shipped_answers" + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    record = answers_record(loaded.model, loaded.tokenizer, world, args.world_seed, command)
    tmp = f"{args.out}.tmp"
    head = json.dumps({k: v for k, v in record.items() if k != "answers"}, indent=1)[:-2]
    with open(tmp, "w", encoding="utf-8") as f:  # one answer per line: a re-made file diffs answer by answer
        f.write(head + ',\n "answers": [\n' + ",\n".join("  " + json.dumps(a) for a in record["answers"]) + "\n ]\n}\n")
    os.replace(tmp, args.out)
    right = sum(a["text"].strip() == f.value for a, f in zip(record["answers"], chapter_facts(world)))
    print(f"{len(record['answers'])} answers ({right} right) in {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
