"""Views of the "Why scale matters" chapter: each chart's caption and table computed from the shipped
sweeps, the two "Predict, then see" reveals, and the sections that draw them.

Every sentence here is computed from the sweep document or its fits (llm_core.scale) at the time
the page runs, so it stays true when a sweep file is replaced; nothing read from a sweep is written
down here. The figures themselves are in lab_ui.scale_figures; the maths in llm_core.scale.
"""

from __future__ import annotations

import math

import streamlit as st

from lab_ui import charts, predict
from lab_ui import scale_figures as figs
from lab_ui.widgets import table_html
from llm_core.scale.fit import power_law

# ---- small formatting helpers (no "nan", "inf" or "-0" can reach a sentence) ------------------


def pct(x: float) -> str:
    """A share in percent (one decimal under 1%), never "-0%".

    >>> pct(0.1649), pct(0.003), pct(-0.0001), pct(float("nan"))
    ('16%', '0.3%', '0%', 'unknown')
    """
    if x is None or not math.isfinite(x):
        return "unknown"
    v = x * 100
    if abs(v) < 0.05:
        return "0%"
    return f"{v:.1f}%" if abs(v) < 1 else f"{v:.0f}%"


def flops_words(x: float) -> str:
    """A number of FLOPs in words and in the short notation the chapter and its charts use, said what it means (its first use).

    >>> flops_words(1e10), flops_words(2e11)
    ('10 billion (written 1e+10: a 1 followed by 10 zeros)', '200 billion (written 2e+11: a 2 followed by 11 zeros)')
    >>> flops_words(3e12)
    '3 trillion (written 3e+12: a 3 followed by 12 zeros)'
    """
    short = f"{x:.0e}"
    digit, zeros = short.split("e")
    scale = next(((w, v) for w, v in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6), ("thousand", 1e3)) if float(short) >= v), None)
    words = f"{float(short) / scale[1]:,.0f} {scale[0]}" if scale else f"{float(short):,.0f}"
    return f"{words} (written {short}: a {digit} followed by {int(zeros)} zeros)"


def _sizes(runs: list[dict]) -> list[str]:
    return sorted({r["label"] for r in runs}, key=lambda lab: next(r["params_total"] for r in runs if r["label"] == lab))


# ---- 1 · loss against compute ------------------------------------------------------------------
COMPUTE_BANDS = [("less than 5% lower", 0.0, 0.05), ("5 to 10% lower", 0.05, 0.10), ("10 to 25% lower", 0.10, 0.25), ("more than 25% lower", 0.25, 1.0)]


def tenfold(fit) -> dict | None:
    """The fitted loss at the largest compute-optimal budget and at a tenth of it: what 10x compute buys.

    None when the sweep has no fit of loss against compute."""
    f = fit.loss_vs_compute
    inside = [m for m in fit.minima if m.inside]
    if f is None or "alpha" not in f.params or not inside:
        return None
    high = max(m.budget for m in inside)
    low = high / 10
    p = f.params
    loss_low, loss_high = (float(power_law(c, p["E"], p["A"], p["alpha"], f.x0)) for c in (low, high))
    return dict(low=low, high=high, loss_low=loss_low, loss_high=loss_high, drop=1 - loss_high / loss_low, alpha=p["alpha"], E=p["E"],
                factor=10 ** -p["alpha"])


def compute_band(drop: float) -> str:
    """The choice a fall of `drop` (a share) belongs to.

    >>> compute_band(0.16), compute_band(0.02), compute_band(0.4)
    ('10 to 25% lower', 'less than 5% lower', 'more than 25% lower')
    """
    return next((name for name, lo, hi in COMPUTE_BANDS if lo <= drop < hi), COMPUTE_BANDS[-1][0] if drop >= 1 else COMPUTE_BANDS[0][0])


