"""The Scale chapter's engine: FLOP and parameter counts, the fits, the sweep's JSON, emergence metrics."""

import json
import math

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from llm_core.model.config import ModelConfig
from llm_core.paths import ASSETS
from llm_core.scale import emergence as em
from llm_core.scale.fit import FitError, fit_log_linear, fit_loss_nd, fit_power_law, fit_sweep, isoflop_minima, loss_nd
from llm_core.scale.flops import param_counts, tokens_for_budget, train_flops_per_token
from llm_core.scale.sweep import SweepError, SweepPlan, char_split, load_sweep, run_sweep, save_sweep, sweep_document, validate_sweep
from llm_core.training.loop import build_model

SHIPPED_SWEEP = ASSETS / "sweeps" / "shakespeare-scaling.json"
SHIPPED_EMERGENCE = ASSETS / "sweeps" / "addition-emergence.json"
CFG = ModelConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, n_embd=16)


# --- counting -----------------------------------------------------------------------------

def test_parameter_counts_by_hand_and_against_the_built_model():
    C, V, L = 16, 65, 2
    attention = 3 * C * C + C * C + C  # qkv, output projection, its norm's weight
    mlp = C * 4 * C + 4 * C * C + C  # up, down, norm
    non_embedding = L * (attention + mlp) + C  # + the final norm
    embedding = V * C + V * C  # token table + untied output head
    assert param_counts(CFG) == dict(total=non_embedding + embedding, non_embedding=non_embedding, embedding=embedding)
    assert build_model(CFG).num_params() == non_embedding + embedding == 8304
    learned = ModelConfig(vocab_size=V, block_size=64, n_layer=L, n_head=2, n_embd=C, position="learned")
    assert param_counts(learned)["embedding"] == embedding + 64 * C  # a learned position table is an embedding too


