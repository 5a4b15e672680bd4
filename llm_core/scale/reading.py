"""The scaling sweep read in words: whose allocation it resembles, and what it cannot say.

What it is: `read_sweep(document, fits)` takes a sweep document and its fits for both ways of
counting parameters (`fit.fit_sweep(document, key)` for "params_total" and
"params_non_embedding") and returns a `Reading`: the exponents of the compute-optimal size
(N_opt ∝ C^a) and data (D_opt ∝ C^b) with 95% intervals (Student's t on the fit's standard error,
n - 2 degrees of freedom), each compared with Kaplan et al.'s and Chinchilla's allocation as that
paper counted parameters (Kaplan without embeddings, Chinchilla with), the tokens per parameter
and the epochs at the optimum for every budget, and how much smaller this sweep is than the
papers'. `Reading.sentences()` says it in words; the page prints them and a test checks them
against the fit.

`verdict(low, high, kaplan, chinchilla)` is the rule: an interval that holds one paper's exponent
and not the other's resembles that paper; one that holds both cannot tell them apart; one that
holds neither lies between them, above both or below both.

    >>> verdict(0.62, 0.75, kaplan=0.73, chinchilla=0.50)
    'kaplan'
    >>> verdict(0.45, 0.55, 0.73, 0.50), verdict(0.40, 0.80, 0.73, 0.50), verdict(0.55, 0.65, 0.73, 0.50), verdict(0.75, 0.85, 0.73, 0.50)
    ('chinchilla', 'both', 'between', 'above both')

What it is not: the fits (`fit.py`) or a claim about large models: the reading is of this sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Student's t quantile from scipy.special: scipy.stats.t.ppf is this same function, and importing
# scipy.stats (all its distributions) added about half a second to the Scale chapter's first visit.
from scipy.special import stdtrit

from llm_core.literature import cite, value
from llm_core.scale.fit import Fit, SweepFit

COUNTS = ("params_total", "params_non_embedding")
COUNT_WORDS = {"params_total": "with embeddings", "params_non_embedding": "without embeddings"}
PAPER_COUNT = {"kaplan": "params_non_embedding", "chinchilla": "params_total"}  # as each paper counted
CONFIDENCE = 0.95


def interval(fit: Fit, name: str, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A confidence interval for one fitted parameter: estimate ± t(n - 2) x standard error.

    >>> interval(Fit(dict(a=0.5), dict(a=0.01), 0.99, 6), "a")  # t(0.975, 4 dof) = 2.776
    (0.4722, 0.5278)
    """
    dof = max(1, fit.n - 2)
    half = float(stdtrit(dof, 0.5 + confidence / 2)) * fit.errors[name]
    return round(fit.params[name] - half, 4), round(fit.params[name] + half, 4)


def verdict(low: float, high: float, kaplan: float, chinchilla: float) -> str:
    """Which published exponent an interval resembles: 'kaplan', 'chinchilla', 'both', 'between', 'above both' or 'below both'."""
    holds_k, holds_c = low <= kaplan <= high, low <= chinchilla <= high
    if holds_k and holds_c:
        return "both"
    if holds_k:
        return "kaplan"
    if holds_c:
        return "chinchilla"
    top, bottom = max(kaplan, chinchilla), min(kaplan, chinchilla)
    if low > top:
        return "above both"
    if high < bottom:
        return "below both"
    return "between"


@dataclass(frozen=True)
class Exponent:
    count: str  # "params_total" or "params_non_embedding"
    a: float  # N_opt ∝ C^a
    a_interval: tuple[float, float]
    b: float | None  # D_opt ∝ C^b
    b_interval: tuple[float, float] | None
    points: int  # compute-optimal points the line was fitted through
    verdict: str  # see `verdict`