def compute_reveal(guess: str, fit) -> predict.Reveal | None:
    t = tenfold(fit)
    if t is None:
        return None
    answer = (f"On the curve fitted to this machine's sweep, going from {t['low']:.0e} to {t['high']:.0e} training FLOPs takes the loss from "
              f"{t['loss_low']:.2f} to {t['loss_high']:.2f} nats per character: {pct(t['drop'])} lower.")
    why = (f"The loss falls as a power law of compute with exponent {t['alpha']:.2f} toward a floor of {t['E']:.2f} nats, so each tenfold of compute "
           f"multiplies the part above the floor by {t['factor']:.2f}: a steady share, never all of it.")
    return predict.Reveal(answer, compute_band(t["drop"]) == guess, why)


def compute_caption(runs: list[dict], fit, own: list[dict] = ()) -> str:
    t = tenfold(fit)
    sizes = _sizes(runs)
    text = f"{len(runs)} runs of {len(sizes)} sizes: at every size, more compute gave a lower loss until the size was too small to use it"
    if t is not None:
        text += f"; along the best points the fitted curve falls {pct(t['drop'])} for each tenfold of compute (to {t['loss_high']:.2f} nats at {t['high']:.0e} FLOPs)"
    if own:
        best = min(own, key=lambda m: m["val_loss"])
        text += (f". The star is your model on this corpus, {best['name']}, at {best['val_loss']:.2f}" if len(own) == 1 else
                 f". The stars are your {len(own)} models on this corpus; the best, {best['name']}, reached {best['val_loss']:.2f}")
    return text + "."


def compute_table(runs: list[dict], own: list[dict]) -> list[dict]:
    rows = [dict(model=r["label"], budget_flops=r["budget"], parameters=r["params_total"], tokens=r["tokens"], held_out_loss=round(r["val_loss"], 4)) for r in runs]
    return rows + [dict(model=f"yours: {m['name']}", budget_flops=m["flops"], parameters=None, tokens=None, held_out_loss=round(m["val_loss"], 4)) for m in own]


# ---- 2 · IsoFLOP: a best size per budget --------------------------------------------------------
BIGGER_CHOICES = ["Lower: bigger is better", "About the same", "Higher: too big for the budget"]
SAME_WITHIN = 0.02  # nats per character: closer than this reads as "about the same"


def bigger_at_budget(runs: list[dict]) -> dict | None:
    """At the largest budget where it can be read: the best size tried, and the tried size nearest to 10x bigger than it."""
    for budget in sorted({r["budget"] for r in runs}, reverse=True):
        at = [r for r in runs if r["budget"] == budget]
        best = min(at, key=lambda r: r["val_loss"])
        bigger = [r for r in at if r["params_total"] > best["params_total"]]
        if bigger:
            big = min(bigger, key=lambda r: abs(math.log(r["params_total"] / best["params_total"] / 10)))
            return dict(budget=budget, best=best, big=big, ratio=big["params_total"] / best["params_total"], diff=big["val_loss"] - best["val_loss"])
    return None


def bigger_reveal(guess: str, runs: list[dict]) -> predict.Reveal | None:
    b = bigger_at_budget(runs)
    if b is None:
        return None
    best, big = b["best"], b["big"]
    outcome = BIGGER_CHOICES[1] if abs(b["diff"]) < SAME_WITHIN else BIGGER_CHOICES[2 if b["diff"] > 0 else 0]
    nearest = "" if f"{b['ratio']:.1f}" == "10.0" else " (of the sizes tried, the nearest to the question's 10x)"
    answer = (f"At {b['budget']:.0e} FLOPs the best size tried, {best['label']} ({best['params_total']:,} parameters), reached a loss of {best['val_loss']:.3f}; "
              f"{big['label']}, {b['ratio']:.1f}x bigger{nearest}, reached {big['val_loss']:.3f}: {outcome.split(':')[0].lower()}.")
    if b["diff"] > 0:
        why = (f"The budget is fixed, so the bigger model could afford only {big['tokens']:,} characters of training against {best['tokens']:,} "
               f"({best['tokens'] / big['tokens']:.1f}x fewer): too little text for its size.")
    else:
        why = f"Its extra size paid off even with {best['tokens'] / big['tokens']:.1f}x fewer training characters: at this budget the best size lies beyond the sizes tried."
    return predict.Reveal(answer, outcome == guess, why)


