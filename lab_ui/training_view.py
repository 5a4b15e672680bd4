"""The Training chapter's live view and summary: status line, progress with ETA, the run named, charts, samples.

What it is: `render_status(run, snap, ...)` (redrawn every 2 s: what the job is doing, the estimate
corrected from the measured speed, the loss figures, and what the run shows named with what to try
next) and `render_charts(run, snap, xaxis, logy)` (redrawn every few seconds: a chart costs the
browser and the server more) draw a training job's snapshot; `render_result(...)` says what the
finished segment measured, through the one headline figure (`llm_core.training.diagnosis.headline`).
What it is not: the job, the model or the detection: those are `llm_core.training`'s.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from lab_ui import charts, jobs, palette
from lab_ui.model_files import plain
from lab_ui.widgets import text_block
from llm_core.training.diagnosis import Diagnosis, headline, in_words
from llm_core.training.loop import lr_scale

UNIFORM_WORDS = "guessing every token equally likely"
UNIGRAM_WORDS = "knowing only how often each token occurs"


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


def fmt_rate(steps_per_s: float) -> str:
    """
    >>> fmt_rate(12.34), fmt_rate(0.25)
    ('12.3 steps per second', 'one step every 4.0 s')
    """
    return f"{steps_per_s:.1f} steps per second" if steps_per_s >= 1 else f"one step every {1 / steps_per_s:.1f} s"


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
    """Progress in [0, 1] and the text for the progress bar: the share of training done and an ETA while
    it trains; no ETA while a phase is current (the status line above says what it is doing)."""
    latest = snap.latest
    progress = min(max(latest.progress, 0.0), 1.0) if latest is not None else 0.0
    if snap.active and (latest is None or snap.phase_current):
        return progress, f"{progress:.0%} of the training done" if latest is not None else ""
    if latest is not None and progress > 0:
        spent = latest.elapsed_s + latest.eval_s
        return progress, (f"{progress:.0%} · ETA {fmt_seconds(spent * (1 - progress) / progress)}" if snap.active else f"{progress:.0%}")
    return progress, ""


def estimate_line(run, latest, active: bool) -> str | None:
    """The run's length from its measured speed, beside what was estimated before it began.

    The estimate before a run comes from a calibration of the machine; the measured speed replaces
    it as soon as the run has made a few steps (issue 21: an estimate of 685 steps for a run of 188).

    >>> from types import SimpleNamespace as NS
    >>> run = NS(cfg=NS(time_budget_s=60.0, max_steps=10_000_000), estimated_step_s=60 / 685)
    >>> estimate_line(run, NS(step=47, elapsed_s=15.0), active=True)
    'At the 3.1 steps per second measured so far, this run makes about 188 steps in all (the estimate before the run said about 685).'
    """
    if latest is None or latest.step < 5 or latest.elapsed_s <= 0:
        return None
    rate, cfg, before = latest.step / latest.elapsed_s, run.cfg, run.estimated_step_s
    if cfg.time_budget_s:
        said = f" (the estimate before the run said about {cfg.time_budget_s / before:,.0f})" if before else ""
        if active:
            return f"At the {fmt_rate(rate)} measured so far, this run makes about {cfg.time_budget_s * rate:,.0f} steps in all{said}."
        return f"It made {latest.step:,} steps, {fmt_rate(rate)}{said}."
    said = f" (the estimate before the run said {fmt_seconds(cfg.max_steps * before)} in all)" if before else ""
    if active:
        return f"At the {fmt_rate(rate)} measured so far, about {fmt_seconds(max(cfg.max_steps - latest.step, 0) / rate)} of training is left{said}."
    return f"It trained {fmt_seconds(latest.elapsed_s)}, {fmt_rate(rate)}{said}."


def show_diagnosis(diag: Diagnosis) -> None:
    """A named behaviour as an alert (divergence red, the others amber); healthy learning as a caption."""
    if diag.named:
        text = f"**{diag.title}.** {diag.sentence} **What to try next:** {diag.next_step}"
        (st.error if diag.kind == "diverged" else st.warning)(text)
    elif diag.kind == "learning":
        st.caption(f"**How it is going:** {diag.sentence}")


def render_status(run, snap, max_jobs: int, result=None) -> None:
    if snap is None or run is None:
        st.info("Press **Train** to start. The loss curve, the progress and samples of generated text appear here as the model learns.")
        return
    latest = snap.latest
    reason = in_words(snap.stop_reason) or "finished"
    if snap.status == "queued":
        st.info(f"⏳ Waiting for a free slot: this server runs at most {max_jobs} training{'s' if max_jobs != 1 else ''} at once. "
                f"You are **number {snap.queue_position or '…'}** in the queue.")
    elif snap.status == "failed":
        st.error(f"Training failed: {snap.error}")
    elif snap.status == "finished":
        latency = f" ({snap.stop_latency_s:.2f} s after the request)" if snap.stop_latency_s is not None else ""
        if reason.startswith("diverged"):
            st.error(f"Training stopped: the run {reason}")
        elif run.steps_done == 0:
            when = "" if "before" in reason else " before its first step"
            st.info(f"Training {reason}{latency}{when}: there is no model to keep. Press **Train** to start again.")
        elif snap.stopped_by == "cap":
            st.warning(f"Training {reason}.")
        elif reason.startswith("stopped"):
            more = " Press **Resume** to continue the same run." if run.can_resume() else ""
            st.info(f"Training {reason}{latency}.{more}")
        else:
            st.success(f"Training done: {reason}.")
    else:
        st.caption(f"**{jobs.describe(snap)}**")
    progress, bar_text = eta_text(snap)
    st.progress(progress, text=bar_text)
    estimate = estimate_line(run, latest, snap.active)
    if estimate:
        st.caption(estimate)
    k1, k2, k3, k4, k5 = st.columns(5)
    vals = [r for r in snap.records if r.val_loss is not None and math.isfinite(r.val_loss)]
    # once finished, the steps the kept model has (a Stop can land between two progress records)
    steps = run.steps_done if snap.status == "finished" and run.steps_done else (latest.step if latest else 0)
    k1.metric("Step", f"{steps:,}")
    k2.metric("Train loss", f"{latest.train_loss:.3f}" if latest and math.isfinite(latest.train_loss) else "–")
    found = headline(result[1].record) if result is not None and snap.status == "finished" else None
    if found is not None:  # the model's one figure: the same as the sidebar's and the model list's
        k3.metric("Val loss", f"{found.value:.3f}", help=f"This model's figure everywhere in the app: {found.text}.")
    else:
        k3.metric("Val loss", f"{vals[-1].val_loss:.3f}" if vals else "–",
                  help=f"The latest evaluation while training, on {run.eval_tokens:,} held-out tokens, at step {vals[-1].step:,}." if vals else "Measured at each evaluation.")
    k4.metric("Tokens / s", f"{latest.tokens_per_s:,.0f}" if latest else "–")
    k5.metric("Steps / s", f"{latest.step / latest.elapsed_s:.2f}" if latest and latest.elapsed_s > 0 else "–", help="Optimizer steps per second of training time (evaluations excluded).")
    if latest is not None and not (snap.status == "finished" and reason.startswith("diverged")):
        show_diagnosis(run.diagnose(snap.records, snap.stop_reason if not snap.active else None))


def _line(points, x_of, y_of, name, color, dash="solid", mode="lines", symbol=None) -> dict:
    trace = dict(type="scatter", x=[x_of(r) for r in points], y=[y_of(r) for r in points], mode=mode, name=name, line=dict(color=color, dash=dash))
    if symbol:
        trace["marker"] = dict(symbol=symbol, size=7, color=color)
    return trace


def _level(y: float, text: str, dash: str, logy: bool) -> tuple[dict, dict]:
    """A horizontal reference line across the chart and its label in words."""
    shape = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color=palette.GREY, dash=dash))
    label = dict(xref="paper", x=1, yref="y", y=math.log10(y) if logy and y > 0 else y, text=text, showarrow=False, xanchor="right",
                 yanchor="bottom", font=dict(size=11, color=palette.MUTED))
    return shape, label


def loss_caption(records, vals, uniform: float, unigram: float, diag: Diagnosis) -> str:
    """What to notice in the loss chart, computed from its points."""
    finite = [r for r in records if math.isfinite(r.train_loss)]
    if not finite:
        return f"No training loss measured yet. Grey lines: {UNIFORM_WORDS} ({uniform:.2f}) and {UNIGRAM_WORDS} ({unigram:.2f})."
    text = f"The training loss went from {finite[0].train_loss:.2f} to {finite[-1].train_loss:.2f} in {finite[-1].step:,} steps"
    if vals:
        best = min(vals, key=lambda r: r.val_loss)
        text += f"; the validation loss from {vals[0].val_loss:.2f} to {vals[-1].val_loss:.2f} (lowest {best.val_loss:.2f}, at step {best.step:,})"
    text += f". Grey lines: {UNIFORM_WORDS} scores {uniform:.2f} (dotted); {UNIGRAM_WORDS} scores {unigram:.2f} (dashed)."
    if diag.named:
        text += f" {diag.title}: {diag.sentence}"
    return text


def loss_table(records, x_label: str, x_of) -> list[dict]:
    """The chart's points as rows: every evaluation, and the training losses thinned to about 200 rows."""
    evals = {r.step for r in records if r.val_loss is not None}
    shown = {r.step for r in thin([r for r in records if r.step not in evals], 200)} | evals
    return [{"step": r.step, x_label: x_of(r) if x_label != "step" else r.step,
             # text columns: a gap is an empty cell, never "nan" or "None" (a column of one type, which the table needs)
             "training loss": f"{r.train_loss:.4f}" if math.isfinite(r.train_loss) else "not a finite number",
             "validation loss": f"{r.val_loss:.4f}" if r.val_loss is not None and math.isfinite(r.val_loss) else "", "learning rate": float(f"{r.lr:.4g}"),
             "seconds of training": round(r.elapsed_s, 1)} for r in records if r.step in shown]


