"""The lab file from the command line: show one, make one from checkpoints or a desk, unpack one.

    python -m llm_core.lab show FILE                                  # check it and list its models with their lineage
    python -m llm_core.lab export FILE --model runs/a.safetensors --model runs/b.safetensors   # a teacher's set
    python -m llm_core.lab export FILE --desk DESK_ID [--data-dir DIR]                          # a desk of a server's data folder
    python -m llm_core.lab import FILE --out DIR                      # each model as DIR/NAME.safetensors + .json
    python -m llm_core.lab import FILE --desk DESK_ID [--data-dir DIR]   # into a desk of a data folder (made if new)

`show` and `import` run every check of `labfile.read_lab` and say what they refused and why.
Exit status: 0 when everything was read, 1 when some models were refused, 2 when the file was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_core.lab.labfile import LabFileError, read_lab, write_lab
from llm_core.lab.store import LabStore, QuotaError, data_dir, human
from llm_core.model import lineage
from llm_core.model.checkpoint import MODELS_DIR, CheckpointError, load_checkpoint, save_checkpoint


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m llm_core.lab", description="LLM Lab's lab files: a desk's models with their lineage, as one zip.")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="check a lab file and list what it holds")
    show.add_argument("file")
    export = sub.add_parser("export", help="write a lab file from checkpoints or from a desk")
    export.add_argument("file")
    export.add_argument("--model", action="append", default=[], help="a checkpoint (NAME.safetensors); repeat for several")
    export.add_argument("--desk", help="a desk id in the data folder")
    export.add_argument("--data-dir", help="the server's data folder (default: LLM_LAB_DATA_DIR, else lab-data/)")
    imp = sub.add_parser("import", help="unpack a lab file into a folder of checkpoints or into a desk")
    imp.add_argument("file")
    imp.add_argument("--out", help="a folder: each model becomes NAME.safetensors + NAME.json")
    imp.add_argument("--desk", help="a desk id in the data folder (made when it does not exist)")
    imp.add_argument("--data-dir")
    return parser.parse_args(argv)


def _store(args) -> LabStore:
    return LabStore(Path(args.data_dir) if args.data_dir else data_dir())


def _line(meta: dict) -> str:
    steps = [f"{a.get('name') or lineage.short(a['hash'])} ({a['stage']})" for a in lineage.chain(meta.get("lineage"))]
    return " → ".join(steps) if steps else "no lineage"


def show(args) -> int:
    lab = read_lab(Path(args.file).read_bytes())
    print(f"{args.file}: {len(lab.models)} model(s), made {lab.created or 'at an unknown time'}; current: {lab.current or '-'}")
    for m in lab.models:
        lin = m.meta.get("lineage") or {}
        losses = ", ".join(f"{k} {v:.3f}" for k, v in (lin.get("losses") or {}).items() if v is not None)
        print(f"- {m.name}  [{lin.get('stage', 'no lineage')}, {m.loaded.model.num_params():,} parameters, hash {lineage.short(m.hash)}"
              f"{', ' + str(lin['steps']) + ' steps' if lin.get('steps') is not None else ''}{', ' + losses if losses else ''}]")
        print(f"    lineage: {_line(m.meta)}")
    if lab.desk_data:
        print(f"desk data: {', '.join(sorted(lab.desk_data))}")
    for what, why in lab.refused:
        print(f"refused {what}: {why}")
    return 1 if lab.refused else 0


def _desk_models(store: LabStore, desk_id: str):
    desk = store.load_desk(desk_id)
    if desk is None:
        raise LabFileError(f"no desk {desk_id!r} in {store.root}.")
    out = []
    for row in desk.models:
        if row.source == "bundled":
            loaded = load_checkpoint(MODELS_DIR / f"{row.meta.get('asset', 'shakespeare-tiny')}.safetensors")
            loaded.meta = {**loaded.meta, **{k: row.meta[k] for k in ("record", "lineage") if k in row.meta}}
        else:
            loaded = store.load_model(row.hash, row.meta)
        out.append((row.name, row.source, loaded.model, loaded.tokenizer, loaded.meta))
    return out, desk


def export(args) -> int:
    if bool(args.model) == bool(args.desk):
        print("error: give --model CHECKPOINT (one or more) or --desk DESK_ID", file=sys.stderr)
        return 2
    if args.desk:
        models, desk = _desk_models(_store(args), args.desk)
        current, data = desk.current, desk.data
    else:
        models, current, data = [], None, {}
        for path in args.model:
            loaded = load_checkpoint(path)
            name = Path(path).name.removesuffix(".safetensors")
            lin = lineage.of_model(loaded.model, loaded.tokenizer, loaded.meta, name=name)
            lin["name"] = lin.get("name") or name
            models.append((name, "file", loaded.model, loaded.tokenizer, {**loaded.meta, "lineage": lin}))
    raw = write_lab(models, current, data)
    Path(args.file).write_bytes(raw)
    print(f"wrote {args.file}: {len(models)} model(s), {human(len(raw))}")
    return 0


def import_(args) -> int:
    if bool(args.out) == bool(args.desk):
        print("error: give --out FOLDER or --desk DESK_ID", file=sys.stderr)
        return 2
    lab = read_lab(Path(args.file).read_bytes())
    refused = list(lab.refused)
    if args.out:
        out = Path(args.out)
        for m in lab.models:
            stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in m.name).strip("-")[:60] or m.hash[:12]
            path = save_checkpoint(out / stem, m.loaded.model, m.loaded.tokenizer, m.meta.get("record"), lineage=m.meta.get("lineage"))
            print(f"{m.name} -> {path}")
    else:
        store = _store(args)
        store.create_desk(args.desk)
        have = {row.hash for row in store.load_desk(args.desk).models}
        for m in lab.models:
            if m.hash in have:
                print(f"{m.name}: already on the desk")
                continue
            try:
                store.add_model(args.desk, m.name, m.hash, m.meta, m.source, m.loaded.model, m.loaded.tokenizer)
                print(f"{m.name}: added")
            except QuotaError as exc:
                refused.append((m.name, str(exc)))
    for what, why in refused:
        print(f"refused {what}: {why}")
    return 1 if refused else 0


def main(argv=None) -> int:
    args = _parse(argv)
    try:
        return {"show": show, "export": export, "import": import_}[args.command](args)
    except (LabFileError, CheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
