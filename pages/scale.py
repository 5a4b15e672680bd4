"""Why scale matters: scaling laws measured on this machine, the compute-optimal frontier, and emergence."""

import math

import streamlit as st

from lab_ui import charts, course, jobs, predict, state
from lab_ui import scale_figures as figs
from lab_ui import scale_view as view
from lab_ui.shell import ensure_app_shell
from lab_ui.widgets import table_html, text_block
from llm_core.jobs import Job
from llm_core.literature import cite, claim, references, value
from llm_core.paths import ASSETS
from llm_core.scale.emergence import EmergenceError, by_size, load_emergence
from llm_core.scale.fit import fit_sweep
from llm_core.scale.flops import train_flops_per_token
from llm_core.scale.reading import emergence_across_sizes, emergence_over_steps, read_sweep
from llm_core.scale.sweep import SweepError, SweepPlan, load_sweep, sweep_in_worker

ensure_app_shell()

SWEEP_PATH = ASSETS / "sweeps" / "shakespeare-scaling.json"
EMERGENCE_PATH = ASSETS / "sweeps" / "addition-emergence.json"
EMERGENCE_SIZES_PATH = ASSETS / "sweeps" / "addition-emergence-sizes.json"
JOB_KEY = "scale_live"
COUNTS = {"with embeddings (Chinchilla; Pearce & Song 2024)": "params_total", "without embeddings (Kaplan 2020)": "params_non_embedding"}


@st.cache_resource(show_spinner=False)
def shipped():
    doc = load_sweep(SWEEP_PATH)
    fits = {key: fit_sweep(doc, key) for key in COUNTS.values()}
    return doc, fits, read_sweep(doc, fits), load_emergence(EMERGENCE_SIZES_PATH), load_emergence(EMERGENCE_PATH)


def own_models() -> list[dict]:
    """The user's models trained on Tiny Shakespeare characters (the bundled one included), as points on the compute chart
    (a run that diverged has no finite loss to plot and is left out)."""
    out = []
    for name, entry in state.models().items():
        rec = entry.record
        if rec.get("corpus") == "tinyshakespeare" and entry.config.vocab_size == 65 and rec.get("tokens_seen") and math.isfinite(rec.get("val_loss") or math.nan):
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


# ======================================================================================
course.chapter_intro("scale")
st.markdown("Every curve below comes from small models trained on this machine with the same training loop as *Train a model*. "
            "Before each result, make a guess; then see what the models did.")
with st.expander("The details: what the published scaling laws say"):
    st.markdown(
        "Held-out loss falls as a power law of model size, data and compute " f"({cite('kaplan2020')}). How a bigger budget should be split between model size and "
        f"data is where two papers differ: {cite('kaplan2020')} put most of a bigger budget into a bigger model (N_opt ∝ C^{value('kaplan_n_opt_exponent'):.2f}); "
        f"{cite('hoffmann2022')} (\"Chinchilla\") grew model and data about equally (C^{value('chinchilla_n_opt_exponent'):.2f} each). Section 3 says which of the two "
        "this machine's sweep resembles.")
jobs.collect()
try:
    doc, fits, reading, em_sizes, em = shipped()
except (SweepError, EmergenceError) as exc:
    st.error(f"The shipped sweeps cannot be read: {exc} Make them again with the commands in the README.")
    st.stop()
runs = doc["runs"]
non_emb = [r["params_non_embedding"] for r in runs]
totals = [r["params_total"] for r in runs]
budgets = sorted({r["budget"] for r in runs})
epochs = [r["epochs"] for r in runs]

