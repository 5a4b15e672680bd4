"""Why scale matters: scaling laws measured on this machine, the compute-optimal frontier, and emergence."""


import streamlit as st

from lab_ui import course, jobs, state
from lab_ui import scale_figures as figs
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import table_html
from llm_core.jobs import Job
from llm_core.paths import ASSETS
from llm_core.scale.emergence import EmergenceError, load_emergence
from llm_core.scale.fit import PUBLISHED, fit_sweep, residuals
from llm_core.scale.flops import train_flops_per_token
from llm_core.scale.sweep import SweepError, SweepPlan, load_sweep, sweep_in_worker

ensure_app_shell()

SWEEP_PATH = ASSETS / "sweeps" / "shakespeare-scaling.json"
EMERGENCE_PATH = ASSETS / "sweeps" / "addition-emergence.json"
JOB_KEY = "scale_live"
COUNTS = {"with embeddings (Chinchilla; Pearce & Song 2024)": "params_total", "without embeddings (Kaplan 2020)": "params_non_embedding"}


@st.cache_resource(show_spinner=False)
def shipped():
    doc = load_sweep(SWEEP_PATH)
    return doc, {key: fit_sweep(doc, key) for key in COUNTS.values()}, load_emergence(EMERGENCE_PATH)


def own_models() -> list[dict]:
    """The user's models trained on Tiny Shakespeare characters (the bundled one included), as points on the compute chart."""
    out = []
    for name, entry in state.models().items():
        rec = entry.record
        if rec.get("corpus") == "tinyshakespeare" and entry.config.vocab_size == 65 and rec.get("tokens_seen") and rec.get("val_loss"):
            out.append(dict(name=name, flops=float(train_flops_per_token(entry.config) * rec["tokens_seen"]), val_loss=float(rec["val_loss"])))
    return out


def start_live(plan: SweepPlan) -> None:
    job = jobs.get(JOB_KEY)
    if job is not None and job.snapshot().active:
        return  # a double click
    budget = plan.budgets[0]
    job = Job.worker(sweep_in_worker, lambda: (plan.to_dict(),), gate=jobs.gate(), time_cap_s=jobs.time_cap_s(), idle_timeout_s=jobs.IDLE_TIMEOUT_S,
                     name=f"mini-sweep at {budget:.0e} FLOPs")
    jobs.track(JOB_KEY, job, f"Scaling mini-sweep: {len(plan.sizes)} sizes at {budget:.0e} FLOPs", "pages/scale.py")
    job.start()


def stop_live() -> None:
    if jobs.get(JOB_KEY) is not None:
        jobs.get(JOB_KEY).stop()


# ======================================================================================
course.chapter_intro("scale")
st.markdown(
    "Bigger models trained on more data get better, and they do so **predictably**: held-out loss falls as a power law of "
    "model size, data and compute (Kaplan et al., 2020). For a fixed compute budget there is a best model size, and it "
    "grows with the budget together with the data (Hoffmann et al., 2022, \"Chinchilla\"). Below, every curve comes from "
    "models trained on this machine with the same training loop as the *Train a model* chapter."
)
jobs.collect()
try:
    doc, fits, em = shipped()
except (SweepError, EmergenceError) as exc:
    st.error(f"The shipped sweeps cannot be read: {exc} Make them again with the commands in the README.")
    st.stop()
runs = doc["runs"]
count_label = st.radio("Count parameters", list(COUNTS), horizontal=True, key="sc_count", persist_state="session", bind="query-params",
                       help="Embeddings are the token table and the output head. Kaplan et al. left them out; at small scale that bends the exponents (Pearce & Song, 2024).")
n_key = COUNTS[count_label]
fit = fits[n_key]
non_emb = [r["params_non_embedding"] for r in runs]
totals = [r["params_total"] for r in runs]
budgets = sorted({r["budget"] for r in runs})
epochs = [r["epochs"] for r in runs]

