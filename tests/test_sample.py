import math

import pytest
import torch
from conftest import perturbed_model

from llm_core.generation.sample import entropy, generate, pick_token, pick_token_torch, shape_probs, window_start
from llm_core.model.config import model_preset


def test_temperature_by_hand():
    logits = torch.tensor([2.0, 1.0, 0.0])
    p = shape_probs(logits, temperature=0.5)
    e = [math.exp(x / 0.5) for x in (2.0, 1.0, 0.0)]
    assert p.tolist() == pytest.approx([x / sum(e) for x in e], abs=1e-6)
    assert shape_probs(logits, temperature=0).tolist() == [1.0, 0.0, 0.0]
    hot = shape_probs(logits, temperature=100)
    assert hot.max() - hot.min() < 0.01


def test_top_k_by_hand():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert shape_probs(logits, top_k=2).tolist() == pytest.approx([0.625, 0.375, 0, 0], abs=1e-6)
    assert shape_probs(logits, top_k=1).tolist() == pytest.approx([1, 0, 0, 0], abs=1e-6)


def test_top_p_by_hand():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    # 0.5 + 0.3 = 0.8 < 0.9, so the third token is needed to reach 0.9; the fourth is cut
    assert shape_probs(logits, top_p=0.9).tolist() == pytest.approx([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], abs=1e-6)
    assert shape_probs(logits, top_p=0.5).tolist() == pytest.approx([1, 0, 0, 0], abs=1e-6)
    assert shape_probs(logits, top_p=0.8).tolist() == pytest.approx([0.625, 0.375, 0, 0], abs=1e-6)


def test_all_three_combined_by_hand():
    logits = torch.log(torch.tensor([0.4, 0.3, 0.2, 0.1]))
    # temperature 2: p ~ sqrt(p) -> renormalise; top-k 3 drops the last; top-p 0.6 keeps the first two
    root = [math.sqrt(x) for x in (0.4, 0.3, 0.2)]
    after_k = [r / sum(root) for r in root]
    assert after_k[0] < 0.6 < after_k[0] + after_k[1]
    two = after_k[0] + after_k[1]
    expected = [after_k[0] / two, after_k[1] / two, 0, 0]
    assert shape_probs(logits, temperature=2, top_k=3, top_p=0.6).tolist() == pytest.approx(expected, abs=1e-6)


def test_entropy():
    assert entropy(torch.tensor([1.0, 0, 0])) == 0
    assert entropy(torch.full((65,), 1 / 65)) == pytest.approx(math.log(65), abs=1e-5)


def test_window_slides_by_half_contexts():
    assert [window_start(n, 8) for n in (1, 8, 9, 12, 13, 16, 17)] == [0, 0, 4, 4, 8, 8, 12]


@pytest.mark.parametrize("position", ["rope", "learned"])
def test_cached_and_uncached_generation_pick_identical_tokens(position):
    model = perturbed_model(model_preset("nano", 65, position=position), seed=7, scale=0.1)
    kwargs = dict(max_new_tokens=200, temperature=1.0, top_k=20, seed=11)  # 200 > 3x the context of 64
    cached = [s.token_id for s in generate(model, [1, 2, 3], use_cache=True, **kwargs)]
    uncached = [s.token_id for s in generate(model, [1, 2, 3], use_cache=False, **kwargs)]
    assert cached == uncached and len(cached) == 200
    assert len(set(cached)) > 5  # really sampled, not a constant


OTHER_THAN_CPU_FLOAT32 = [("cpu", torch.bfloat16)] + ([("cuda", torch.float32)] if torch.cuda.is_available() else [])


