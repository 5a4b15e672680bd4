"""The cost calculator, the description-length arithmetic and the memorization probe."""

import pytest
import torch
from conftest import perturbed_model

from llm_core.compression import costs
from llm_core.compression.memorization import correct_predictions, longest_runs, mean_run, probe
from llm_core.generation.sample import generate
from llm_core.model.config import model_preset


def test_llama2_70b_matches_its_paper_and_the_talk():
    check = costs.llama2_70b_check()
    assert check.flops == pytest.approx(8.4e23)
    assert 0.40 < check.utilisation_paper < 0.47  # a typical large-run utilisation: the published hours are consistent with 6ND
    assert check.days_on_talk_gpus == pytest.approx(1_720_320 / 6000 / 24)
    assert 11.5 < check.days_on_talk_gpus < 12.5  # the talk's "about 12 days"
    est = costs.estimate(70e9, 2e12, costs.GPUS["A100"], check.utilisation_paper, 6000, 1.0)
    assert est.gpu_hours == pytest.approx(check.paper_gpu_hours)  # the calculator inverts the implied utilisation exactly
    # the cost is not checked against itself: the talk's $2M over the paper's hours is a price, said to be an assumption
    assert check.talk_price_per_gpu_hour == pytest.approx(2e6 / 1_720_320)
    assert check.cost_reading.startswith("not checked") and "assumes" in check.cost_reading and f"${check.talk_price_per_gpu_hour:.2f}" in check.cost_reading
    assert costs.weights_bytes(70e9, "bf16") == 140e9  # the talk's 140 GB file


def test_the_size_classes_read_the_register_and_name_real_1t_models():
    from llm_core import literature

    llama70 = next(c for c in costs.SIZE_CLASSES if c.name == "Llama 2 70B")
    assert llama70.gpu_hours == literature.value("llama2_70b_gpu_hours") and llama70.tokens == literature.value("llama2_tokens")
    assert costs.GPUS["A100"].peak_flops == literature.value("gpu_a100_peak")
    trillion = costs.SIZE_CLASSES[-1]
    assert "hypothetical" not in trillion.name and "exist" in trillion.source and "Switch-C" in trillion.source
    assert costs.DELETANG["model"] == "Chinchilla 70B" and "Wikipedia" in costs.DELETANG["dataset"]
    assert costs.DELETANG["chinchilla_70b"] == pytest.approx(literature.value("deletang_chinchilla70b_enwik9") / 100)


def test_calculator_scales_as_it_should():
    a100 = costs.GPUS["A100"]
    base = costs.estimate(1e9, 20e9, a100, 0.4, 8, 2.0)
    assert costs.estimate(2e9, 20e9, a100, 0.4, 8, 2.0).gpu_hours == pytest.approx(2 * base.gpu_hours)
    assert costs.estimate(1e9, 20e9, a100, 0.2, 8, 2.0).gpu_hours == pytest.approx(2 * base.gpu_hours)
    assert costs.estimate(1e9, 20e9, a100, 0.4, 16, 2.0).days == pytest.approx(base.days / 2)
    assert costs.estimate(1e9, 20e9, costs.GPUS["H100"], 0.4, 8, 2.0).gpu_hours < base.gpu_hours
    assert [costs.weights_bytes(1e9, p) for p in ("fp32", "bf16", "int8", "int4")] == [4e9, 2e9, 1e9, 0.5e9]
    for bad in (dict(utilisation=0), dict(utilisation=1.5), dict(n_gpus=0)):
        kwargs = dict(params=1e9, tokens=1e9, gpu=a100, utilisation=0.4, n_gpus=1, price_per_gpu_hour=1.0) | bad
        with pytest.raises(ValueError):
            costs.estimate(**kwargs)


def test_kv_cache_follows_the_published_shape():
    llama70 = next(c for c in costs.SIZE_CLASSES if c.name == "Llama 2 70B")
    weights, kv = costs.run_memory_bytes(llama70, "bf16", 4096)
    assert weights == 140e9 and kv == 2 * 80 * 1024 * 4096 * 2  # 8 key/value heads of 128: about 1.3 GB
    custom = costs.SizeClass("custom", 70e9)  # no shape: estimated, and without grouped-query attention a larger cache
    assert costs.run_memory_bytes(custom, "bf16", 4096)[1] > kv
    assert costs.run_memory_bytes(llama70, "int4", 4096)[1] == kv  # the cache stays 16-bit
    tiny = costs.SizeClass("custom", 1_000)  # a tiny count: its cache is a tiny model's, not a 196,608-parameter layer's
    layers, width = costs.estimated_shape(1_000)
    assert 12 * layers * width**2 <= 1_000 * 1.2 and costs.run_memory_bytes(tiny, "bf16", 4096)[1] == 2 * layers * width * 4096 * 2


def test_break_even_is_where_weights_plus_coded_text_beats_the_reference():
    d = costs.DescriptionLength(weights_bytes=3e6, text_bytes=1e6, coded_rate=0.27, reference_rate=1.0)
    assert d.total_bytes > d.text_bytes  # a 3 MB model for 1 MB of text does not pay
    at = costs.DescriptionLength(3e6, d.break_even_bytes, 0.27, 1.0)
    assert at.total_bytes == pytest.approx(at.text_bytes)
    assert costs.DescriptionLength(3e6, 1e6, 0.4, 0.33).break_even_bytes == float("inf")  # worse than the reference: never


def test_probe_recites_a_text_the_model_itself_would_produce(char_tok):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=2)
    prompt = char_tok.encode("ROMEO:\n")
    own = prompt + [s.token_id for s in generate(model, prompt, 20, temperature=0, top_n=0, keep_logits=False)]
    p = probe(model, char_tok, own, start=len(prompt), prompt_tokens=len(prompt), continuation_tokens=20)
    assert p.reproduced and p.matched_tokens == 20  # its own greedy text: recited in full
    other = own[: len(prompt)] + char_tok.encode("zzzzzzzzzz")
    assert not probe(model, char_tok, other, start=len(prompt), prompt_tokens=len(prompt), continuation_tokens=10).reproduced


def test_correct_predictions_and_runs(char_tok, shakespeare):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=2)
    ids = char_tok.encode(shakespeare[:2000])
    right = correct_predictions(model, ids)
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:64]]))
    assert right[:64].tolist() == (logits[0].argmax(-1) == torch.tensor(ids[1:65])).tolist()
    assert mean_run([True, True, False, True]) == pytest.approx((2 + 1 + 0 + 1) / 4)
    assert longest_runs([False] * 5, 3) == []