def isoflop_caption(runs: list[dict], fit, live: list[dict] = ()) -> str:
    """What the IsoFLOP chart shows, for the budgets it shows (all of the sweep's, or the one of a live mini-sweep)."""
    b = bigger_at_budget(runs)
    budgets = sorted({r["budget"] for r in runs})
    best_in_middle = 0  # budgets whose lowest loss is at neither the smallest nor the largest size tried
    for budget in budgets:
        at = sorted((r for r in runs if r["budget"] == budget), key=lambda r: r["params_total"])
        best = min(range(len(at)), key=lambda i: at[i]["val_loss"])
        best_in_middle += 0 < best < len(at) - 1
    if len(budgets) == 1:
        where = "a middle size" if best_in_middle else "the edge of the sizes tried"
        head = f"At {budgets[0]:.0e} FLOPs the shipped runs' loss is lowest at {where}"
    else:
        head = (f"At {'all ' if best_in_middle == len(budgets) else f'{best_in_middle} of the '}{len(budgets)} budgets the loss is lowest "
                "at a middle size")
    if b is not None:
        head += "; the best size tried" if len(budgets) == 1 else f"; at {b['budget']:.0e} FLOPs the best size tried"
        head += (f" is {b['best']['label']} (loss {b['best']['val_loss']:.3f}) and "
                 f"{b['big']['label']}, {b['ratio']:.1f}x bigger, reaches {b['big']['val_loss']:.3f}")
    if live:
        head += f"; your {len(live)} live run{'s are' if len(live) != 1 else ' is'} the diamond{'s' if len(live) != 1 else ''} outlined in black"
    return head + "."


def isoflop_table(runs: list[dict], n_key: str, live: list[dict] = ()) -> list[dict]:
    rows = [dict(run="shipped", size=r["label"], budget_flops=r["budget"], parameters=r[n_key], tokens=r["tokens"], epochs=round(r["epochs"], 2), held_out_loss=round(r["val_loss"], 4))
            for r in sorted(runs, key=lambda r: (r["budget"], r[n_key]))]
    return rows + [dict(run="yours", size=p["label"], budget_flops=p["budget"], parameters=p[n_key], tokens=p.get("tokens"), epochs=None, held_out_loss=round(p["val_loss"], 4)) for p in live]


def minima_table(fit) -> str:
    # headers in words: "tokens_per_parameter", one unbreakable word, made the table wider than a phone
    return table_html([{"budget": f"{m.budget:.0e} FLOPs", "best size (parameters)": f"{m.n_opt:,.0f} ± {m.n_opt_err:,.0f}", "tokens": f"{m.tokens_opt:,.0f}",
                        "tokens per parameter": f"{m.tokens_per_param:.1f}", "loss": f"{m.loss_opt:.3f}", "note": "" if m.inside else "outside the sizes tried: not fitted"}
                       for m in fit.minima])


# ---- 3 · frontier, 4 · counts -------------------------------------------------------------------
def frontier_caption(fit) -> str:
    inside = sorted((m for m in fit.minima if m.inside), key=lambda m: m.budget)
    if len(inside) < 2:
        return "Too few budgets have a fitted best size to draw a frontier."
    lo, hi = inside[0], inside[-1]
    return (f"From {lo.budget:.0e} to {hi.budget:.0e} FLOPs ({hi.budget / lo.budget:.0f}x the compute), the best size grew {hi.n_opt / lo.n_opt:.1f}x "
            f"(from {lo.n_opt:,.0f} to {hi.n_opt:,.0f} parameters) and its training tokens {hi.tokens_opt / lo.tokens_opt:.1f}x.")


