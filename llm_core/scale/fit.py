"""Fits for a scaling sweep: power laws with an irreducible term, IsoFLOP parabolas, the compute-optimal frontier.

What it is: thin wrappers around `scipy.optimize.curve_fit` (a well-kept least-squares fitter;
we write no optimiser) that return each parameter with its one-standard-deviation uncertainty
(the square root of the covariance's diagonal) and the R^2 of the fit:
- `fit_power_law(x, y)`: y = E + A * (x / x0)^-alpha, the shape of Kaplan et al. (2020) and
  Hoffmann et al. (2022) with an irreducible loss E;
- `fit_log_linear(x, y)`: y = k * x^a, fitted as a straight line in log-log space (how N_opt and
  D_opt grow with compute: Chinchilla's a = b = 0.5);
- `isoflop_minima(runs)`: for each compute budget, a parabola of loss against log10(parameters)
  through that budget's runs, and its minimum: the compute-optimal size for that budget
  (Hoffmann et al.'s "approach 2");
- `fit_sweep(document)`: all of the above for a sweep file, with the tokens per parameter found.
What it is not: the sweep itself (`sweep.py`) or any drawing.

    >>> import numpy as np
    >>> x = np.logspace(10, 13, 8); y = 1.5 + 40.0 * (x / 1e10) ** -0.3
    >>> f = fit_power_law(x, y, x0=1e10)
    >>> round(f.params["E"], 3), round(f.params["alpha"], 3), f.r2 > 0.999
    (1.5, 0.3, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import curve_fit

from llm_core.literature import value


class FitError(ValueError):
    """Too few or unusable points for a fit; the message says what is missing."""


@dataclass
class Fit:
    params: dict  # name -> value
    errors: dict  # name -> one standard deviation
    r2: float  # coefficient of determination on the fitted points
    n: int  # points used
    x0: float = 1.0  # the x scale the formula uses

    def describe(self, name: str, digits: int = 3) -> str:
        return f"{self.params[name]:.{digits}f} ± {self.errors[name]:.{digits}f}"


def r_squared(y, predicted) -> float:
    y, predicted = np.asarray(y, float), np.asarray(predicted, float)
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")


def _errors(pcov, names) -> dict:
    diag = np.diag(pcov) if np.all(np.isfinite(pcov)) else np.full(len(names), np.inf)
    return {n: float(math.sqrt(v)) if v >= 0 else float("inf") for n, v in zip(names, diag)}


def power_law(x, E, A, alpha, x0=1.0):
    return E + A * (np.asarray(x, float) / x0) ** (-alpha)


def fit_power_law(x, y, x0: float | None = None) -> Fit:
    """y = E + A * (x / x0)^-alpha by least squares; x0 defaults to min(x) to keep the fit well-conditioned."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 4:
        raise FitError(f"a power law with an irreducible term needs at least 4 points (got {len(x)}).")
    x0 = float(x0 or x.min())
    f = lambda x_, E, A, alpha: power_law(x_, E, A, alpha, x0)
    p0 = (0.9 * y.min(), max(y.max() - 0.9 * y.min(), 1e-3), 0.3)
    params, pcov = curve_fit(f, x, y, p0=p0, bounds=([0.0, 0.0, 0.0], [y.min(), np.inf, 5.0]), maxfev=20000)
    names = ("E", "A", "alpha")
    return Fit(dict(zip(names, map(float, params))), _errors(pcov, names), r_squared(y, f(x, *params)), len(x), x0)


def fit_log_linear(x, y) -> Fit:
    """y = k * x^a, fitted as log10 y = log10 k + a log10 x; R^2 in log space.

    >>> round(fit_log_linear([1e10, 1e11, 1e12], [1e3, 10**3.5, 1e4]).params["a"], 6)
    0.5
    """
    lx, ly = np.log10(np.asarray(x, float)), np.log10(np.asarray(y, float))
    if len(lx) < 3:
        raise FitError(f"a power law needs at least 3 points for an uncertainty (got {len(lx)}).")
    line = lambda v, log_k, a: log_k + a * v
    params, pcov = curve_fit(line, lx, ly, p0=(0.0, 0.5))
    return Fit(dict(log_k=float(params[0]), a=float(params[1])), _errors(pcov, ("log_k", "a")), r_squared(ly, line(lx, *params)), len(lx))


@dataclass
class IsoFlopMinimum:
    budget: float
    n_opt: float  # parameters at the parabola's minimum
    n_opt_err: float  # one standard deviation of n_opt, from the parabola's covariance (delta method)
    loss_opt: float  # the parabola's value there
    tokens_opt: float  # training tokens a model of n_opt parameters gets for this budget
    inside: bool  # the minimum lies within the sizes tried (otherwise it is an extrapolation)
    coeffs: tuple  # (a, b, c) of loss = a u^2 + b u + c, u = log10(parameters)
    runs: int

    @property
    def tokens_per_param(self) -> float:
        return self.tokens_opt / self.n_opt

    def predict(self, params) -> np.ndarray:
        u = np.log10(np.asarray(params, float))
        a, b, c = self.coeffs
        return a * u**2 + b * u + c


