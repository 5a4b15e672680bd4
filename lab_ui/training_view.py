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
from lab_ui.widgets import plural, text_block
from llm_core.training.diagnosis import Diagnosis, headline, in_words, measured_train_loss
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


def approx(n: float) -> str:
    """A count estimated from a speed, to two significant figures: it is not known to more.

    >>> approx(2041.4), approx(373), approx(47.6)
    ('2,000', '370', '48')
    """
    n = max(0, round(n))
    if n >= 100:
        digits = len(str(n)) - 2
        n = round(n, -digits)
    return f"{n:,}"


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


def run_figures(run, snap) -> tuple[int, float, int]:
    """(steps, seconds of training, tokens seen) of the run as the tiles and every sentence beside them state
    them: once it has finished, the kept model's counters (a Stop can land in the middle of a step, after the
    last progress record); while it trains, the latest record."""
    if snap.status == "finished" and run.steps_done:
        c = run.counters
        return int(c["step"]), float(c["elapsed_s"]), int(c["tokens_seen"])
    latest = snap.latest
    return (latest.step, latest.elapsed_s, latest.tokens_seen) if latest is not None else (0, 0.0, 0)


def recent_rate(records, min_window_s: float = 2.0) -> tuple[float, float] | None:
    """(steps per second, seconds it was measured over) over the last third of the training time so far, at
    least `min_window_s`. A run's first steps are slow (the worker starting, its threads being tuned, a
    server busy with the page that started it), so a count extrapolated from the average since the start
    came out far too low (an audit saw "about 223 steps in all" for a run of 2,041); None without two records.

    >>> from types import SimpleNamespace as NS
    >>> recent_rate([NS(step=10, elapsed_s=5.0), NS(step=110, elapsed_s=6.0), NS(step=310, elapsed_s=8.0)])
    (100.0, 2.0)
    """
    if len(records) < 2:
        return None
    latest = records[-1]
    window = max(min_window_s, latest.elapsed_s / 3)
    start = next((r for r in records if r.elapsed_s >= latest.elapsed_s - window), records[0])
    if start is latest:
        start = records[-2]
    span, steps = latest.elapsed_s - start.elapsed_s, latest.step - start.step
    if span <= 0 or steps <= 0:
        return None
    return steps / span, span


def estimate_line(run, records, active: bool, steps: int, elapsed_s: float) -> str | None:
    """The run's length from its measured speed, beside what was estimated before it began.

    The estimate before a run comes from a calibration of the machine; the measured speed replaces
    it as soon as the run has made a few steps (issue 21: an estimate of 685 steps for a run of 188).
    While it trains, the count is extrapolated from the speed of the last few seconds, rounded, and
    said to hold only at that speed: a server's load changes a run's speed several times over.

    >>> from types import SimpleNamespace as NS
    >>> run = NS(cfg=NS(time_budget_s=60.0, max_steps=10_000_000), estimated_step_s=60 / 685)
    >>> records = [NS(step=s, elapsed_s=s / 4) for s in range(10, 50, 10)] + [NS(step=60, elapsed_s=15.0)]
    >>> estimate_line(run, records, True, 60, 15.0)
    'At the 4.0 steps per second of its last 5.0 s, this run makes roughly 240 steps in all, if it keeps that speed; before the run the estimate was about 680 steps in all.'
    >>> estimate_line(run, records, False, 188, 60.0)
    'It made 188 steps in 60.0 s of training, 3.1 steps per second on average; before the run the estimate was about 680 steps in all.'

    The estimate before a time-budget run is a count of steps, said with its unit: "(the estimate before the run
    said about 11)" after "6.4 steps per second" read as 11 steps per second (a newcomer's audit).
    """
    if steps < 5 or elapsed_s <= 0:
        return None
    cfg, before = run.cfg, run.estimated_step_s
    average = steps / elapsed_s
    if cfg.time_budget_s:
        said = f"; before the run the estimate was about {approx(cfg.time_budget_s / before)} steps in all" if before else ""
    else:
        said = f" (the estimate before the run said about {fmt_seconds(cfg.max_steps * before)} in all)" if before else ""
    if not active:
        if cfg.time_budget_s:
            return f"It made {plural(steps, 'step')} in {fmt_seconds(elapsed_s)} of training, {fmt_rate(average)} on average{said}."
        return f"It trained {fmt_seconds(elapsed_s)}, {fmt_rate(average)} on average{said}."
    recent = recent_rate(records)
    if recent is not None and recent[1] >= 1.0:
        rate, at = recent[0], f"At the {fmt_rate(recent[0])} of its last {fmt_seconds(recent[1])}"
    else:  # under a second of records: the average so far
        rate, at = average, f"At the {fmt_rate(average)} measured so far"
    if cfg.time_budget_s:
        total = steps + max(cfg.time_budget_s - elapsed_s, 0.0) * rate
        return f"{at}, this run makes roughly {approx(total)} steps in all, if it keeps that speed{said}."
    return f"{at}, about {fmt_seconds(max(cfg.max_steps - steps, 0) / rate)} of training is left, if it keeps that speed{said}."


