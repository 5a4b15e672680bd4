"""The Attention chapter's figures carry the inspection's numbers (the page-level checks are in test_attention_page.py)."""

from dataclasses import replace

import numpy as np
import pytest
from test_attention_page import cells_inside, grid_pixels

from lab_ui import palette
from lab_ui.attention_figures import (
    GAP_CODE,
    LEVELS,
    MASK_COLOUR,
    MASKED_CODE,
    across_cell_px,
    causal_mask_path,
    grid_colours,
    grid_figure,
    grid_image,
    head_figure,
    head_map_css,
    lens_figure,
    token_strip_html,
)
from llm_core.interpret.inspect_model import inspect_ids


@pytest.fixture
def view(nano_model, char_tok):
    return inspect_ids(nano_model, char_tok, char_tok.encode("To be, or not to be: that is the question."))


@pytest.mark.parametrize("T", [2, 3, 7, 30])
def test_mask_path_covers_exactly_the_upper_triangle(T):
    assert np.array_equal(cells_inside(causal_mask_path(T), T), np.triu(np.ones((T, T), dtype=bool), 1))


def test_one_token_has_no_mask(view, nano_model, char_tok):
    assert causal_mask_path(1) == ""
    one = inspect_ids(nano_model, char_tok, char_tok.encode("a"))
    fig = head_figure(one, 0, 0, "character")
    assert not fig.layout.shapes and fig.data[0].z.tolist() == [[1.0]]


def test_head_figure_is_the_inspection(view):
    fig = head_figure(view, 1, 0, "character")
    assert fig.data[0].name == "attention" and np.array_equal(fig.data[0].z, view.attention[1, 0])
    assert list(fig.layout.xaxis.ticktext) == view.pieces


def test_grid_image_codes_weights_masks_and_gaps():
    rng = np.random.default_rng(0)
    L, H, T, gap = 2, 3, 5, 2
    raw = np.tril(rng.random((L, H, T, T)))
    attention = raw / raw.sum(-1, keepdims=True)
    image = grid_image(attention, gap)
    step = T + gap
    assert image.dtype == np.uint8 and image.shape == (L * step - gap, H * step - gap)
    below = np.tril(np.ones((T, T), dtype=bool))
    for layer in range(L):
        for head in range(H):
            tile = image[layer * step : layer * step + T, head * step : head * step + T]
            assert np.array_equal(tile[below], np.rint(attention[layer, head][below] * LEVELS))
            assert np.all(tile[~below] == MASKED_CODE)
    assert np.all(image[T:step] == GAP_CODE) and np.all(image[:, T:step] == GAP_CODE)


def test_grid_colours_are_the_heatmap_scale_the_mask_grey_and_the_gaps_white():
    from plotly.colors import get_colorscale

    colours = grid_colours()
    scale = get_colorscale("Cividis")
    hexed = lambda rgb: "#" + "".join(f"{int(v):02x}" for v in rgb)  # noqa: E731
    assert hexed(colours[0]) == scale[0][1].lower() and hexed(colours[LEVELS]) == scale[-1][1].lower()  # the scale's two ends
    assert len({tuple(c) for c in colours[: LEVELS + 1]}) > 200  # a colour per level, nearly all distinct
    assert hexed(colours[MASKED_CODE]) == MASK_COLOUR.lower() and hexed(colours[GAP_CODE]) == palette.WHITE.lower()


def test_grid_outlines_the_chosen_head_and_paints_masks_and_gaps(view):
    L, H = view.n_layer, view.n_head
    fig = grid_figure(view, L - 1, H - 1, [f"t{i}" for i in range(L * H)])
    T = len(view.token_ids)
    gap = max(1, round(0.35 * T))
    step = T + gap
    rect = next(s for s in fig.layout.shapes if s.name == "chosen head")
    assert rect.x0 < (H - 1) * step and rect.x1 > (H - 1) * step + T - 1
    assert rect.y0 < (L - 1) * step and rect.y1 > (L - 1) * step + T - 1
    # One pixel per cell: each weight in its colour of the scale, the causal mask grey, the gaps white.
    pixels, colours = grid_pixels(fig.data[0].source), grid_colours()
    assert pixels.shape == (L * step - gap, H * step - gap, 3)
    above = np.triu(np.ones((T, T), dtype=bool), 1)
    for layer in range(L):
        for head in range(H):
            tile = pixels[layer * step : layer * step + T, head * step : head * step + T]
            assert np.all(tile[above] == colours[MASKED_CODE])
            assert np.array_equal(tile[~above], colours[np.rint(view.attention[layer, head][~above] * LEVELS).astype(int)])
    assert np.all(pixels[T:step] == colours[GAP_CODE]) and np.all(pixels[:, T:step] == colours[GAP_CODE])
    assert [a.text for a in fig.layout.annotations] == [f"t{i}" for i in range(L * H)]  # each tile's title above it
    assert fig.data[0].hoverinfo == "skip" and not palette.check_figure(fig)  # the palette's colours only (cividis for the weights)