def isoflop_minima(runs: list[dict], n_key: str = "params_total") -> list[IsoFlopMinimum]:
    """Per budget with at least 3 runs: a parabola of loss against log10(parameters) and its minimum."""
    out = []
    for budget in sorted({r["budget"] for r in runs}):
        group = sorted((r for r in runs if r["budget"] == budget and _usable(r)), key=lambda r: r[n_key])
        if len(group) < 3:
            continue
        u = np.log10([r[n_key] for r in group])
        loss = np.array([r["val_loss"] for r in group])
        (a, b, c), pcov = curve_fit(lambda v, a, b, c: a * v**2 + b * v + c, u, loss, p0=(0.1, 0.0, float(loss.mean())))
        if a <= 0:  # no minimum: loss keeps falling (or rising) across the sizes tried
            continue
        u_opt = -b / (2 * a)
        grad = np.array([b / (2 * a**2), -1 / (2 * a), 0.0])  # d u_opt / d(a, b, c)
        u_err = float(math.sqrt(max(grad @ pcov @ grad, 0.0))) if np.all(np.isfinite(pcov)) else float("inf")
        n_opt = 10**u_opt
        log_tokens = np.interp(u_opt, u, np.log10([r["tokens"] for r in group]), left=np.nan, right=np.nan)
        if not np.isfinite(log_tokens):  # outside the sizes tried: extrapolate the straight line in log-log space
            slope, icpt = np.polyfit(u, np.log10([r["tokens"] for r in group]), 1)
            log_tokens = icpt + slope * u_opt
        out.append(IsoFlopMinimum(float(budget), float(n_opt), float(n_opt * math.log(10) * u_err), float(c - b**2 / (4 * a)),
                                  float(10**log_tokens), bool(u.min() <= u_opt <= u.max()), (float(a), float(b), float(c)), len(group)))
    return out


def _usable(run: dict) -> bool:
    return math.isfinite(run.get("val_loss", float("nan"))) and not run.get("stop_reason", "").startswith("diverged")


def loss_nd(n, d, E, A, B, alpha, beta, n0=1.0, d0=1.0):
    """Chinchilla's form: an irreducible loss, a term that falls with size and one that falls with data."""
    return E + A * (np.asarray(n, float) / n0) ** (-alpha) + B * (np.asarray(d, float) / d0) ** (-beta)


def fit_loss_nd(n, d, loss) -> Fit:
    """L(N, D) = E + A (N/N0)^-alpha + B (D/D0)^-beta over every run (Hoffmann et al.'s "approach 3"); N0, D0 = the smallest.

    >>> n = np.repeat([1e3, 3e3, 1e4, 3e4], 4); d = np.tile([1e5, 3e5, 1e6, 3e6], 4)
    >>> f = fit_loss_nd(n, d, loss_nd(n, d, 1.5, 1.0, 0.8, 0.4, 0.3, 1e3, 1e5))
    >>> round(f.params["alpha"], 3), round(f.params["beta"], 3), round(f.params["E"], 3)
    (0.4, 0.3, 1.5)
    """
    n, d, loss = (np.asarray(v, float) for v in (n, d, loss))
    if len(loss) < 6:
        raise FitError(f"L(N, D) has 5 parameters: it needs at least 6 runs (got {len(loss)}).")
    n0, d0 = float(n.min()), float(d.min())
    f = lambda nd, E, A, B, alpha, beta: loss_nd(nd[0], nd[1], E, A, B, alpha, beta, n0, d0)
    spread = max(loss.max() - loss.min(), 1e-3)
    params, pcov = curve_fit(f, np.vstack([n, d]), loss, p0=(0.9 * loss.min(), spread, spread, 0.3, 0.3),
                             bounds=([0.0, 0.0, 0.0, 0.0, 0.0], [loss.min(), np.inf, np.inf, 3.0, 3.0]), maxfev=50000)
    names = ("E", "A", "B", "alpha", "beta")
    fit = Fit(dict(zip(names, map(float, params))), _errors(pcov, names), r_squared(loss, f(np.vstack([n, d]), *params)), len(loss), n0)
    fit.params["n0"], fit.params["d0"] = n0, d0
    return fit


@dataclass
class SweepFit:
    n_key: str  # which parameter count the compute-optimal fits use
    minima: list  # IsoFlopMinimum per budget (only those inside the sizes tried are fitted)
    loss_vs_compute: Fit | None  # L_opt(C) = E + A (C / C0)^-alpha over the compute-optimal points
    n_opt_vs_compute: Fit | None  # N_opt ~ C^a
    d_opt_vs_compute: Fit | None  # D_opt ~ C^b
    loss_nd: dict = field(default_factory=dict)  # count -> Fit of L(N, D) = E + A (N/N0)^-alpha + B (D/D0)^-beta over every run
    tokens_per_param: list = field(default_factory=list)  # (budget, D_opt / N_opt)
    notes: list = field(default_factory=list)


