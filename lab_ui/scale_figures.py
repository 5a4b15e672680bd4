"""Plotly figures for the Scale chapter, built as plain dicts from a sweep document and its fits.

Each function takes data computed by `llm_core.scale` and returns a `go.Figure`; nothing here
trains or fits. Colours come from lab_ui.palette only: one category colour AND one marker symbol per
compute budget (and per model size), so the IsoFLOP curves, the frontier and live points read
together in colour-blind vision and in grey too. Captions and tables live in lab_ui.scale_view.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from lab_ui import palette
from llm_core.literature import value
from llm_core.scale.fit import SweepFit, loss_nd, power_law

COMPUTE_AXIS = "training compute (FLOPs)"  # the page says what FLOPs are before its first chart; longer, it ran past a narrow chart
LOSS_AXIS = "held-out loss (nats per character)"
# FLOPs ticks as the page writes them ("1e+10", explained at first use), not plotly's "10B" / "1T" (a second notation)
FLOPS_TICKS = dict(tickformat=".0e")
COUNT_LABEL = {"params_total": "parameters, embeddings included", "params_non_embedding": "non-embedding parameters", "flops": COMPUTE_AXIS}


def budget_colors(budgets) -> dict:
    """Budget -> palette colour, in budget order."""
    return {b: palette.category(i) for i, b in enumerate(sorted(set(budgets)))}


def budget_markers(budgets) -> dict:
    """Budget -> marker symbol, so budgets differ by shape as well as colour."""
    return {b: palette.MARKERS[i % len(palette.MARKERS)] for i, b in enumerate(sorted(set(budgets)))}


def _dash(i: int) -> str:
    return palette.DASHES[i % len(palette.DASHES)]


def _size_style(i: int) -> tuple[str, str, str]:
    """Colour, marker and dash of the i-th model size."""
    return palette.category(i), palette.MARKERS[i % len(palette.MARKERS)], palette.DASHES[i % len(palette.DASHES)]


def _layout(**extra) -> dict:
    return dict(height=400, margin=dict(t=40, l=0, r=0, b=0), legend=dict(orientation="h", y=-0.2), **extra)


def loss_vs_compute(runs: list[dict], fit: SweepFit, own: list[dict] = ()) -> go.Figure:
    """Every run (one line per size across budgets), the compute-optimal points and their fitted power law; `own` models as stars."""
    traces = []
    labels = sorted({r["label"] for r in runs}, key=lambda lab: next(r["params_total"] for r in runs if r["label"] == lab))
    for i, label in enumerate(labels):
        pts = sorted((r for r in runs if r["label"] == label), key=lambda r: r["flops"])
        color, symbol, dash = _size_style(i)
        traces.append(dict(type="scatter", x=[r["flops"] for r in pts], y=[r["val_loss"] for r in pts], mode="lines+markers", name=label,
                           line=dict(color=color, width=1, dash=dash), marker=dict(size=7, symbol=symbol),
                           hovertemplate=f"{label}<br>%{{x:.2e}} FLOPs<br>loss %{{y:.3f}}<extra></extra>"))
    inside = [m for m in fit.minima if m.inside]
    if inside:
        traces.append(dict(type="scatter", x=[m.budget for m in inside], y=[m.loss_opt for m in inside], mode="markers", name="best points",
                           marker=dict(symbol="x", size=11, color=palette.BLACK),
                           hovertemplate="best point (IsoFLOP minimum)<br>%{x:.0e} FLOPs<br>loss %{y:.3f}<extra></extra>"))
    f = fit.loss_vs_compute
    if f is not None and "alpha" in f.params:
        xs = np.logspace(math.log10(min(m.budget for m in inside)), math.log10(max(m.budget for m in inside)) + 0.3, 60)
        traces.append(dict(type="scatter", x=list(xs), y=list(power_law(xs, f.params["E"], f.params["A"], f.params["alpha"], f.x0)), mode="lines",
                           name="fitted curve", line=dict(color=palette.BLACK, dash="dash"),
                           hovertemplate=f"fit: {f.params['E']:.2f} + {f.params['A']:.2f}·(C/{f.x0:.0e})^−{f.params['alpha']:.2f}<br>%{{x:.1e}} FLOPs<br>"
                                         "loss %{y:.3f}<extra></extra>"))
    if own:  # named on hover and in the caption: a text label ran past a phone-wide chart's edge ("Shakespeare (bu…")
        traces.append(dict(type="scatter", x=[m["flops"] for m in own], y=[m["val_loss"] for m in own], mode="markers", name="your models",
                           customdata=[m["name"] for m in own], marker=dict(symbol="star", size=14, color=palette.VERMILLION),
                           hovertemplate="%{customdata}<br>%{x:.1e} FLOPs<br>loss %{y:.3f}<extra></extra>"))
    # short legend names, hung below the x-axis title (anchored at its top): at 390 px the long ones made a legend with its
    # own scrollbar that rose beside the axis title
    layout = _layout(xaxis=dict(type="log", title=dict(text=COMPUTE_AXIS), **FLOPS_TICKS), yaxis=dict(type="log", title=dict(text=LOSS_AXIS)))
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.25)
    layout["height"] = 460  # the legend takes four rows on a phone: the plot keeps room above it
    return go.Figure(dict(data=traces, layout=layout))


def isoflop(runs: list[dict], fit: SweepFit, n_key: str, live: list[dict] = ()) -> go.Figure:
    """Loss against size at each fixed budget, the fitted parabola in log(size) and its minimum; live points as diamonds."""
    colors = budget_colors([r["budget"] for r in runs] + [p["budget"] for p in live])
    symbols = budget_markers([r["budget"] for r in runs] + [p["budget"] for p in live])
    minima = {m.budget: m for m in fit.minima}
    traces = []
    for budget in sorted({r["budget"] for r in runs}):
        pts = sorted((r for r in runs if r["budget"] == budget), key=lambda r: r[n_key])
        color = colors[budget]
        traces.append(dict(type="scatter", x=[r[n_key] for r in pts], y=[r["val_loss"] for r in pts], mode="markers", name=f"{budget:.0e} FLOPs",
                           marker=dict(color=color, size=8, symbol=symbols[budget]), legendgroup=str(budget), customdata=[[r["label"], r["tokens"], r["epochs"]] for r in pts],
                           hovertemplate="%{customdata[0]}: %{x:,} parameters<br>%{customdata[1]:,} tokens, %{customdata[2]:.2f} epochs<br>loss %{y:.3f}<extra></extra>"))
        m = minima.get(budget)
        if m is not None:
            xs = np.logspace(math.log10(pts[0][n_key]), math.log10(pts[-1][n_key]), 40)
            traces.append(dict(type="scatter", x=list(xs), y=list(m.predict(xs)), mode="lines", showlegend=False, legendgroup=str(budget),
                               line=dict(color=color, width=1.5, dash=_dash(list(colors).index(budget))), hoverinfo="skip"))
            if m.inside:
                traces.append(dict(type="scatter", x=[m.n_opt], y=[m.loss_opt], mode="markers", showlegend=False, legendgroup=str(budget),
                                   marker=dict(symbol="x", size=12, color=color, line=dict(width=2)), hovertemplate=f"optimum for {budget:.0e}: %{{x:,.0f}} parameters<extra></extra>"))
    if live:
        traces.append(dict(type="scatter", x=[p[n_key] for p in live], y=[p["val_loss"] for p in live], mode="markers", name="your live runs",
                           marker=dict(symbol="diamond", size=13, color=[colors[p["budget"]] for p in live],
                                       line=dict(color=palette.BLACK, width=2)),
                           hovertemplate="your run: %{x:,} parameters, loss %{y:.3f}<extra></extra>"))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COUNT_LABEL[n_key])), yaxis=dict(title=dict(text=LOSS_AXIS)))))


def frontier(fit: SweepFit, tokens_per_param_reference: float | None = None) -> go.Figure:
    """N_opt and D_opt against compute (log-log) with their fitted lines, and Chinchilla's D = 20 N for comparison."""
    tokens_per_param_reference = tokens_per_param_reference or value("chinchilla_tokens_per_param")
    inside = [m for m in fit.minima if m.inside]
    cs = [m.budget for m in inside]
    traces = [
        dict(type="scatter", x=cs, y=[m.n_opt for m in inside], mode="markers", name="N_opt (parameters)", marker=dict(size=9, color=palette.BLUE, symbol="circle"),
             error_y=dict(type="data", array=[m.n_opt_err for m in inside], visible=True)),
        dict(type="scatter", x=cs, y=[m.tokens_opt for m in inside], mode="markers", name="D_opt (tokens)", marker=dict(size=9, color=palette.ORANGE, symbol="square")),
        dict(type="scatter", x=cs, y=[tokens_per_param_reference * m.n_opt for m in inside], mode="lines", name=f"{tokens_per_param_reference:g} tokens per parameter (Chinchilla)",
             line=dict(color=palette.GREY, dash="dot")),
    ]
    xs = np.logspace(math.log10(min(cs)), math.log10(max(cs)), 20) if cs else []
    for f, color, name in ((fit.n_opt_vs_compute, palette.BLUE, "N_opt"), (fit.d_opt_vs_compute, palette.ORANGE, "D_opt")):
        if f is not None:
            traces.append(dict(type="scatter", x=list(xs), y=list(10 ** (f.params["log_k"] + f.params["a"] * np.log10(xs))), mode="lines",
                               name=f"{name} ∝ C^{f.params['a']:.2f}", line=dict(color=color, dash="dash")))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COMPUTE_AXIS), **FLOPS_TICKS),
                                                      yaxis=dict(type="log", title=dict(text="compute-optimal size or tokens")))))