def show_diagnosis(diag: Diagnosis, more: str = "") -> None:
    """A named behaviour as an alert (divergence red, the others amber); healthy learning as a caption (with `more` after it)."""
    if diag.named:
        text = f"**{diag.title}.** {diag.sentence} **What to try next:** {diag.next_step}"
        (st.error if diag.kind == "diverged" else st.warning)(text)
    elif diag.kind == "learning":
        st.caption(f"**How it is going:** {diag.sentence}{more}")


def live_val_words(run) -> str:
    """What the evaluations during training are measured on (the first held-out tokens, the same every time)."""
    return f"on the first {run.eval_tokens:,} held-out tokens, at each evaluation"


def final_figure(result, snap):
    """The model's headline figure once the run has finished and been kept, when it was measured on other
    tokens than the evaluations during training (the closing measurement on all of the held-out text)."""
    if result is None or snap.status != "finished":
        return None
    found = headline(result[1].record)
    return found if found is not None and result[1].record.get("val_kind") == "closing" else None


def tiles_sentence(val: tuple[float, str] | None, train: tuple[float, str] | None) -> str:
    """The two loss tiles beside each other, in words, each with the reading it is.

    >>> tiles_sentence((2.454, "the latest evaluation, at step 120"), (2.303, "the latest batch's loss alone, at step 124"))
    " The Val loss tile (2.454, the latest evaluation, at step 120) is 0.15 above the Train loss tile (2.303, the latest batch's loss alone, at step 124)."
    """
    if val is None or train is None:
        return ""
    gap = val[0] - train[0]
    where = "level with" if abs(gap) < 0.005 else f"{abs(gap):.2f} {'above' if gap > 0 else 'below'}"
    return f" The Val loss tile ({val[0]:.3f}, {val[1]}) is {where} the Train loss tile ({train[0]:.3f}, {train[1]})."


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
    steps, elapsed, tokens = run_figures(run, snap)
    estimate = estimate_line(run, snap.records, snap.active, steps, elapsed)
    if estimate:
        st.caption(estimate)
    k1, k2, k3, k4, k5 = st.columns(5)
    vals = [r for r in snap.records if r.val_loss is not None and math.isfinite(r.val_loss)]
    k1.metric("Step", f"{steps:,}")
    train_loss = measured_train_loss(latest) if latest is not None else None
    train = (train_loss, f"the latest batch's loss alone, at step {latest.step:,}") if train_loss is not None and math.isfinite(train_loss) else None
    k2.metric("Train loss", f"{train[0]:.3f}" if train else "–", help="The loss of the latest batch alone: it varies from batch to batch.")
    found = headline(result[1].record) if result is not None and snap.status == "finished" else None
    final = final_figure(result, snap)
    if found is not None:  # the model's one figure: the same as the sidebar's and the model list's
        k3.metric("Val loss", f"{found.value:.3f}", help=f"This model's figure everywhere in the app: {found.text}.")
        if final is not None:
            val = (found.value, "the final measurement")
        else:  # a stopped run's figure: its last full evaluation during training
            val = (found.value, "this model's figure, the last full evaluation" + (f", at step {found.step:,}" if found.step is not None else ""))
    else:
        k3.metric("Val loss", f"{vals[-1].val_loss:.3f}" if vals else "–",
                  help=f"The latest evaluation while training, on {run.eval_tokens:,} held-out tokens, at step {vals[-1].step:,}." if vals else "Measured at each evaluation.")
        val = (vals[-1].val_loss, f"the latest evaluation, at step {vals[-1].step:,}") if vals else None
    rate_help = "Averaged over the run's training time so far (evaluations excluded), as the sentence above the tiles says."
    k4.metric("Tokens / s", f"{tokens / elapsed:,.0f}" if steps and elapsed > 0 else "–", help=rate_help)
    k5.metric("Steps / s", f"{steps / elapsed:.2f}" if steps and elapsed > 0 else "–", help="Optimizer steps per second. " + rate_help)
    if latest is not None and not (snap.status == "finished" and reason.startswith("diverged")):
        diag = run.diagnose(snap.records, snap.stop_reason if not snap.active else None, val_on=live_val_words(run), gap=False)
        more = ""
        if final is not None:
            more = f" The final measurement, {final.text.removeprefix(f'val loss {final.value:.3f} ')}, gave {final.value:.3f}" + (
                f": other text than the evaluations' (the last gave {vals[-1].val_loss:.3f} at step {vals[-1].step:,}), so another figure." if vals else ".")
        show_diagnosis(diag, more + tiles_sentence(val, train))