def test_flop_count_matches_a_hand_count_and_torch_flop_counter():
    C, V, L, T = 16, 65, 2, 64
    matmul_weights = L * (3 * C * C + C * C + 2 * 4 * C * C) + C * V  # qkv, proj, MLP, head; the token table is a lookup
    norms = 2 * L * C + C
    attention = 2 * 2 * T * C / 2 * L  # scores and weighted sum, half masked: forward FLOPs per token
    hand = 6 * (matmul_weights + norms) + 3 * attention
    assert train_flops_per_token(CFG) == hand == 55872
    # torch's own counter sees the matrix multiplies of a forward and backward pass (not SDPA or the norms)
    model = build_model(CFG)
    x = torch.randint(V, (1, T))
    with FlopCounterMode(display=False) as counter:
        _, loss = model(x, x)
        loss.backward()
    assert counter.get_total_flops() == 6 * matmul_weights * T
    assert tokens_for_budget(CFG, 1e9) == int(1e9 // hand)


# --- fits -----------------------------------------------------------------------------------

def test_power_law_fit_recovers_known_exponent_and_floor_from_noisy_data():
    rng = np.random.default_rng(0)
    x = np.logspace(10, 13, 12)
    y = 1.2 + 30.0 * (x / 1e10) ** -0.25
    y_noisy = y * (1 + 0.002 * rng.standard_normal(len(x)))
    f = fit_power_law(x, y_noisy, x0=1e10)
    assert abs(f.params["alpha"] - 0.25) < 3 * f.errors["alpha"] + 0.02
    assert abs(f.params["E"] - 1.2) < 0.1
    assert f.r2 > 0.99 and 0 < f.errors["alpha"] < 0.1
    with pytest.raises(FitError):
        fit_power_law(x[:3], y[:3])


def test_isoflop_minima_recover_chinchilla_style_optimum_from_synthetic_losses():
    """L(N, D) = E + A/N^a + B/D^b with D = C / 6N has its optimum at N_opt ~ C^(b/(a+b)): the fits must find it."""
    E, A, B, a, b = 1.0, 400.0, 400.0, 0.34, 0.28
    runs = []
    for budget in (1e12, 1e13, 1e14, 1e15, 1e16):
        n_analytic = (a * A / (b * B)) ** (1 / (a + b)) * (budget / 6) ** (b / (a + b))
        for n in n_analytic * np.logspace(-0.8, 0.8, 9):
            d = budget / (6 * n)
            runs.append(dict(budget=budget, params_total=float(n), tokens=float(d), val_loss=E + A / n**a + B / d**b, label=f"{n:.0f}", stop_reason=""))
    minima = isoflop_minima(runs)
    assert len(minima) == 5 and all(m.inside for m in minima)
    for m in minima:
        n_analytic = (a * A / (b * B)) ** (1 / (a + b)) * (m.budget / 6) ** (b / (a + b))
        assert abs(math.log10(m.n_opt / n_analytic)) < 0.05  # within 12%: a parabola in log N is an approximation
    slope = fit_log_linear([m.budget for m in minima], [m.n_opt for m in minima])
    assert abs(slope.params["a"] - b / (a + b)) < 0.02
    fit = fit_sweep(dict(runs=runs))
    assert abs(fit.n_opt_vs_compute.params["a"] - b / (a + b)) < 0.02
    assert abs(fit.d_opt_vs_compute.params["a"] - a / (a + b)) < 0.02
    assert fit.loss_vs_compute.r2 > 0.99


def test_loss_nd_fit_recovers_size_and_data_exponents_from_noisy_runs():
    rng = np.random.default_rng(1)
    n = np.repeat(np.logspace(3, 5, 6), 5)
    d = np.tile(np.logspace(5, 7, 5), 6)
    loss = loss_nd(n, d, 1.4, 1.2, 0.9, 0.34, 0.28, 1e3, 1e5) * (1 + 0.002 * rng.standard_normal(len(n)))
    f = fit_loss_nd(n, d, loss)
    assert abs(f.params["alpha"] - 0.34) < max(3 * f.errors["alpha"], 0.03)
    assert abs(f.params["beta"] - 0.28) < max(3 * f.errors["beta"], 0.03)
    assert f.r2 > 0.99
    with pytest.raises(FitError):
        fit_loss_nd(n[:5], d[:5], loss[:5])


# --- the sweep and its JSON ---------------------------------------------------------------

TINY_PLAN = SweepPlan(sizes=((1, 8), (1, 16), (2, 16)), budgets=(3e7,), min_steps=5, block_size=16, batch_size=4, eval_tokens=4096)


@pytest.fixture(scope="module")
def tiny_sweep():
    vocab, split = char_split("tinyshakespeare")
    records = list(run_sweep(TINY_PLAN, split=split, vocab_size=vocab))
    points = [r.point for r in records if r.point is not None]
    return records, sweep_document(TINY_PLAN, points, "python -m llm_core.scaling sweep (test)", 1.0, len(points))


def planned_document() -> dict:
    """A sweep document with the shape run_sweep writes, built from the plan alone (no training): for the schema tests."""
    vocab = 65
    points = []
    for spec in TINY_PLAN.runs(vocab, 1_003_855):
        counts = param_counts(spec.config)
        points.append(dict(label=spec.label, n_layer=spec.config.n_layer, n_embd=spec.config.n_embd, n_head=spec.config.n_head, budget=spec.budget,
                           flops=spec.flops, params_total=counts["total"], params_non_embedding=counts["non_embedding"], params_embedding=counts["embedding"],
                           tokens=spec.tokens, steps=spec.steps, epochs=spec.epochs, val_loss=3.0, train_loss=3.0, wall_s=0.1, stop_reason="reached the step limit"))
    return sweep_document(TINY_PLAN, points, "python -m llm_core.scaling sweep (test)", 1.0, len(points))


@pytest.mark.slow
def test_sweep_trains_each_size_and_writes_a_valid_document(tiny_sweep, tmp_path):
    records, doc = tiny_sweep
    assert [p["label"] for p in doc["runs"]] == ["1x8", "1x16", "2x16"]
    assert records[-1].done and records[-1].stop_reason == "finished every run"
    assert all(0 <= r.progress <= 1 + 1e-9 for r in records)
    for p in doc["runs"]:
        assert p["flops"] <= p["budget"] and p["flops"] > 0.5 * p["budget"]
        assert p["tokens"] == p["steps"] * TINY_PLAN.tokens_per_step
        assert 0 < p["val_loss"] < math.log(65) + 0.5
    path = save_sweep(tmp_path / "s.json", doc)
    assert load_sweep(path)["runs"] == doc["runs"]


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d.update(schema="other"), "not a scaling sweep"),
    (lambda d: d["runs"][0].pop("val_loss"), "val_loss"),
    (lambda d: d["runs"][1].update(params_total="many"), "params_total"),
    (lambda d: d["runs"][0].update(params_embedding=d["runs"][0]["params_embedding"] + 1), "plus the embeddings"),
    (lambda d: d.update(runs=[]), "no runs"),
    (lambda d: d.pop("command"), "command"),
])
def test_sweep_schema_refuses_broken_documents(breakage, message, tmp_path):
    doc = planned_document()
    assert load_sweep(save_sweep(tmp_path / "ok.json", doc))["runs"] == doc["runs"]  # the unbroken one round-trips
    doc = json.loads(json.dumps(doc))
    breakage(doc)
    with pytest.raises(SweepError, match=message):
        validate_sweep(doc)


