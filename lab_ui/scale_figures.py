"""Plotly figures for the Scale chapter, built as plain dicts from a sweep document and its fits.

Each function takes data computed by `llm_core.scale` and returns a `go.Figure`; nothing here
trains or fits. Colours: one per compute budget (viridis order) so the IsoFLOP curves, the
frontier and live points read together.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from llm_core.literature import value
from llm_core.scale.fit import SweepFit, loss_nd, power_law

PALETTE = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#bddf26", "#fde725"]
SIZE_PALETTE = ["#9ca3af", "#60a5fa", "#34d399", "#fbbf24", "#f97316", "#ef4444", "#a855f7", "#0f766e", "#1e3a8a"]
COUNT_LABEL = {"params_total": "parameters, embeddings included", "params_non_embedding": "non-embedding parameters", "flops": "training compute (FLOPs)"}


def budget_colors(budgets) -> dict:
    budgets = sorted(set(budgets))
    return {b: PALETTE[min(len(PALETTE) - 1, round(i * (len(PALETTE) - 1) / max(1, len(budgets) - 1)))] for i, b in enumerate(budgets)}


def _layout(**extra) -> dict:
    return dict(height=400, margin=dict(t=40, l=0, r=0, b=0), legend=dict(orientation="h", y=-0.2), **extra)


def loss_vs_compute(runs: list[dict], fit: SweepFit, own: list[dict] = ()) -> go.Figure:
    """Every run (one line per size across budgets), the compute-optimal points and their fitted power law; `own` models as stars."""
    traces = []
    labels = sorted({r["label"] for r in runs}, key=lambda lab: next(r["params_total"] for r in runs if r["label"] == lab))
    for i, label in enumerate(labels):
        pts = sorted((r for r in runs if r["label"] == label), key=lambda r: r["flops"])
        traces.append(dict(type="scatter", x=[r["flops"] for r in pts], y=[r["val_loss"] for r in pts], mode="lines+markers", name=label,
                           line=dict(color=SIZE_PALETTE[i % len(SIZE_PALETTE)], width=1), marker=dict(size=6),
                           hovertemplate=f"{label}<br>%{{x:.2e}} FLOPs<br>loss %{{y:.3f}}<extra></extra>"))
    inside = [m for m in fit.minima if m.inside]
    if inside:
        traces.append(dict(type="scatter", x=[m.budget for m in inside], y=[m.loss_opt for m in inside], mode="markers", name="compute-optimal (IsoFLOP minimum)",
                           marker=dict(symbol="x", size=11, color="#111827")))
    f = fit.loss_vs_compute
    if f is not None and "alpha" in f.params:
        xs = np.logspace(math.log10(min(m.budget for m in inside)), math.log10(max(m.budget for m in inside)) + 0.3, 60)
        traces.append(dict(type="scatter", x=list(xs), y=list(power_law(xs, f.params["E"], f.params["A"], f.params["alpha"], f.x0)), mode="lines",
                           name=f"fit: {f.params['E']:.2f} + {f.params['A']:.2f}·(C/{f.x0:.0e})^−{f.params['alpha']:.2f}", line=dict(color="#111827", dash="dash")))
    if own:
        traces.append(dict(type="scatter", x=[m["flops"] for m in own], y=[m["val_loss"] for m in own], mode="markers+text", name="your models",
                           text=[m["name"] for m in own], textposition="top center", marker=dict(symbol="star", size=14, color="#dc2626")))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text="training compute C (FLOPs)")),
                                                      yaxis=dict(type="log", title=dict(text="held-out loss (nats per character)")))))


def isoflop(runs: list[dict], fit: SweepFit, n_key: str, live: list[dict] = ()) -> go.Figure:
    """Loss against size at each fixed budget, the fitted parabola in log(size) and its minimum; live points as diamonds."""
    colors = budget_colors([r["budget"] for r in runs] + [p["budget"] for p in live])
    minima = {m.budget: m for m in fit.minima}
    traces = []
    for budget in sorted({r["budget"] for r in runs}):
        pts = sorted((r for r in runs if r["budget"] == budget), key=lambda r: r[n_key])
        color = colors[budget]
        traces.append(dict(type="scatter", x=[r[n_key] for r in pts], y=[r["val_loss"] for r in pts], mode="markers", name=f"{budget:.0e} FLOPs",
                           marker=dict(color=color, size=8), legendgroup=str(budget), customdata=[[r["label"], r["tokens"], r["epochs"]] for r in pts],
                           hovertemplate="%{customdata[0]}: %{x:,} parameters<br>%{customdata[1]:,} tokens, %{customdata[2]:.2f} epochs<br>loss %{y:.3f}<extra></extra>"))
        m = minima.get(budget)
        if m is not None:
            xs = np.logspace(math.log10(pts[0][n_key]), math.log10(pts[-1][n_key]), 40)
            traces.append(dict(type="scatter", x=list(xs), y=list(m.predict(xs)), mode="lines", showlegend=False, legendgroup=str(budget), line=dict(color=color, width=1.5), hoverinfo="skip"))
            if m.inside:
                traces.append(dict(type="scatter", x=[m.n_opt], y=[m.loss_opt], mode="markers", showlegend=False, legendgroup=str(budget),
                                   marker=dict(symbol="x", size=12, color=color, line=dict(width=2)), hovertemplate=f"optimum for {budget:.0e}: %{{x:,.0f}} parameters<extra></extra>"))
    if live:
        traces.append(dict(type="scatter", x=[p[n_key] for p in live], y=[p["val_loss"] for p in live], mode="markers", name="your live runs",
                           marker=dict(symbol="diamond", size=13, color=[colors[p["budget"]] for p in live],
                                       line=dict(color="#dc2626", width=2)),
                           hovertemplate="your run: %{x:,} parameters, loss %{y:.3f}<extra></extra>"))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COUNT_LABEL[n_key])), yaxis=dict(title=dict(text="held-out loss (nats per character)")))))


def frontier(fit: SweepFit, tokens_per_param_reference: float | None = None) -> go.Figure:
    """N_opt and D_opt against compute (log-log) with their fitted lines, and Chinchilla's D = 20 N for comparison."""
    tokens_per_param_reference = tokens_per_param_reference or value("chinchilla_tokens_per_param")
    inside = [m for m in fit.minima if m.inside]
    cs = [m.budget for m in inside]
    traces = [
        dict(type="scatter", x=cs, y=[m.n_opt for m in inside], mode="markers", name="N_opt (parameters)", marker=dict(size=9, color="#2563eb"),
             error_y=dict(type="data", array=[m.n_opt_err for m in inside], visible=True)),
        dict(type="scatter", x=cs, y=[m.tokens_opt for m in inside], mode="markers", name="D_opt (tokens)", marker=dict(size=9, color="#ea580c")),
        dict(type="scatter", x=cs, y=[tokens_per_param_reference * m.n_opt for m in inside], mode="lines", name=f"{tokens_per_param_reference:g} tokens per parameter (Chinchilla)",
             line=dict(color="#9ca3af", dash="dot")),
    ]
    xs = np.logspace(math.log10(min(cs)), math.log10(max(cs)), 20) if cs else []
    for f, color, name in ((fit.n_opt_vs_compute, "#2563eb", "N_opt"), (fit.d_opt_vs_compute, "#ea580c", "D_opt")):
        if f is not None:
            traces.append(dict(type="scatter", x=list(xs), y=list(10 ** (f.params["log_k"] + f.params["a"] * np.log10(xs))), mode="lines",
                               name=f"{name} ∝ C^{f.params['a']:.2f}", line=dict(color=color, dash="dash")))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text="training compute C (FLOPs)")),
                                                      yaxis=dict(type="log", title=dict(text="compute-optimal size or tokens")))))