def _line(points, x_of, y_of, name, color, dash="solid", mode="lines", symbol=None) -> dict:
    if mode == "lines" and len(points) <= FEW_POINTS:  # a line through one or a few points would draw nothing or little: show each
        mode, symbol = "lines+markers", symbol or "circle"
    trace = dict(type="scatter", x=[x_of(r) for r in points], y=[y_of(r) for r in points], mode=mode, name=name, line=dict(color=color, dash=dash))
    if symbol:
        trace["marker"] = dict(symbol=symbol, size=7, color=color)
    return trace


def _level(y: float, text: str, dash: str, logy: bool, above: bool = True) -> tuple[dict, dict]:
    """A horizontal reference line across the chart and its label in words, above the line or below it
    (the two levels' labels go on their far sides, so they never overlap, however close the lines are drawn)."""
    shape = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color=palette.GREY, dash=dash))
    label = dict(xref="paper", x=1, yref="y", y=math.log10(y) if logy and y > 0 else y, text=text, showarrow=False, xanchor="right",
                 yanchor="bottom" if above else "top", font=dict(size=11, color=palette.MUTED))
    return shape, label


def loss_caption(records, vals, uniform: float, unigram: float, diag: Diagnosis, val_on: str = "", final=None) -> str:
    """What to notice in the loss chart, computed from its points (`records`: those with a measured training loss)."""
    finite = [r for r in records if math.isfinite(r.train_loss)]
    if not finite:
        return f"No training loss measured yet. Grey lines: {UNIFORM_WORDS} ({uniform:.2f}) and {UNIGRAM_WORDS} ({unigram:.2f})."
    if len(finite) == 1:
        text = f"The training loss was {finite[0].train_loss:.2f} at step {finite[0].step:,}, its only measurement"
    else:
        text = f"The training loss went from {finite[0].train_loss:.2f} to {finite[-1].train_loss:.2f} in {plural(finite[-1].step, 'step')}"
    if vals:
        best = min(vals, key=lambda r: r.val_loss)
        on = f" ({val_on})" if val_on else ""
        if len(vals) == 1:
            text += f"; the validation loss{on} was {vals[0].val_loss:.2f} at step {vals[0].step:,}"
        else:
            text += f"; the validation loss{on} from {vals[0].val_loss:.2f} to {vals[-1].val_loss:.2f} (lowest {best.val_loss:.2f}, at step {best.step:,})"
    if final is not None:
        other = "other text than the evaluations', so another figure, and " if vals else ""
        text += (f"; measured once more at the end {final.text.removeprefix(f'val loss {final.value:.3f} ')}: {final.value:.3f} (the diamond; "
                 f"{other}the figure kept for this model)")
    text += f". Grey lines: {UNIFORM_WORDS} scores {uniform:.2f} (dotted); {UNIGRAM_WORDS} scores {unigram:.2f} (dashed)."
    if diag.named:
        text += f" {diag.title}: {diag.sentence}"
    return text


def loss_table(records, x_label: str, x_of, final=None) -> list[dict]:
    """The chart's points as rows: every evaluation, and the training losses thinned to about 200 rows
    (with the final measurement on all of the held-out text in a column of its own, when there is one)."""
    evals = {r.step for r in records if r.val_loss is not None}
    shown = {r.step for r in thin([r for r in records if r.step not in evals], 200)} | evals
    rows = []
    for r in records:
        if r.step not in shown:
            continue
        train = measured_train_loss(r)
        row = {"step": r.step, x_label: x_of(r) if x_label != "step" else r.step,
               # text columns: a gap is an empty cell, never "nan" or "None" (a column of one type, which the table needs)
               "training loss": "not measured" if train is None else f"{train:.4f}" if math.isfinite(train) else "not a finite number",
               "validation loss": f"{r.val_loss:.4f}" if r.val_loss is not None and math.isfinite(r.val_loss) else "", "learning rate": float(f"{r.lr:.4g}"),
               "seconds of training": round(r.elapsed_s, 1)}
        if final is not None:
            row["final validation loss"] = f"{final.value:.4f}" if r is records[-1] else ""
        rows.append(row)
    return rows


