import pytest
import torch
from conftest import perturbed_model

import llm_core.model.gpt as gpt
from llm_core.model.config import model_preset
from llm_core.model.gpt import KVCache


@pytest.fixture(params=["rope", "learned"])
def model(request):
    return perturbed_model(model_preset("nano", 65, position=request.param), seed=3)


def prompt(n=40, seed=0):
    return torch.randint(65, (1, n), generator=torch.Generator().manual_seed(seed))


def test_trace_and_fast_paths_give_the_same_logits(model):
    idx = prompt()
    fast, _ = model(idx)
    trace = model.trace(idx)
    assert torch.allclose(trace.logits, fast[0], atol=1e-5)


def test_bf16_attention_path_matches_sdpa(model):
    idx = prompt()
    ref, _ = model(idx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _ = model(idx)  # takes the explicit bf16 matmul path on the CPU
    assert (low.float() - ref).abs().max() < 0.15 * ref.abs().max()
    assert (low.float().argmax(-1) == ref.argmax(-1)).float().mean() > 0.9


def test_the_cpu_training_norm_matches_f_rms_norm_in_values_and_gradients():
    """RMSNormFunction (the CPU training path's norm, backward written out) against PyTorch's own."""
    x = torch.randn(3, 7, 16, dtype=torch.float64, requires_grad=True)
    w = (1 + 0.3 * torch.randn(16, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: gpt.RMSNormFunction.apply(a, b, 1e-6), (x, w))
    grad = torch.randn(3, 7, 16, dtype=torch.float64)
    ours = gpt.RMSNormFunction.apply(x, w, 1e-6)
    ref = torch.nn.functional.rms_norm(x, (16,), w, 1e-6)
    assert torch.allclose(ours, ref, atol=1e-12)
    ours_grads = torch.autograd.grad(ours, (x, w), grad)
    ref_grads = torch.autograd.grad(ref, (x, w), grad)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(ours_grads, ref_grads))
    norm = gpt.RMSNorm(16)
    assert norm(torch.randn(2, 16, requires_grad=True)).grad_fn.name() == "RMSNormFunctionBackward"  # training on the CPU takes it
    with torch.no_grad():
        plain = torch.randn(2, 16)
        assert torch.equal(norm(plain), torch.nn.functional.rms_norm(plain, (16,), norm.weight, norm.eps))  # inference: PyTorch's


@pytest.mark.parametrize("past", [0, 5])
def test_the_cpu_bf16_attention_matmuls_are_the_explicit_attention(past):
    """causal_attention_matmuls (the bf16 CPU training path) is softmax(q k^T / sqrt(d) + mask) v, values and gradients."""
    B, H, T, hd = 2, 3, 6, 8
    q = torch.randn(B, H, T, hd, dtype=torch.float64, requires_grad=True)
    k = torch.randn(B, H, past + T, hd, dtype=torch.float64, requires_grad=True)
    v = torch.randn(B, H, past + T, hd, dtype=torch.float64, requires_grad=True)
    ours = gpt.causal_attention_matmuls(q, k, v, past)
    ref = gpt.attention_weights(q, k, past) @ v
    assert ours.shape == (B, H, T, hd) and torch.allclose(ours, ref, atol=1e-12)
    grad = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (q, k, v), grad), torch.autograd.grad(ref, (q, k, v), grad)):
        assert torch.allclose(a, b, atol=1e-10)
    # query i sees keys up to past + i only: changing a later key changes no earlier output
    k2 = k.detach().clone()
    k2[:, :, -1] += 10
    assert torch.allclose(gpt.causal_attention_matmuls(q, k2, v, past)[:, :, :-1], ours[:, :, :-1], atol=1e-12)


def test_attention_weights_are_causal_distributions(model):
    trace = model.trace(prompt(30))
    att = trace.attention  # (L, H, T, T)
    assert att.shape == (2, 2, 30, 30)
    assert torch.allclose(att.sum(-1), torch.ones(2, 2, 30), atol=1e-5)
    assert att.triu(diagonal=1).abs().max() == 0
    assert (att >= 0).all()


def test_residual_stream_is_the_sum_of_what_each_block_added(model):
    t = model.trace(prompt(20))
    for layer in range(model.config.n_layer):
        assert torch.allclose(t.residual[layer + 1], t.residual[layer] + t.attn_out[layer] + t.mlp_out[layer], atol=1e-5)
    assert torch.allclose(t.lens_logits[-1], t.logits)


def test_kv_cache_prefill_then_steps_equals_full_forward(model):
    idx = prompt(50)
    full, _ = model(idx)
    cache = KVCache(model.config, 1, "cpu")
    first, _ = model(idx[:, :30], kv_cache=cache)
    assert torch.allclose(first, full[:, :30], atol=1e-5)
    chunk, _ = model(idx[:, 30:45], kv_cache=cache)  # several new tokens at once
    assert torch.allclose(chunk, full[:, 30:45], atol=1e-5)
    for t in range(45, 50):
        step = model.decode_next(int(idx[0, t]), cache)
        assert torch.allclose(step, full[0, t], atol=1e-4)
    assert cache.length == 50


