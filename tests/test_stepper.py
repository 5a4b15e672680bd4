"""GenerationSession and the numbers of the Generation chapter, without Streamlit."""

import math

import pytest
import torch
from conftest import perturbed_model
from gen_helpers import bpe_model, count_model_calls

from llm_core.generation.sample import Shaping, generate, shape_probs, window_start
from llm_core.generation.stepper import (
    GenerationSession,
    distinct_ngrams,
    drop_unknown,
    longest_repeat,
    ms_per_token,
    start_ids,
    step_view,
    temperature_effect,
    trailing_loop,
)
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import UnknownCharacterError

SHAPINGS = [Shaping(1.0), Shaping(0.0), Shaping(0.8, top_k=10), Shaping(1.3, top_p=0.9), Shaping(0.7, top_k=20, top_p=0.8)]


@pytest.fixture(scope="module")
def short_context_model(char_tok):
    """The nano model with a context of 16 instead of 64: a few dozen steps slide its window twice
    (without the KV cache each step runs the whole window, so this is most of this file's time)."""
    return perturbed_model(model_preset("nano", char_tok.vocab_size, block_size=16))


@pytest.mark.parametrize("shaping", SHAPINGS, ids=str)
@pytest.mark.parametrize("use_cache", [True, False])
def test_step_by_step_equals_generate_with_the_same_seed(short_context_model, shaping, use_cache):
    model, context = short_context_model, short_context_model.config.block_size
    n = 2 * context + 6  # > 2x the context: the window slides twice
    expected = list(generate(model, [5, 6], n, shaping.temperature, shaping.top_k, shaping.top_p, seed=9, use_cache=use_cache))
    session = GenerationSession(model, [5, 6], seed=9, use_cache=use_cache)
    steps = [session.step(shaping) for _ in range(n)]
    assert [s.token_id for s in steps] == [s.token_id for s in expected]
    assert [s.prob for s in steps] == pytest.approx([s.prob for s in expected], abs=1e-6)
    assert [s.context_start for s in steps] == [s.context_start for s in expected]
    assert steps[-1].context_start == window_start(2 + n - 1, context) > context  # it went past the window, twice
    assert session.ids == [5, 6] + [s.token_id for s in steps] and session.generated == session.ids[2:]
    assert session.model_calls == n + 1  # one per step, plus the first look at the prompt
    if shaping.temperature:
        assert len(set(session.generated)) > 5  # really sampled


def test_same_seed_same_text_other_seed_other_text(nano_model):
    def text(seed):
        session = GenerationSession(nano_model, [1], seed=seed)
        return [session.step(Shaping(0.9)).token_id for _ in range(40)]

    assert text(3) == text(3)
    assert text(3) != text(4)


def test_switching_the_cache_mid_way_keeps_the_text(nano_model):
    plain = GenerationSession(nano_model, [3, 4, 5], seed=2)
    switched = GenerationSession(nano_model, [3, 4, 5], seed=2, use_cache=False)
    for i in range(140):
        if i % 37 == 0:
            switched.use_cache = not switched.use_cache
        plain.step(Shaping(1.0))
        switched.step(Shaping(1.0))
    assert plain.ids == switched.ids


def test_reshaping_cached_logits_needs_no_model_call_and_equals_a_fresh_run(nano_model):
    session = GenerationSession(nano_model, [7, 8, 9], seed=1)
    for _ in range(80):  # past the window of 64
        session.step(Shaping(1.0, top_k=30))
    calls = count_model_calls(nano_model)
    before = session.model_calls
    previews = {s: session.preview(s) for s in SHAPINGS}
    views = [step_view(session.pending.logits, s, session.pending.draw) for s in SHAPINGS]
    assert calls["n"] == 0 and session.model_calls == before
    assert len({p.token_id for p in previews.values()}) >= 1 and views[1].kept == 1  # greedy keeps one token

    start = window_start(len(session.ids), 64)
    with torch.no_grad():
        fresh = nano_model(torch.tensor([session.ids[start:]]))[0][0, -1]
    assert calls["n"] == 1
    for shaping, preview in previews.items():
        expected = shape_probs(fresh, shaping.temperature, shaping.top_k, shaping.top_p)
        got = shape_probs(preview.logits, shaping.temperature, shaping.top_k, shaping.top_p)
        assert torch.allclose(got, expected, atol=1e-5)
        assert preview.prob == pytest.approx(float(expected[preview.token_id]), abs=1e-5)
    # The committed step is the previewed one, and only then does the model run again.
    chosen = session.step(Shaping(0.8, top_k=10))
    assert chosen.token_id == previews[Shaping(0.8, top_k=10)].token_id
    assert calls["n"] == 2