def falls_to_zero(cfg) -> str:
    """How the learning rate falls after its warmup, in words true for the run's budget (after "fall", "fell" or
    "fallen"). A step budget's schedule is a function of the step: smooth, step by step. A time budget's follows
    the training clock (`llm_core.training.loop`: progress is the share of the budget's seconds of training used,
    evaluations not counted), so a step that took longer moves the rate further than a quick one.

    >>> from types import SimpleNamespace as NS
    >>> falls_to_zero(NS(time_budget_s=None))
    'smoothly to 0 by the end of the run (a cosine schedule)'
    >>> falls_to_zero(NS(time_budget_s=60.0))
    'to 0 by the end of its 60.0 s of training along a cosine schedule that follows the clock (seconds of training, evaluations not counted), not the step count'
    """
    if cfg.time_budget_s:
        return (f"to 0 by the end of its {fmt_seconds(cfg.time_budget_s)} of training along a cosine schedule that follows the clock "
                "(seconds of training, evaluations not counted), not the step count")
    return "smoothly to 0 by the end of the run (a cosine schedule)"


CLOCK_KINKS = (" Drawn against steps, that curve is smooth only where the steps took equal time: where some took longer (a busy server), "
               "more of the budget passed during each of them, so the rate fell further per step there, a kink or a drop.")


def lr_caption(cfg, latest, steps: int, active: bool, stop_reason: str | None) -> str:
    """What the learning-rate chart shows, fitted to the steps the run made (a run of 5 steps never finished its warmup)
    and to its budget: a time budget's schedule follows the clock, so per step its curve has kinks where steps took
    uneven time (a newcomer's audit read "fell smoothly" under a curve with visible kinks and drops).

    >>> from types import SimpleNamespace as NS
    >>> cfg = NS(lr=10.0, warmup_steps=10, time_budget_s=None)
    >>> print(lr_caption(cfg, NS(lr=6.0, lr_scale=0.6), 5, False, "diverged: the loss jumped"))
    The learning rate ended at 6, 60% of its peak 10. It rises over the first 10 steps (warmup); this run made only 5 steps, so it never reached its peak. ...
    >>> lr_caption(cfg, NS(lr=6.0, lr_scale=0.6), 5, False, "diverged: the loss jumped").endswith("The run diverged, so the rest of its schedule (a cosine fall to 0) was never used.")
    True
    >>> lr_caption(NS(lr=0.004, warmup_steps=10, time_budget_s=None), NS(lr=0.0004, lr_scale=0.1), 0, False, "stopped by user")
    'No training step ran, so no learning rate was used: it would have risen to 0.004 over the first 10 steps (warmup), then fallen smoothly to 0 by the end of the run (a cosine schedule).'
    >>> lr_caption(NS(lr=0.004, warmup_steps=10, time_budget_s=None), None, 0, False, "stopped by user").startswith("No training step ran")
    True
    >>> print(lr_caption(NS(lr=0.004, warmup_steps=10, time_budget_s=None), NS(lr=0.0, lr_scale=0.0), 300, False, "reached the step limit"))
    The learning rate ended at 0, 0% of its peak 0.004. It rose over the first 10 steps (warmup) and fell smoothly to 0 by the end of the run (a cosine schedule).
    >>> print(lr_caption(NS(lr=0.004, warmup_steps=10, time_budget_s=30.0), NS(lr=0.0, lr_scale=0.0), 223, False, "reached the time budget"))
    The learning rate ended at 0, 0% of its peak 0.004. It rose over the first 10 steps (warmup) and fell to 0 by the end of its 30.0 s ... not the step count. Drawn against steps, ...
    """
    warm = f" over the first {plural(cfg.warmup_steps, 'step')} (warmup)" if cfg.warmup_steps else ""
    falls = falls_to_zero(cfg)
    if latest is None or steps == 0:
        return (f"No training step ran, so no learning rate was used: it would have risen to {cfg.lr:g}{warm}, then fallen {falls}."
                if not active else  # ended, even before the worker's first report (a busy server)
                f"The learning rate will rise to {cfg.lr:g}{warm}, then fall {falls}.")
    text = f"The learning rate {'is now' if active else 'ended at'} {latest.lr:.2g}, {latest.lr_scale:.0%} of its peak {cfg.lr:g}."
    reason = stop_reason or ""
    cut = not active and (reason.startswith("diverged") or (reason.startswith("stopped") and latest.lr_scale > 0.01))  # ended before its schedule did
    if cfg.warmup_steps and steps < cfg.warmup_steps:
        text += (f" It rises over the first {plural(cfg.warmup_steps, 'step')} (warmup); this run {'has made' if active else 'made'} only {plural(steps, 'step')}, "
                 f"so it {'is still rising' if active else 'never reached its peak'}.")
    else:
        text += f" It rose{warm}, and was to fall {falls}." if cut else f" It rose{warm} and {'falls' if active else 'fell'} {falls}."
        if cfg.time_budget_s:
            text += CLOCK_KINKS
    if not active and reason.startswith("diverged"):
        text += " The run diverged, so the rest of its schedule (a cosine fall to 0) was never used."
    elif not active and latest.lr_scale > 0.01 and reason.startswith("stopped"):
        text += " The run was stopped before the end of its schedule."
    return text