def test_plan_keeps_runs_within_step_and_epoch_limits():
    runs = SweepPlan().runs(65, 1_003_855)
    assert runs and all(r.steps >= 50 and r.epochs <= 8 for r in runs)
    with pytest.raises(SweepError):
        SweepPlan(budgets=(-1.0,)).runs(65, 1000)


@pytest.mark.slow
def test_stop_ends_a_sweep_with_a_reason():
    import threading

    stop = threading.Event()
    stop.set()
    vocab, split = char_split("tinyshakespeare")
    records = list(run_sweep(TINY_PLAN, stop_event=stop, split=split, vocab_size=vocab))
    assert records[-1].done and "stopped by user" in records[-1].stop_reason and records[-1].point is None


def test_shipped_sweep_is_valid_and_its_frontier_fit_holds():
    doc = load_sweep(SHIPPED_SWEEP)
    assert doc["command"].startswith("python -m llm_core.scaling")
    non_embedding = [r["params_non_embedding"] for r in doc["runs"]]
    assert max(non_embedding) / min(non_embedding) >= 100  # two orders of magnitude
    assert len({r["label"] for r in doc["runs"]}) >= 6
    fit = fit_sweep(doc)
    assert fit.loss_vs_compute is not None and fit.loss_vs_compute.r2 >= 0.95
    assert sum(m.inside for m in fit.minima) >= 4
    assert all(f.r2 > 0.9 for f in fit.loss_nd.values()) and len(fit.loss_nd) == 2


# --- emergence ----------------------------------------------------------------------------

def test_problems_are_encoded_units_first_and_held_out_problems_never_train():
    ids = torch.tensor([123 * 1000 + 456, 999 * 1000 + 999, 5])
    assert [em.decode_ids(row.tolist()) for row in em.problem_tensor(ids)] == ["123+456=9750", "999+999=8991", "000+005=5000"]
    train_ids, held = em.split_problems(500, seed=1)
    assert len(held) == 500 and len(train_ids) + len(held) == em.N_PROBLEMS
    assert not set(held.tolist()) & set(train_ids[:200_000].tolist())
    x, y = em.windows(em.problem_tensor(ids))
    assert (y[:, : em.PROMPT_LEN - 1] == -100).all() and (y[:, em.PROMPT_LEN - 1 :] >= 0).all()


