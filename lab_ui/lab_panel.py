"""The sidebar's "your lab" parts, on every chapter: notices, the current model's lineage, a share link
for the view, and the lab file (download the whole desk, open one).

What it is: `notices()` (a model a quota refused, a run a server restart cut, a link whose model is
gone: each until dismissed), `lineage(entry)` (the model's line as a small timeline, with one click
to compare it with its parent; for a model opened through a link, a button to keep a copy),
`your_lab(page)` (the share link, the lab file both ways, removing a model; beside the download, a warning
when the desk's lab file (`lab_bytes`) is larger than this page's file box can open again, `upload_limit_mb`).
What it is not: storage or checks (`lab_ui.state`, `llm_core.lab`).
"""

from __future__ import annotations

import time
from functools import partial

import streamlit as st

from lab_ui import compare_view, state
from lab_ui.model_files import file_stem, plain
from lab_ui.widgets import plural
from llm_core.lab import labfile
from llm_core.model import lineage as lin

GO_COMPARE = "lab_go_compare"
LINK_KEY = "lab_share_link"
UPLOAD_KEY = "lab_file_upload"
DATA_NAMES = {"tr_settings": "the Training settings", "course": "your course progress and predictions",
              "tr_runs": "the Training chapter's finished runs", "generation_steps": "the Generation chapter's steps"}
MB = 1024 * 1024  # as the file box counts: "Limit 64MB per file" is 64 × 1,048,576 bytes
DOWNLOAD_HELP = ("One file (.llmlab) that keeps every model on your list with how each was made, your Training settings and your "
                 "course progress. Open it later with \"Open a lab file\", here or on another computer, to get them all back.")


def upload_limit_mb() -> int:
    """The largest file this server's file box takes, in MB (Streamlit's server.maxUploadSize, .streamlit/config.toml)."""
    return int(st.get_option("server.maxUploadSize"))


def upload_help(limit_mb: int) -> str:
    return (f"Choose the .llmlab file that \"Download your lab\" saved. Its models join your list with how each was made, and its "
            f"course progress is added to yours; a model that fails a check is left out, and you are told why. This page opens files "
            f"of up to {limit_mb} MB (the limit under the box); a larger one, of up to {labfile.MAX_LAB_BYTES // MB:,} MB, can be opened by whoever runs this server "
            "(python -m llm_core.lab import).")


def too_big_to_open(size: int, limit_mb: int) -> str:
    """Said beside the download when the desk's lab file is larger than this page can open again."""
    return (f"Your lab file will be about {size / MB:,.0f} MB: more than the {limit_mb} MB this page can open again. Download it "
            "anyway to keep your models, but to open it here later, first remove the models you no longer need (below), "
            "then download your lab again.")


def lab_bytes(d: state.Desk) -> int:
    """About how large the desk's lab file is: each distinct model's weights once (the lab.json is small).
    From the sizes kept on disk, so no weights are loaded; a model held only in memory (a test's) counts nothing."""
    from llm_core.paths import DEFAULT_MODEL, MODELS_DIR

    with d.lock:
        entries = list(d.models.values())
    sizes = {}
    for e in entries:
        if e.key is not None and d.store is not None:
            sizes[e.key] = d.store.blob_bytes(e.key)
        elif e.source == "bundled" and e.key is None:
            path = MODELS_DIR / f"{e.meta.get('asset', DEFAULT_MODEL)}.safetensors"
            sizes[path.name] = path.stat().st_size if path.exists() else 0
    return sum(sizes.values())


def notices() -> None:
    for run in state.cut_runs():
        started = time.strftime("%d %b %H:%M", time.localtime(run.started))
        st.warning(f"Your run **{plain(run.label)}** (started {started}) was cut off: the server stopped while it ran, so it did not finish "
                   "and its model was not kept. The models finished before it are on your list; start it again from its chapter.")
        st.button("Dismiss", key=f"lab_cut_{run.key}", on_click=state.dismiss_cut, args=(run.key,))
    for index, level, text in state.messages():
        getattr(st, level)(text)
        st.button("Dismiss", key=f"lab_msg_{index}_{hash(text) % 10_000}", on_click=state.dismiss, args=(index,))


def _compare_with(name_a: str, name_b: str) -> None:
    compare_view.ask_to_compare(name_a, name_b)
    st.session_state[GO_COMPARE] = True