# --- 1 · Loss against compute ---------------------------------------------------------------
st.header("1 · Loss falls predictably with compute")
st.markdown(
    f"The shipped sweep: **{len(runs)} runs** of {len({r['label'] for r in runs})} sizes, from {min(totals):,} to {max(totals):,} parameters, each trained with a "
    f"fixed amount of computing, from {view.flops_words(budgets[0])} to {view.flops_words(budgets[-1])} floating-point operations (FLOPs), "
    "on Tiny Shakespeare's characters. From here on, such numbers are written the short way, as the charts' axes write them."
)
total_fit = fits["params_total"]
SWEEP_ANSWER = "read from the sweep of models trained for this chapter (it ships with the app; the details below give the command that made it)"
predict.checkpoint("scale_compute_10x", "Each budget has a **best point**: the lowest loss that much compute gives over the model sizes (the bottom of a "
                   "curve drawn through that budget's runs of each size). Along these best points, how much lower is the loss when the compute grows **10x**?",
                   predict.choice([b[0] for b in view.COMPUTE_BANDS]), lambda guess: view.compute_reveal(guess, total_fit),
                   pending="The shipped sweep has no fitted curve of loss against compute to read this from.", answered_by=SWEEP_ANSWER)
if predict.made("scale_compute_10x"):
    charts.chart(figs.loss_vs_compute(runs, total_fit, own_models()), key="sc_compute", caption=view.compute_caption(runs, total_fit, own_models()), table=view.compute_table(runs, own_models()))
else:
    st.caption("The chart of loss against compute appears once your guess is locked in.")
with st.expander("The details: the fitted law, every run, and the command that made this sweep"):
    f = total_fit.loss_vs_compute
    if not predict.made("scale_compute_10x"):  # the fitted law is the reveal's own reasoning: it waits for the guess, as the chart does
        st.caption("The fitted law of loss against compute appears here once you have made the guess above.")
    elif f is not None and "alpha" in f.params:
        st.markdown(
            f"Through the {f.n} compute-optimal points, **L(C) = E + A·(C/{f.x0:.0e})^−α** fits with α = **{f.describe('alpha')}**, "
            f"E = {f.describe('E', 2)} nats and **R² = {f.r2:.3f}** (parameters counted with embeddings). {cite('kaplan2020')} measured L ∝ C^−{value('kaplan_alpha_c'):.3f} with models of up to "
            f"{value('kaplan_max_params') / 1e9:g} billion parameters; ours have at most {max(totals):,} and {budgets[-1]:.0e} FLOPs: far from their loss floor, "
            "so the exponents are not comparable one to one.")
    st.markdown(f"Non-embedding parameters: {min(non_emb):,}–{max(non_emb):,}. Each run saw {min(epochs):.2f}–{max(epochs):.2f} epochs of the "
                f"{doc['plan'].get('corpus', 'corpus')} training split; the whole sweep took {doc['wall_s'] / 60:.1f} minutes here "
                f"(load average {doc['load_average'][0]:.0f} on this shared machine).")
    text_block(doc["command"])
    if predict.made("scale_bigger_same_budget"):  # every run's loss would answer section 2's question before the guess
        st.markdown(table_html([{"size": r["label"], "budget": f"{r['budget']:.0e}", "params": f"{r['params_total']:,}", "non-embedding": f"{r['params_non_embedding']:,}",
                                 "tokens": f"{r['tokens']:,}", "epochs": f"{r['epochs']:.2f}", "loss": f"{r['val_loss']:.4f}", "seconds": f"{r['wall_s']:.0f}"} for r in runs]),
                    unsafe_allow_html=True)
    else:
        st.caption("Every run's figures appear here once you have made the guess in section 2.")
if doc.get("runs_planned", len(runs)) > len(runs):
    missing = ", ".join(f"{b:.0e}" for b in sorted(set(doc["plan"]["budgets"]) - set(budgets)))
    st.warning(f"This sweep was cut short: {len(runs)} of {doc['runs_planned']} planned runs finished" + (f"; the budget of {missing} FLOPs did not." if missing else "."))

# --- 2 · IsoFLOP ------------------------------------------------------------------------
bigger_told = predict.made("scale_bigger_same_budget") is not None  # until then nothing says how size and loss meet at one budget
st.header("2 · One budget, models of different sizes")
st.markdown("At a fixed budget, a small model sees many tokens but cannot use them; a big one could, but the budget buys it few tokens." if bigger_told else
            "A training budget is a number of FLOPs, about 6 per parameter per token, so at a fixed budget a bigger model is trained on fewer tokens.")