def fit_sweep(document: dict, n_key: str = "params_total") -> SweepFit:
    """Every fit the chapter shows, from a sweep document (see `sweep.validate_sweep`)."""
    runs = [r for r in document["runs"] if _usable(r)]
    minima = isoflop_minima(runs, n_key)
    inside = [m for m in minima if m.inside]
    notes = [f"the minimum for {m.budget:.0e} FLOPs lies outside the sizes tried: left out of the frontier fits" for m in minima if not m.inside]
    budgets = [m.budget for m in inside]

    def maybe(fn, *args):
        try:
            return fn(*args)
        except (FitError, RuntimeError, ValueError) as exc:
            notes.append(str(exc))
            return None

    loss_fit = maybe(fit_power_law, budgets, [m.loss_opt for m in inside]) if len(inside) >= 4 else None
    if loss_fit is None and len(inside) >= 3:  # too few points for an irreducible term: a pure power law
        loss_fit = maybe(fit_log_linear, budgets, [m.loss_opt for m in inside])
    n_fit = maybe(fit_log_linear, budgets, [m.n_opt for m in inside])
    d_fit = maybe(fit_log_linear, budgets, [m.tokens_opt for m in inside])
    per_count = {}
    for key in ("params_non_embedding", "params_total"):
        if all(key in r for r in runs):
            fit = maybe(fit_loss_nd, [r[key] for r in runs], [r["tokens"] for r in runs], [r["val_loss"] for r in runs])
            if fit is not None:
                per_count[key] = fit
    return SweepFit(n_key, minima, loss_fit, n_fit, d_fit, per_count, [(m.budget, m.tokens_per_param) for m in inside], notes)


def summary_lines(fit: SweepFit) -> list[str]:
    lines = [f"compute-optimal fits use {fit.n_key.replace('params_', '').replace('_', '-')} parameters"]
    for m in fit.minima:
        where = "" if m.inside else " (outside the sizes tried)"
        lines.append(f"  {m.budget:.0e} FLOPs: N_opt {m.n_opt:,.0f} ± {m.n_opt_err:,.0f}, D_opt {m.tokens_opt:,.0f} tokens, "
                     f"{m.tokens_per_param:.1f} tokens/param, loss {m.loss_opt:.4f}{where}")
    f = fit.loss_vs_compute
    if f is not None and "alpha" in f.params:
        lines.append(f"L_opt(C) = E + A (C/{f.x0:.0e})^-alpha: E {f.describe('E')}, A {f.describe('A')}, alpha {f.describe('alpha')}; R^2 {f.r2:.4f} on {f.n} points")
    elif f is not None:
        lines.append(f"L_opt(C) ~ C^a: a {f.describe('a')}; R^2 (log) {f.r2:.4f} on {f.n} points")
    for name, f in (("N_opt", fit.n_opt_vs_compute), ("D_opt", fit.d_opt_vs_compute)):
        if f is not None:
            lines.append(f"{name} ~ C^a: a {f.describe('a')} (R^2 {f.r2:.4f}; Chinchilla {value('chinchilla_n_opt_exponent'):.2f}, "
                         f"Kaplan {value('kaplan_n_opt_exponent' if name == 'N_opt' else 'kaplan_d_opt_exponent'):.2f})")
    for key, f in fit.loss_nd.items():
        lines.append(f"L(N, D) with N = {key.replace('params_', '')}: alpha {f.describe('alpha')}, beta {f.describe('beta')}, E {f.describe('E')}, R^2 {f.r2:.4f} on {f.n} runs"
                     f" (Chinchilla {value('chinchilla_alpha')}, {value('chinchilla_beta')}, {value('chinchilla_e')})")
    if fit.tokens_per_param:
        ratios = [r for _, r in fit.tokens_per_param]
        low, high = value("nanochat_tokens_per_param")
        lines.append(f"tokens per parameter at the optimum: {min(ratios):.1f}-{max(ratios):.1f} (Chinchilla ~{value('chinchilla_tokens_per_param'):.0f}; nanochat {low:g}-{high:g})")
    lines.extend(f"note: {n}" for n in fit.notes)
    return lines


def residuals(points: list[dict], minima: list[IsoFlopMinimum], n_key: str = "params_total") -> list[dict]:
    """How far each point lands from the IsoFLOP parabola of its budget: loss minus the parabola's value (nats).

    Points whose budget has no parabola, or whose size lies outside that parabola's range, are left out.

    >>> m = IsoFlopMinimum(1e10, 1e4, 0.0, 2.0, 1e5, True, (1.0, -8.0, 18.0), 3)  # (u - 4)^2 + 2
    >>> residuals([dict(budget=1e10, params_total=1e5, val_loss=3.25)], [m])[0]["residual"]
    0.25
    """
    by_budget = {m.budget: m for m in minima}
    out = []
    for p in points:
        m = by_budget.get(p["budget"])
        if m is None:
            continue
        predicted = float(m.predict(p[n_key]))
        out.append(dict(point=p, predicted=predicted, residual=round(p["val_loss"] - predicted, 6)))
    return out