def test_step_view_by_hand():
    logits = torch.log(torch.tensor([0.4, 0.3, 0.2, 0.1]))

    hot = step_view(logits, Shaping(temperature=2.0), draw=0.0)
    roots = [math.sqrt(p) for p in (0.4, 0.3, 0.2, 0.1)]
    assert [r.prob for r in hot.rows] == pytest.approx([r / sum(roots) for r in roots], abs=1e-6)
    assert [r.raw_prob for r in hot.rows] == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=1e-6)
    assert hot.chosen_id == 0 and all(r.cut_by is None for r in hot.rows)
    assert hot.entropy > hot.raw_entropy  # hotter is flatter

    top_k = step_view(logits, Shaping(top_k=2), draw=0.6)
    assert [r.prob for r in top_k.rows] == pytest.approx([4 / 7, 3 / 7, 0, 0], abs=1e-6)
    assert [r.cut_by for r in top_k.rows] == [None, None, "top-k", "top-k"]
    assert top_k.chosen_id == 1 and top_k.kept == 2  # 0.6 > 4/7: the draw passes the first token

    top_p = step_view(logits, Shaping(top_p=0.6), draw=0.5)
    assert [r.running_total for r in top_p.rows] == pytest.approx([0.4, 0.7, 0.9, 1.0], abs=1e-6)
    assert [r.prob for r in top_p.rows] == pytest.approx([4 / 7, 3 / 7, 0, 0], abs=1e-6)
    assert [r.cut_by for r in top_p.rows] == [None, None, "top-p", "top-p"]
    assert top_p.chosen_id == 0

    greedy = step_view(logits, Shaping(temperature=0), draw=0.99)
    assert [r.prob for r in greedy.rows] == [1, 0, 0, 0] and greedy.chosen_id == 0
    assert [r.cut_by for r in greedy.rows] == [None, "greedy", "greedy", "greedy"]

    # The chosen token is shown even when it ranks below the candidates listed.
    tail = step_view(logits, Shaping(), draw=0.95, top_n=2)
    assert [r.token_id for r in tail.rows] == [0, 1, 3] and tail.rows[-1].chosen and tail.chosen_rank == 3


def test_stop_token_ends_the_session(nano_model):
    greedy = GenerationSession(nano_model, [5], seed=0)
    tokens = [greedy.step(Shaping(0)).token_id for _ in range(10)]
    stop = tokens[4]
    session = GenerationSession(nano_model, [5], seed=0, stop_ids=[stop])
    while not session.stopped:
        session.step(Shaping(0))
    assert session.generated == tokens[: tokens.index(stop) + 1]
    with pytest.raises(ValueError, match="stop token"):
        session.step(Shaping(0))


def test_old_logits_are_dropped_for_big_vocabularies(monkeypatch, nano_model):
    import llm_core.generation.stepper as stepper

    monkeypatch.setattr(stepper, "KEEP_LOGIT_NUMBERS", nano_model.config.vocab_size * 5)
    session = GenerationSession(nano_model, [1], seed=0)
    for _ in range(12):
        session.step(Shaping(1.0))
    kept = [s.logits is not None for s in session.history]
    assert kept == [False] * 7 + [True] * 5


def test_bad_prompts_are_refused(nano_model):
    with pytest.raises(ValueError, match="empty"):
        GenerationSession(nano_model, [])
    with pytest.raises(ValueError, match="outside"):
        GenerationSession(nano_model, [10_000])


def test_start_ids_for_empty_and_unseen_text(char_tok, shakespeare):
    assert start_ids(char_tok, "ROMEO:") == (char_tok.encode("ROMEO:"), None)
    ids, note = start_ids(char_tok, "")
    assert ids == char_tok.encode("\n") and "newline" in note
    with pytest.raises(UnknownCharacterError) as err:
        start_ids(char_tok, "Romeo ☃ and Jüliet")
    cleaned = drop_unknown("Romeo ☃ and Jüliet", err.value.chars)
    assert cleaned == "Romeo  and Jliet" and start_ids(char_tok, cleaned)[1] is None
    bpe, _ = bpe_model(shakespeare)
    assert start_ids(bpe, "")[0] == bpe.encode("\n")
    assert bpe.decode(start_ids(bpe, "Jüliet ☃")[0]) == "Jüliet ☃"  # byte-level: nothing is unseen