predict.checkpoint("scale_bigger_same_budget", "Take the best model size for one budget and a model **about 10x bigger**, trained with the **same** compute. "
                   "Is the bigger model's loss lower or higher?", predict.choice(view.BIGGER_CHOICES), lambda guess: view.bigger_reveal(guess, runs),
                   pending="The shipped sweep has no budget with a size bigger than its best one.", answered_by=SWEEP_ANSWER)
count_label = st.radio("Count parameters", list(COUNTS), horizontal=True, key="sc_count", persist_state="session", bind="query-params",
                       help="Embeddings are the token table and the output head. Kaplan et al. left them out; at small scale that bends the exponents (Pearce & Song, 2024).")
n_key = COUNTS[count_label]
fit = fits[n_key]
if predict.made("scale_bigger_same_budget"):
    charts.chart(figs.isoflop(runs, fit, n_key), key="sc_isoflop", caption=view.isoflop_caption(runs, fit), table=view.isoflop_table(runs, n_key))
else:
    st.caption("The chart of loss against size at each budget appears once your guess is locked in.")
if bigger_told:
    with st.expander("The details: the best size at each budget (IsoFLOP fits)"):
        st.markdown("A parabola in log(size) through each budget's runs (Hoffmann et al.'s IsoFLOP method: iso, the same, FLOPs) has its minimum at the compute-optimal size:")
        st.markdown(view.minima_table(fit), unsafe_allow_html=True)

# --- 3 · Frontier -----------------------------------------------------------------------
st.header("3 · The compute-optimal frontier")
if not bigger_told:
    st.info("Sections 3 and 4 read the best size at each budget, which would answer section 2's question: they appear once your guess there is locked in.")
else:
    charts.chart(figs.frontier(fit), key="sc_frontier", caption=view.frontier_caption(fit), table=view.frontier_table(fit))
    st.markdown("**What this sweep says, read from its fits** (`llm_core/scale/reading.py`; the intervals are 95%, from the fits' standard errors):")
    if n_key != "params_total":  # the chart's exponents are this count's; the reading's D_opt is the other count's
        st.caption(view.count_note(fits, n_key))
    for sentence in reading.sentences():
        st.markdown(f"- {sentence}")

# --- 4 · Two ways of counting -----------------------------------------------------------------
st.header("4 · Loss against size, and how you count the parameters")
if bigger_told:
    g1, g2 = st.columns(2)
    charts.chart(figs.loss_vs_tokens(runs, fit, n_key), key="sc_params", caption=view.tokens_caption(runs), table=view.tokens_table(runs, n_key), where=g1)
    charts.chart(figs.counts_frontier(fits), key="sc_counts", caption=view.counts_caption(fits), table=view.counts_table(fits), where=g2)
    nd, fne, ft, share = fit.loss_nd.get(n_key), fits["params_non_embedding"], fits["params_total"], [r["params_embedding"] / r["params_total"] for r in runs]
    with st.expander("The details: the fitted laws of size and data"):
        if nd is not None and len(fit.loss_nd) == 2:
            other = fit.loss_nd["params_total" if n_key == "params_non_embedding" else "params_non_embedding"]
            st.markdown(
                f"Left: every run against the tokens it saw, with **L(N, D) = E + A·(N/N0)^−α + B·(D/D0)^−β** fitted to all {nd.n} runs (Hoffmann et al.'s third approach; "
                f"dashed, one curve per size): α = **{nd.describe('alpha', 2)}**, β = **{nd.describe('beta', 2)}**, E = {nd.describe('E', 2)} nats, R² = {nd.r2:.3f}, "
                f"parameters counted {count_label.split(' (')[0]}; counted the other way, α = {other.describe('alpha', 2)}. Chinchilla's fit ({cite('chinchilla_alpha')}): "
                f"α = {value('chinchilla_alpha')}, β = {value('chinchilla_beta')}, E = {value('chinchilla_e')} (nats per token of a 32k-token vocabulary, not per character: E is not comparable).")
        if fne.n_opt_vs_compute is not None and ft.n_opt_vs_compute is not None:
            st.markdown(
                f"Right: embeddings are {min(share):.0%}–{max(share):.0%} of our models' parameters. Without them, N_opt ∝ C^**{fne.n_opt_vs_compute.describe('a', 2)}**; "
                f"with them, C^**{ft.n_opt_vs_compute.describe('a', 2)}**. {cite('pearce2024')} traced most of the gap between Kaplan's N_opt ∝ C^{value('kaplan_n_opt_exponent'):.2f} "
                f"and Chinchilla's C^{value('chinchilla_n_opt_exponent'):.2f} to this choice at small scale (Kaplan's L(N): α = {value('kaplan_alpha_n'):.3f}, without embeddings).")

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
b2.button("Stop", key="sc_stop", disabled=not busy, on_click=jobs.stop, args=(JOB_KEY,), width="stretch")
b3.caption(f"Trains {len(sizes)} model{'s' if len(sizes) != 1 else ''} from scratch, {budget:.0e} FLOPs each, in the background (it shares this server's "
           f"{jobs.max_jobs()} training slot{'s' if jobs.max_jobs() != 1 else ''}).")
