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


def positions(*rows: list[float], key: str = "step") -> list[dict]:
    return [{key: 100 * k if key == "step" else 1000 * (k + 1), "label": f"{k + 1}x8", "answer_logprob": -3.0 + k, "digit_accuracy_by_position": acc}
            for k, acc in enumerate(rows)]


def test_the_digit_named_is_the_one_learned_last_not_the_lowest_first_reading():
    # first readings within noise of each other: the units digit is lowest (10.05%), but it is the tens that never reaches 90%
    steps = positions([0.1005, 0.1015, 0.1015, 0.48], [0.94, 0.11, 0.76, 1.0], [1.0, 0.55, 0.99, 1.0], [1.0, 0.88, 1.0, 1.0])
    caption = view.logprob_caption(steps, "training steps", "step")
    assert "the hardest digit, the tens, never reached 90%: it went from 10% to 88%." in caption and "units" not in caption
    # across sizes the hundreds digit is lowest at first (9.25% against 9.78%), but the tens reaches 90% last, at the 3rd size
    sizes = positions([0.55, 0.0978, 0.0925, 1.0], [1.0, 0.10, 0.99, 1.0], [1.0, 1.0, 1.0, 1.0], key="params_total")
    caption = view.logprob_caption(sizes, "sizes", "params_total")
    assert "the digit learned last, the tens, first reached 90% at 3,000 parameters (3x8), going from 10% to 100%." in caption
    assert "hundreds" not in caption
    tie = positions([0.1, 0.1, 0.1, 1.0], [0.95, 0.2, 0.3, 1.0], [1.0, 0.93, 0.97, 1.0])
    assert "the digits learned last, the tens and hundreds, first reached 90% at step 200, going from 10% and 10% to 93% and 97%." in \
        view.logprob_caption(tie, "training steps", "step")
    done = positions([0.95, 0.9, 0.99, 1.0], [1.0, 1.0, 1.0, 1.0])
    assert "every digit was right at least 90% of the time from the first point" in view.logprob_caption(done, "training steps", "step")


def test_a_bigger_model_not_ten_times_bigger_is_said_to_be_the_nearest_tried():
    runs = [run("s", 1_000, 1e10, 2.0), run("m", 7_100, 1e10, 2.3)]
    reveal = view.bigger_reveal("Higher: too big for the budget", runs)
    assert "m, 7.1x bigger (of the sizes tried, the nearest to the question's 10x), reached 2.300" in reveal.answer
    exact = view.bigger_reveal("Higher: too big for the budget", [run("s", 1_000, 1e10, 2.0), run("l", 10_000, 1e10, 2.3)])
    assert "l, 10.0x bigger, reached 2.300" in exact.answer


def test_flops_are_written_in_words_and_in_the_short_notation_at_first_use():
    assert view.flops_words(1e10) == "10 billion (written 1e+10: a 1 followed by 10 zeros)"
    assert view.flops_words(2e11) == "200 billion (written 2e+11: a 2 followed by 11 zeros)"
    from lab_ui import scale_figures as figs

    fit = SweepFit(n_key="params_total", minima=[], loss_vs_compute=None, n_opt_vs_compute=None, d_opt_vs_compute=None)
    fig = figs.loss_vs_compute([run("s", 1_000, 1e10, 2.0) | dict(flops=1e10)], fit)
    assert fig.layout.xaxis.tickformat == ".0e"  # "1e+10" on the axis as in the text, not plotly's "10B"


def test_the_compute_chart_fits_a_phone_its_stars_unlabelled_and_its_legend_short_and_below_the_axis_title():
    """At 390 px the star's label ran past the chart ("Shakespeare (bu…") and the long legend names made a legend with its own
    scrollbar beside the x-axis title: the star is named on hover and in the caption, the legend hangs from its top below the axis."""
    from lab_ui import scale_figures as figs
    from llm_core.paths import ASSETS
    from llm_core.scale.fit import fit_sweep
    from llm_core.scale.sweep import load_sweep

    doc = load_sweep(ASSETS / "sweeps" / "shakespeare-scaling.json")
    fig = figs.loss_vs_compute(doc["runs"], fit_sweep(doc), [dict(name="Shakespeare (bundled, a long name)", flops=2e13, val_loss=1.5)])
    star = next(t for t in fig.data if t.name == "your models")
    assert "text" not in star.mode and list(star.customdata) == ["Shakespeare (bundled, a long name)"] and "%{customdata}" in star.hovertemplate
    assert all(len(t.name) <= 14 for t in fig.data if t.showlegend is not False)  # "compute-optimal (IsoFLOP minimum)" and the fit's formula were longer
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < -0.2 and fig.layout.height >= 460
