"""Streamlit side of background jobs: one gate per server, jobs per user, polling fragments.

What it is: the thin glue around `llm_core.jobs`. `gate()` is the server-wide `JobGate` (from
`st.cache_resource`, so every session shares it; None on a Ray cluster, whose capacity is the
gate); `track()` keeps a user's job on the user's desk (`lab_ui.state.desk`: it survives page
switches, a browser reload and a second tab) with a callback that runs in the script thread
once each time the job ends (to register the trained model, for example: session state must not
be touched from the job's thread); `collect()` runs those callbacks and is called by the sidebar
on every page; `live()` draws a job's view in a fragment that reruns about twice a second while
the job is active and reruns the whole app once when it ends; `sidebar_status()` shows every
active job of this user in the sidebar, in its own slower fragment, on every chapter.
What it is not: the job itself. The training thread never calls Streamlit.

Server settings, from the environment: LLM_LAB_MAX_TRAININGS (jobs running at once, default 2),
LLM_LAB_TRAINING_CAP_S (wall-clock cap per run segment, default 600 s), LLM_LAB_JOB_BACKEND
("process", the default; "thread" runs jobs inside the server), LLM_LAB_RAY_ADDRESS (submit jobs
to that Ray cluster instead; see the README's "Serving a class").
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from lab_ui import charts, state
from llm_core.jobs import Job, JobGate, JobSnapshot
from llm_core.workers import BACKENDS, default_backend

JOBS_KEY = "lab_jobs"
DEFAULT_MAX_JOBS = 2
DEFAULT_TIME_CAP_S = 600.0
IDLE_TIMEOUT_S = 300.0  # a job nobody polls (tab closed, session gone) stops after this
POLL_S = 0.5
SIDEBAR_POLL_S = 2.0
# While a job is watched, Streamlit fades each rerunning fragment's elements and slides the progress
# bar to its new value: animation frames the watcher's browser draws on every poll. On a 2-core server
# that browser shares the cores with the job; without the transitions the browser used 7.7% of a core
# instead of 11.9% during a tiny-preset run (/proc CPU times, 20 s of a watched run). Stale elements
# then dim at once instead of fading; if Streamlit renames these test ids, the transitions simply return.
STEADY_CSS = "<style>[data-testid=stProgress] *,[data-testid=stElementContainer],[data-testid=stVerticalBlock]{transition:none!important}</style>"


def max_jobs() -> int:
    try:
        return max(1, int(os.environ.get("LLM_LAB_MAX_TRAININGS", DEFAULT_MAX_JOBS)))
    except ValueError:
        return DEFAULT_MAX_JOBS


def time_cap_s() -> float:
    try:
        return max(1.0, float(os.environ.get("LLM_LAB_TRAINING_CAP_S", DEFAULT_TIME_CAP_S)))
    except ValueError:
        return DEFAULT_TIME_CAP_S


def backend() -> str:
    """Where training jobs run: LLM_LAB_JOB_BACKEND if set, else Ray when LLM_LAB_RAY_ADDRESS is, else a process."""
    chosen = os.environ.get("LLM_LAB_JOB_BACKEND", "")
    return chosen if chosen in BACKENDS else default_backend()


def prewarm_worker() -> None:
    """Have a worker process ready (torch imported) for the next training job on this server, so the
    first Train press does not wait for one to start; only with local processes, and only while no
    job runs here (starting one takes a core for a couple of seconds)."""
    if backend() != "process" or gate().running:
        return
    from llm_core.workers.process import prewarm

    prewarm()


@st.cache_resource(show_spinner=False)
def _gate(capacity: int) -> JobGate:
    return JobGate(capacity)


def gate() -> JobGate | None:
    """The server-wide gate shared by every session (one per configured capacity); None on Ray."""
    return None if backend() == "ray" else _gate(max_jobs())


@dataclass
class Tracked:
    job: Job
    label: str  # shown in the sidebar, e.g. "Training 4x4x128 on tinyshakespeare"
    page: str | None = None  # the chapter that shows it, for a link from the sidebar
    on_end: Callable[[Job, JobSnapshot], None] | None = None  # runs in the script thread once per ended segment
    collected_segment: int = 0
    live_on_page: bool = False  # `page` always shows it live: the sidebar leaves it out there (one poll fewer)
    written: bool = False  # written to the desk's store as running (a server killed meanwhile reports it cut)


def _tracked() -> dict[str, Tracked]:
    """This user's jobs: the desk's dict (every tab of the user shares it)."""
    jobs = state.desk().jobs
    st.session_state[JOBS_KEY] = jobs
    return jobs


def track(key: str, job: Job, label: str, page: str | None = None, on_end=None, live_on_page: bool = False) -> None:
    """Keep `job` for this user under `key` (replacing an ended one; an active one is stopped first).
    `live_on_page`: `page` always draws this job with `live()`, so the sidebar need not while it is open."""
    old = _tracked().get(key)
    if old is not None and old.job is not job:
        if old.job.snapshot().active:
            old.job.stop()
        else:
            _collect_one(old)  # its end may not have been collected yet (a click right after it ended)
    _tracked()[key] = entry = Tracked(job, label, page, on_end, live_on_page=live_on_page)
    state.run_started(key, label, page)
    entry.written = True


def get(key: str) -> Job | None:
    entry = _tracked().get(key)
    return entry.job if entry else None


# How long a Stop button's callback waits for its job to end (under a second on a quiet machine at any size).
STOP_WAIT_S = 10.0


def stop(key: str) -> None:
    """A Stop button's callback: ask the job under `key` to stop, and wait (at most STOP_WAIT_S) until it
    has ended and its result is kept, so the run the click makes draws the ended job at once (buttons,
    the sidebar's model, the result). Without the wait that redraw waited on the live fragment's next
    tick (`live`), and under load a browser test twice saw no tick come: the Training page said
    "Training stopped by user" and kept Stop pressable and the old model current for minutes."""
    job = get(key)
    if job is not None:
        job.stop()
        job.join(STOP_WAIT_S)


def collect() -> bool:
    """Run the end-callback of every job that ended since the last call; True if any did."""
    ran = False
    for key, entry in list(_tracked().items()):
        ran = _collect_one(entry, key) or ran
        if not entry.written and entry.job.snapshot().active:  # a resumed run (Resume starts the same job again)
            state.run_started(key, entry.label, entry.page)
            entry.written = True
    return ran


def _collect_one(entry: Tracked, key: str | None = None) -> bool:
    snap = entry.job.snapshot()
    if snap.active or snap.segment <= entry.collected_segment:
        return False
    entry.collected_segment = snap.segment
    if entry.on_end is not None:
        entry.on_end(entry.job, snap)  # its model is kept on disk first: a kill between the two still says "cut"
    if entry.written and key is not None:
        state.run_ended(key)
        entry.written = False
    return True


def request(flag: str) -> None:
    """A start button's callback: only a flag, which `requested(flag)` reads in the run the click makes.
    The page then starts the job with that run's settings: a callback's own arguments are those of the
    last run that reached the button, which on a busy server can be older than the widgets
    (streamlit/streamlit#8365; the load test saw a run start with the sizes of a preset left behind)."""
    st.session_state[flag] = True


def requested(flag: str) -> bool:
    return bool(st.session_state.pop(flag, False))


def any_active() -> bool:
    return any(e.job.snapshot().active for e in _tracked().values())


def live(key: str, render: Callable[[JobSnapshot | None], None], interval: float = POLL_S) -> None:
    """Draw `render(snapshot)` in a fragment that polls while the job under `key` is active.

    The fragment reruns on its own every `interval` seconds while the job runs (only this
    fragment, not the page). When the job ends, it reruns the whole app once, so buttons, the
    sidebar and the model list catch up; after that it stops polling.
    """
    job = get(key)
    was_active = job is not None and job.snapshot().active
    if was_active:
        st.html(STEADY_CSS)  # a style alone takes no room on the page

    @st.fragment(run_every=interval if was_active else None)
    def _live():
        current = get(key)
        snap = None
        if current is not None:
            current.touch()
            snap = current.snapshot()
        with charts.drawn_with_their_tables():  # this fragment reruns on its own: no widget of its charts' own in it
            render(snap)
        if was_active and (snap is None or not snap.active):
            if os.environ.get("LLM_LAB_RUN_TIMES"):  # the server log (benchmarks, failed browser tests) shows what ended each run
                print(f"LLM_LAB_LIVE job={key} ended: the whole app reruns at={time.strftime('%H:%M:%S')}", flush=True)
            st.rerun()

    _live()


def describe(snap: JobSnapshot) -> str:
    """One line of status for a snapshot whose records are train() Metrics (or look like them): what the
    job is really doing now. A phase that came after the latest record (the worker building the model,
    the first steps computing, the closing evaluation) is what it is doing; otherwise the latest record.

    >>> from llm_core.jobs import JobSnapshot, Phase
    >>> snap = lambda status, **kw: JobSnapshot("t", status, (), (), None, None, None, None, 1, 0.0, None, **kw)
    >>> describe(snap("running")), describe(snap("finishing"))
    ('starting its worker process…', 'handing the result back to the app…')
    >>> describe(snap("running", phase=Phase("computing the first training steps"), phase_current=True))
    'computing the first training steps…'
    """
    if snap.status == "queued":
        return f"waiting for a free slot: position {snap.queue_position or '…'} in the queue"
    if snap.phase is not None and snap.status in ("running", "stopping") and (snap.phase_current or snap.phase.text.startswith("waiting")):
        text = snap.phase.text + ("…" if snap.phase.fraction is None else f" ({snap.phase.fraction:.0%})")
        return text + (" · stopping…" if snap.status == "stopping" and "stop" not in text else "")
    latest = snap.latest
    if snap.status in ("running", "stopping") and latest is not None:
        loss = latest.train_loss
        line = f"step {latest.step:,} · {latest.progress:.0%} · " + (f"loss {loss:.3f}" if math.isfinite(loss) else "the loss is not a finite number")
        return line + (" · stopping…" if snap.status == "stopping" else "")
    if snap.status == "running":
        return "starting its worker process…"
    if snap.status == "stopping":
        return "stopping…"
    if snap.status == "finishing":
        return "handing the result back to the app…"
    if snap.status == "failed":
        return f"failed: {snap.error}"
    return snap.stop_reason or snap.status


def shown_here(entry: Tracked, current_page: str | None) -> bool:
    """Is this job drawn live by the chapter being shown (so the sidebar can leave it out)?

    >>> shown_here(Tracked(None, "t", "pages/training.py", live_on_page=True), "training")
    True
    >>> shown_here(Tracked(None, "t", "pages/training.py", live_on_page=True), "overview"), shown_here(Tracked(None, "t", "pages/training.py"), "training")
    (False, False)
    """
    return bool(entry.live_on_page and entry.page and current_page and Path(entry.page).stem == current_page.strip("/"))


def sidebar_status(current_page: str | None = None) -> None:
    """This user's active jobs, live in the sidebar on every chapter (its own fragment), except the
    jobs the current chapter (`current_page`, its URL path) draws live itself: on a 2-core server
    each poll of the browser costs the training job speed (measured: benchmarks/training_in_app.py)."""
    listed = {key: entry for key, entry in _tracked().items() if not shown_here(entry, current_page)}
    active = any(entry.job.snapshot().active for entry in listed.values())
    if not active and not listed:
        return

    @st.fragment(run_every=SIDEBAR_POLL_S if active else None)
    def _status():
        still_active = False
        for key, entry in _tracked().items():
            snap = entry.job.snapshot()
            if not snap.active or key not in listed:
                continue
            entry.job.touch()
            still_active = True
            st.markdown(f"**:material/model_training: {entry.label}**")
            st.caption(describe(snap))
            latest = snap.latest
            if snap.status == "running" and latest is not None:
                st.progress(min(max(latest.progress, 0.0), 1.0))
        if active and not still_active:
            st.rerun()  # a job ended while the user was elsewhere: collect it and redraw everything

    with st.sidebar:
        if active:
            st.html(STEADY_CSS)
        _status()