def loss_vs_tokens(runs: list[dict], fit: SweepFit, n_key: str) -> go.Figure:
    """Every run's loss against the tokens it saw, one colour per size, with the fitted L(N, D) for that size (dashed)."""
    f = fit.loss_nd.get(n_key)
    labels = sorted({r["label"] for r in runs}, key=lambda lab: next(r["params_total"] for r in runs if r["label"] == lab))
    traces = []
    for i, label in enumerate(labels):
        pts = sorted((r for r in runs if r["label"] == label), key=lambda r: r["tokens"])
        color = SIZE_PALETTE[i % len(SIZE_PALETTE)]
        traces.append(dict(type="scatter", x=[r["tokens"] for r in pts], y=[r["val_loss"] for r in pts], mode="markers", name=label, legendgroup=label,
                           marker=dict(size=8, color=color), hovertemplate=f"{label}<br>%{{x:,}} tokens<br>loss %{{y:.3f}}<extra></extra>"))
        if f is not None:
            xs = np.logspace(math.log10(pts[0]["tokens"]), math.log10(pts[-1]["tokens"]) + 0.2, 30)
            p = f.params
            traces.append(dict(type="scatter", x=list(xs), y=list(loss_nd(pts[0][n_key], xs, p["E"], p["A"], p["B"], p["alpha"], p["beta"], p["n0"], p["d0"])),
                               mode="lines", showlegend=False, legendgroup=label, line=dict(color=color, dash="dash", width=1), hoverinfo="skip"))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text="training tokens D")),
                                                      yaxis=dict(type="log", title=dict(text="held-out loss (nats per character)")))))


def counts_frontier(fits: dict) -> go.Figure:
    """N_opt against compute with parameters counted both ways: the exponent depends on the count (Pearce & Song, 2024)."""
    traces = []
    for key, color in (("params_non_embedding", "#7c3aed"), ("params_total", "#059669")):
        fit = fits[key]
        inside = [m for m in fit.minima if m.inside]
        traces.append(dict(type="scatter", x=[m.budget for m in inside], y=[m.n_opt for m in inside], mode="markers", name=f"N_opt, {COUNT_LABEL[key]}",
                           marker=dict(size=9, color=color), error_y=dict(type="data", array=[m.n_opt_err for m in inside], visible=True)))
        f = fit.n_opt_vs_compute
        if f is not None and inside:
            xs = np.logspace(math.log10(inside[0].budget), math.log10(inside[-1].budget), 20)
            traces.append(dict(type="scatter", x=list(xs), y=list(10 ** (f.params["log_k"] + f.params["a"] * np.log10(xs))), mode="lines",
                               name=f"∝ C^{f.params['a']:.2f}", line=dict(color=color, dash="dash")))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text="training compute C (FLOPs)")),
                                                      yaxis=dict(type="log", title=dict(text="compute-optimal parameters")))))