def test_a_bpe_model_steps_and_shows_partial_bytes(shakespeare):
    tokenizer, model = bpe_model(shakespeare)
    session = GenerationSession(model, tokenizer.encode("ROMEO: ☃"), seed=0)
    for _ in range(100):
        session.step(Shaping(1.5))
    expected = [s.token_id for s in generate(model, tokenizer.encode("ROMEO: ☃"), 100, 1.5, seed=0)]
    assert session.generated == expected
    assert tokenizer.decode(session.ids).startswith("ROMEO: ☃")
    assert any(tokenizer.token_text(t).startswith("<0x") for t in tokenizer.encode("☃"))


def test_loops_and_repetition():
    assert trailing_loop([1, 2, 3] * 6) == (3, 18)
    assert trailing_loop([9, 8] + [4, 5, 6, 7] * 4) == (4, 16)
    assert trailing_loop(list(range(40))) == (0, 0)
    assert distinct_ngrams(list(range(40))) == 1.0
    assert distinct_ngrams([1, 2, 3] * 10, n=4) == pytest.approx(3 / 27)


def test_ms_per_token_measures_both_paths(nano_model):
    cost = ms_per_token(nano_model, list(range(1, 50)), repeats=3)
    assert cost.context_tokens == 49 and cost.refill_every == 32
    assert cost.cached_ms > 0 and cost.uncached_ms > 0 and cost.refill_ms > 0
    beyond = ms_per_token(nano_model, [1] * 100, repeats=1)
    assert beyond.context_tokens == 100 - window_start(100, 64)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 1.7])
def test_temperature_effect_is_the_shaped_probability_of_the_favourite(nano_model, temperature):
    logits = GenerationSession(nano_model, [5, 6, 7], seed=0).pending.logits
    effect = temperature_effect(logits, temperature)
    assert effect.token_id == int(logits.argmax())
    assert effect.raw_prob == pytest.approx(float(torch.softmax(logits, -1).max()), abs=1e-6)
    assert effect.tempered_prob == pytest.approx(float(shape_probs(logits, temperature)[effect.token_id]), abs=1e-6)
    top2 = torch.topk(logits, 2).values
    assert effect.gap == pytest.approx(float(top2[0] - top2[1]), abs=1e-6)
    # Below 1 the favourite gains, above 1 it loses, at 1 nothing changes.
    assert (effect.tempered_prob > effect.raw_prob) == (temperature < 1) and (effect.tempered_prob < effect.raw_prob) == (temperature > 1)
    with pytest.raises(ValueError, match="positive"):
        temperature_effect(logits, 0)


def naive_longest_repeat(ids: list) -> int:
    """The longest length L such that two different start positions hold the same L tokens."""
    best = 0
    for length in range(1, len(ids)):
        seen = {}
        found = False
        for i in range(len(ids) - length + 1):
            key = tuple(ids[i : i + length])
            if key in seen:
                found = True
                break
            seen[key] = i
        if not found:
            break
        best = length
    return best


@pytest.mark.parametrize("seed", range(6))
def test_longest_repeat_agrees_with_a_brute_force_search(seed):
    rng = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 2 + seed, (60,), generator=rng).tolist() + list("the sea, and the sea, and")
    rep = longest_repeat(ids)
    assert rep.length == naive_longest_repeat(ids)
    assert rep.first_at < rep.again_at and ids[rep.first_at : rep.first_at + rep.length] == ids[rep.again_at : rep.again_at + rep.length]
    assert longest_repeat([1, 2, 3, 4]) is None and longest_repeat([7, 7]).length == 1


def test_greedy_decoding_of_the_bundled_model_repeats_itself():
    """The sentence the chapter shows is computed: here it is checked on the bundled model's greedy text."""
    from lab_ui.state import bundled

    entry = bundled()
    ids = [s.token_id for s in generate(entry.model, entry.tokenizer.encode("ROMEO:\n"), 120, 0.0)]
    rep = longest_repeat(ids)
    assert rep is not None and rep.length == naive_longest_repeat(ids)
