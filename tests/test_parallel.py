"""llm_core.generation.parallel: one pass over a window gives a prediction at every position; writing needs one run per token."""

import pytest
import torch
from gen_helpers import count_model_calls

from llm_core.generation.parallel import UNCACHED_SAMPLES, measure_parallel
from llm_core.generation.sample import generate


def test_one_pass_predicts_every_position_and_matches_generation(nano_model):
    before = [p.detach().clone() for p in nano_model.parameters()]
    calls = count_model_calls(nano_model)
    prompt = [5, 6, 7, 8]
    cost = measure_parallel(nano_model, prompt, repeats=2)
    window = nano_model.config.block_size  # 64 for nano: under the 128 cap
    assert cost.window == window and cost.one_pass.predictions_per_run == window and cost.one_pass.runs == 1
    assert cost.cached.predictions_per_run == 1 and cost.cached.runs == cost.new_tokens == window + 1 - len(prompt)
    # Model runs: one per generated token, the timed uncached steps, and the passes (forward, then forward+backward).
    assert calls["n"] == cost.new_tokens + cost.uncached_steps_timed + 2 * 2
    assert cost.uncached_steps_timed == min(UNCACHED_SAMPLES, cost.new_tokens)
    # The text is what greedy generation writes, and the single pass guesses the same token at every generated position.
    greedy = [s.token_id for s in generate(nano_model, prompt, cost.new_tokens, 0.0, use_cache=False)]
    assert cost.text_ids == prompt + greedy
    with torch.no_grad():
        logits, _ = nano_model(torch.tensor([cost.text_ids[-window - 1 : -1]]))
    assert cost.pass_guesses == logits[0].argmax(-1).tolist()
    assert cost.matches == cost.generated_in_window == cost.new_tokens
    # The backward pass left the weights as they were and stored no gradients.
    assert all(torch.equal(a, b) for a, b in zip(before, nano_model.parameters()))
    assert all(p.grad is None for p in nano_model.parameters())
    # A step without the cache re-reads the text so far: per prediction, far slower than the pass (a ~50x gap, not a close call).
    assert cost.one_pass.ms_per_prediction < cost.uncached.ms_per_prediction
    assert all(w.total_ms > 0 for w in cost.ways())


def test_a_long_prompt_starts_from_its_last_half_window(nano_model):
    prompt = list(range(1, 60)) * 3  # 177 tokens, longer than the context
    cost = measure_parallel(nano_model, prompt, repeats=1)
    assert cost.prompt_used == nano_model.config.block_size // 2 and cost.text_ids[: cost.prompt_used] == prompt[-cost.prompt_used :]
    assert len(cost.text_ids) == cost.window + 1
    with pytest.raises(ValueError, match="empty"):
        measure_parallel(nano_model, [])
