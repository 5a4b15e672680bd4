import copy
import math
import random

import pytest
import torch
from conftest import perturbed_model

from llm_core.alignment.assistant import assess
from llm_core.alignment.finetune import ChatBatches, extend_vocabulary
from llm_core.alignment.preference import (
    DPOPair,
    Pair,
    PairBatches,
    RewardModel,
    last_positions,
    reward_accuracy,
    sequence_logprobs,
    split_pairs,
)
from llm_core.alignment.rating import auto_rate
from llm_core.alignment.tasks import Example, make_examples, split_examples
from llm_core.model.config import TrainConfig, model_preset
from llm_core.text.tokenizers import CharTokenizer
from llm_core.training.loop import train


def test_pair_batches_line_up_chosen_and_rejected(char_tok):
    _, tok = extend_vocabulary(perturbed_model(model_preset("nano", char_tok.vocab_size)), char_tok, ["Upper: catCAT"])
    pairs = [Pair(Example("upper", "Upper: cat", "CAT"), "CAT", "CATTT"), Pair(Example("upper", "Upper: at", "AT"), "AT", "A")]
    batches = PairBatches(pairs, pairs[:1], tok, 64)
    x, y = batches._collate([0, 1], batches.train_rows)
    assert x.shape[0] == 4
    learned = lambda row: "".join(tok.token_text(t) for t in y[row].tolist() if t != -100)
    assert [learned(r) for r in range(4)] == ["CAT<|end|>", "AT<|end|>", "CATTT<|end|>", "A<|end|>"]
    assert [tok.token_text(int(y[r, last_positions(y)[r]])) for r in range(4)] == ["<|end|>"] * 4


def test_sequence_logprobs_by_hand():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))
    y = torch.tensor([[1, 0]])
    assert sequence_logprobs(logits, y).item() == pytest.approx(math.log(0.5) + math.log(0.9), abs=1e-6)
    assert sequence_logprobs(logits, torch.tensor([[-100, 0]])).item() == pytest.approx(math.log(0.9), abs=1e-6)


@pytest.fixture(scope="module")
def sft_setup(shakespeare):
    """A nano model fine-tuned briefly on the upper-case task and the insult requests, with the house style
    and refusals in a share of the data: good but not perfect, so samples differ and the rule has room."""
    tok = CharTokenizer.from_text(shakespeare)
    examples = [e for e in make_examples() if e.task in ("upper", "insult")]
    train_set, held = split_examples(examples, seed=1)
    model, chat_tok = extend_vocabulary(perturbed_model(model_preset("nano", tok.vocab_size), scale=0.02), tok, [e.prompt + e.response for e in examples])
    list(train(model, ChatBatches(train_set, held, chat_tok, 64), TrainConfig(max_steps=250, batch_size=32, lr=3e-3, muon_lr=0.02, eval_every=0, log_every=50)))
    return model, chat_tok, train_set, held


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_the_reward_head_lives_where_its_backbone_does(char_tok, device):
    """A bf16 backbone (or one on a GPU) scored through a float32 CPU head failed at the head:
    "mat1 and mat2 must have the same dtype" here, a device mismatch on a GPU."""
    backbone = perturbed_model(model_preset("nano", char_tok.vocab_size), scale=0.1).to(device=device, dtype=torch.bfloat16)
    rm = RewardModel(backbone)
    assert rm.score.weight.device == backbone.wte.weight.device and rm.score.weight.dtype == torch.bfloat16
    x = torch.randint(char_tok.vocab_size, (3, 8), device=device)
    y = torch.full_like(x, -100)
    y[:, :5] = x[:, 1:6]
    r = rm.rewards(x, y)
    assert r.shape == (3,) and r.dtype == torch.float32 and torch.isfinite(r).all()


@pytest.mark.slow
def test_reward_model_beats_chance_on_held_out_pairs(sft_setup):
    model, tok, train_set, held = sft_setup
    # pairs ranked by the written instructions (house style, refusals, then the correct answer)
    pairs = auto_rate(model, tok, train_set, 120, seed=3).pairs
    assert len(pairs) >= 80
    fit, val = split_pairs(pairs, 0.3)
    rm = RewardModel(model)
    batches = PairBatches(fit, val, tok, 64)
    chance = reward_accuracy(rm, batches)
    assert chance == 0.0  # a zero-initialised head scores every response alike
    records = list(train(rm, batches, TrainConfig(max_steps=150, batch_size=16, lr=1e-3, muon_lr=0.0, eval_every=0, log_every=10)))
    acc = reward_accuracy(rm, batches)
    assert acc > 0.65, acc
    assert "accuracy" in records[-1].extras


@pytest.mark.slow
def test_dpo_raises_the_preferred_rate_with_bounded_kl(sft_setup):
    sft, tok, train_set, held = sft_setup
    rate_before = assess(sft, tok, random.Random(0).sample(held, 100), seed=5).preferred_share
    pairs = auto_rate(sft, tok, train_set, 120, seed=7).pairs
    fit, val = split_pairs(pairs, 0.2)
    pair = DPOPair(copy.deepcopy(sft), sft, beta=0.1)
    records = list(train(pair, PairBatches(fit, val, tok, 64), TrainConfig(max_steps=150, batch_size=16, lr=1e-3, muon_lr=0.005, eval_every=0, log_every=10)))
    rate_after = assess(pair.policy, tok, random.Random(0).sample(held, 100), seed=5).preferred_share
    kls = [r.extras["kl"] for r in records if r.extras]
    assert rate_after > rate_before + 0.1, (rate_before, rate_after)
    assert 0 < max(kls) < 2.0  # nats per response token: the policy moved, but stays near the SFT model
    assert records[-1].extras["margin"] > 0
    # the reference stayed frozen at the SFT weights while the policy moved
    assert all(torch.equal(a, b) for a, b in zip(pair.reference.parameters(), sft.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(pair.policy.parameters(), sft.parameters()))


def test_batch_accuracy_is_the_training_batchs_even_at_evaluation_steps(char_tok):
    """The reward model's "batch accuracy" curve read `batch_metrics()` after the evaluation had run the model on
    held-out batches, so at every evaluation step it showed a held-out batch's figures (0.000417 loss beside
    0.8 accuracy). Each record's extras must come from the training batch of its step."""

    class Marked(RewardModel):
        def forward(self, x, y=None):
            out = super().forward(x, y)
            if y is not None:
                self._stats["training"] = torch.tensor(float(self.training))  # 1 on a training batch, 0 in `evaluate`
            return out

    examples = [Example("upper", f"Upper: {w}", w.upper()) for w in ("cat", "at", "rose", "sun", "moon", "tea")]
    backbone, tok = extend_vocabulary(perturbed_model(model_preset("nano", char_tok.vocab_size)), char_tok, [e.prompt + e.response for e in examples])
    pairs = [Pair(e, e.response, e.response + "X") for e in examples]
    rm = Marked(backbone)
    records = list(train(rm, PairBatches(pairs[:4], pairs[4:], tok, 64), TrainConfig(max_steps=6, batch_size=2, lr=1e-3, muon_lr=0.0, eval_every=2, log_every=1)))
    evaluated = [r for r in records if r.val_loss is not None]
    assert len(evaluated) >= 3  # steps 2, 4, 6 evaluated
    assert all(r.extras["training"] == 1.0 for r in records), [(r.step, r.extras) for r in records]
    assert all(set(r.extras) >= {"accuracy", "margin"} for r in records)