def loss_vs_tokens(runs: list[dict], fit: SweepFit, n_key: str) -> go.Figure:
    """Every run's loss against the tokens it saw, one colour per size, with the fitted L(N, D) for that size (dashed)."""
    f = fit.loss_nd.get(n_key)
    labels = sorted({r["label"] for r in runs}, key=lambda lab: next(r["params_total"] for r in runs if r["label"] == lab))
    traces = []
    for i, label in enumerate(labels):
        pts = sorted((r for r in runs if r["label"] == label), key=lambda r: r["tokens"])
        color, symbol, _ = _size_style(i)
        traces.append(dict(type="scatter", x=[r["tokens"] for r in pts], y=[r["val_loss"] for r in pts], mode="markers", name=label, legendgroup=label,
                           marker=dict(size=8, color=color, symbol=symbol), hovertemplate=f"{label}<br>%{{x:,}} tokens<br>loss %{{y:.3f}}<extra></extra>"))
        if f is not None:
            xs = np.logspace(math.log10(pts[0]["tokens"]), math.log10(pts[-1]["tokens"]) + 0.2, 30)
            p = f.params
            traces.append(dict(type="scatter", x=list(xs), y=list(loss_nd(pts[0][n_key], xs, p["E"], p["A"], p["B"], p["alpha"], p["beta"], p["n0"], p["d0"])),
                               mode="lines", showlegend=False, legendgroup=label, line=dict(color=color, dash="dash", width=1), hoverinfo="skip"))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text="training tokens D (characters seen)")),
                                                      yaxis=dict(type="log", title=dict(text=LOSS_AXIS)))))