def test_sequence_longer_than_context_is_refused(model):
    with pytest.raises(ValueError, match="longer than the context"):
        model(prompt(model.config.block_size + 1))


def test_zero_initialised_head_starts_at_the_uniform_loss(char_tok):
    from llm_core.training.loop import build_model

    model = build_model(model_preset("nano", char_tok.vocab_size))
    idx = prompt(32)
    _, loss = model(idx, idx)
    assert abs(loss.item() - torch.log(torch.tensor(65.0)).item()) < 1e-4


@pytest.mark.parametrize("through", ["numpy", "torch"])
@pytest.mark.parametrize("variant", ["rope", "rope without a rotation table", "learned", "tied embeddings"])
def test_decode_next_equals_forward_at_every_position(variant, through, monkeypatch):
    """The one-token fast path (folded norms, prepared weights, masked span), in NumPy (a float32
    model on the CPU) and in PyTorch (CUDA, bf16), is the teaching path's maths: pinned to `forward`
    at every position of a whole context, after a reset and after rewinding the cache."""
    monkeypatch.setattr(gpt, "NUMPY_DECODE", through == "numpy")
    if variant == "rope without a rotation table":
        monkeypatch.setattr(gpt, "ROTATION_TABLE_BYTES", 0)  # the elementwise rotation of big heads
    position = "learned" if variant == "learned" else "rope"
    config = model_preset("nano", 65, position=position, block_size=80, tie_embeddings=variant == "tied embeddings")
    model = perturbed_model(config, seed=5)
    idx = prompt(80, seed=1)
    full, _ = model(idx)  # (1, 80, V): every position through the SDPA path
    cache = KVCache(model.config, 1, "cpu")
    assert model.decode_next(int(idx[0, 0]), cache) is not None and (cache.plan.numpy is not None) == (through == "numpy")
    cache.reset()
    for t in range(80):  # crosses the first 64-position span of the cache
        assert torch.allclose(model.decode_next(int(idx[0, t]), cache), full[0, t], atol=1e-4), t
    with pytest.raises(ValueError, match="cache is full"):
        model.decode_next(0, cache)
    cache.reset()  # stale keys beyond the stored length must not be seen
    for t in range(5):
        assert torch.allclose(model.decode_next(int(idx[0, t]), cache), full[0, t], atol=1e-4)
    model(idx[:, 5:70], kv_cache=cache)
    cache.length = 40  # rewound, as the Generation chapter's timing does
    assert torch.allclose(model.decode_next(int(idx[0, 40]), cache), full[0, 40], atol=1e-4)


def test_decode_next_follows_changed_weights(model):
    idx = prompt(10)
    cache = KVCache(model.config, 1, "cpu")
    model.decode_next(int(idx[0, 0]), cache)
    with torch.no_grad():
        model.blocks[0].mlp.fc.weight.mul_(1.5)  # as a training step changes them in place
    full, _ = model(idx)
    fresh = KVCache(model.config, 1, "cpu")  # a cache holds keys of the old weights; a new one uses the new
    for t in range(10):
        step = model.decode_next(int(idx[0, t]), fresh)
    assert torch.allclose(step, full[0, 9], atol=1e-4)


def test_squared_relu_backward_is_the_derivative():
    x = torch.randn(6, 10, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(gpt.ReLUSquared.apply, (x,))
    x = torch.tensor([-2.0, -0.0, 0.5, 3.0], requires_grad=True)
    y = gpt.ReLUSquared.apply(x)
    y.backward(torch.ones(4))
    assert y.tolist() == [0.0, 0.0, 0.25, 9.0] and x.grad.tolist() == [0.0, 0.0, 1.0, 6.0]


def test_a_bf16_models_trace_gives_float32_readings_close_to_its_float32_twins():
    """The teaching path of a bf16 model: the logit lens ran float32 residuals through the bf16 head and
    failed ("expected m1 and m2 to have the same dtype"), which broke the Overview's walkthrough."""
    model = perturbed_model(model_preset("nano", 65), seed=4, scale=0.1)
    ids = torch.tensor([1, 5, 9, 2, 7])
    exact = model.trace(ids)
    bf16 = model.to(torch.bfloat16).trace(ids)
    for name in ("logits", "attention", "residual", "lens_logits"):
        got, want = getattr(bf16, name), getattr(exact, name)
        assert got.dtype == torch.float32 and got.shape == want.shape, name
        assert torch.allclose(got, want, atol=0.15 * float(want.abs().max()) + 1e-3), name