POSITIONS = ("units", "tens", "hundreds", "thousands")


def emergence_by_size(rows: list[dict], x_key: str = "params_total") -> go.Figure:
    """Across sizes: exact match (each seed a dot, their mean a line) beside per-digit accuracy and the product of the per-position accuracies."""
    xs = [r[x_key] for r in rows]
    traces = [
        dict(type="scatter", x=xs, y=[r["exact_match"] for r in rows], mode="lines+markers", name="exact match (all 4 digits right), mean of seeds",
             line=dict(color="#dc2626", width=3), customdata=[r["label"] for r in rows], hovertemplate="%{customdata}: %{x:,} parameters<br>exact match %{y:.1%}<extra></extra>"),
        dict(type="scatter", x=[r[x_key] for r in rows for _ in r["exact_match_by_seed"]], y=[v for r in rows for v in r["exact_match_by_seed"]], mode="markers",
             name="exact match, each seed", marker=dict(color="#dc2626", size=7, symbol="circle-open")),
        dict(type="scatter", x=xs, y=[r["digit_accuracy"] for r in rows], mode="lines+markers", name="per-digit accuracy", line=dict(color="#2563eb")),
        dict(type="scatter", x=xs, y=[r["product"] for r in rows], mode="lines", name="product of the 4 per-position accuracies", line=dict(color="#2563eb", dash="dot")),
    ]
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COUNT_LABEL.get(x_key, x_key))),
                                                      yaxis=dict(title=dict(text="accuracy on held-out problems"), range=[0, 1.02], tickformat=".0%"))))


def emergence_logprob_by_size(rows: list[dict], x_key: str = "params_total") -> go.Figure:
    """Across sizes: the log-probability of the whole correct answer, and each answer position's accuracy (units first)."""
    xs = [r[x_key] for r in rows]
    traces = [dict(type="scatter", x=xs, y=[r["answer_logprob"] for r in rows], mode="lines+markers", name="log p(correct answer)", line=dict(color="#059669", width=3), yaxis="y2")]
    for i, name in enumerate(POSITIONS):
        traces.append(dict(type="scatter", x=xs, y=[r["digit_accuracy_by_position"][i] for r in rows], mode="lines", name=f"{name} digit", line=dict(width=1)))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(type="log", title=dict(text=COUNT_LABEL.get(x_key, x_key))),
                                                      yaxis=dict(title=dict(text="digit accuracy"), range=[0, 1.02], tickformat=".0%"),
                                                      yaxis2=dict(title=dict(text="log p(correct answer), nats"), overlaying="y", side="right"))))


def emergence_accuracy(series: list[dict], x_key: str = "step") -> go.Figure:
    """Over training steps: exact match (sharp) beside per-digit accuracy (smooth) and the product of the per-position accuracies."""
    xs = [p[x_key] for p in series]
    traces = [
        dict(type="scatter", x=xs, y=[p["exact_match"] for p in series], mode="lines+markers", name="exact match (all 4 digits right)", line=dict(color="#dc2626", width=3)),
        dict(type="scatter", x=xs, y=[p["digit_accuracy"] for p in series], mode="lines+markers", name="per-digit accuracy", line=dict(color="#2563eb")),
        dict(type="scatter", x=xs, y=[math.prod(p["digit_accuracy_by_position"]) for p in series], mode="lines", name="product of the 4 per-position accuracies",
             line=dict(color="#2563eb", dash="dot")),
        dict(type="scatter", x=xs, y=[p["train_exact_match"] for p in series], mode="lines", name="exact match on training problems", line=dict(color="#9ca3af", dash="dash")),
    ]
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(title=dict(text=x_key.replace("_", " "))), yaxis=dict(title=dict(text="accuracy"), range=[0, 1.02], tickformat=".0%"))))


def emergence_logprob(series: list[dict], x_key: str = "step") -> go.Figure:
    """The log-probability of the whole correct answer, and each answer digit's accuracy (units first)."""
    xs = [p[x_key] for p in series]
    traces = [dict(type="scatter", x=xs, y=[p["answer_logprob"] for p in series], mode="lines+markers", name="log p(correct answer)", line=dict(color="#059669", width=3), yaxis="y2")]
    for i, name in enumerate(POSITIONS):
        traces.append(dict(type="scatter", x=xs, y=[p["digit_accuracy_by_position"][i] for p in series], mode="lines", name=f"{name} digit", line=dict(width=1)))
    return go.Figure(dict(data=traces, layout=_layout(xaxis=dict(title=dict(text=x_key.replace("_", " "))), yaxis=dict(title=dict(text="digit accuracy"), range=[0, 1.02], tickformat=".0%"),
                                                      yaxis2=dict(title=dict(text="log p(correct answer), nats"), overlaying="y", side="right"))))
