"""The Scale chapter's reveals and captions on made-up sweeps: what they read, and what they say when a
sweep cannot answer (no fit, no size bigger than the best one) instead of printing nan or inf."""

from __future__ import annotations

import math

from lab_ui import scale_view as view
from llm_core.scale.fit import SweepFit


def run(label: str, params: int, budget: float, loss: float) -> dict:
    return dict(label=label, params_total=params, params_non_embedding=params // 2, budget=budget, val_loss=loss, tokens=int(budget / (6 * params)), epochs=1.0)


def test_the_bigger_model_is_read_at_the_largest_budget_that_has_one_and_the_nearest_to_ten_times():
    runs = [run("s", 1_000, 1e10, 2.0), run("m", 4_000, 1e10, 1.9), run("l", 9_000, 1e10, 2.1), run("xl", 40_000, 1e10, 2.4),
            run("s", 1_000, 1e11, 1.7), run("m", 4_000, 1e11, 1.8)]  # the largest budget, 1e11, has a size bigger than its best
    b = view.bigger_at_budget(runs)
    assert b["budget"] == 1e11 and b["best"]["label"] == "s" and b["big"]["label"] == "m"
    only_small_best = [r for r in runs if r["budget"] == 1e10] + [run("xl", 40_000, 1e11, 1.5), run("s", 1_000, 1e11, 1.7)]
    b = view.bigger_at_budget(only_small_best)  # at 1e11 the biggest is best: the reading falls back to 1e10
    assert b["budget"] == 1e10 and b["best"]["label"] == "m" and b["big"]["label"] == "xl"  # 10x of 4,000 is nearer 40,000 than 9,000
    reveal = view.bigger_reveal("Higher: too big for the budget", only_small_best)
    assert reveal.right and "2.400" in reveal.answer and "10.0x bigger" in reveal.answer
    assert f"{b['big']['tokens']:,} characters of training against {b['best']['tokens']:,}" in reveal.why


def test_a_bigger_model_within_a_hair_of_the_best_reads_as_about_the_same():
    runs = [run("s", 1_000, 1e10, 2.000), run("l", 10_000, 1e10, 2.005)]
    reveal = view.bigger_reveal("About the same", runs)
    assert reveal.right and "about the same" in reveal.answer


def test_without_a_fit_or_a_bigger_size_the_reveals_wait_instead_of_guessing():
    empty = SweepFit(n_key="params_total", minima=[], loss_vs_compute=None, n_opt_vs_compute=None, d_opt_vs_compute=None)
    assert view.tenfold(empty) is None and view.compute_reveal("5 to 10% lower", empty) is None
    assert view.bigger_reveal("Lower: bigger is better", [run("s", 1_000, 1e10, 2.0)]) is None
    caption = view.compute_caption([run("s", 1_000, 1e10, 2.0)], empty, [dict(name="mine", flops=1e12, val_loss=1.5)])
    assert "nan" not in caption and "inf" not in caption and "The star is your model on this corpus, mine, at 1.50" in caption
    assert view.frontier_caption(empty) == "Too few budgets have a fitted best size to draw a frontier."


def test_the_compute_bands_cover_every_fall_and_percentages_never_read_minus_zero():
    assert [view.compute_band(x) for x in (0.0, 0.049, 0.05, 0.2, 0.25, 0.99, 1.0)] == [
        "less than 5% lower", "less than 5% lower", "5 to 10% lower", "10 to 25% lower", "more than 25% lower", "more than 25% lower", "more than 25% lower"]
    assert view.pct(-0.0001) == "0%" and view.pct(0.003) == "0.3%" and view.pct(math.inf) == "unknown" and view.pct(0.5) == "50%"