@pytest.mark.parametrize(("device", "dtype"), OTHER_THAN_CPU_FLOAT32)
def test_a_small_model_off_the_cpu_or_not_float32_generates_from_its_float32_cpu_copy(device, dtype):
    """One token at a time, a small GPU model is faster from a CPU copy (1,123 tokens/s on an H100 for the
    bundled model); a bf16 model on the CPU takes the same path. The copy follows the model's weights."""
    from llm_core.generation.sample import Shaping
    from llm_core.generation.stepper import GenerationSession

    model = perturbed_model(model_preset("nano", 65), seed=3, scale=0.1).to(device=device, dtype=dtype)
    twin = model.decoding_model()
    assert twin is not model and twin.wte.weight.device.type == "cpu" and twin.wte.weight.dtype == torch.float32
    assert torch.equal(twin.wte.weight, model.wte.weight.float().cpu())
    kwargs = dict(max_new_tokens=80, temperature=1.0, seed=5)
    tokens = [s.token_id for s in generate(model, [1, 2], **kwargs)]
    assert tokens == [s.token_id for s in generate(twin, [1, 2], **kwargs)]  # what ran is the copy
    session = GenerationSession(model, [1, 2], seed=5)
    assert session.model is twin and [session.step(Shaping(temperature=1.0)).token_id for _ in range(5)] == tokens[:5]
    with torch.no_grad():
        model.wte.weight[3] += 1.0  # a changed weight: a new copy that has it
    assert model.decoding_model() is not twin and torch.equal(model.decoding_model().wte.weight, model.wte.weight.float().cpu())


def test_same_seed_same_text_and_steps_carry_the_distribution(nano_model):
    a = list(generate(nano_model, [5], max_new_tokens=30, seed=3, temperature=0.9, top_p=0.9))
    b = list(generate(nano_model, [5], max_new_tokens=30, seed=3, temperature=0.9, top_p=0.9))
    assert [s.token_id for s in a] == [s.token_id for s in b]
    c = [s.token_id for s in generate(nano_model, [5], max_new_tokens=30, seed=4, temperature=0.9, top_p=0.9)]
    assert c != [s.token_id for s in a]
    step = a[0]
    assert step.prob == pytest.approx(float(shape_probs(step.logits, 0.9, None, 0.9)[step.token_id]))
    assert step.raw_prob == pytest.approx(float(torch.softmax(step.logits, -1)[step.token_id]))
    assert step.candidates[0].raw_prob >= step.candidates[-1].raw_prob
    assert a[-1].stopped == "length"


def test_stop_token_ends_generation(nano_model):
    greedy = [s.token_id for s in generate(nano_model, [5], max_new_tokens=20, temperature=0)]
    stop = greedy[3]
    steps = list(generate(nano_model, [5], max_new_tokens=20, temperature=0, stop_ids=[stop]))
    assert steps[-1].token_id == stop and steps[-1].stopped == "stop token"
    assert len(steps) == greedy.index(stop) + 1


def test_bad_prompts_are_refused_clearly(nano_model):
    with pytest.raises(ValueError, match="empty"):
        next(generate(nano_model, []))
    with pytest.raises(ValueError, match="outside"):
        next(generate(nano_model, [10_000]))


def test_pick_token_in_numpy_picks_what_the_torch_walk_picks():
    """The NumPy walk (float32 on the CPU) and the PyTorch one pick the same token for the same draw: sharp
    and flat distributions, cut ones (zeros), exact ties, one-hot, draws at 0 and just below 1."""
    gen = torch.Generator().manual_seed(0)
    cases = 0
    for i in range(600):
        probs = torch.softmax(torch.randn(65, generator=gen) * (i % 9), -1)
        if i % 3 == 0:
            probs[torch.randperm(65, generator=gen)[:40]] = 0.0  # top-k / top-p cuts
        if i % 4 == 0:
            probs[:10] = probs[10]  # ties
        if i % 50 == 0:
            probs = torch.nn.functional.one_hot(torch.tensor(i % 65), 65).float()  # greedy
        for u in (0.0, float(torch.rand((), generator=gen)), 1.0 - 2**-24):
            assert pick_token(probs, u) == pick_token_torch(probs, u), (i, u)
            cases += 1
    assert cases == 1800
    nan = torch.full((5,), float("nan"))
    assert pick_token(nan, 0.5) == pick_token_torch(nan, 0.5)  # a diverged model's NaNs take the PyTorch walk
