"""A model's files in the browser: download the weights and their description, upload them again.

What it is: `download_buttons(name)` offers a registered model as NAME.safetensors (the weights,
with the description also inside its header) and NAME.json (config, tokenizer, training record);
`upload_section(key)` takes those files back, validates them on the server (safetensors only,
never a pickle) and registers the model as the current one. Used by the Training chapter.
What it is not: the runner code. The Overview's "a model is two files" means the parameters and
the code that runs them; these two files are the parameters and a description of them.
"""

from __future__ import annotations

import re

import streamlit as st

from lab_ui import state
from llm_core.model import anatomy, lineage
from llm_core.model.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint_bytes
from llm_core.training.diagnosis import headline


@st.cache_data(show_spinner=False, max_entries=4)
def _files(desk_id: str, name: str, created: float) -> tuple[bytes, bytes] | None:
    entry = state.models().get(name)
    if entry is None:
        return None
    return checkpoint_bytes(entry.model, entry.tokenizer, entry.record, entry.lineage)


def plain(text: str) -> str:
    r"""Text a user chose (a file name, a model name) made inert for Markdown.

    >>> print(plain("**bold** <b>x</b> [a](b) :red[x] v1.2 (final)"))
    \*\*bold\*\* \<b\>x\</b\> \[a\](b) \:red\[x\] v1.2 (final)
    """
    return re.sub(r"([\\`*_{}\[\]#|<>~$:])", r"\\\1", text)


def file_stem(name: str) -> str:
    """A safe file name for a model name.

    >>> file_stem("4x4x128 on tinyshakespeare · 1,200 steps")
    '4x4x128-on-tinyshakespeare---1-200-steps'
    """
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").lower()[:60] or "model"


def download_buttons(name: str, key: str) -> None:
    entry = state.models().get(name)
    files = _files(state.desk().id, name, entry.created) if entry is not None else None
    if files is None:
        return
    weights, description = files
    stem = file_stem(name)
    d1, d2, _ = st.columns([1.4, 1.2, 1])
    # Data given as a function goes to the browser when the button is clicked. Given as bytes, it goes with
    # every run of the page: the browser fetched each weights file (3.3 MB for the bundled model) on
    # every visit and the server gzipped it on the way (to 92%: floats barely compress), for nothing.
    d1.download_button(f"Download the weights ({anatomy.human_bytes(len(weights))})", lambda: weights, file_name=f"{stem}.safetensors",
                       mime="application/octet-stream", key=f"{key}_weights", on_click="ignore")
    d2.download_button("Download the description", lambda: description, file_name=f"{stem}.json", mime="application/json", key=f"{key}_json",
                       on_click="ignore")
    st.caption(
        "The weights file (.safetensors) holds every parameter; the description (.json) says what they are: configuration, "
        "tokenizer and this training record (it is also inside the weights file's header). Together with code that runs them, "
        "such as the runner shown in the Overview chapter, that is the whole model. Upload them below in any LLM Lab."
    )


def upload_section(key: str) -> None:
    """Upload a model's files; a good one becomes the current model, a bad one gets a one-line reason."""
    uploads = st.file_uploader(
        "An LLM Lab model: its .safetensors file (the .json description is optional)", type=["safetensors", "json"],
        accept_multiple_files=True, key=key,
    )
    if not uploads:
        return
    upload_id = tuple(sorted(f.file_id for f in uploads))
    done = st.session_state.setdefault(f"{key}_done", {})
    if upload_id not in done:
        done[upload_id] = _register(uploads)
        if done[upload_id][0] == "success":
            st.rerun()  # redraw the sidebar with the new current model
    level, message = done[upload_id]
    getattr(st, level)(message)


def _register(uploads) -> tuple[str, str]:
    weights_files = [f for f in uploads if f.name.lower().endswith(".safetensors")]
    json_files = [f for f in uploads if f.name.lower().endswith(".json")]
    if len(weights_files) != 1:
        return "warning", "Give exactly one .safetensors file (its .json description is optional)."
    try:
        loaded = load_checkpoint_bytes(weights_files[0].getvalue(), json_files[0].getvalue() if json_files else None, device=state.device())
    except CheckpointError as exc:
        return "error", f"{plain(weights_files[0].name)} was refused: {plain(str(exc))}"
    label = weights_files[0].name.rsplit(".", 1)[0] or "uploaded model"
    if not loaded.meta.get("lineage"):  # a file without a history (the command line's before lineage, another tool's): it starts here
        loaded.meta["lineage"] = lineage.from_record(loaded.model, loaded.tokenizer, loaded.meta, "upload", name=f"{label} (uploaded)")
    added = state.add_model(f"{label} (uploaded)", loaded.model, loaded.tokenizer, loaded.meta, source="uploaded")
    if added is None:
        return "error", f"{plain(weights_files[0].name)} was read but not kept: your desk is full (see the notice in the sidebar)."
    figure = headline(loaded.meta.get("record") or {})
    return "success", (f"**{plain(added)}** loaded and made your current model: {loaded.model.num_params():,} parameters, vocabulary {loaded.model.config.vocab_size}"
                       + (f"; {figure.text}." if figure is not None else "."))
