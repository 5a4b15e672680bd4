"""llm_core.interpret.inspect_model: the numbers the Attention chapter shows are the trace path's numbers."""

import math

import numpy as np
import pytest
import torch
from conftest import perturbed_model

from llm_core.interpret.inspect_model import (
    HeadSummary,
    attention_between,
    choose_window,
    describe_head,
    head_role,
    inspect_ids,
    it_looks,
    lens_forming,
    lens_summary,
    role_of,
    summarize_head,
    tile_heads,
    word_positions,
)
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import BPETokenizer, visible_whitespace

TEXT = "ROMEO: O, she doth teach the torches to burn bright!\nIt seems she hangs upon the cheek of night"


def test_attention_is_the_trace_paths_and_causal(nano_model, char_tok):
    ids = char_tok.encode(TEXT[:50])
    view = inspect_ids(nano_model, char_tok, ids)
    trace = nano_model.trace(torch.tensor(ids))
    assert np.array_equal(view.attention, trace.attention.numpy())  # the very numbers, not a recomputation
    L, H, T = nano_model.config.n_layer, nano_model.config.n_head, len(ids)
    assert view.attention.shape == (L, H, T, T)
    np.testing.assert_allclose(view.attention.sum(-1), np.ones((L, H, T)), atol=1e-5)
    assert np.all(np.triu(view.attention, 1) == 0)
    assert view.pieces == [visible_whitespace(c) for c in TEXT[:50]]


