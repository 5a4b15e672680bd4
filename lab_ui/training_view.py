"""The Training chapter's live view and summary: status line, progress with ETA, charts, samples.

What it is: `render_status(run, snap)` (redrawn every 2 s) and `render_charts(run, snap,
xaxis, logy)` (redrawn every few seconds: a chart costs the browser and the server more) draw a
training job's snapshot; `render_result(...)` says what the finished segment measured.
What it is not: the job or the model: those are `llm_core.training.training_run`'s.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from lab_ui import jobs
from lab_ui.model_files import plain
from llm_core.training.loop import lr_scale


def fmt_seconds(s: float) -> str:
    """
    >>> fmt_seconds(0.25), fmt_seconds(42), fmt_seconds(600)
    ('250 ms', '42.0 s', '10.0 min')
    """
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def thin(points: list, limit: int = 600) -> list:
    """At most about `limit` evenly spaced points, always ending with the latest (a chart stays cheap to send)."""
    stride = max(1, math.ceil(len(points) / limit))
    shown = list(points[::stride])
    if shown and shown[-1] is not points[-1]:
        shown.append(points[-1])
    return shown


def one_per_step(records) -> list:
    """One record per step: the closing record repeats the step it closes."""
    kept = []
    for r in records:
        if kept and kept[-1].step == r.step:
            kept[-1] = r
        else:
            kept.append(r)
    return kept


def eta_text(snap) -> tuple[float, str]:
    """Progress in [0, 1] and the text for the progress bar (with an ETA while the job runs)."""
    latest = snap.latest
    progress = min(max(latest.progress, 0.0), 1.0) if latest is not None else 0.0
    if latest is not None and progress > 0:
        spent = latest.elapsed_s + latest.eval_s
        text = f"{progress:.0%} · ETA {fmt_seconds(spent * (1 - progress) / progress)}" if snap.active else f"{progress:.0%}"
    else:
        text = "starting (a worker process loads torch: a few seconds)…" if snap.active else ""
    return progress, text


def render_status(run, snap, max_jobs: int) -> None:
    if snap is None or run is None:
        st.info("Press **Train** to start. The loss curve, the progress and samples of generated text appear here as the model learns.")
        return
    latest = snap.latest
    if snap.status == "queued":
        st.info(f"⏳ Waiting for a free slot: this server runs at most {max_jobs} training{'s' if max_jobs != 1 else ''} at once. "
                f"You are **number {snap.queue_position or '…'}** in the queue.")
    elif snap.status == "failed":
        st.error(f"Training failed: {snap.error}")
    elif snap.status == "finished":
        reason = snap.stop_reason or "finished"
        latency = f" ({snap.stop_latency_s:.2f} s after the request)" if snap.stop_latency_s is not None else ""
        if reason.startswith("diverged"):
            st.error(f"Training stopped: the run {reason}")
        elif run.steps_done == 0:
            when = "" if "before it began" in reason else " before its first step"
            st.info(f"Training {reason}{latency}{when}: there is no model to keep. Press **Train** to start again.")
        elif snap.stopped_by == "cap":
            st.warning(f"Training {reason}.")
        elif run.can_resume():
            st.info(f"Training {reason}{latency}. Press **Resume** to continue the same run.")
        else:
            st.success(f"Training done: {reason}.")
    else:
        st.caption(f"**{jobs.describe(snap)}**")
    progress, bar_text = eta_text(snap)
    st.progress(progress, text=bar_text)
    k1, k2, k3, k4, k5 = st.columns(5)
    vals = [r for r in snap.records if r.val_loss is not None]
    # once finished, the steps the kept model has (a Stop can land between two progress records)
    steps = run.steps_done if snap.status == "finished" and run.steps_done else (latest.step if latest else 0)
    k1.metric("Step", f"{steps:,}")
    k2.metric("Train loss", f"{latest.train_loss:.3f}" if latest and math.isfinite(latest.train_loss) else "–")
    k3.metric("Val loss", f"{vals[-1].val_loss:.3f}" if vals else "–", help=f"On {run.eval_tokens:,} held-out tokens while training; the final value uses the held-out split.")
    k4.metric("Tokens / s", f"{latest.tokens_per_s:,.0f}" if latest else "–")
    k5.metric("Steps / s", f"{latest.step / latest.elapsed_s:.2f}" if latest and latest.elapsed_s > 0 else "–", help="Optimizer steps per second of training time (evaluations excluded).")


def _line(points, x_of, y_of, name, color, mode="lines") -> dict:
    return dict(type="scatter", x=[x_of(r) for r in points], y=[y_of(r) for r in points], mode=mode, name=name, line=dict(color=color))


def render_charts(run, snap, xaxis: str, logy: bool) -> None:
    """Loss and learning-rate charts, then the latest sample. Figures are plain dicts: about 15x
    cheaper to build than through plotly's validating helpers, beside a training job."""
    if snap is None or run is None:
        return
    records = one_per_step(snap.records)
    vals = [r for r in records if r.val_loss is not None]
    x_of = (lambda r: r.step) if xaxis == "steps" else (lambda r: r.tokens_seen)
    train_points = [r for r in records if math.isfinite(r.train_loss)]
    chart, lr_chart = st.columns([2, 1])
    traces = []
    if train_points:
        traces.append(_line(thin(train_points), x_of, lambda r: r.train_loss, "train loss", "#60a5fa"))
    if vals:
        traces.append(_line(vals, x_of, lambda r: r.val_loss, "val loss", "#f97316", "lines+markers"))
    uniform, vocab = run.uniform_loss, run.model_config.vocab_size
    layout = dict(
        height=360, margin=dict(t=30, l=0, r=0, b=0), legend=dict(orientation="h", y=1.12),
        xaxis=dict(title=dict(text=xaxis)), yaxis=dict(title=dict(text="cross-entropy (nats per token)"), type="log" if logy else "linear"),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=uniform, y1=uniform, line=dict(color="#6b7280", dash="dot"))],
        annotations=[dict(xref="paper", x=1, yref="y", y=math.log10(uniform) if logy else uniform, text=f"uniform guess: ln {vocab} = {uniform:.2f}",
                          showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=11, color="#6b7280"))],
    )
    chart.plotly_chart(go.Figure(dict(data=traces, layout=layout)), key="tr_loss_chart")
    cfg, latest = run.cfg, snap.latest
    lr_traces = []
    if cfg.time_budget_s is None and cfg.max_steps <= 1_000_000:
        planned = list(range(0, cfg.max_steps + 1, max(1, cfg.max_steps // 200)))
        per_step = latest.tokens_seen / latest.step if latest and latest.step else cfg.batch_size * run.model_config.block_size
        lr_traces.append(dict(type="scatter", x=[s if xaxis == "steps" else s * per_step for s in planned],
                              y=[cfg.lr * lr_scale(s, s / cfg.max_steps, cfg.warmup_steps, cfg.min_lr_ratio) for s in planned],
                              mode="lines", name="planned", line=dict(color="#d1d5db", dash="dash")))
    if records:
        lr_traces.append(_line(thin(records), x_of, lambda r: r.lr, "used", "#10b981"))
    lr_layout = dict(height=360, margin=dict(t=30, l=0, r=0, b=0), showlegend=False, title=dict(text="learning rate", font=dict(size=13)), xaxis=dict(title=dict(text=xaxis)))
    lr_chart.plotly_chart(go.Figure(dict(data=lr_traces, layout=lr_layout)), key="tr_lr_chart")
    st.caption(
        f"The loss is the **cross-entropy**: the average of −ln(the probability the model gave to the true next token), so 0 would mean "
        f"always certain and right, and {uniform:.2f} is what guessing uniformly among {vocab} tokens scores. "
        f"Train loss is measured on each batch; val loss on {run.eval_tokens:,} held-out tokens the model never trains on "
        f"(capped to keep the live view quick), every {f'{cfg.eval_every_s:g} s of training' if cfg.eval_every_s else f'{cfg.eval_every} steps'}."
    )
    if snap.samples:
        step, sample_text = snap.samples[-1]
        st.markdown(f"**Sample at step {step:,}** (temperature 0.8, same prompt and seed every time, so only the model changes)")
        st.code(sample_text, language=None, wrap_lines=True)
        if len(snap.samples) > 1:
            with st.expander(f"Every sample so far ({len(snap.samples)})"):
                for step, sample_text in reversed(snap.samples):
                    st.caption(f"step {step:,}")
                    st.code(sample_text, language=None, wrap_lines=True)
    elif snap.active:
        every = f"{cfg.eval_every_s:g} s of training" if cfg.eval_every_s else f"{cfg.eval_every} steps"
        st.caption(f"A sample of generated text appears at every evaluation (every {every}).")


def failed_to_learn(record: dict, uniform: float) -> bool:
    """A model no better than a uniform guess (a diverged run): not worth making the current model.

    >>> failed_to_learn({"val_loss": 4.17, "stop_reason": "reached the step limit"}, 4.17), failed_to_learn({"val_loss": 2.1}, 4.17)
    (True, False)
    """
    val = record.get("val_loss")
    return (record.get("stop_reason") or "").startswith("diverged") or val is None or val > uniform - 0.05


def render_result(name: str, trained, current: bool) -> None:
    """What the finished segment measured, computed from its record."""
    record = trained.record
    uniform = math.log(trained.model.config.vocab_size)
    steps, elapsed = record["steps"], record["elapsed_s"]
    if current:
        st.success(f"**{plain(name)}** is now your current model in every chapter: attention, generation, embeddings.")
    else:
        val = record.get("val_loss")
        val_text = "no final loss could be measured" if val is None else f"its final val loss is {val:.3f}, no better than a uniform guess ({uniform:.2f})"
        st.warning(f"**{plain(name)}** did not learn ({val_text}), so your current model stays as it was. It is in the model list if you want to look at it anyway.")
    sample_note = ""
    if record.get("val_tokens_total") and record["val_tokens"] < record["val_tokens_total"]:
        sample_note = (f" (a random sample: {record['val_tokens']:,} of the {record['val_tokens_total']:,} held-out tokens, "
                       "because measuring the whole split would have taken too long or a stop was asked)")
    val_line = f"Final val loss **{record['val_loss']:.3f}** on {record['val_tokens']:,} held-out tokens{sample_note}, " if record.get("val_loss") is not None else "No final val loss, "
    st.markdown(
        f"Trained {steps:,} steps in {elapsed:.1f} s of training ({steps / max(elapsed, 1e-9):.2f} steps/s); evaluations and samples took "
        f"{record['eval_s']:.1f} s more. {val_line}against {uniform:.2f} for a uniform guess."
    )