def render_charts(run, snap, xaxis: str, logy: bool) -> None:
    """Loss and learning-rate charts (each with its caption and data), then the latest sample. Figures are
    plain dicts: about 15x cheaper to build than through plotly's validating helpers, beside a training job."""
    if snap is None or run is None:
        return
    records = one_per_step(snap.records)
    vals = [r for r in records if r.val_loss is not None and math.isfinite(r.val_loss)]
    x_of = (lambda r: r.step) if xaxis == "steps" else (lambda r: r.tokens_seen)
    x_title = "training steps" if xaxis == "steps" else "tokens seen in training"
    train_points = [r for r in records if math.isfinite(r.train_loss)]
    diag = run.diagnose(snap.records, None if snap.active else snap.stop_reason)
    uniform, unigram = run.uniform_loss, run.unigram_loss
    chart, lr_chart = st.columns([2, 1])
    traces = []
    if train_points:
        traces.append(_line(thin(train_points), x_of, lambda r: r.train_loss, "train loss", palette.BLUE))
    if vals:
        traces.append(_line(vals, x_of, lambda r: r.val_loss, "val loss", palette.VERMILLION, "dash", "lines+markers", "square"))
    levels = [_level(uniform, f"{UNIFORM_WORDS}: {uniform:.2f}", "dot", logy), _level(unigram, f"{UNIGRAM_WORDS}: {unigram:.2f}", "dash", logy)]
    shapes, annotations = [s for s, _ in levels], [a for _, a in levels]
    if diag.kind == "overfitting" and diag.since_step is not None:
        at = next((x_of(r) for r in records if r.step == diag.since_step), diag.since_step)
        shapes.append(dict(type="line", xref="x", x0=at, x1=at, yref="paper", y0=0, y1=1, line=dict(color=palette.BLACK, dash="dashdot")))
        annotations.append(dict(xref="x", x=at, yref="paper", y=1, text="lowest validation loss", showarrow=False, xanchor="left", yanchor="top",
                                font=dict(size=11, color=palette.INK)))
    layout = dict(
        height=360, margin=dict(t=30, l=0, r=0, b=0), legend=dict(orientation="h", y=1.12), title=dict(text="loss", font=dict(size=13)),
        xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text="cross-entropy (nats per token)"), type="log" if logy else "linear"),
        shapes=shapes, annotations=annotations,
    )
    charts.chart(go.Figure(dict(data=traces, layout=layout)), key="tr_loss_chart", where=chart,
                 caption=loss_caption(train_points, vals, uniform, unigram, diag), table=loss_table(records, x_title, x_of))
    cfg, latest = run.cfg, snap.latest
    lr_traces = []
    if cfg.time_budget_s is None and cfg.max_steps <= 1_000_000:
        planned = list(range(0, cfg.max_steps + 1, max(1, cfg.max_steps // 200)))
        per_step = latest.tokens_seen / latest.step if latest and latest.step else cfg.batch_size * run.model_config.block_size
        lr_traces.append(dict(type="scatter", x=[s if xaxis == "steps" else s * per_step for s in planned],
                              y=[cfg.lr * lr_scale(s, s / cfg.max_steps, cfg.warmup_steps, cfg.min_lr_ratio) for s in planned],
                              mode="lines", name="planned", line=dict(color=palette.GREY, dash="dash")))
    if records:
        lr_traces.append(_line(thin(records), x_of, lambda r: r.lr, "used", palette.GREEN))
    lr_layout = dict(height=360, margin=dict(t=30, l=0, r=0, b=0), showlegend=False, title=dict(text="learning rate", font=dict(size=13)),
                     xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text="learning rate (step size)")))
    if latest is not None:
        lr_caption = (f"The learning rate {'is now' if snap.active else 'ended at'} {latest.lr:.2g}, {latest.lr_scale:.0%} of its peak {cfg.lr:g}: it rose over the first "
                      f"{cfg.warmup_steps} steps (warmup) and falls smoothly to 0 by the end of the run (a cosine schedule).")
    else:
        lr_caption = f"The learning rate will rise to {cfg.lr:g} over the first {cfg.warmup_steps} steps (warmup), then fall smoothly to 0 by the end (a cosine schedule)."
    charts.chart(go.Figure(dict(data=lr_traces, layout=lr_layout)), key="tr_lr_chart", where=lr_chart, caption=lr_caption,
                 table=[{"step": r.step, "learning rate": float(f"{r.lr:.4g}")} for r in thin(records, 200)])
    if snap.samples:
        step, sample_text = snap.samples[-1]
        st.markdown(f"**Sample at step {step:,}** (temperature 0.8, same prompt and seed every time, so only the model changes)")
        text_block(sample_text)
        if len(snap.samples) > 1:
            with st.expander(f"Every sample so far ({len(snap.samples)})"):
                for step, sample_text in reversed(snap.samples):
                    st.caption(f"step {step:,}")
                    text_block(sample_text)
    elif snap.active:
        every = f"{cfg.eval_every_s:g} s of training" if cfg.eval_every_s else f"{cfg.eval_every} steps"
        st.caption(f"A sample of generated text appears at every evaluation (every {every}).")


def _finite(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def failed_to_learn(record: dict, uniform: float) -> bool:
    """A model no better than a uniform guess (a diverged run): not worth making the current model.
    Judged on its headline figure, or on the quick figure of a run stopped before any full evaluation.

    >>> failed_to_learn({"val_loss": 4.17, "stop_reason": "reached the step limit"}, 4.17), failed_to_learn({"val_loss": 2.1}, 4.17)
    (True, False)
    >>> failed_to_learn({"val_loss": None, "quick_val_loss": 3.1, "quick_val_tokens": 64, "val_tokens": 0, "val_tokens_total": 9000}, 4.17)
    False
    """
    found = headline(record)
    val = found.value if found is not None else _finite(record.get("quick_val_loss"))
    return (record.get("stop_reason") or "").startswith("diverged") or val is None or val > uniform - 0.05


def render_result(name: str, trained, current: bool, run=None) -> None:
    """What the finished segment measured, computed from its record: its headline figure, against the two reference levels."""
    record = trained.record
    uniform = math.log(trained.model.config.vocab_size)
    found = headline(record)
    steps, elapsed = record["steps"], record["elapsed_s"]
    if current:
        st.success(f"**{plain(name)}** is now your current model in every chapter: attention, generation, embeddings.")
    else:
        why = "no validation loss could be measured" if found is None else f"its validation loss is {found.value:.3f}, no better than {UNIFORM_WORDS} ({uniform:.2f})"
        st.warning(f"**{plain(name)}** did not learn ({why}), so your current model stays as it was. It is in the model list if you want to look at it anyway.")
    levels = f"against {uniform:.2f} for {UNIFORM_WORDS}" + (f" and {run.unigram_loss:.2f} for {UNIGRAM_WORDS}" if run is not None else "")
    if found is not None:  # "Final val loss X" is also what benchmarks/training_in_app.py reads
        figure = f"Final {found.text}: the figure the sidebar and every chapter show for this model, {levels}."
    else:
        figure = "It has no validation loss yet: it was stopped before its first full evaluation."
    quick, quick_tokens = _finite(record.get("quick_val_loss")), record.get("quick_val_tokens")
    if quick is not None and quick_tokens:
        figure += (f" (The closing measurement was cut short by the stop after {quick_tokens:,} held-out tokens, which gave {quick:.2f}: "
                   "too few tokens to stand for the model.)")
    st.markdown(
        f"Trained {steps:,} steps in {elapsed:.1f} s of training ({steps / max(elapsed, 1e-9):.2f} steps/s); evaluations and samples took "
        f"{record['eval_s']:.1f} s more. {figure}"
    )
