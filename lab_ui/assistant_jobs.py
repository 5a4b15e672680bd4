"""The "Making an assistant" chapter's job controls: Start/Stop buttons, live curves, progress, gates.

What it is: what every stage of the chapter repeats, written once: `controls` (a stage's Start and
Stop buttons and the message a refused start left), `start` (a stage's job, tracked for this user),
`live_curves` (its progress line and charts, polled while it runs), `curves` (one chart of record
fields over steps) and `needs` (a section's gate: the object it needs, or a note saying what to do
first); `keep`, `drop` and `restore` keep the finished stages (and the rankings) on the learner's desk
as well as in the session, so a reload or a second tab of the same browser (a new session on the same
desk) finds them, as the training chapter finds its run. What it is not: the stages
(`llm_core.alignment.assistant`).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from lab_ui import charts as charts_door
from lab_ui import jobs, palette, state

POLL_S = 0.5
PAGE = "pages/assistant.py"
DESK_KEY = "assistant"  # on the desk: the chapter's finished stages and rankings, by session key (in memory, as the training run)


def _kept() -> dict:
    return state.desk().data.setdefault(DESK_KEY, {})


def restore() -> None:
    """A new session on this desk (a reload, a second tab) gets the finished stages back; what the session holds wins."""
    for key, value in list(_kept().items()):
        if key not in st.session_state:
            st.session_state[key] = value


def keep(key: str, value) -> None:
    """A finished stage (or the rankings list), in the session and on the desk."""
    st.session_state[key] = value
    _kept()[key] = value


def drop(key: str) -> None:
    st.session_state.pop(key, None)
    _kept().pop(key, None)


def needs(key: str, message: str):
    """The session value a section builds on, or None after an info box saying what to do first."""
    value = st.session_state.get(key)
    if value is None:
        st.info(message)
    return value


def active(key: str) -> bool:
    job = jobs.get(key)
    return job is not None and job.snapshot().active


def start(key: str, stage, label: str, on_end) -> None:
    job = stage.make_job(gate=jobs.gate(), time_cap_s=jobs.time_cap_s(), idle_timeout_s=jobs.IDLE_TIMEOUT_S)
    jobs.track(key, job, label, PAGE, on_end)
    job.start()


def controls(job_key: str, label: str, on_start, key: str, blocked: bool = False) -> None:
    """A stage's Start and Stop buttons, and the message a refused start left in `{key}_message`."""
    b1, b2, _ = st.columns([2, 1, 3])
    requested = f"{key}_requested"
    if jobs.requested(requested) and not active(job_key) and not blocked:
        on_start()  # in the run the click makes, with its settings (see `jobs.request`)
    b1.button(label, type="primary", on_click=jobs.request, args=(requested,), disabled=active(job_key) or blocked, key=f"{key}_start")
    b2.button("Stop", on_click=jobs.stop, args=(job_key,), disabled=not active(job_key), key=f"{key}_stop")
    if st.session_state.get(f"{key}_message"):
        st.warning(st.session_state.pop(f"{key}_message"))


def series(records, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one record field; a key "extras.x" reads `record.extras["x"]`; NaN is not a point."""
    xs, ys = [], []
    for r in records:
        value = r.extras.get(key[7:]) if key.startswith("extras.") else getattr(r, key, None)
        if value is not None and value == value:
            xs.append(r.step)
            ys.append(value)
    return xs, ys


def curves(records, keys: list[tuple[str, str]], title: str, height: int = 260):
    """Record fields over steps, each series with its own colour and dash (never colour alone)."""
    fig = go.Figure()
    for i, (key, label) in enumerate(keys):
        xs, ys = series(records, key)
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if len(xs) < 30 else "lines", name=label,
                                     line=dict(color=palette.category(i), dash=palette.DASHES[i % len(palette.DASHES)]),
                                     marker=dict(symbol=palette.MARKERS[i % len(palette.MARKERS)])))
    fig.update_layout(title=title, height=height, margin=dict(t=40, b=30, l=40, r=10), xaxis_title="step (one update of the weights)",
                      legend=dict(orientation="h", y=-0.25))
    return fig


def curves_caption(records, keys: list[tuple[str, str]]) -> str:
    """What the curves did, from their own points: each series' first and last value.

    >>> from types import SimpleNamespace as R
    >>> recs = [R(step=1, train_loss=2.0, extras={}), R(step=9, train_loss=0.5, extras={})]
    >>> curves_caption(recs, [("train_loss", "training loss"), ("val_loss", "held-out loss")])
    'training loss fell from 2 (step 1) to 0.5 (step 9). held-out loss: not measured yet.'

    A series that ends where it began "stayed at" its value; a value within 1e-6 of 0 (a float's rounding) is 0:

    >>> acc = [R(step=10, train_loss=1.0, extras={"kl": -6.92e-09}), R(step=150, train_loss=1.0, extras={"kl": 0.42})]
    >>> curves_caption(acc, [("train_loss", "batch accuracy"), ("extras.kl", "KL")])
    'batch accuracy stayed at 1 from step 10 to step 150. KL rose from 0 (step 10) to 0.42 (step 150).'
    """
    def value(v: float) -> str:
        return "0" if abs(v) < 1e-6 else f"{v:.3g}"

    parts = []
    for key, label in keys:
        xs, ys = series(records, key)
        if not xs:
            parts.append(f"{label}: not measured yet.")
        elif len(xs) == 1:
            parts.append(f"{label}: {value(ys[0])} at step {xs[0]}.")
        elif value(ys[0]) == value(ys[-1]):
            parts.append(f"{label} stayed at {value(ys[0])} from step {xs[0]} to step {xs[-1]}.")
        else:
            verb = "rose" if ys[-1] > ys[0] else "fell"
            parts.append(f"{label} {verb} from {value(ys[0])} (step {xs[0]}) to {value(ys[-1])} (step {xs[-1]}).")
    return " ".join(parts)


def curves_table(records, keys: list[tuple[str, str]]) -> list[dict]:
    rows: dict[int, dict] = {}
    for key, label in keys:
        for x, y in zip(*series(records, key)):
            rows.setdefault(x, {"step": x})[label] = round(float(y), 4)
    return [rows[x] for x in sorted(rows)]


def progress_line(snap) -> None:
    if snap is None:
        return
    latest = snap.latest
    if snap.status == "queued":
        st.info(jobs.describe(snap))
    elif snap.active:
        st.progress(min(max(latest.progress if latest else 0.0, 0.0), 1.0), text=jobs.describe(snap))
    elif snap.error:
        st.error(f"This run failed: {snap.error}")
    elif snap.stop_reason and snap.stop_reason != "reached the step limit":
        st.warning(f"This run ended early: {snap.stop_reason}.")


def live_curves(job_key: str, charts: list[tuple[list[tuple[str, str]], str]], chart_key: str) -> None:
    """A stage's progress and its charts side by side, polled while its job runs."""

    def render(snap):
        progress_line(snap)
        if snap is not None and snap.records:
            for i, (col, (keys, title)) in enumerate(zip(st.columns(len(charts)), charts)):
                charts_door.chart(curves(snap.records, keys, title), key=f"{chart_key}_{i}", caption=curves_caption(snap.records, keys),
                                  table=curves_table(snap.records, keys), where=col, table_label="The points")

    jobs.live(job_key, render, interval=POLL_S)