@dataclass(frozen=True)
class Reading:
    exponents: dict  # count -> Exponent
    kaplan_a: float
    chinchilla_a: float
    kaplan_b: float
    chinchilla_b: float
    as_papers_counted: str  # "kaplan", "chinchilla", "mixed" (the counts disagree) or "undecided" (an interval holds both or lies between)
    tokens_per_param: list  # (budget, D_opt / N_opt) with parameters counted with embeddings
    epochs_at_optimum: list  # (budget, D_opt / training tokens of the corpus)
    largest_total: int  # the sweep's largest model, parameters with embeddings
    largest_non_embedding: int
    budgets: tuple[float, float]  # smallest and largest compute budget
    kaplan_largest: float  # Kaplan et al.'s largest models (non-embedding)
    chinchilla_params: float
    chinchilla_flops: float  # 6 N D for Chinchilla itself

    @property
    def smaller_than_kaplan(self) -> float:
        return self.kaplan_largest / self.largest_non_embedding

    @property
    def smaller_than_chinchilla(self) -> float:
        return self.chinchilla_params / self.largest_total

    @property
    def less_compute_than_chinchilla(self) -> float:
        return self.chinchilla_flops / self.budgets[1]

    def sentences(self) -> list[str]:
        """The reading in words, every figure from the sweep or the register."""
        out = []
        e_t, e_n = self.exponents.get("params_total"), self.exponents.get("params_non_embedding")
        kap, chin = cite("kaplan2020"), cite("hoffmann2022")
        if e_t is None or e_n is None:
            return ["The sweep has too few compute-optimal points for an exponent with an interval: no reading."]
        fmt = lambda e: f"C^{e.a:.2f} (95% interval {e.a_interval[0]:.2f}–{e.a_interval[1]:.2f}, {e.points} budgets)"
        out.append(
            f"Counted as each paper counted, the compute-optimal size grows as {fmt(e_n)} without embeddings, against Kaplan's C^{self.kaplan_a:.2f} ({kap}), "
            f"and as {fmt(e_t)} with them, against Chinchilla's C^{self.chinchilla_a:.2f} ({chin})."
        )
        words = {
            "kaplan": "This sweep resembles Kaplan's allocation: as the budget grows, most of it goes into a bigger model and less into more data.",
            "chinchilla": "This sweep resembles Chinchilla's allocation: model size and data grow about equally with the budget.",
            "mixed": "The two counts point different ways, so this sweep does not pick between the two allocations.",
            "undecided": "The intervals do not separate the two allocations, so this sweep cannot say which it resembles.",
        }
        out.append(words[self.as_papers_counted] + " " + self._detail(e_t, e_n))
        if e_t.b is not None and e_t.b_interval is not None:
            out.append(f"The optimal data grows as D_opt ∝ C^{e_t.b:.2f} (95% interval {e_t.b_interval[0]:.2f}–{e_t.b_interval[1]:.2f}); "
                       f"Chinchilla found C^{self.chinchilla_b:.2f}, Kaplan C^{self.kaplan_b:.2f}.")
        ratios = [r for _, r in self.tokens_per_param]
        if ratios:
            trend = ("falling" if ratios[-1] < ratios[0] else "rising") + f" from {ratios[0]:.0f} at {self.tokens_per_param[0][0]:.0e} FLOPs to {ratios[-1]:.0f} at {self.tokens_per_param[-1][0]:.0e}"
            out.append(f"Tokens per parameter at the optimum (parameters with embeddings): {trend}. Under Chinchilla's allocation the ratio stays about constant "
                       f"(about {value('chinchilla_tokens_per_param'):.0f}); a ratio that falls as the budget grows is what a Kaplan-like exponent means.")
        out.append(
            f"Why the two papers differed: {cite('pearce2024')} trace most of the gap to Kaplan counting parameters without embeddings in small models, where the embeddings "
            f"are a large share; {cite('porian2024')} add the output layer's compute, warmup length and learning rates not tuned per size. "
            + self._pearce_check(e_t, e_n)
        )
        epochs = [e for _, e in self.epochs_at_optimum]
        if epochs:
            out.append(
                f"This sweep's largest model has {self.largest_non_embedding:,} parameters without embeddings, {self.smaller_than_kaplan:,.0f} times fewer than Kaplan's "
                f"largest ({self.kaplan_largest / 1e9:g}B), and {self.largest_total:,} with them, {self.smaller_than_chinchilla:,.0f} times fewer than Chinchilla "
                f"({self.chinchilla_params / 1e9:.0f}B); its largest budget, {self.budgets[1]:.0e} FLOPs, is {self.less_compute_than_chinchilla:.1e} times less than "
                f"Chinchilla's training. The compute-optimal runs saw {min(epochs):.1f}–{max(epochs):.1f} epochs of their characters. "
                f"So this is the allocation at this scale and on this corpus, measured over {math.log10(self.budgets[1] / self.budgets[0]):.1f} decades of compute: "
                "it does not say which law holds for large models."
            )
        return out

    def _detail(self, e_t: Exponent, e_n: Exponent) -> str:
        names = {"kaplan": "holds Kaplan's exponent and not Chinchilla's", "chinchilla": "holds Chinchilla's exponent and not Kaplan's",
                 "both": "holds both exponents", "between": "lies between the two exponents", "above both": "lies above both exponents",
                 "below both": "lies below both exponents"}
        return (f"With embeddings the interval {names[e_t.verdict]}; without them it {names[e_n.verdict]}.")

    def _pearce_check(self, e_t: Exponent, e_n: Exponent) -> str:
        if e_n.a <= e_t.a:
            return f"Here, leaving the embeddings out does not raise the exponent ({e_t.a:.2f} → {e_n.a:.2f}), so their explanation does not show in this sweep."
        said = f"Here too, leaving the embeddings out raises the exponent ({e_t.a:.2f} → {e_n.a:.2f}), the direction they describe"
        if e_t.a_interval[0] > self.chinchilla_a:
            return said + ("; but counted with embeddings, as they recommend, this sweep's interval still lies above Chinchilla's exponent, "
                           "so the count alone does not explain it here, and this sweep cannot say which of the other causes does.")
        return said + "; counted with embeddings, as they recommend, its interval holds Chinchilla's exponent."


