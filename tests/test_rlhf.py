"""RLHF's policy-gradient stage: on a toy reward it raises the reward, and the KL leash holds."""

import copy

import pytest
import torch
from conftest import perturbed_model

from llm_core.alignment.finetune import extend_vocabulary
from llm_core.alignment.rlhf import RLHFConfig, group_advantages, policy_loss, response_batch, rlhf
from llm_core.alignment.sampling import sample_responses
from llm_core.alignment.tasks import Example
from llm_core.model.config import model_preset

VOWELS = "aeiou"


class VowelReward(torch.nn.Module):
    """A toy reward model: the share of vowels among an answer's tokens."""

    def __init__(self, tokenizer):
        super().__init__()
        self.vowel_ids = torch.tensor([tokenizer.encode(v)[0] for v in VOWELS])

    @property
    def device(self):
        return torch.device("cpu")

    def rewards(self, x, y):
        mask = y != -100
        hits = torch.isin(y, self.vowel_ids) & mask
        return hits.sum(1).float() / mask.sum(1).clamp(min=1)


@pytest.fixture(scope="module")
def toy(char_tok):
    model, tok = extend_vocabulary(perturbed_model(model_preset("nano", char_tok.vocab_size), scale=0.1), char_tok)
    prompts = [Example("upper", f"Upper: {w}", w.upper()) for w in ("rose", "tree", "lamp", "moon")]
    return model, tok, prompts


def test_group_advantages_are_zero_mean_per_prompt():
    adv = group_advantages(torch.tensor([[0.0, 1.0, 2.0], [5.0, 5.0, 8.0]]))
    assert torch.allclose(adv.mean(1), torch.zeros(2), atol=1e-6)
    assert adv[0, 2] > adv[0, 0] and adv[1, 2] > 0 > adv[1, 0]


def test_response_batch_learns_only_the_answer(toy):
    model, tok, prompts = toy
    samples = [g[0] for g in sample_responses(model, tok, prompts[:2], n=1, max_tokens=5, generator=torch.Generator().manual_seed(0))]
    x, y = response_batch(samples, tok.special_tokens["<|end|>"], model.config.block_size)
    for row, s in enumerate(samples):
        assert [t for t in y[row].tolist() if t != -100] == s.response_ids


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: the seeded CPU generator with a model on CUDA")
def test_a_model_on_a_gpu_samples_with_the_callers_cpu_generator(toy):
    """The chapter's stages seed a CPU generator; with the model on CUDA, torch.multinomial refused it
    ("Expected a 'cuda' device type for generator"), and every GPU user's fine-tuning failed."""
    model, tok, prompts = toy
    on_gpu = copy.deepcopy(model).to("cuda")
    draws = [[[s.response_ids for s in g] for g in sample_responses(on_gpu, tok, prompts, n=2, max_tokens=6, generator=torch.Generator().manual_seed(2))]
             for _ in range(2)]
    assert draws[0] == draws[1]  # one seed, the same answers
    assert all(0 <= t < tok.vocab_size for g in draws[0] for ids in g for t in ids)


def test_kl_is_zero_at_the_reference_and_the_loss_follows_the_advantage(toy):
    model, tok, prompts = toy
    samples = [s for g in sample_responses(model, tok, prompts, n=2, max_tokens=6, generator=torch.Generator().manual_seed(1)) for s in g]
    x, y = response_batch(samples, tok.special_tokens["<|end|>"], model.config.block_size)
    _, stats = policy_loss(model, copy.deepcopy(model), x, y, torch.zeros(len(samples)), kl_coef=1.0)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.slow
def test_policy_gradient_raises_a_toy_reward_with_bounded_kl(toy):
    model, tok, prompts = toy
    policy, reference = copy.deepcopy(model), copy.deepcopy(model)
    cfg = RLHFConfig(max_steps=30, prompts_per_step=4, group_size=8, lr=2e-3, kl_coef=0.5, max_tokens=8, eval_every=0, time_budget_s=None, seed=0)
    records = list(rlhf(policy, reference, VowelReward(tok), tok, prompts, cfg))
    rewards = [r.extras["reward"] for r in records if not r.done]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.1 and last > 2 * first, (first, last)
    kls = [r.extras["kl"] for r in records if not r.done]
    assert 0 < max(kls) < 8.0  # nats per answer of at most 8 tokens: moved, but leashed
    assert records[-1].done and records[-1].stop_reason == "reached the step limit"
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), model.parameters()))  # the reference never moves


def test_stop_and_time_budget_end_the_loop_and_say_why(toy):
    import threading

    model, tok, prompts = toy
    stop = threading.Event()
    stop.set()
    records = list(rlhf(copy.deepcopy(model), model, VowelReward(tok), tok, prompts, RLHFConfig(max_steps=5, max_tokens=4, group_size=2), stop))
    assert records[-1].stop_reason == "stopped by user" and records[-1].step == 0
    records = list(rlhf(copy.deepcopy(model), model, VowelReward(tok), tok, prompts, RLHFConfig(max_steps=500, max_tokens=4, group_size=2, time_budget_s=0.5)))
    assert "time budget" in records[-1].stop_reason and records[-1].step < 500