# --- 1 · Loss against compute ---------------------------------------------------------------
st.header("1 · Loss falls predictably with compute")
st.plotly_chart(figs.loss_vs_compute(runs, fit, own_models()), key="sc_compute")
st.markdown(
    f"The shipped sweep: **{len(runs)} runs** of {len({r['label'] for r in runs})} sizes, {min(non_emb):,}–{max(non_emb):,} non-embedding parameters "
    f"({min(totals):,}–{max(totals):,} with embeddings), at {len(budgets)} budgets from {budgets[0]:.0e} to {budgets[-1]:.0e} training FLOPs, on "
    f"Tiny Shakespeare's characters. Each run saw {min(epochs):.2f}–{max(epochs):.2f} epochs of the {doc['plan'].get('corpus', 'corpus')} training split; "
    f"the whole sweep took {doc['wall_s'] / 60:.1f} minutes here (load average {doc['load_average'][0]:.0f} on this shared machine). Stars are models you trained on this corpus (and the bundled one)."
)
f = fit.loss_vs_compute
if f is not None and "alpha" in f.params:
    st.markdown(
        f"Through the {f.n} compute-optimal points, **L(C) = E + A·(C/{f.x0:.0e})^−α** fits with α = **{f.describe('alpha')}**, "
        f"E = {f.describe('E', 2)} nats and **R² = {f.r2:.3f}**. Kaplan et al. measured L ∝ C^−{PUBLISHED['kaplan_alpha_C']} with models up to 1.5B parameters; "
        f"ours have at most {max(totals):,} and {budgets[-1]:.0e} FLOPs: far from their loss floor, so the exponents are not comparable one to one."
    )
if doc.get("runs_planned", len(runs)) > len(runs):
    missing = ", ".join(f"{b:.0e}" for b in sorted(set(doc["plan"]["budgets"]) - set(budgets)))
    st.warning(f"This sweep was cut short: {len(runs)} of {doc['runs_planned']} planned runs finished" + (f"; the budget of {missing} FLOPs did not." if missing else "."))
with st.expander("Every run, and the command that made this sweep"):
    st.code(doc["command"], language="bash")
    st.markdown(table_html([dict(size=r["label"], budget=f"{r['budget']:.0e}", params=f"{r['params_total']:,}", non_embedding=f"{r['params_non_embedding']:,}",
                                 tokens=f"{r['tokens']:,}", epochs=f"{r['epochs']:.2f}", loss=f"{r['val_loss']:.4f}", seconds=f"{r['wall_s']:.0f}") for r in runs]), unsafe_allow_html=True)

# --- 2 · IsoFLOP ------------------------------------------------------------------------
st.header("2 · For each budget, a best model size")
st.plotly_chart(figs.isoflop(runs, fit, n_key), key="sc_isoflop")
st.markdown(
    "At a fixed budget, a small model sees many tokens but cannot use them; a big one could, but the budget buys it few tokens. "
    "A parabola in log(size) through each budget's runs (Hoffmann et al.'s IsoFLOP method) has its minimum at the compute-optimal size:"
)
st.markdown(table_html([dict(budget=f"{m.budget:.0e} FLOPs", optimal_size=f"{m.n_opt:,.0f} ± {m.n_opt_err:,.0f}", tokens=f"{m.tokens_opt:,.0f}",
                             tokens_per_parameter=f"{m.tokens_per_param:.1f}", loss=f"{m.loss_opt:.3f}", note="" if m.inside else "outside the sizes tried: not fitted")
                        for m in fit.minima]), unsafe_allow_html=True)

# --- 3 · Frontier -----------------------------------------------------------------------
st.header("3 · The compute-optimal frontier")
st.plotly_chart(figs.frontier(fit), key="sc_frontier")
nf, df = fit.n_opt_vs_compute, fit.d_opt_vs_compute
if nf is not None and df is not None:
    ratios = [r for _, r in fit.tokens_per_param]
    st.markdown(
        f"The optimal size grows as **N_opt ∝ C^{nf.describe('a', 2)}** and the optimal data as **D_opt ∝ C^{df.describe('a', 2)}** "
        f"(R² {nf.r2:.3f} and {df.r2:.3f} in log space). Chinchilla found both exponents near {PUBLISHED['chinchilla_N_opt_exponent']:.2f}; "
        f"Kaplan et al. had N_opt ∝ C^{PUBLISHED['kaplan_N_opt_exponent']}. At the optimum our models saw **{min(ratios):.0f}–{max(ratios):.0f} tokens per parameter** "
        f"(parameters counted {count_label.split(' (')[0]}); Chinchilla's rule is about {PUBLISHED['chinchilla_tokens_per_param']:.0f}, and nanochat's small-scale runs found "
        f"{PUBLISHED['nanochat_tokens_per_param'][0]:g}–{PUBLISHED['nanochat_tokens_per_param'][1]:g}. Our models are 10^4–10^5 times smaller than theirs, "
        "use characters, and repeat data for several epochs: the ratio is a measurement of this setting, not a law."
    )