def test_lens_and_strip_show_the_inspection(view, char_tok):
    top = np.array([[char_tok.token_text(int(i)) for i in row] for row in view.lens_top_ids], dtype=object)
    fig = lens_figure(view, 3, 12, top, "character")
    assert np.array_equal(fig.data[0].z, view.lens_top_probs[:, 3:13])
    assert fig.data[0].text.tolist() == top[:, 3:13].tolist()
    weights = view.attention_from(5, 0, 1)
    strip = token_strip_html(view, weights, 5)
    assert strip.count('class="tok future"') == len(view.pieces) - 6
    assert [float(w.split('"')[0]) for w in strip.split('data-weight="')[1:]] == pytest.approx(weights[:6].tolist(), abs=1e-6)
    hostile = replace(view, pieces=["<script>"] + view.pieces[1:])
    strip = token_strip_html(hostile, weights, 5)
    assert "<script>" not in strip and "&lt;script&gt;" in strip  # token text is escaped


def test_a_phone_reads_a_ruler_of_positions_where_cells_are_too_small_for_labels(view):
    """Phone (390 px): 42-51 characters in a ~210 px square are 4-5 px a cell, and a label per cell (every second one,
    as small as two cells) could not be read. The head map carries a ruler on axes of its own, laid over the heatmap's:
    every k-th position with its text, far enough apart at a readable size; its CSS shows the ruler in place of the
    labels in a narrow box and hides it in a wide one (the desktop view keeps a label per cell)."""
    from lab_ui.attention_figures import PHONE_BOX_PX, RULER_PX, chrome_px, narrow_box_px, ruler_step

    T = len(view.pieces)
    fig = head_figure(view, 0, 0, "character")
    k = ruler_step(T)
    assert k > 1 and k * (PHONE_BOX_PX - chrome_px(view.pieces)) / T >= RULER_PX
    x2, y2 = fig.layout.xaxis2, fig.layout.yaxis2
    assert (x2.overlaying, x2.matches, y2.overlaying, y2.matches) == ("x", "x", "y", "y")
    assert list(x2.tickvals) == list(range(0, T, k)) == list(y2.tickvals)
    assert y2.ticktext[1] == f"{k} {view.pieces[k]}" and x2.ticktext[1] == f"{k}<br>{view.pieces[k]}"
    assert x2.tickfont.size >= 11 and y2.tickfont.size >= 11
    ruler = next(t for t in fig.data if t.name == "ruler")
    assert (ruler.xaxis, ruler.yaxis) == ("x2", "y2") and list(ruler.x) == [-0.5, T - 0.5] == list(ruler.y)  # the heatmap's extent, unpadded
    css = head_map_css(".b", view.pieces)
    wide, across, down = css.split("@container")[:3]
    box = narrow_box_px(T)
    assert ".b .js-plotly-plot :is(.x2tick,.y2tick){display:none}" in wide and PHONE_BOX_PX < box < 840
    assert across == f" (max-width:{box}px){{.b .js-plotly-plot .xtick{{display:none}}.b .js-plotly-plot .x2tick{{display:inline}}}}"
    assert down == f" (max-width:{box}px){{.b .js-plotly-plot .ytick{{display:none}}.b .js-plotly-plot .y2tick{{display:inline}}}}"


def test_token_labels_give_way_to_the_ruler_where_they_would_run_into_each_other():
    """A BPE model's labels across stand upright (up to 40 tokens): on a phone, 20 tokens of up to 8 characters in
    ~9 px cells ran into each other, and the labels down, wider than one character, left cells smaller than their font.
    Across, the ruler takes over below the width at which two neighbours overlap; down, below MIN_CELL_PX a cell of the
    plot that the wider labels leave."""
    from lab_ui.attention_figures import MIN_CELL_PX, PHONE_BOX_PX, TOUCHING, chrome_px, narrow_box_px, tick_font

    pieces = ["ROMEO", ":", "·O", ",", "·she", "·doth", "·t", "ea", "ch", "·the", "·t", "or", "che", "s", "·to", "·b", "urn", "·b", "ri", "ght"]
    T, chrome = len(pieces), chrome_px(pieces)
    cell = across_cell_px(pieces)
    assert cell == round(TOUCHING * (4 + 5) / 2 * tick_font(T), 1)  # "·she" beside "·doth", touching at most
    assert PHONE_BOX_PX < narrow_box_px(T, cell, chrome) < 840  # the ruler across on a phone, the labels on a desktop
    assert chrome > chrome_px(list("ab")) and PHONE_BOX_PX < narrow_box_px(T, MIN_CELL_PX, chrome)  # down, too, on a phone
    assert across_cell_px(pieces, upright=False) == MIN_CELL_PX == across_cell_px(list("abc"))
    css = head_map_css(".b", pieces)
    assert f"(max-width:{narrow_box_px(T, cell, chrome)}px){{.b .js-plotly-plot .xtick{{display:none}}" in css
    assert f"calc((100cqw - {chrome}px) / {T})" in css