def test_logit_lens_and_residual_numbers(nano_model, char_tok):
    ids = char_tok.encode(TEXT[:40])
    view = inspect_ids(nano_model, char_tok, ids)
    trace = nano_model.trace(torch.tensor(ids))
    probs = torch.softmax(trace.lens_logits, -1)  # (L+1, T, V)
    assert np.array_equal(view.lens_top_ids, probs.argmax(-1).numpy())
    np.testing.assert_allclose(view.lens_top_probs, probs.max(-1).values.numpy(), rtol=1e-6)
    # The last lens row is the model's real prediction.
    assert np.array_equal(view.lens_top_ids[-1], trace.logits.argmax(-1).numpy())
    # Probability of the real next token, position by position; none after the last.
    for layer in (0, nano_model.config.n_layer):
        for pos in (0, 17, len(ids) - 2):
            assert view.lens_next_probs[layer, pos] == pytest.approx(float(probs[layer, pos, ids[pos + 1]]), rel=1e-6)
    assert np.isnan(view.lens_next_probs[:, -1]).all()
    np.testing.assert_allclose(view.residual_norms, trace.residual.norm(dim=-1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(view.attn_out_norms, trace.attn_out.norm(dim=-1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(view.mlp_out_norms, trace.mlp_out.norm(dim=-1).numpy(), rtol=1e-6)
    summary = lens_summary(view)
    following = np.array(ids[1:])
    assert summary.top1_correct[-1] == pytest.approx(float((trace.logits.argmax(-1).numpy()[:-1] == following).mean()))
    assert summary.next_prob[0] == pytest.approx(float(np.mean([probs[0, p, ids[p + 1]] for p in range(len(ids) - 1)])), rel=1e-5)


def test_long_prompts_read_one_window(nano_model, char_tok):
    block = nano_model.config.block_size  # 64 for nano
    ids = char_tok.encode((TEXT * 3)[: block * 2 + 10])
    last = inspect_ids(nano_model, char_tok, ids)
    assert (last.window.start, last.window.end, last.window.truncated) == (len(ids) - block, len(ids), True)
    assert last.token_ids == ids[-block:]
    assert np.array_equal(last.attention, nano_model.trace(torch.tensor(ids[-block:])).attention.numpy())
    first = inspect_ids(nano_model, char_tok, ids, window_start=0)
    assert first.token_ids == ids[:block]
    assert np.array_equal(first.attention, nano_model.trace(torch.tensor(ids[:block])).attention.numpy())
    assert inspect_ids(nano_model, char_tok, ids, window_start=10**6).window == last.window  # clamped


def test_choose_window_edges():
    assert choose_window(0, 8) == choose_window(0, 8, start=5)
    assert choose_window(8, 8).truncated is False
    assert choose_window(9, 8, start=-3).start == 0
    with pytest.raises(ValueError):
        choose_window(5, 0)


def test_one_token_and_empty_prompts(nano_model, char_tok):
    view = inspect_ids(nano_model, char_tok, char_tok.encode("a"))
    assert view.attention.shape[2:] == (1, 1) and np.all(view.attention == 1.0)
    assert all(head_role(s) == "too short to tell" and s.n_queries == 0 for s in view.heads)
    assert "too short" in describe_head(view.heads[0], "character")
    assert np.isnan(lens_summary(view).next_prob).all()
    with pytest.raises(ValueError):
        inspect_ids(nano_model, char_tok, [])


def causal_rows(rows):
    att = np.array(rows, dtype=float)
    assert np.allclose(att.sum(1), 1) and np.all(np.triu(att, 1) == 0)
    return att


def test_head_measurements_on_known_patterns():
    T = 12
    pieces = list("ab cd,ef gh.")
    previous = causal_rows([[1] + [0] * (T - 1)] + [[1 if k == q - 1 else 0 for k in range(T)] for q in range(1, T)])
    s = summarize_head(previous, pieces, 0, 0)
    assert (s.previous, s.self_weight, s.recent, s.distance, s.n_queries) == (1.0, 0.0, 1.0, 1.0, T - 1)
    assert s.spread == 0.0 and role_of(s) == "previous"

    itself = np.eye(T)
    assert role_of(summarize_head(itself, pieces, 0, 0)) == "self"

    first = causal_rows([[1] + [0] * (T - 1) for _ in range(T)])
    s = summarize_head(first, pieces, 0, 0)
    assert s.first == 1.0 and role_of(s) == "first"  # previous is only 1/11 here: not mistaken for it

    even = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    s = summarize_head(even, pieces, 0, 0)
    assert s.spread == pytest.approx(1.0) and role_of(s) == "broad"
    # Even attention puts on separators exactly the baseline share.
    assert s.separators == pytest.approx(s.separators_baseline)

    seps = [i for i, p in enumerate(pieces) if not p.isalnum()]  # ' ', ',', ' ', '.'
    to_separator = np.zeros((T, T))
    for q in range(T):
        seen = [k for k in seps if k <= q]
        to_separator[q, seen[-1] if seen else q] = 1.0
    s = summarize_head(causal_rows(to_separator), pieces, 0, 0)
    assert s.separators > 0.8 and role_of(s) == "separators"


def test_words_follow_the_measurements():
    s = HeadSummary(2, 1, 0.04, 0.12, 0.30, 0.66, 0.10, 0.20, 0.40, 20.0, 50)
    text = describe_head(s, "character")
    assert text.startswith("Layer 3, head 2 looks mostly at the first character of the window: 66%")
    assert "itself 4%" in text and "the previous character 12%" in text and "20.0 characters" in text
    other = HeadSummary(2, 1, 0.04, 0.72, 0.90, 0.01, 0.10, 0.20, 0.10, 1.3, 50)
    assert describe_head(other, "token").startswith("Layer 3, head 2 looks mostly at the previous token: 72%")
    assert head_role(HeadSummary(0, 0, 0.1, 0.2, 0.3, math.nan, 0.2, 0.2, 0.5, 3.0, 3)) == "mixed"


def test_different_models_get_their_own_words(char_tok):
    ids = char_tok.encode(TEXT)
    words = {}
    for seed in (1, 2):
        model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=seed, scale=0.5)
        view = inspect_ids(model, char_tok, ids)
        for s in view.heads:  # every sentence quotes the model's own measured numbers
            assert f"itself {s.self_weight:.0%}" in describe_head(s) or f"{s.self_weight:.0%} of its attention" in describe_head(s)
        words[seed] = [describe_head(s, "character") for s in view.heads]
    assert words[1] != words[2]


def test_word_positions_and_attention_between(char_tok):
    text = "The animal didn't cross the road because it was too wide"
    ids = char_tok.encode(text)
    assert word_positions(char_tok, ids, "it") == [[text.index(" it ") + 1, text.index(" it ") + 2]]
    assert word_positions(char_tok, ids, "road") == [list(range(text.index("road"), text.index("road") + 4))]
    assert word_positions(char_tok, ids, "cat") == []
    bpe = BPETokenizer.train("the road and the road and it " * 20, 280)
    bids = bpe.encode("the road, it")
    spans = word_positions(bpe, bids, "road")
    assert len(spans) == 1 and b"road" in b"".join(bpe.token_bytes(bids[i]) for i in spans[0])

    att = np.zeros((2, 1, 4, 4))
    att[:, 0] = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]
    got = attention_between(att, [2, 3], [0, 1])
    assert got.shape == (2, 1) and got[0, 0] == pytest.approx((2 / 3 + 2 / 4) / 2)
    with pytest.raises(ValueError):
        attention_between(att, [], [0])


def test_tile_heads_places_every_head():
    att = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    tiled = tile_heads(att, gap=2)
    assert tiled.shape == (2 * 6 - 2, 3 * 6 - 2)
    for layer in range(2):
        for head in range(3):
            assert np.array_equal(tiled[layer * 6 : layer * 6 + 4, head * 6 : head * 6 + 4], att[layer, head])
    assert np.isnan(tiled[4:6]).all() and np.isnan(tiled[:, 4:6]).all()


def test_lens_forming_reads_each_stage_at_one_position(nano_model, char_tok):
    ids = char_tok.encode(TEXT[:40])
    view = inspect_ids(nano_model, char_tok, ids)
    probs = torch.softmax(nano_model.trace(torch.tensor(ids)).lens_logits, -1)  # (L+1, T, V)
    for position in (-1, 0, 17):
        forming = lens_forming(view, position)
        stage_top = probs[:, position].argmax(-1).tolist()
        assert forming.final_id == stage_top[-1] == int(probs[-1, position].argmax())
        assert forming.top_ids.tolist() == stage_top
        assert forming.first_on_top == stage_top.index(forming.final_id)
        np.testing.assert_allclose(forming.final_probs, probs[:, position, forming.final_id].numpy(), atol=1e-6)
    np.testing.assert_allclose(view.lens_final_probs[-1], view.lens_top_probs[-1], atol=1e-6)  # at the output, the top guess


def test_it_looks_measures_the_example_sentence(nano_model, char_tok):
    sentence = "The animal didn't cross the road because it was too wide"
    ids = char_tok.encode(sentence)
    view = inspect_ids(nano_model, char_tok, ids)
    looks = it_looks(view, char_tok)
    it = [sentence.index(" it ") + 1, sentence.index(" it ") + 2]
    assert looks.it_positions == it and looks.road_positions == list(range(sentence.index("road"), sentence.index("road") + 4))
    attention = view.attention
    np.testing.assert_allclose(looks.on_animal, attention[:, :, it][:, :, :, sentence.index("animal") : sentence.index("animal") + 6].sum(-1).mean(-1))
    np.testing.assert_allclose(looks.nearby, attention[:, :, it][:, :, :, it[0] - 3 : it[-1] + 1].sum(-1).mean(-1))
    averages = looks.averages()
    assert looks.most() == max(averages, key=averages.get)
    layer, head, weight = looks.strongest("road")
    assert weight == pytest.approx(float(looks.on_road.max())) and looks.on_road[layer, head] == weight
    assert it_looks(inspect_ids(nano_model, char_tok, char_tok.encode("no such words here")), char_tok) is None
