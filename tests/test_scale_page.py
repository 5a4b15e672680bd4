"""AppTest tests of the Scale chapter: the shipped sweep and emergence series render with computed text; a live mini-sweep adds points."""

import json
from pathlib import Path

import pytest
from conftest import OPEN_APPS, ROOT, poll_until
from streamlit.testing.v1 import AppTest

from llm_core.scale.emergence import by_size, load_emergence
from llm_core.scale.fit import fit_sweep
from llm_core.scale.reading import COUNTS, emergence_across_sizes, read_sweep
from llm_core.scale.sweep import load_sweep

APP = str(Path(ROOT) / "app.py")
SWEEP = load_sweep(Path(ROOT) / "assets" / "sweeps" / "shakespeare-scaling.json")
pytestmark = pytest.mark.usefixtures("stop_jobs_afterwards")


def scale_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/scale.py").run()
    OPEN_APPS.append(at)
    assert not at.exception, at.exception
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
    figures = charts(at)
    assert len(figures) == 9  # compute, IsoFLOP, frontier, L(N), N_opt by count, two across sizes, two over steps
    plotted = sum(len(t["x"]) for t in figures[0]["data"] if t.get("mode") == "lines+markers")
    assert plotted == len(SWEEP["runs"])
    assert any(t.get("name") == "your models" for t in figures[0]["data"])  # the bundled model is one of "your" models
    rows = by_size(load_emergence(Path(ROOT) / "assets" / "sweeps" / "addition-emergence-sizes.json")["series"])
    for sentence in emergence_across_sizes(rows):
        assert sentence in text
    assert len(figures[5]["data"][0]["x"]) == len(rows) >= 5  # exact match against size, one point per size
    assert "tokens per parameter" in text and "13B parameters" not in text.replace("less than", "")


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
    live = [t for t in charts(at)[-3]["data"] if t.get("name") == "your live runs"]
    assert len(live) == 1 and len(live[0]["x"]) == 1
    assert "nats" in markdown(at)