class Oracle(torch.nn.Module):
    """Puts almost all probability on the right next digit: what a model that has learned addition does."""

    config = None

    def __init__(self, confidence: float):
        super().__init__()
        self.confidence = confidence
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    @property
    def device(self):
        return self.dummy.device

    def forward(self, x, targets=None):
        digits = lambda cols: sum(x[:, c] * 10 ** (len(cols) - 1 - i) for i, c in enumerate(cols))
        total = digits([0, 1, 2]) + digits([4, 5, 6])
        answer = torch.stack([(total // 10**k) % 10 for k in range(4)], dim=1)  # units first
        logits = torch.zeros(x.shape[0], x.shape[1], len(em.ALPHABET))
        logits[:, em.PROMPT_LEN - 1 :, :] = 0.0
        logits.scatter_(-1, torch.nn.functional.pad(answer, (em.PROMPT_LEN - 1, 0))[..., None], self.confidence)
        return logits, None


def test_answer_metrics_exact_for_an_oracle_and_chance_for_a_uniform_guess():
    seqs = em.problem_tensor(torch.arange(0, 1_000_000, 997))
    right = em.answer_metrics(Oracle(confidence=30.0), seqs)
    assert right["exact_match"] == 1.0 and right["digit_accuracy"] == 1.0 and right["answer_logprob"] > -1e-6
    # confidence c over 12 tokens: p(right digit) = e^c / (e^c + 11); exact match stays 1 while the log-prob is smooth
    soft = em.answer_metrics(Oracle(confidence=1.0), seqs)
    assert soft["exact_match"] == 1.0 and soft["answer_logprob"] == pytest.approx(4 * math.log(math.e / (math.e + 11)), rel=1e-4)
    uniform = em.answer_metrics(Oracle(confidence=0.0), seqs)
    assert uniform["answer_logprob"] == pytest.approx(4 * math.log(1 / 12), rel=1e-4)


@pytest.mark.slow
def test_a_short_emergence_run_reports_points_with_every_field(tmp_path):
    plan = em.EmergencePlan(sizes=((1, 16),), steps=20, eval_every=10, batch_size=32, held_out=200)
    records = list(em.run_emergence(plan))
    series = [r.point for r in records if r.point is not None]
    assert [p["step"] for p in series] == [0, 10, 20]
    assert records[-1].done
    doc = em.emergence_document(plan, series, "test", 1.0)
    assert em.load_emergence(em.save_emergence(tmp_path / "e.json", doc))["series"] == series
    with pytest.raises(em.EmergenceError):
        em.validate_emergence({**doc, "series": [{**series[0], "exact_match": 2.0}]})


def test_shipped_emergence_sweep_rises_from_under_10_to_over_80_percent():
    doc = em.load_emergence(SHIPPED_EMERGENCE)
    exact = [p["exact_match"] for p in doc["series"]]
    assert min(exact) < 0.10 and max(exact) > 0.80
    assert doc["command"].startswith("python -m llm_core.scaling") and " emergence" in doc["command"]


def test_both_scale_plans_train_their_rungs_with_their_own_settings():
    """The sweep and the emergence sweep share LadderPlan: each rung's TrainConfig carries the plan's optimiser and seed."""
    for plan in (SweepPlan(batch_size=8, lr=1e-3, seed=7), em.EmergencePlan(batch_size=32, muon_lr=0.01, seed=3)):
        cfg = plan.train_config(40, warmup_steps=4, log_every=10)
        assert (cfg.max_steps, cfg.batch_size, cfg.lr, cfg.muon_lr, cfg.seed, cfg.eval_every, cfg.warmup_steps) == (
            40, plan.batch_size, plan.lr, plan.muon_lr, plan.seed, 0, 4)
    assert em.EmergencePlan().batch_size == 128 and SweepPlan().batch_size == 16  # each keeps its own defaults


# --- emergence across sizes ------------------------------------------------------------------

SHIPPED_SIZES = ASSETS / "sweeps" / "addition-emergence-sizes.json"


def _point(label, seed, step, positions, logp, params=1000):
    return dict(label=label, seed=seed, step=step, params_total=params, params_non_embedding=params - 100, flops=1.0, exact_match=math.prod(positions),
                digit_accuracy=sum(positions) / 4, digit_accuracy_by_position=positions, answer_logprob=logp)


def test_by_size_takes_each_runs_last_point_and_averages_the_seeds():
    series = [_point("1x8", 1, 0, [0.1] * 4, -9.0, 100), _point("1x8", 1, 50, [1.0, 0.1, 1.0, 1.0], -3.0, 100), _point("1x8", 2, 50, [1.0, 0.3, 1.0, 1.0], -2.0, 100),
              _point("2x8", 1, 50, [1.0, 0.9, 1.0, 1.0], -0.5, 300)]
    rows = em.by_size(series)
    assert [r["label"] for r in rows] == ["1x8", "2x8"] and rows[0]["steps"] == 50
    assert rows[0]["exact_match_by_seed"] == [0.1, 0.3] and rows[0]["exact_match"] == pytest.approx(0.2)
    assert rows[0]["product"] == pytest.approx(0.2) and rows[0]["answer_logprob"] == pytest.approx(-2.5)
    assert rows[0]["digit_accuracy_by_position"] == pytest.approx([1.0, 0.2, 1.0, 1.0])


def test_the_rise_is_picked_from_the_data_and_a_later_spike_does_not_move_it():
    steps = [0.0, 0.07, 0.1, 0.1, 0.1, 0.139, 0.23, 0.41, 0.55, 0.04, 0.46, 0.72, 0.82, 0.88]
    assert em.rise(steps) == (5, 8)  # 14% -> 55%, not the recovery 4% -> 46% after the spike
    assert em.rise([0.2, 0.5, 0.1, 0.1, 0.1]) is None  # a spike that falls back is no sustained rise
    assert em.rise([0.0, 0.0, 0.01, 0.02]) == (1, 2)  # half-way is 0.01; the page calls it no jump (a rise under 30 points)


def test_the_shipped_sweep_across_sizes_trains_every_size_alike_and_reads_as_its_data():
    from llm_core.scale.reading import emergence_across_sizes

    doc = em.load_emergence(SHIPPED_SIZES)
    assert doc["command"].startswith("python -m llm_core.scaling") and " emergence --sizes" in doc["command"]
    rows = em.by_size(doc["series"])
    assert len(rows) >= 5 and len({r["steps"] for r in rows}) == 1  # at least 5 sizes, the same budget for each
    assert all(len(r["exact_match_by_seed"]) == len(doc["plan"]["seeds"] or [doc["plan"]["seed"]]) for r in rows)
    assert [r["params_total"] for r in rows] == sorted(r["params_total"] for r in rows)
    for r in rows:  # exact match is what all four digits right gives: the product of the per-position accuracies, nearly
        assert abs(r["product"] - r["exact_match"]) < 0.05
    text = " ".join(emergence_across_sizes(rows))
    found = em.rise([r["exact_match"] for r in rows])
    if found:
        i, j = found
        assert f"at {rows[i]['label']} ({rows[i]['params_total']:,} parameters), the last size before the rise" in text
    else:
        assert "do not show an emergent jump" in text


# --- the scaling sweep read in words ------------------------------------------------------------

def test_the_reading_of_the_shipped_sweep_is_its_fit_in_words():
    from scipy import stats

    from llm_core import literature
    from llm_core.scale.reading import COUNTS, read_sweep, verdict

    doc = load_sweep(SHIPPED_SWEEP)
    fits = {c: fit_sweep(doc, c) for c in COUNTS}
    reading = read_sweep(doc, fits)
    kaplan, chinchilla = literature.value("kaplan_n_opt_exponent"), literature.value("chinchilla_n_opt_exponent")
    for c in COUNTS:
        nf, e = fits[c].n_opt_vs_compute, reading.exponents[c]
        half = stats.t.ppf(0.975, nf.n - 2) * nf.errors["a"]
        assert e.a == pytest.approx(nf.params["a"], abs=1e-4) and e.a_interval == pytest.approx((nf.params["a"] - half, nf.params["a"] + half), abs=1e-4)
        assert e.verdict == verdict(*e.a_interval, kaplan, chinchilla)
    inside = [m for m in fits["params_total"].minima if m.inside]
    assert [r for _, r in reading.tokens_per_param] == pytest.approx([m.tokens_per_param for m in inside], abs=0.01)
    corpus = doc["runs"][0]["tokens"] / doc["runs"][0]["epochs"]
    assert [e for _, e in reading.epochs_at_optimum] == pytest.approx([m.tokens_opt / corpus for m in inside], abs=1e-3)
    assert reading.smaller_than_chinchilla == pytest.approx(literature.value("chinchilla_params") / max(r["params_total"] for r in doc["runs"]))
    text = " ".join(reading.sentences())
    assert f"C^{reading.exponents['params_total'].a:.2f} (95% interval {reading.exponents['params_total'].a_interval[0]:.2f}" in text
    assert f"{min(e for _, e in reading.epochs_at_optimum):.1f}–{max(e for _, e in reading.epochs_at_optimum):.1f} epochs" in text
    assert "Pearce and Song 2024" in text and "10^4" not in text
    # this sweep: tokens per parameter fall as the budget grows, and the reading says it resembles Kaplan's allocation
    ratios = [r for _, r in reading.tokens_per_param]
    assert (ratios[-1] < ratios[0]) == ("falling" in text)
    assert reading.as_papers_counted == "kaplan" and "resembles Kaplan's allocation" in text


def test_the_reading_says_chinchilla_kaplan_or_undecided_as_the_intervals_do():
    from llm_core.scale.fit import Fit, SweepFit
    from llm_core.scale.reading import read_sweep

    def fits(a_total, a_non, err):
        line = lambda a: Fit(dict(log_k=0.0, a=a), dict(log_k=0.01, a=err), 0.99, 6)
        return {"params_total": SweepFit("params_total", [], None, line(a_total), line(1 - a_total)),
                "params_non_embedding": SweepFit("params_non_embedding", [], None, line(a_non), line(1 - a_non))}

    doc = dict(runs=[dict(params_total=1000, params_non_embedding=900, budget=1e10, tokens=10, epochs=1.0)])
    assert read_sweep(doc, fits(0.50, 0.52, 0.01)).as_papers_counted == "chinchilla"
    assert read_sweep(doc, fits(0.74, 0.80, 0.01)).as_papers_counted == "kaplan"
    assert read_sweep(doc, fits(0.50, 0.80, 0.01)).as_papers_counted == "mixed"
    wide = read_sweep(doc, fits(0.6, 0.6, 0.1))
    assert wide.as_papers_counted == "undecided" and "cannot say which it resembles" in " ".join(wide.sentences())


@pytest.mark.slow
def test_emergence_runs_in_parallel_or_resumed_give_the_points_of_one_sequential_run(tmp_path):
    from llm_core.scaling import main

    out = tmp_path / "e.json"
    args = ["--threads", "1", "emergence", "--sizes", "1x8,1x16", "--seeds", "1,2", "--steps", "6", "--eval-every", "3", "--out", str(out)]
    assert main(args[:-2] + ["--workers", "2", "--out", str(out)]) == 0
    parallel = em.load_emergence(out)
    assert parallel["command"] == "python -m llm_core.scaling " + " ".join(args) and "--workers 2" in parallel["ran_as"]
    plan = em.EmergencePlan(sizes=((1, 8), (1, 16)), steps=6, eval_every=3, seeds=(1, 2))
    sequential = [r.point for r in em.run_emergence(plan) if r.point is not None]
    key = lambda p: (p["label"], p["seed"], p["step"])
    assert {key(p): p["answer_logprob"] for p in parallel["series"]} == {key(p): p["answer_logprob"] for p in sequential}
    assert main(["--threads", "1", "emergence", "--sizes", "1x8,1x16,2x8", "--seeds", "1,2", "--steps", "6", "--eval-every", "3", "--resume", "--out", str(out)]) == 0
    resumed = em.load_emergence(out)
    assert {p["label"] for p in resumed["series"]} == {"1x8", "1x16", "2x8"}
    assert [p for p in resumed["series"] if p["label"] != "2x8"] == sorted(parallel["series"], key=lambda p: (p["params_total"], p["seed"], p["step"]))
    assert main(["--threads", "1", "emergence", "--sizes", "1x8", "--steps", "9", "--resume", "--out", str(out)]) == 2  # another plan: refused


def steps_series(em: list[float]) -> list[dict]:
    from llm_core.scale.reading import POSITION_NAMES

    return [dict(step=100 * (k + 1), exact_match=e, digit_accuracy=0.5 + e / 2, answer_logprob=-3 + e,
                 digit_accuracy_by_position=[0.5 + e / 2] * len(POSITION_NAMES)) for k, e in enumerate(em)]


def test_the_reading_over_training_steps_calls_a_rise_lasting_only_when_it_lasts():
    """A rise that a spike takes back below half-way is not "lasting": the reading says where it fell and from when exact match
    stays up; without a spike the same words name the lasting rise; both quote the series' own figures."""
    from llm_core.scale.reading import emergence_over_steps

    spiked = emergence_over_steps(steps_series([0.0, 0.1, 0.14, 0.55, 0.04, 0.6, 0.8, 0.9]))  # half-way: 45%
    first = spiked[0]
    assert "{" not in first and "exact match was 14% at step 300, its last low, and 55% at step 400, where it first passed 45%" in first
    assert "half-way from its lowest (0%) to its highest (90%)" in first and "per-digit accuracy went from 57% to 78%" in first
    assert "lasting" not in first  # the old reading called it lasting, then the spike took exact match to 4%
    assert "That rise did not last: exact match fell back to 4% at step 500, and it is above 45% for good only from step 600 (60%) on." in first
    assert "exact match from 55% to 4%" in spiked[1]  # the spike paragraph, consistent with the sentence above

    steady = emergence_over_steps(steps_series([0.0, 0.05, 0.1, 0.5, 0.7, 0.9]))
    assert len(steady) == 1 and "and 50% at step 400, where its lasting rise starts: from there on it does not fall below 45%" in steady[0]
    assert "did not last" not in steady[0]

    unsteady = emergence_over_steps(steps_series([0.0, 0.1, 0.6, 0.7, 0.3, 0.8, 0.2]))  # up more often than not, ends low
    assert "lasting" not in unsteady[0] and "That rise was not steady: exact match fell back to 20% at step 700; from step 300 on" in unsteady[0]


def test_the_shipped_reading_over_steps_never_calls_a_rise_lasting_that_falls_back():
    from llm_core.scale.reading import emergence_over_steps

    series = em.load_emergence(SHIPPED_EMERGENCE)["series"]
    values = [p["exact_match"] for p in series]
    i, j = em.rise(values)
    half = min(values) + 0.5 * (max(values) - min(values))
    text = " ".join(emergence_over_steps(series))
    assert ("where its lasting rise starts" in text) == (min(values[j:]) >= half)
    if min(values[j:]) < half:
        stays = next(k for k in range(j, len(values)) if min(values[k:]) >= half)
        assert f"for good only from step {series[stays]['step']:,}" in text


def test_the_product_line_gap_is_rounded_up_so_within_stays_true():
    from llm_core.scale.reading import emergence_across_sizes

    rows = [dict(label=f"{k}x8", params_total=1000 * (k + 1), exact_match=e, product=e + g, digit_accuracy=0.5 + e / 2, answer_logprob=-3 + e,
                 digit_accuracy_by_position=[0.5 + e / 2] * 4, exact_match_by_seed=[e]) for k, (e, g) in enumerate([(0.0035, 0.0014), (0.1, 0.0), (1.0, 0.0)])]
    text = " ".join(emergence_across_sizes(rows))
    assert "stays within 0.14 points of exact match" in text  # it printed "within 0.1 points" for a gap of 0.14