def counts_frontier(fits: dict) -> go.Figure:
    """N_opt against compute with parameters counted both ways: the exponent depends on the count (Pearce & Song, 2024)."""
    traces = []
    for key, color, symbol, dash in (("params_non_embedding", palette.PURPLE, "diamond", "dash"), ("params_total", palette.GREEN, "circle", "dot")):
        fit = fits[key]
        inside = [m for m in fit.minima if m.inside]
        traces.append(dict(type="scatter", x=[m.budget for m in inside], y=[m.n_opt for m in inside], mode="markers", name=f"N_opt, {COUNT_LABEL[key]}",
                           marker=dict(size=9, color=color, symbol=symbol), error_y=dict(type="data", array=[m.n_opt_err for m in inside], visible=True)))
        f = fit.n_opt_vs_compute
        if f is not None and inside:
            xs = np.logspace(math.log10(inside[0].budget), math.log10(inside[-1].budget), 20)
            traces.append(dict(type="scatter", x=list(xs), y=list(10 ** (f.params["log_k"] + f.params["a"] * np.log10(xs))), mode="lines",
                               name=f"∝ C^{f.params['a']:.2f}", line=dict(color=color, dash=dash)))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COMPUTE_AXIS), **FLOPS_TICKS),
                                                      yaxis=dict(type="log", title=dict(text="compute-optimal parameters")))))


POSITIONS = ("units", "tens", "hundreds", "thousands")


