"""AppTest tests of the Scale chapter: the shipped sweep and emergence series render with computed text; its two
predictions reveal what the shipped sweep says only after the guess is locked; a live mini-sweep adds points."""

import json
import math
from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT, poll_until
from streamlit.testing.v1 import AppTest

from llm_core import literature
from llm_core.scale.emergence import by_size, load_emergence
from llm_core.scale.fit import fit_sweep, power_law
from llm_core.scale.reading import COUNTS, emergence_across_sizes, read_sweep
from llm_core.scale.sweep import load_sweep

APP = str(Path(ROOT) / "app.py")
SWEEP = load_sweep(Path(ROOT) / "assets" / "sweeps" / "shakespeare-scaling.json")
pytestmark = pytest.mark.usefixtures("stop_jobs_afterwards")


PREDICTIONS = ("scale_compute_10x", "scale_bigger_same_budget")


def guess(at, key: str, choice: str) -> None:
    at.radio(key=f"predict_{key}_guess").set_value(choice).run()
    at.button(key=f"predict_{key}_lock").click().run()
    assert not at.exception, at.exception


def scale_page(guessed: bool = True) -> AppTest:
    """The chapter; with `guessed`, both predictions made (the charts they hide are then shown)."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/scale.py").run()
    OPEN_APPS.append(at)
    assert not at.exception, at.exception
    if guessed:
        for key in PREDICTIONS:
            guess(at, key, at.radio(key=f"predict_{key}_guess").options[0])
    return at


def markdown(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_the_chapter_shows_the_shipped_sweep_with_its_fitted_numbers():
    at = scale_page()
    assert at.title[0].value == "Why scale matters"
    text = markdown(at)
    fit = fit_sweep(SWEEP)
    assert f"R² = {fit.loss_vs_compute.r2:.3f}" in text
    assert f"{len(SWEEP['runs'])} runs" in text
    reading = read_sweep(SWEEP, {c: fit_sweep(SWEEP, c) for c in COUNTS})
    for sentence in reading.sentences():  # the reading in words, computed from the shipped sweep's fits
        assert sentence in text
    assert f"C^{reading.exponents['params_total'].a:.2f} (95% interval" in text and "10^4" not in text and "several epochs" not in text
    budgets = sorted({r["budget"] for r in SWEEP["runs"]})
    first, last = (f"{b:.0e}" for b in (budgets[0], budgets[-1]))  # said in words and explained where FLOPs are first counted
    words = lambda b: f"{b / 1e9:,.0f} billion" if b < 1e12 else f"{b / 1e12:,.0f} trillion"
    assert (f"from {words(budgets[0])} (written {first}: a {first[0]} followed by {int(first.split('e')[1])} zeros) to "
            f"{words(budgets[-1])} (written {last}: a {last[0]} followed by {int(last.split('e')[1])} zeros) floating-point operations (FLOPs)") in text
    assert "Each budget has a **best point**: the lowest loss" in text.split("Along these best points")[0]  # said before it is used
    figures = charts(at)
    assert len(figures) == 9  # compute, IsoFLOP, frontier, L(N), N_opt by count, two across sizes, two over steps
    for k in (0, 2, 4):  # every FLOPs axis writes "1e+10" as the text does, not plotly's "10B" and "1T"
        assert figures[k]["layout"]["xaxis"]["tickformat"] == ".0e"
    plotted = sum(len(t["x"]) for t in figures[0]["data"] if t.get("mode") == "lines+markers")
    assert plotted == len(SWEEP["runs"])
    assert any(t.get("name") == "your models" for t in figures[0]["data"])  # the bundled model is one of "your" models
    rows = by_size(load_emergence(Path(ROOT) / "assets" / "sweeps" / "addition-emergence-sizes.json")["series"])
    for sentence in emergence_across_sizes(rows):
        assert sentence in text
    assert len(figures[5]["data"][0]["x"]) == len(rows) >= 5  # exact match against size, one point per size
    # GPT-3 as the paper says it: the 175B model's figure, few-shot, from the register (not a 13B model "doing" addition)
    assert "tokens per parameter" in text and f"the 175B model {literature.value('brown_addition_175b'):g}%, both few-shot" in text


def reveal_of(at) -> str:
    return next(m.value for m in at.markdown if "Right." in m.value or "Not this time." in m.value)


def whys(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Why:**")]


def test_the_two_predictions_hide_their_charts_until_the_guess_is_locked():
    at = scale_page(guessed=False)
    # the compute and IsoFLOP charts wait for the guesses, and so do sections 3 and 4 (frontier, L(N), N_opt by count)
    assert len(charts(at)) == 4 and not whys(at)
    captions = "\n".join(c.value for c in at.caption)
    assert "appears once your guess is locked in" in captions and "Every run's figures appear here once" in captions
    assert not any("non_embedding</th>" in m.value for m in at.markdown)  # no table of every run's loss either
    f = fit_sweep(SWEEP).loss_vs_compute  # the fitted law is the compute reveal's own reasoning: it waits too
    assert "R² =" not in markdown(at) and f"{f.describe('alpha')}" not in markdown(at) and "The fitted law of loss against compute appears here once" in captions
    guess(at, "scale_compute_10x", "10 to 25% lower")
    assert len(charts(at)) == 5 and len(whys(at)) == 1
    assert f"α = **{f.describe('alpha')}**" in markdown(at) and f"R² = {f.r2:.3f}" in markdown(at)


def test_nothing_answers_the_bigger_model_question_before_its_guess():
    """Before the guess: no "best size" in section 2's title and lead, no frontier ("the best size grew"), no best run of
    section 4, no IsoFLOP minima; after it, all of them."""
    at = scale_page(guessed=False)
    body = [m.value for m in at.markdown]
    body = body[next(i for i, m in enumerate(body) if m.startswith("Every curve below")):]  # the chapter's own text (its takeaway is course.toml's)
    shown = "\n".join(body + [h.value for h in at.header] + [c.value for c in at.caption] + [i.value for i in at.info])
    for answer in ("a best model size", "few tokens", "the best size grew", "the best run", "compute-optimal size:", "How the best model size"):
        assert answer not in shown, answer
    assert "a bigger model is trained on fewer tokens" in shown and "appear once your guess there is locked in" in shown
    guess(at, "scale_bigger_same_budget", "About the same")
    shown = "\n".join([markdown(at)] + [c.value for c in at.caption])
    assert "few tokens" in shown and "the best size grew" in shown and "the best run" in shown and len(charts(at)) == 8


def test_the_frontier_says_why_its_d_opt_differs_from_the_reading_when_counted_without_embeddings():
    at = scale_page()
    at.radio(key="sc_count").set_value("without embeddings (Kaplan 2020)").run()
    fits = {c: fit_sweep(SWEEP, c) for c in COUNTS}
    shown, total = fits["params_non_embedding"].d_opt_vs_compute.params["a"], fits["params_total"].d_opt_vs_compute.params["a"]
    legend = [t["name"] for t in charts(at)[2]["data"]]
    assert f"D_opt ∝ C^{shown:.2f}" in legend and f"D_opt ∝ C^{total:.2f}" in markdown(at)
    note = next(c.value for c in at.caption if c.value.startswith("The chart above counts parameters without embeddings"))
    assert f"C^{total:.2f} there, C^{shown:.2f} on the chart" in note


def test_the_isoflop_caption_is_written_for_the_budgets_it_shows():
    from lab_ui.scale_view import isoflop_caption

    fit = fit_sweep(SWEEP, "params_total")
    budgets = sorted({r["budget"] for r in SWEEP["runs"]})
    one = isoflop_caption([r for r in SWEEP["runs"] if r["budget"] == budgets[0]], fit, [{}])
    assert one.startswith(f"At {budgets[0]:.0e} FLOPs the shipped runs' loss is lowest at ") and "each of" not in one and "fitted best size" not in one
    assert "your 1 live run is the diamond outlined" in one
    every = isoflop_caption(SWEEP["runs"], fit)
    assert f" {len(budgets)} budgets the loss is lowest at a middle size" in every


def test_the_tenfold_compute_reveal_is_the_fitted_law_read_at_the_largest_budget():
    at = scale_page(guessed=False)
    guess(at, "scale_compute_10x", "5 to 10% lower")
    fit = fit_sweep(SWEEP, "params_total")
    f = fit.loss_vs_compute
    high = max(m.budget for m in fit.minima if m.inside)
    low_loss, high_loss = (float(power_law(c, f.params["E"], f.params["A"], f.params["alpha"], f.x0)) for c in (high / 10, high))
    drop = 1 - high_loss / low_loss
    text = reveal_of(at)
    assert f"from {low_loss:.2f} to {high_loss:.2f} nats per character: {drop * 100:.0f}% lower" in text
    band = "less than 5% lower" if drop < 0.05 else "5 to 10% lower" if drop < 0.10 else "10 to 25% lower" if drop < 0.25 else "more than 25% lower"
    assert ("Right." in text) == (band == "5 to 10% lower")
    assert f"exponent {f.params['alpha']:.2f}" in whys(at)[0] and f"by {10 ** -f.params['alpha']:.2f}" in whys(at)[0]
    from lab_ui.state import find_desk

    made = find_desk(at.session_state["lab_desk_id"]).data["course"]["predictions"]["scale_compute_10x"]
    assert made["guess"] == "5 to 10% lower" and made["right"] == (band == "5 to 10% lower")


def test_the_bigger_model_reveal_reads_the_shipped_runs_and_a_reload_finds_it():
    at = scale_page(guessed=False)
    guess(at, "scale_bigger_same_budget", "Higher: too big for the budget")
    runs = SWEEP["runs"]
    for budget in sorted({r["budget"] for r in runs}, reverse=True):  # the largest budget with a size bigger than its best
        at_budget = [r for r in runs if r["budget"] == budget]
        best = min(at_budget, key=lambda r: r["val_loss"])
        bigger = [r for r in at_budget if r["params_total"] > best["params_total"]]
        if bigger:
            big = min(bigger, key=lambda r: abs(math.log10(r["params_total"] / best["params_total"]) - 1))
            break
    text = reveal_of(at)
    assert f"At {budget:.0e} FLOPs the best size tried, {best['label']} ({best['params_total']:,} parameters), reached a loss of {best['val_loss']:.3f}" in text
    ratio = f"{big['params_total'] / best['params_total']:.1f}"
    nearest = "" if ratio == "10.0" else " (of the sizes tried, the nearest to the question's 10x)"  # the question asks about 10x
    assert f"{big['label']}, {ratio}x bigger{nearest}, reached {big['val_loss']:.3f}" in text
    assert ("Right." in text) == (big["val_loss"] - best["val_loss"] >= 0.02)
    assert f"{big['tokens']:,} characters of training against {best['tokens']:,}" in whys(at)[0]
    again = AppTest.from_file(APP, default_timeout=180)
    again.session_state["lab_desk_id"] = at.session_state["lab_desk_id"]  # what this browser's cookie gives a reload
    again.run()
    again.switch_page("pages/scale.py").run()
    OPEN_APPS.append(again)
    assert again.radio(key="predict_scale_bigger_same_budget_guess").value == "Higher: too big for the budget"
    assert reveal_of(again) == text


def test_counting_without_embeddings_changes_the_isoflop_axis_and_the_fit():
    at = scale_page()
    before = charts(at)[1]
    at.radio(key="sc_count").set_value("without embeddings (Kaplan 2020)").run()
    assert not at.exception
    after = charts(at)[1]
    assert after["layout"]["xaxis"]["title"]["text"] == "non-embedding parameters"
    assert before["data"][0]["x"] != after["data"][0]["x"]


@pytest.mark.slow
def test_a_live_mini_sweep_adds_points_beside_the_shipped_curve():
    at = scale_page()
    budget = at.selectbox(key="sc_budget").value
    cheapest = max((r for r in SWEEP["runs"] if r["budget"] == budget), key=lambda r: r["params_total"])["label"]  # fewest steps
    at.multiselect(key="sc_sizes").set_value([cheapest]).run()
    at.button(key="sc_run").click().run()
    assert not at.exception
    poll_until(at, lambda a: any("landed on average" in str(c.value) for c in a.caption), timeout=600, every=3.0)
    live = [t for c in charts(at) for t in c["data"] if t.get("name") == "your live runs"]  # on the live IsoFLOP chart, whichever its place
    assert len(live) == 1 and len(live[0]["x"]) == 1
    assert "nats" in markdown(at)


class FakeLiveJob:
    """A mini-sweep that has finished with `points` (shipped runs with other losses): the page reads it through `jobs.get`."""

    def __init__(self, points: list[dict]):
        from types import SimpleNamespace

        from llm_core.jobs import JobSnapshot

        records = tuple(SimpleNamespace(point=p, progress=1.0, run_index=k, runs=len(points), label=p["label"]) for k, p in enumerate(points))
        self.snap = JobSnapshot(name="mini-sweep", status="finished", records=records, samples=(), latest=records[-1], queue_position=None, error=None,
                                stop_reason="finished", segment=1, running_s=5.0, time_cap_s=None)

    def snapshot(self):
        return self.snap

    def touch(self):
        pass


def test_the_live_mini_sweep_shows_where_its_points_landed_only_after_section_2s_guess(monkeypatch):
    """Its chart, table and caption show the best size at one budget: the answer of section 2's question (the old page drew
    "loss is lowest at a middle size; the best size tried is ..." with that guess still open)."""
    from lab_ui import jobs

    budget = min(r["budget"] for r in SWEEP["runs"])
    points = [dict(r, val_loss=r["val_loss"] + 0.01) for r in SWEEP["runs"] if r["budget"] == budget][:2]
    fake = FakeLiveJob(points)
    monkeypatch.setattr(jobs, "get", lambda key: fake if key == "scale_live" else None)
    at = scale_page(guessed=False)
    guess(at, "scale_compute_10x", "10 to 25% lower")
    live = lambda a: [t for c in charts(a) for t in c["data"] if t.get("name") == "your live runs"]
    shown = "\n".join([markdown(at)] + [c.value for c in at.caption] + [i.value for i in at.info])
    assert not live(at) and "landed on average" not in shown and "the best size tried" not in shown and "shipped_curve" not in shown
    assert "Runs finished so far: 2. Where your points landed waits for your guess in section 2" in shown
    guess(at, "scale_bigger_same_budget", "About the same")
    assert len(live(at)) == 1 and len(live(at)[0]["x"]) == 2
    assert any("landed on average" in c.value for c in at.caption) and any(f"At {budget:.0e} FLOPs the shipped runs' loss is lowest" in c.value for c in at.caption)


def test_the_checkpoints_say_their_answers_come_from_the_shipped_sweep():
    """The lock button said "then the model runs", but on this chapter nothing runs: the answer is read from a sweep."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.switch_page("pages/scale.py").run()
    waiting = [c.value for c in at.caption if c.value.startswith("Make your guess first")]
    assert len(waiting) == 2 and all("read from the sweep of models trained for this chapter" in c for c in waiting)
    assert all("the model runs" not in b.help for b in at.button if b.key and b.key.endswith("_lock"))
