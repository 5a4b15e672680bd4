"""The Knowing chapter's live fine-tuning section: a closed-book model or a reader fine-tuned from the current model in the background.

Each run goes through `llm_core.retrieval.readers.FineTune` as a worker job (`lab_ui.jobs`); a
finished model joins the user's model list and replaces the shipped one in the chapter
(`chosen`: kind -> (name, model, tokenizer), kept in the session).
"""

from __future__ import annotations

import streamlit as st

from lab_ui import jobs, state
from llm_core.retrieval.readers import FineTune, live_config
from llm_core.text.tokenizers import TokenizerError

KINDS = {"closed-book": "kn_job_closed", "reader": "kn_job_reader"}  # kind -> job key


def section(world, chosen: dict) -> None:
    entry = state.current()
    st.markdown(f"Each run fine-tunes a copy of **{entry.name}** for about 90 seconds in the background through the same SFT code as the assistant chapter; the "
                "result replaces the shipped model here and joins your model list. A live reader gets far fewer steps than the shipped one and may not learn to "
                "read; section 5 measures the one in use.")

    def start(kind):
        try:
            ft = FineTune(kind, entry.model, entry.tokenizer, world, live_config(kind), base_name=entry.name,
                          parent_lineage=state.entry_lineage(entry))
        except (TokenizerError, ValueError) as exc:
            st.session_state.kn_message = f"Cannot fine-tune this model: {exc}"
            return

        def done(job, snap):
            if job.result is not None:
                name = state.add_model(f"{entry.name} · {kind}", job.result.model, job.result.tokenizer, job.result.meta, "fine-tuned", make_current=False) or f"{entry.name} · {kind}"
                chosen[kind] = (name, job.result.model, job.result.tokenizer)

        job = ft.make_job(gate=jobs.gate(), time_cap_s=jobs.time_cap_s(), idle_timeout_s=jobs.IDLE_TIMEOUT_S)
        jobs.track(KINDS[kind], job, f"Knowing: {kind} from {entry.name}", "pages/knowing.py", done)
        job.start()

    for kind, key in KINDS.items():
        running = jobs.get(key) is not None and jobs.get(key).snapshot().active
        c1, c2 = st.columns([1, 3])
        c1.button(f"Fine-tune the {kind} model", on_click=start, args=(kind,), disabled=running, key=f"{key}_start")

        def render(snap, area=c2):
            if snap is not None and snap.active:
                area.progress(min(max(snap.latest.progress if snap.latest else 0.0, 0.0), 1.0), text=jobs.describe(snap))
            elif snap is not None:
                area.text(f"failed: {snap.error}" if snap.error else f"{snap.stop_reason}; {snap.running_s:.0f} s")

        jobs.live(key, render)
    if st.session_state.get("kn_message"):
        st.text(st.session_state.pop("kn_message"))
    if chosen:
        st.button("Use the shipped models again", key="kn_reset", on_click=chosen.clear)