def _exponent(fit: SweepFit, count: str) -> Exponent | None:
    nf, df = fit.n_opt_vs_compute, fit.d_opt_vs_compute
    if nf is None or not all(math.isfinite(v) for v in nf.errors.values()):
        return None
    a_int = interval(nf, "a")
    b_int = interval(df, "a") if df is not None and math.isfinite(df.errors["a"]) else None
    return Exponent(count, round(nf.params["a"], 4), a_int, None if df is None else round(df.params["a"], 4), b_int, nf.n,
                    verdict(*a_int, value("kaplan_n_opt_exponent"), value("chinchilla_n_opt_exponent")))


def side(verdict_: str) -> str | None:
    """Which allocation a verdict leans to: above Kaplan's exponent counts as Kaplan's side (size grows even faster than data).

    >>> side("above both"), side("chinchilla"), side("between")
    ('kaplan', 'chinchilla', None)
    """
    return {"kaplan": "kaplan", "above both": "kaplan", "chinchilla": "chinchilla", "below both": "chinchilla"}.get(verdict_)


def read_sweep(document: dict, fits: dict) -> Reading:
    """The reading of one sweep from its fits by count ({"params_total": SweepFit, "params_non_embedding": SweepFit})."""
    exponents = {c: e for c in COUNTS if c in fits and (e := _exponent(fits[c], c)) is not None}
    sides = {side(e.verdict) for e in exponents.values()}
    if len(exponents) < 2 or None in sides:
        as_counted = "undecided"
    else:
        as_counted = sides.pop() if len(sides) == 1 else "mixed"
    runs = document["runs"]
    corpus_tokens = next((r["tokens"] / r["epochs"] for r in runs if r.get("epochs")), None)
    total = fits.get("params_total")
    minima = [m for m in (total.minima if total else []) if m.inside]
    return Reading(
        exponents=exponents, kaplan_a=value("kaplan_n_opt_exponent"), chinchilla_a=value("chinchilla_n_opt_exponent"),
        kaplan_b=value("kaplan_d_opt_exponent"), chinchilla_b=value("chinchilla_d_opt_exponent"), as_papers_counted=as_counted,
        tokens_per_param=[(m.budget, round(m.tokens_per_param, 2)) for m in minima],
        epochs_at_optimum=[(m.budget, round(m.tokens_opt / corpus_tokens, 3)) for m in minima] if corpus_tokens else [],
        largest_total=max(r["params_total"] for r in runs), largest_non_embedding=max(r["params_non_embedding"] for r in runs),
        budgets=(min(r["budget"] for r in runs), max(r["budget"] for r in runs)),
        kaplan_largest=value("kaplan_max_params"), chinchilla_params=value("chinchilla_params"),
        chinchilla_flops=value("kaplan_flops_per_param_token") * value("chinchilla_params") * value("chinchilla_tokens"),
    )