# --- 4 · Two ways of counting -----------------------------------------------------------------
st.header("4 · Loss against size, and how you count the parameters")
g1, g2 = st.columns(2)
g1.plotly_chart(figs.loss_vs_tokens(runs, fit, n_key), key="sc_params")
g2.plotly_chart(figs.counts_frontier(fits), key="sc_counts")
nd, fne, ft, share = fit.loss_nd.get(n_key), fits["params_non_embedding"], fits["params_total"], [r["params_embedding"] / r["params_total"] for r in runs]
if nd is not None and len(fit.loss_nd) == 2:
    other = fit.loss_nd["params_total" if n_key == "params_non_embedding" else "params_non_embedding"]
    st.markdown(
        f"Left: every run against the tokens it saw, with **L(N, D) = E + A·(N/N0)^−α + B·(D/D0)^−β** fitted to all {nd.n} runs (Hoffmann et al.'s third approach; "
        f"dashed, one curve per size): α = **{nd.describe('alpha', 2)}**, β = **{nd.describe('beta', 2)}**, E = {nd.describe('E', 2)} nats, R² = {nd.r2:.3f}, "
        f"parameters counted {count_label.split(' (')[0]}; counted the other way, α = {other.describe('alpha', 2)}. Chinchilla's fit: α = {PUBLISHED['chinchilla_alpha']}, "
        f"β = {PUBLISHED['chinchilla_beta']}, E = {PUBLISHED['chinchilla_E']} (nats per token of a 32k-token vocabulary, not per character: E is not comparable)."
    )
if fne.n_opt_vs_compute is not None and ft.n_opt_vs_compute is not None:
    st.markdown(
        f"Right: embeddings are {min(share):.0%}–{max(share):.0%} of our models' parameters. Without them, N_opt ∝ C^**{fne.n_opt_vs_compute.describe('a', 2)}**; "
        f"with them, C^**{ft.n_opt_vs_compute.describe('a', 2)}**. Pearce and Song (2024) traced most of the gap between Kaplan's N_opt ∝ C^{PUBLISHED['kaplan_N_opt_exponent']} "
        f"and Chinchilla's C^{PUBLISHED['chinchilla_N_opt_exponent']:.2f} to this choice at small scale (Kaplan's L(N): α = {PUBLISHED['kaplan_alpha_N']}, without embeddings).")