jobs.live(JOB_KEY, lambda snap: view.live_view(snap, runs, fit, n_key, told=bigger_told))  # its chart answers section 2: it waits for that guess

# --- 6 · Emergence ------------------------------------------------------------------------
st.header("6 · Emergence: a skill that seems to appear suddenly")
rows = by_size(em_sizes["series"])
ps = em_sizes["plan"]
st.markdown(
    f"Here, {len(rows)} sizes from {rows[0]['params_total']:,} to {rows[-1]['params_total']:,} parameters learn three-digit addition, "
    f"the answer written units first (\"123+456=\" → \"9750\"), each from {len(ps['seeds']) or 1} seed(s), every one trained the same {ps['steps']:,} steps of "
    f"{ps['batch_size']} problems and measured on {ps['held_out']:,} problems no model trained on."
)
view.emergence_charts(rows)
for sentence in emergence_across_sizes(rows):
    st.markdown(sentence)
with st.expander("The details: emergence in the literature, the command and every size's figures"):
    st.markdown(
        f"{cite('wei2022')} call an ability emergent when it is absent in smaller models and present in larger ones, across model scale. "
        f"Three-digit addition is one of their examples: in {cite('brown2020')}, GPT-3 models of up to {value('wei_addition_params') / 1e9:.0f}B parameters got it right "
        f"less than {value('brown_addition_13b_max'):.0f}% of the time ({claim('brown_addition_13b_max').where}), and the {value('gpt3_params') / 1e9:.0f}B model "
        f"{value('brown_addition_175b'):.1f}%, both few-shot; {cite('wei2022')} place its emergence, where accuracy first leaves the near-zero level of smaller models, at "
        f"{value('wei_addition_params') / 1e9:.0f}B parameters and {value('wei_addition_flops'):.1e} training FLOPs ({claim('wei_addition_flops').where}). "
        f"{cite('schaeffer2023')} argue that much reported emergence comes from such sharp metrics; {cite('wei2022')} report abilities that also jump under other "
        "metrics. This sweep measures both kinds of metric on the same models.")
    text_block(em_sizes["command"])

st.subheader("A second view: one model over training steps")
series = em["series"]
st.markdown(f"A {series[0]['label']} model ({series[0]['params_total']:,} parameters) trained {em['plan']['steps']:,} steps, measured every "
            f"{em['plan']['eval_every']} steps on the same kind of held-out problems.")
view.step_charts(series)
for sentence in emergence_over_steps(series):
    st.markdown(sentence)
st.markdown(
    "The grey dash-dot line is exact match on problems the model trained on: "
    + ("it tracks the held-out line, so this jump is not grokking (a late jump of held-out accuracy long after the training set is solved, "
       f"{cite('power2022')})." if max(abs(p["train_exact_match"] - p["exact_match"]) for p in series) < 0.1 else
       f"where it runs ahead of the held-out line, memorisation comes before generalisation: a separate effect (grokking, {cite('power2022')}).")
)
with st.expander("The command that made this series"):
    text_block(em["command"])

st.divider()
st.caption("Sources: " + references(["kaplan2020", "hoffmann2022", "pearce2024", "porian2024", "muennighoff2023", "karpathy2025", "wei2022", "brown2020",
                                     "schaeffer2023", "power2022"]) + ".")

course.chapter_end("scale")