# --- emergence -----------------------------------------------------------------------------------

POSITION_NAMES = ("units", "tens", "hundreds", "thousands")


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%" if v >= 0.01 or v == 0 else f"{100 * v:.1f}%"


def _points_at_most(gap: float) -> str:
    """A gap (a share) in percentage points, rounded up so that "within" it stays true: two significant digits under 1 point.

    >>> _points_at_most(0.0014), _points_at_most(0.00141), _points_at_most(0.0123), _points_at_most(0.0)
    ('0.14', '0.15', '1.3', '0')
    """
    v = 100 * gap
    if v <= 0:
        return "0"
    step = 0.01 if v < 1 else 0.1
    return f"{math.ceil(round(v / step, 9)) * step:.{2 if v < 1 else 1}f}"


def emergence_across_sizes(rows: list[dict]) -> list[str]:
    """What the across-sizes sweep shows, in words: the rise of exact match picked from the data (`emergence.rise`),
    what the smooth metrics did over the same sizes, and what the metric explains and what it does not.

    `rows`: `emergence.by_size(series)`, smallest first.
    """
    from llm_core.scale.emergence import rise, share_of_change

    if len(rows) < 2:
        return ["The sweep holds fewer than two sizes: nothing to compare across scale."]
    em = [r["exact_match"] for r in rows]
    digit = [r["digit_accuracy"] for r in rows]
    logp = [r["answer_logprob"] for r in rows]
    name = lambda r: f"{r['label']} ({r['params_total']:,} parameters)"
    out = []
    found = rise(em)
    gap = max(abs(r["product"] - r["exact_match"]) for r in rows)
    if found is None or em[found[1]] - em[found[0]] < 0.3:
        out.append(f"Across these {len(rows)} sizes exact match does not rise sharply: it goes from {_pct(em[0])} at {name(rows[0])} to {_pct(em[-1])} at "
                   f"{name(rows[-1])}, so this machine's sizes do not show an emergent jump; per-digit accuracy goes from {_pct(digit[0])} to {_pct(digit[-1])} "
                   f"and the answer's log-probability from {logp[0]:.2f} to {logp[-1]:.2f} nats.")
    else:
        i, j = found
        lo, hi = rows[i], rows[j]
        out.append(
            f"Exact match was **{_pct(em[i])}** at {name(lo)}, the last size before the rise, and **{_pct(em[j])}** at {name(hi)}, the first from which it stays up: "
            f"{share_of_change(em, i, j):.0%} of its whole change across the sweep happens between those {j - i + 1} sizes. Over the same sizes per-digit accuracy went from "
            f"{_pct(digit[i])} to {_pct(digit[j])} ({share_of_change(digit, i, j):.0%} of its change) and the log-probability of the correct answer from "
            f"{logp[i]:.2f} to {logp[j]:.2f} nats ({share_of_change(logp, i, j):.0%} of its change)."
        )
        weakest = min(range(len(POSITION_NAMES)), key=lambda p: lo["digit_accuracy_by_position"][p])
        good = sum(1 for v in lo["digit_accuracy_by_position"] if v > 0.9)
        out.append(
            f"At {lo['label']}, {good} of the 4 answer digits were already right more than 90% of the time and the {POSITION_NAMES[weakest]} digit "
            f"{_pct(lo['digit_accuracy_by_position'][weakest])}; at {hi['label']} that digit was right {_pct(hi['digit_accuracy_by_position'][weakest])} of the time."
        )
    out.append(
        f"The dotted line, the product of the four per-position accuracies, stays within {_points_at_most(gap)} points of exact match at every size: exact match is what the "
        "per-digit accuracies give when all four must be right. That is what the metric explains: a sharp metric (all or nothing) turns a rise in one hard digit into a "
        "jump while the average over digits moves little. What it does not explain is why larger models learn that digit at all: the per-position accuracies and the "
        "log-probability show a real change in what the model computes, and the metric only decides how suddenly it looks."
    )
    seeds = {len(r["exact_match_by_seed"]) for r in rows}
    spread = max(max(r["exact_match_by_seed"]) - min(r["exact_match_by_seed"]) for r in rows)
    if max(seeds) > 1:
        out.append(f"Each size was trained from {max(seeds)} seeds (dots); their exact match differs by up to {100 * spread:.0f} points at one size"
                   + (", so one run per size could put the jump a size earlier or later." if spread >= 0.2 else "."))
    return out