def count_note(fits: dict, n_key: str) -> str:
    """Why the frontier chart's exponents (parameters counted as chosen) differ from the reading's below it (D_opt with
    embeddings counted), said where both are in view."""
    shown, total = fits[n_key].d_opt_vs_compute, fits["params_total"].d_opt_vs_compute
    counted = {"params_total": "with embeddings", "params_non_embedding": "without embeddings"}[n_key]
    text = f"The chart above counts parameters {counted}, as chosen in section 2; the reading below compares each count with the paper that counted that way"
    if shown is not None and total is not None:
        text += (f", and gives D_opt with embeddings counted: C^{total.params['a']:.2f} there, C^{shown.params['a']:.2f} on the chart. Each budget's best "
                 "size is the minimum of a parabola in log(parameters), so counting without embeddings moves that minimum, and the tokens it buys with it")
    return text + "."


def frontier_table(fit) -> list[dict]:
    return [dict(budget_flops=m.budget, best_size=round(m.n_opt), best_size_error=round(m.n_opt_err), tokens=round(m.tokens_opt),
                 tokens_per_parameter=round(m.tokens_per_param, 1), loss=round(m.loss_opt, 4), fitted=m.inside) for m in fit.minima]


def tokens_caption(runs: list[dict]) -> str:
    sizes = _sizes(runs)
    smallest = min((r for r in runs if r["label"] == sizes[0]), key=lambda r: r["val_loss"])
    best = min(runs, key=lambda r: r["val_loss"])
    return (f"Each size's loss falls as it sees more tokens and then flattens: the smallest, {sizes[0]}, never went below {smallest['val_loss']:.3f}, "
            f"while the best run, {best['label']} after {best['tokens']:,} tokens, reached {best['val_loss']:.3f}.")


def tokens_table(runs: list[dict], n_key: str) -> list[dict]:
    return [dict(size=r["label"], parameters=r[n_key], tokens=r["tokens"], held_out_loss=round(r["val_loss"], 4)) for r in sorted(runs, key=lambda r: (r["params_total"], r["tokens"]))]


def counts_caption(fits: dict) -> str:
    a = {k: fits[k].n_opt_vs_compute for k in ("params_total", "params_non_embedding")}
    if any(v is None for v in a.values()):
        return "The best size against compute, with parameters counted with and without the embeddings."
    total, non = round(a["params_total"].params["a"], 2), round(a["params_non_embedding"].params["a"], 2)  # the difference of the numbers shown
    return (f"Counted with embeddings the best size grows as compute to the power {total:.2f}; counted without, {non:.2f}: "
            f"the way of counting alone moves the exponent by {abs(total - non):.2f}.")


def counts_table(fits: dict) -> list[dict]:
    return [dict(count=figs.COUNT_LABEL[k], budget_flops=m.budget, best_size=round(m.n_opt), best_size_error=round(m.n_opt_err))
            for k in ("params_total", "params_non_embedding") for m in fits[k].minima if m.inside]


# ---- 6 · emergence -------------------------------------------------------------------------
def _crossing(points: list[dict], key: str, x_key: str, level: float = 0.5):
    return next((p[x_key] for p in points if p[key] >= level), None)


def emergence_size_caption(rows: list[dict]) -> str:
    lo, hi = rows[0], rows[-1]
    cross = _crossing(rows, "exact_match", "params_total")
    where = f"first reaching 50% at {cross:,} parameters" if cross is not None else "never reaching 50%"
    return (f"Exact match went from {pct(lo['exact_match'])} at {lo['params_total']:,} parameters to {pct(hi['exact_match'])} at {hi['params_total']:,}, {where}, "
            f"while per-digit accuracy went from {pct(lo['digit_accuracy'])} to {pct(hi['digit_accuracy'])}.")