def emergence_by_size(rows: list[dict], x_key: str = "params_total") -> go.Figure:
    """Across sizes: exact match (each seed a dot, their mean a line) beside per-digit accuracy and the product of the per-position accuracies."""
    xs = [r[x_key] for r in rows]
    traces = [
        dict(type="scatter", x=xs, y=[r["exact_match"] for r in rows], mode="lines+markers", name="exact match (all 4 digits right), mean of seeds",
             line=dict(color=palette.VERMILLION, width=3), marker=dict(symbol="circle"), customdata=[r["label"] for r in rows],
             hovertemplate="%{customdata}: %{x:,} parameters<br>exact match %{y:.1%}<extra></extra>"),
        dict(type="scatter", x=[r[x_key] for r in rows for _ in r["exact_match_by_seed"]], y=[v for r in rows for v in r["exact_match_by_seed"]], mode="markers",
             name="exact match, each seed", marker=dict(color=palette.VERMILLION, size=7, symbol="circle-open")),
        dict(type="scatter", x=xs, y=[r["digit_accuracy"] for r in rows], mode="lines+markers", name="per-digit accuracy", line=dict(color=palette.BLUE, dash="dash"), marker=dict(symbol="square")),
        dict(type="scatter", x=xs, y=[r["product"] for r in rows], mode="lines", name="product of the 4 per-position accuracies", line=dict(color=palette.BLUE, dash="dot")),
    ]
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COUNT_LABEL.get(x_key, x_key))),
                                                      yaxis=dict(title=dict(text="accuracy on held-out problems"), range=[0, 1.02], tickformat=".0%"))))


def emergence_logprob_by_size(rows: list[dict], x_key: str = "params_total") -> go.Figure:
    """Across sizes: the log-probability of the whole correct answer, and each answer position's accuracy (units first)."""
    xs = [r[x_key] for r in rows]
    traces = [dict(type="scatter", x=xs, y=[r["answer_logprob"] for r in rows], mode="lines+markers", name="log p(correct answer)", line=dict(color=palette.GREEN, width=3),
                   marker=dict(symbol="diamond"), yaxis="y2")]
    for i, name in enumerate(POSITIONS):
        traces.append(dict(type="scatter", x=xs, y=[r["digit_accuracy_by_position"][i] for r in rows], mode="lines", name=f"{name} digit",
                           line=dict(width=1, dash=_dash(1 + i % (len(palette.DASHES) - 1)))))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COUNT_LABEL.get(x_key, x_key))),
                                                      yaxis=dict(title=dict(text="digit accuracy"), range=[0, 1.02], tickformat=".0%"),
                                                      yaxis2=dict(title=dict(text="log p(correct answer), nats"), overlaying="y", side="right"))))


def emergence_accuracy(series: list[dict], x_key: str = "step") -> go.Figure:
    """Over training steps: exact match (sharp) beside per-digit accuracy (smooth) and the product of the per-position accuracies."""
    xs = [p[x_key] for p in series]
    traces = [
        dict(type="scatter", x=xs, y=[p["exact_match"] for p in series], mode="lines+markers", name="exact match (all 4 digits right)", line=dict(color=palette.VERMILLION, width=3)),
        dict(type="scatter", x=xs, y=[p["digit_accuracy"] for p in series], mode="lines+markers", name="per-digit accuracy", line=dict(color=palette.BLUE, dash="dash"), marker=dict(symbol="square")),
        dict(type="scatter", x=xs, y=[math.prod(p["digit_accuracy_by_position"]) for p in series], mode="lines", name="product of the 4 per-position accuracies",
             line=dict(color=palette.BLUE, dash="dot")),
        dict(type="scatter", x=xs, y=[p["train_exact_match"] for p in series], mode="lines", name="exact match on training problems", line=dict(color=palette.GREY, dash="dashdot")),
    ]
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(title=dict(text=x_key.replace("_", " "))), yaxis=dict(title=dict(text="accuracy"), range=[0, 1.02], tickformat=".0%"))))


def emergence_logprob(series: list[dict], x_key: str = "step") -> go.Figure:
    """The log-probability of the whole correct answer, and each answer digit's accuracy (units first)."""
    xs = [p[x_key] for p in series]
    traces = [dict(type="scatter", x=xs, y=[p["answer_logprob"] for p in series], mode="lines+markers", name="log p(correct answer)", line=dict(color=palette.GREEN, width=3),
                   marker=dict(symbol="diamond"), yaxis="y2")]
    for i, name in enumerate(POSITIONS):
        traces.append(dict(type="scatter", x=xs, y=[p["digit_accuracy_by_position"][i] for p in series], mode="lines", name=f"{name} digit",
                           line=dict(width=1, dash=_dash(1 + i % (len(palette.DASHES) - 1)))))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(title=dict(text=x_key.replace("_", " "))), yaxis=dict(title=dict(text="digit accuracy"), range=[0, 1.02], tickformat=".0%"),
                                                      yaxis2=dict(title=dict(text="log p(correct answer), nats"), overlaying="y", side="right"))))