def emergence_over_steps(series: list[dict]) -> list[str]:
    """What the one-model run over training steps shows: the rise picked from the data (`emergence.rise`), whether exact match
    stayed up from there (when it fell back, the step from which it is up for good), and the largest drop after it named for what it is."""
    from llm_core.scale.emergence import rise

    em = [p["exact_match"] for p in series]
    out = []
    found = rise(em)
    if found is not None:
        i, j = found
        a, b = series[i], series[j]
        half = min(em) + 0.5 * (max(em) - min(em))  # `rise`'s half-way mark
        stays = next((k for k in range(j, len(em)) if min(em[k:]) >= half), None)  # from here on never below half-way
        mark = f"half-way from its lowest ({_pct(min(em))}) to its highest ({_pct(max(em))})"
        if stays == j:
            where = f"where its lasting rise starts: from there on it does not fall below {_pct(half)}, {mark}"
        else:
            where = f"where it first passed {_pct(half)}, {mark}"
        said = (f"Over training, exact match was {_pct(em[i])} at step {a['step']:,}, its last low, and {_pct(em[j])} at step {b['step']:,}, {where}; "
                f"per-digit accuracy went from {_pct(a['digit_accuracy'])} to {_pct(b['digit_accuracy'])} and the answer's log-probability "
                f"from {a['answer_logprob']:.2f} to {b['answer_logprob']:.2f} nats.")
        if stays != j:
            k_low = min(range(j, stays if stays is not None else len(em)), key=lambda k: em[k])  # the deepest fall back below half-way
            fell = f"exact match fell back to {_pct(em[k_low])} at step {series[k_low]['step']:,}"
            said += (f" That rise did not last: {fell}, and it is above {_pct(half)} for good only from step {series[stays]['step']:,} ({_pct(em[stays])}) on."
                     if stays is not None else
                     f" That rise was not steady: {fell}; from step {b['step']:,} on it is above {_pct(half)} more often than not, but not at every step.")
        out.append(said)
        after = list(zip(series[j:], series[j + 1 :]))
        if after:
            x, y = max(after, key=lambda xy: xy[0]["exact_match"] - xy[1]["exact_match"])
            if x["exact_match"] - y["exact_match"] > 0.2:
                pos = lambda p, k: p["digit_accuracy_by_position"][k]
                lost = [k for k in range(len(POSITION_NAMES)) if pos(x, k) - pos(y, k) > 0.2]
                back = next((p for p in series if p["step"] > y["step"] and p["exact_match"] >= x["exact_match"]), None)
                said = (f"Between steps {x['step']:,} and {y['step']:,} the run had a **loss spike**: the log-probability of the correct answer fell from "
                        f"{x['answer_logprob']:.2f} to {y['answer_logprob']:.2f} nats and exact match from {_pct(x['exact_match'])} to {_pct(y['exact_match'])}")
                if lost:
                    said += ", because " + " and ".join(f"the {POSITION_NAMES[k]} digit, right {_pct(pos(x, k))} of the time before, fell to {_pct(pos(y, k))}" for k in lost)
                said += (f"; exact match was back above {_pct(x['exact_match'])} at step {back['step']:,}." if back else "; it had not recovered by the end of the run.")
                out.append(said + " The spike is an instability of this training run, not the skill appearing or going: a rise measured across it would measure the "
                           "recovery from the spike, not the learning.")
    return out