def lineage(entry: state.ModelEntry) -> None:
    if st.session_state.pop(GO_COMPARE, False):
        st.switch_page("pages/compare.py")
    entries = state.models()
    by_hash = {e.hash: n for n, e in entries.items()}
    steps = lin.chain(entry.lineage)
    if len(steps) > 1:
        st.caption("Lineage: " + compare_view.timeline_text(entry, by_hash))
    parent = entry.lineage.get("parent")
    if parent in by_hash and by_hash[parent] != entry.name:
        st.button(f"Compare with its parent ({plain(by_hash[parent])})", key="lab_compare_parent", on_click=_compare_with,
                  args=(entry.name, by_hash[parent]), help="Opens the Compare chapter on this model and the one it was made from.")
    if entry.source == "shared link":
        st.info("You opened this model through a shared link: a read-only copy kept on this server. It is not on your list until you keep a copy.")
        st.button("Keep a copy in my models", key="lab_keep_link", on_click=state.keep_link_model, args=(entry.name,))


def _make_link(page: str) -> None:
    st.session_state[LINK_KEY] = (page, state.share_link(page, state.view_models(page)))


def _remove(name: str) -> None:
    state.remove_model(name)


def your_lab(page: str | None) -> None:
    page = (page or "").strip("/")
    entry = state.current()
    with st.expander("Share, save or open your lab", key="lab_panel_open"):  # a key: it stays open when the sidebar above it changes
        st.button("Copy a link to this view", key="lab_share", on_click=_make_link, args=(page,),
                  help="A link with this chapter's settings and the model, by its content hash: never your desk.")
        made = st.session_state.get(LINK_KEY)
        if made and made[0] == page:
            st.code(made[1], language=None, wrap_lines=True)
            st.caption("Whoever opens this link sees this view on the same model, a read-only copy this server keeps, in a desk of their own: "
                       "not your other models, and nothing they do changes yours.")
        d = state.desk()
        limit_mb = upload_limit_mb()
        st.download_button("Download your lab", data=partial(state.export_lab, d), file_name=f"{file_stem('llm-lab ' + time.strftime('%Y-%m-%d'))}{labfile.SUFFIX}",
                           mime="application/zip", key="lab_download", on_click="ignore", help=DOWNLOAD_HELP)
        size = lab_bytes(d)
        if size > limit_mb * MB:
            st.warning(too_big_to_open(size, limit_mb))
        # any type: a wrong file (a .txt, a photo) reaches the lab file's own checks, which say in plain words what it is,
        # not the file box's "text/plain files are not allowed"
        upload = st.file_uploader("Open a lab file", type=None, key=UPLOAD_KEY, on_change=_import_uploaded,
                                  help=upload_help(limit_mb))
        if upload is not None:
            if _import(upload):  # only when the callback did not import it: the list above needs another run
                st.rerun()
            for level, text in st.session_state["lab_imports"][upload.file_id]:
                getattr(st, level)(text)
        if entry.source not in ("bundled", "shared link"):
            with st.popover("Remove the current model…"):
                st.markdown(f"Remove **{plain(entry.name)}** from your models and from this server's disk?")
                st.button("Remove it", key="lab_remove", on_click=_remove, args=(entry.name,))


def _import_uploaded() -> None:
    """The uploader's callback: the file is imported before the run that the upload makes, so that
    run's model list, drawn above this panel, already holds its models. (Imported in the panel itself,
    the list needed a second run, asked for with st.rerun(); under load a browser test twice read
    the sidebar of the first run: the notice said "Added 2 model(s)" and the list still held one.)"""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is not None:
        _import(upload)


def _import(upload) -> bool:
    """Import `upload` once (per file id) and keep its report for the panel; True if it added models now."""
    done = st.session_state.setdefault("lab_imports", {})
    if upload.file_id not in done:
        try:
            report = state.import_lab(upload.getvalue())
        except labfile.LabFileError as exc:
            done[upload.file_id] = [("error", f"{plain(upload.name)} was refused: {plain(str(exc))}")]
        else:
            lines = []
            if report.added:
                lines.append(("success", f"Added {plural(len(report.added), 'model')} with {'its' if len(report.added) == 1 else 'their'} lineage: "
                              + ", ".join(f"**{plain(n)}**" for n in report.added) + "."))
            if report.already:
                lines.append(("info", "Already on your list: " + ", ".join(plain(n) for n in report.already) + "."))
            if report.restored:
                lines.append(("info", "Restored from the file: " + ", ".join(DATA_NAMES.get(k, plain(k)) for k in report.restored) + "."))
            if course := state.course_said(report):
                lines.append(("info", course))
            lines += [("error", f"Refused {plain(what)}: {plain(why)}.") for what, why in report.refused]
            done[upload.file_id] = lines or [("info", f"{plain(upload.name)} holds no models.")]
            if report.added:  # the model list above changes, and this panel folds: the report goes to the notices at the top
                for level, text in done[upload.file_id]:
                    state.notify(level, f"{plain(upload.name)}: {text}")
                done[upload.file_id] = []
                return True
    return False