def emergence_size_table(rows: list[dict]) -> list[dict]:
    return [dict(size=r["label"], parameters=r["params_total"], seeds=len(r["exact_match_by_seed"]), exact_match=round(r["exact_match"], 4),
                 exact_match_by_seed=" ".join(f"{v:.3f}" for v in r["exact_match_by_seed"]), per_digit=round(r["digit_accuracy"], 4),
                 product_of_positions=round(r["product"], 4), log_p_correct=round(r["answer_logprob"], 3),
                 **{f"{name}_digit": round(r["digit_accuracy_by_position"][i], 4) for i, name in enumerate(figs.POSITIONS)}) for r in rows]


LEARNED = 0.9  # a digit right this often is "learned"


def learned_last(points: list[dict]) -> tuple[list[int], int | None]:
    """(the answer positions learned last, the index of the point where they first reach LEARNED, None if never).

    A digit's first readings are near chance (about 10%) and differ by noise, so the digit named is the last one to be
    right LEARNED of the time, not the lowest at the first point; positions that reach it at the same point (or never) tie.

    >>> learned_last([dict(digit_accuracy_by_position=[0.10, 0.10, 0.09, 0.5]), dict(digit_accuracy_by_position=[1.0, 0.5, 0.95, 1.0]),
    ...               dict(digit_accuracy_by_position=[1.0, 0.88, 1.0, 1.0])])
    ([1], None)
    """
    n = len(points[0]["digit_accuracy_by_position"])
    reach = [next((k for k, p in enumerate(points) if round(100 * p["digit_accuracy_by_position"][i]) >= 100 * LEARNED), None)  # as printed
             for i in range(n)]
    last = None if None in reach else max(reach)
    return [i for i in range(n) if reach[i] == last], last


def _names(positions: list[int]) -> str:
    names = [figs.POSITIONS[i] for i in positions]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def logprob_caption(points: list[dict], x_name: str, x_key: str) -> str:
    lo, hi = points[0], points[-1]
    text = (f"The log-probability of the whole right answer rose from {lo['answer_logprob']:.2f} to {hi['answer_logprob']:.2f} nats across the {x_name} "
            f"({lo[x_key]:,} to {hi[x_key]:,})")
    last, at = learned_last(points)
    acc = lambda p: " and ".join(pct(p["digit_accuracy_by_position"][i]) for i in last)
    one = len(last) == 1
    if at == 0:
        return text + f"; every digit was right at least {LEARNED:.0%} of the time from the first point."
    if at is None:
        return text + (f"; the hardest digit{'' if one else 's'}, the {_names(last)}, never reached {LEARNED:.0%}: "
                       f"{'it' if one else 'they'} went from {acc(lo)} to {acc(hi)}.")
    where = ("step " if x_key == "step" else "") + f"{points[at][x_key]:,}" + (" parameters" if x_key == "params_total" else "")
    where += f" ({points[at]['label']})" if x_key == "params_total" and "label" in points[at] else ""
    return text + (f"; the digit{'' if one else 's'} learned last, the {_names(last)}, first reached {LEARNED:.0%} at {where}, "
                   f"going from {acc(lo)} to {acc(points[at])}.")


def steps_caption(series: list[dict]) -> str:
    lo, hi = series[0], series[-1]
    cross = _crossing(series, "exact_match", "step")
    where = f"passing 50% at step {cross:,}" if cross is not None else "never passing 50%"
    return (f"Over training, exact match went from {pct(lo['exact_match'])} at step {lo['step']:,} to {pct(hi['exact_match'])} at step {hi['step']:,}, {where}; "
            f"per-digit accuracy rose from {pct(lo['digit_accuracy'])} to {pct(hi['digit_accuracy'])}.")