FEW_POINTS = 40  # a series of at most this many points is drawn with a marker at each


def xaxis_steps(x_title: str) -> bool:
    return x_title == "training steps"


def whole_steps(axis: dict, steps: list[int]) -> dict:
    """`axis` with a tick at every whole step when a few steps are drawn: plotly would otherwise put ticks
    at half steps (a run of one or two steps read "0.5, 1, 1.5"), and there is no half a step.

    >>> whole_steps({}, [0, 1])
    {'tickmode': 'linear', 'tick0': 0, 'dtick': 1}
    >>> whole_steps({}, [0, 500])
    {}
    """
    if steps and max(steps) - min(steps) < 8:
        axis.update(tickmode="linear", tick0=0, dtick=1)
    return axis


def render_charts(run, snap, xaxis: str, logy: bool, result=None) -> None:
    """Loss and learning-rate charts (each with its caption and data), then the latest sample. Figures are
    plain dicts: about 15x cheaper to build than through plotly's validating helpers, beside a training job."""
    if snap is None or run is None:
        return
    records = one_per_step(snap.records)
    vals = [r for r in records if r.val_loss is not None and math.isfinite(r.val_loss)]
    x_of = (lambda r: r.step) if xaxis == "steps" else (lambda r: r.tokens_seen)
    x_title = "training steps" if xaxis == "steps" else "tokens seen in training"
    train_points = [r for r in records if (t := measured_train_loss(r)) is not None and math.isfinite(t)]
    stop_reason = None if snap.active else snap.stop_reason
    diag = run.diagnose(snap.records, stop_reason, val_on=live_val_words(run))
    final = final_figure(result, snap)
    uniform, unigram = run.uniform_loss, run.unigram_loss
    chart, lr_chart = st.columns([2, 1])
    traces = []
    if train_points:
        traces.append(_line(thin(train_points), x_of, lambda r: r.train_loss, "train loss", palette.BLUE))
    if vals:
        traces.append(_line(vals, x_of, lambda r: r.val_loss, "val loss", palette.VERMILLION, "dash", "lines+markers", "square"))
    if final is not None and records:
        traces.append(dict(type="scatter", x=[x_of(records[-1])], y=[final.value], mode="markers", name="final val loss",
                           marker=dict(symbol="diamond", size=10, color=palette.BLACK)))
    levels = [_level(uniform, f"{UNIFORM_WORDS}: {uniform:.2f}", "dot", logy, above=True),
              _level(unigram, f"{UNIGRAM_WORDS}: {unigram:.2f}", "dash", logy, above=False)]
    shapes, annotations = [s for s, _ in levels], [a for _, a in levels]
    if diag.kind == "overfitting" and diag.since_step is not None:
        at = next((x_of(r) for r in records if r.step == diag.since_step), diag.since_step)
        shapes.append(dict(type="line", xref="x", x0=at, x1=at, yref="paper", y0=0, y1=1, line=dict(color=palette.BLACK, dash="dashdot")))
        annotations.append(dict(xref="x", x=at, yref="paper", y=1, text="lowest validation loss", showarrow=False, xanchor="left", yanchor="top",
                                font=dict(size=11, color=palette.INK)))
    yaxis = dict(title=dict(text="cross-entropy (nats per token)"), type="log" if logy else "linear")
    xaxis = dict(title=dict(text=x_title), rangemode="nonnegative")  # neither steps nor tokens are ever negative
    if xaxis_steps(x_title):
        whole_steps(xaxis, [r.step for r in records])
    if not logy:
        yaxis["rangemode"] = "nonnegative"  # nor is a loss
    if not traces:  # nothing to draw yet: plotly's axes would run from -1; give them the run's own ranges
        planned = run.cfg.max_steps if run.cfg.time_budget_s is None and run.cfg.max_steps <= 1_000_000 else 1
        xaxis["range"] = [0, planned if xaxis_steps(x_title) else planned * run.cfg.batch_size * run.model_config.block_size]
        if not logy:
            yaxis["range"] = [0, uniform * 1.15]
    layout = dict(
        height=360, margin=dict(t=30, l=0, r=0, b=0), legend=dict(orientation="h", y=1.12), title=dict(text="loss", font=dict(size=13)),
        xaxis=xaxis, yaxis=yaxis, shapes=shapes, annotations=annotations,
    )
    charts.chart(go.Figure(dict(data=traces, layout=layout)), key="tr_loss_chart", where=chart,
                 caption=loss_caption(train_points, vals, uniform, unigram, diag, live_val_words(run), final),
                 table=loss_table(records, x_title, x_of, final))
    cfg, latest = run.cfg, snap.latest
    lr_traces, lr_steps = [], [r.step for r in records]
    if cfg.time_budget_s is None and cfg.max_steps <= 1_000_000:
        planned = list(range(0, cfg.max_steps + 1, max(1, cfg.max_steps // 200)))
        lr_steps += planned
        per_step = latest.tokens_seen / latest.step if latest and latest.step else cfg.batch_size * run.model_config.block_size
        lr_traces.append(dict(type="scatter", x=[s if xaxis == "steps" else s * per_step for s in planned],
                              y=[cfg.lr * lr_scale(s, s / cfg.max_steps, cfg.warmup_steps, cfg.min_lr_ratio) for s in planned],
                              mode="lines", name="planned", line=dict(color=palette.GREY, dash="dash")))
    if records:
        lr_traces.append(_line(thin(records), x_of, lambda r: r.lr, "used", palette.GREEN))
    lr_layout = dict(height=360, margin=dict(t=30, l=0, r=0, b=0), showlegend=False, title=dict(text="learning rate", font=dict(size=13)),
                     xaxis=whole_steps(dict(title=dict(text=x_title)), lr_steps if xaxis_steps(x_title) else []),
                     # plain decimals ("0.0001"), not SI prefixes ("100μ"), which a learner does not read as a learning rate
                     yaxis=dict(title=dict(text="learning rate (step size)"), rangemode="nonnegative", tickformat="~g", exponentformat="none"))
    steps, _, _ = run_figures(run, snap)
    charts.chart(go.Figure(dict(data=lr_traces, layout=lr_layout)), key="tr_lr_chart", where=lr_chart,
                 caption=lr_caption(cfg, latest, steps, snap.active, stop_reason),
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
    if run is not None and run.steps_done == steps:  # unrounded, as the tiles above divide it (a 0.086 s run is not 0.09 s)
        elapsed = run.counters["elapsed_s"]
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
    live = [h for h in record.get("history") or [] if _finite(h.get("val_loss")) is not None and h.get("val_tokens")]
    if found is not None and record.get("val_kind") == "closing" and live:  # the evaluations during training measured other tokens
        figure += (f" During training, each evaluation used the first {live[-1]['val_tokens']:,} held-out tokens; the last, at step {live[-1]['step']:,}, "
                   f"gave {live[-1]['val_loss']:.3f}: other text, so another figure.")
    quick, quick_tokens = _finite(record.get("quick_val_loss")), record.get("quick_val_tokens")
    if quick is not None and quick_tokens:
        figure += (f" (The closing measurement was cut short by the stop after {quick_tokens:,} held-out tokens, which gave {quick:.2f}: "
                   "too few tokens to stand for the model.)")
    st.markdown(
        f"Trained {plural(steps, 'step')} in {elapsed:.1f} s of training ({steps / max(elapsed, 1e-9):.2f} steps/s); evaluations and samples took "
        f"{record['eval_s']:.1f} s more. {figure}"
    )