# --- 5 · Your own points -------------------------------------------------------------------
st.header("5 · Add your own points")
job = jobs.get(JOB_KEY)
busy = job is not None and job.snapshot().active
live_budgets = [m.budget for m in fit.minima if m.budget <= 3e10]
c1, c2, c3 = st.columns([1, 2, 1])
budget = c1.selectbox("Budget", live_budgets, format_func=lambda b: f"{b:.0e} FLOPs", key="sc_budget", persist_state="session", bind="query-params")
at_budget = sorted((r for r in runs if r["budget"] == budget), key=lambda r: r["params_total"])
labels = [r["label"] for r in at_budget]
default = [labels[1], labels[len(labels) // 2], labels[-1]] if len(labels) >= 4 else labels[-3:]  # the smallest size takes the most steps
if any(lab not in labels for lab in st.session_state.get("sc_sizes", [])):
    st.session_state.sc_sizes = default
sizes = c2.multiselect("Sizes (layers x width)", labels, default=default, key="sc_sizes", max_selections=3)
seed = c3.number_input("Seed", 0, 2**31 - 1, 1, key="sc_seed", bind="query-params", help=f"The shipped sweep used seed {doc['plan']['seed']}: another seed shows the run-to-run noise.")
plan = SweepPlan.from_dict({**doc["plan"], "budgets": [budget], "sizes": [tuple(int(v) for v in s.split("x")) for s in sizes], "seed": int(seed)})
b1, b2, b3 = st.columns([1, 1, 4])
if jobs.requested("sc_run_requested") and not busy and sizes:
    start_live(plan)  # the plan of this very run (see `jobs.request`)
    busy = True
b1.button("Run mini-sweep", type="primary", key="sc_run", disabled=busy or not sizes, on_click=jobs.request, args=("sc_run_requested",), width="stretch")
b2.button("Stop", key="sc_stop", disabled=not busy, on_click=stop_live, width="stretch")
b3.caption(f"Trains {len(sizes)} model{'s' if len(sizes) != 1 else ''} from scratch, {budget:.0e} FLOPs each, in the background (it shares this server's "
           f"{jobs.max_jobs()} training slot{'s' if jobs.max_jobs() != 1 else ''}).")


def render_live(snap) -> None:
    if snap is None:
        st.info("Press **Run mini-sweep**: your points land on the shipped curve for that budget.")
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
    live_budget = points[0]["budget"]
    st.plotly_chart(figs.isoflop([r for r in runs if r["budget"] == live_budget], fit, n_key, points), key="sc_live_chart")
    res = residuals(points, fit.minima, n_key)
    if res:
        rows = [dict(size=r["point"]["label"], your_loss=f"{r['point']['val_loss']:.3f}", shipped_curve=f"{r['predicted']:.3f}", distance=f"{r['residual']:+.3f} nats") for r in res]
        st.markdown(table_html(rows), unsafe_allow_html=True)
        mean_abs = sum(abs(r["residual"]) for r in res) / len(res)
        st.caption(f"Your {len(res)} point{'s' if len(res) != 1 else ''} landed on average {mean_abs:.3f} nats from the shipped curve for {live_budget:.0e} FLOPs.")


jobs.live(JOB_KEY, render_live)

# --- 6 · Emergence ------------------------------------------------------------------------
st.header("6 · Emergence: a skill that seems to appear suddenly")
series = em["series"]
p0 = em["plan"]
st.markdown(
    f"Wei et al. (2022) list 3-digit addition among abilities that appear suddenly: GPT-3 only did it at 13B parameters. Here a "
    f"{series[0]['label']} model ({series[0]['params_total']:,} parameters) learns the same skill, the answer written units first "
    f"(\"123+456=\" → \"9750\"), trained {p0['steps']:,} steps on random problems and measured every {p0['eval_every']} steps on {p0['held_out']:,} problems it never trained on."
)
e1, e2 = st.columns(2)
e1.plotly_chart(figs.emergence_accuracy(series), key="sc_em_acc")
e2.plotly_chart(figs.emergence_logprob(series), key="sc_em_logp")
below = [p for p in series if p["exact_match"] < 0.10]
above = [p for p in series if p["exact_match"] > 0.80]
if below and above:
    last_low = max((p for p in below if p["step"] < above[0]["step"]), key=lambda p: p["step"])
    first_high = above[0]
    st.markdown(
        f"Exact match was **{last_low['exact_match']:.0%}** at step {last_low['step']:,} and **{first_high['exact_match']:.0%}** at step {first_high['step']:,}. "
        f"Over the same steps the per-digit accuracy went from {last_low['digit_accuracy']:.0%} to {first_high['digit_accuracy']:.0%}, and the log-probability "
        f"of the correct answer from {last_low['answer_logprob']:.2f} to {first_high['answer_logprob']:.2f} nats. The right-hand chart shows why: "
        f"{sum(1 for v in last_low['digit_accuracy_by_position'] if v > 0.9)} of the 4 digits were already right over 90% of the time there, and exact match needs all 4."
    )
drop = max(zip(series, series[1:]), key=lambda ab: ab[0]["exact_match"] - ab[1]["exact_match"])
if drop[0]["exact_match"] - drop[1]["exact_match"] > 0.2:  # a loss spike: say so rather than draw a smooth story over it
    st.markdown(f"The run is not monotone: between steps {drop[0]['step']:,} and {drop[1]['step']:,} a loss spike dropped exact match from {drop[0]['exact_match']:.0%} "
                f"to {drop[1]['exact_match']:.0%} and the log-probability from {drop[0]['answer_logprob']:.2f} to {drop[1]['answer_logprob']:.2f}; it recovered afterwards.")
st.markdown(
    "Schaeffer et al. (2023) argue that much \"emergence\" is in the metric: if each of L answer tokens is right with probability p, "
    "the whole answer is right with about p^L, which stays near 0 and then shoots up while p itself rises steadily. The dotted line is "
    "(per-digit accuracy)⁴. The grey dashed line is exact match on problems the model trained on: "
    + ("it tracks the held-out line, so this jump is not grokking (a late jump of held-out accuracy long after the training set is solved)."
       if max(abs(p["train_exact_match"] - p["exact_match"]) for p in series) < 0.1 else
       "where it runs ahead of the held-out line, memorisation comes before generalisation: a separate effect (grokking).")
)
with st.expander("The command that made this series"):
    st.code(em["command"], language="bash")

st.divider()
st.caption(
    "Sources: Kaplan et al. 2020, \"Scaling Laws for Neural Language Models\" (arXiv:2001.08361); Hoffmann et al. 2022, \"Training Compute-Optimal "
    "Large Language Models\" (arXiv:2203.15556); Wei et al. 2022, \"Emergent Abilities of Large Language Models\" (arXiv:2206.07682); Schaeffer et al. 2023, "
    "\"Are Emergent Abilities of Large Language Models a Mirage?\" (arXiv:2304.15004); Pearce & Song 2024, \"Reconciling Kaplan and Chinchilla Scaling Laws\" "
    "(arXiv:2406.12907); Muennighoff et al. 2023, \"Scaling Data-Constrained Language Models\" (arXiv:2305.16264); nanochat (github.com/karpathy/nanochat)."
)

course.chapter_end("scale")