def steps_table(series: list[dict]) -> list[dict]:
    return [dict(step=p["step"], exact_match=round(p["exact_match"], 4), per_digit=round(p["digit_accuracy"], 4), train_exact_match=round(p["train_exact_match"], 4),
                 log_p_correct=round(p["answer_logprob"], 3), **{f"{name}_digit": round(p["digit_accuracy_by_position"][i], 4) for i, name in enumerate(figs.POSITIONS)})
            for p in series]


def emergence_charts(rows: list[dict]) -> None:
    e1, e2 = st.columns(2)
    charts.chart(figs.emergence_by_size(rows), key="sc_em_size_acc", caption=emergence_size_caption(rows), table=emergence_size_table(rows), where=e1)
    charts.chart(figs.emergence_logprob_by_size(rows), key="sc_em_size_logp", caption=logprob_caption(rows, "sizes", "params_total"),
                 table=emergence_size_table(rows), where=e2)


def step_charts(series: list[dict]) -> None:
    s1, s2 = st.columns(2)
    charts.chart(figs.emergence_accuracy(series), key="sc_em_acc", caption=steps_caption(series), table=steps_table(series), where=s1)
    charts.chart(figs.emergence_logprob(series), key="sc_em_logp", caption=logprob_caption(series, "training steps", "step"), table=steps_table(series), where=s2)


# ---- 5 · the learner's live mini-sweep ---------------------------------------------------------
LIVE_WAITS = ("Where your points landed waits for your guess in section 2: the chart of loss against size at this budget shows which size "
              "does best, the answer to that question. Lock in your guess there and it appears here.")


def live_view(snap, runs: list[dict], fit, n_key: str, told: bool = True) -> None:
    """The live mini-sweep's progress, and its points on the shipped IsoFLOP curve with their distance to it.

    `told`: whether section 2's guess (is a bigger model better at the same budget?) is locked. Until it is, only the
    progress shows: the points, their losses and the shipped curve beside them would answer it."""
    from llm_core.scale.fit import residuals

    if snap is None:
        st.info("Press **Run mini-sweep**: your points land on the shipped curve for that budget."
                + ("" if told else " The chart of where they landed appears once your guess in section 2 is locked in."))
        return
    points = [r.point for r in snap.records if getattr(r, "point", None)]
    latest = snap.latest
    if snap.status == "queued":
        st.info(f"Waiting for a free training slot: number {snap.queue_position or '…'} in the queue.")
    elif snap.status == "failed":
        st.error(f"The mini-sweep failed: {snap.error}")
    elif snap.active and latest is not None:
        st.progress(min(max(latest.progress, 0.0), 1.0), text=f"run {latest.run_index + 1} of {latest.runs}: {latest.label} · {snap.running_s:.0f} s")
    elif not snap.active:
        st.caption(f"Mini-sweep ended: {snap.stop_reason} after {snap.running_s:.0f} s.")
    if not points:
        return
    if not told:
        st.info(f"Runs finished so far: {len(points)}. " + LIVE_WAITS)
        return
    live_budget = points[0]["budget"]
    shipped = [r for r in runs if r["budget"] == live_budget]
    charts.chart(figs.isoflop(shipped, fit, n_key, points), key="sc_live_chart", caption=isoflop_caption(shipped, fit, points),
                 table=isoflop_table(shipped, n_key, points))
    res = residuals(points, fit.minima, n_key)
    if res:
        rows = [dict(size=r["point"]["label"], your_loss=f"{r['point']['val_loss']:.3f}", shipped_curve=f"{r['predicted']:.3f}", distance=f"{r['residual']:+.3f} nats") for r in res]
        st.markdown(table_html(rows), unsafe_allow_html=True)
        mean_abs = sum(abs(r["residual"]) for r in res) / len(res)
        st.caption(f"Your {len(res)} point{'s' if len(res) != 1 else ''} landed on average {mean_abs:.3f} nats from the shipped curve for {live_budget:.0e} FLOPs.")
