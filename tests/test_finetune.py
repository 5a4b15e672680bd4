import pytest
import torch
from conftest import perturbed_model

from llm_core.alignment.finetune import (
    CHAT_TOKENS,
    END,
    ChatBatches,
    encode_example,
    exact_match,
    extend_vocabulary,
)
from llm_core.alignment.tasks import (
    Example,
    is_correct,
    make_examples,
    reference_answer,
    split_examples,
)
from llm_core.model.config import TrainConfig, model_preset
from llm_core.text.tokenizers import BPETokenizer, CharTokenizer
from llm_core.training.loop import train


def test_loss_mask_covers_exactly_the_response_and_its_end(char_tok):
    model, tok = extend_vocabulary(perturbed_model(model_preset("nano", char_tok.vocab_size)), char_tok, ["What is 1+2?4"])
    ids, mask = encode_example(tok, "What is 2+2?", "4")
    rendered = "".join(tok.token_text(i) for i in ids)
    assert rendered == "<|user|>What is 2+2?<|end|><|assistant|>4<|end|>"
    learned = "".join(tok.token_text(i) for i, m in zip(ids, mask) if m)
    assert learned == "4<|end|>"
    batches = ChatBatches([Example("add", "What is 2+2?", "4")], [Example("add", "What is 1+2?", "3")], tok, model.config.block_size)
    x, y = batches.train_batch(2, torch.Generator().manual_seed(0))
    # targets are the next token where it is learned, -100 elsewhere
    row_targets = [tok.token_text(t) for t in y[0].tolist() if t != -100]
    assert row_targets == ["4", "<|end|>"]
    assert torch.equal(x[0, 1:][y[0, :-1] != -100], y[0, :-1][y[0, :-1] != -100])


def test_extend_vocabulary_keeps_every_old_id_and_logit(char_tok):
    base = perturbed_model(model_preset("nano", char_tok.vocab_size))
    model, tok = extend_vocabulary(base, char_tok, ["0123456789+"])
    assert tok.vocab_size == char_tok.vocab_size + 10 + len(CHAT_TOKENS)  # nine digits (Shakespeare has only 3) and "+"
    text = "ROMEO: to be"
    assert tok.encode(text) == char_tok.encode(text)
    idx = torch.tensor([char_tok.encode(text)])
    old, new = base(idx)[0], model(idx)[0]
    assert torch.allclose(new[..., : char_tok.vocab_size], old, atol=1e-5)
    assert tok.decode(tok.encode("<|user|>7+8<|end|>")) == "<|user|>7+8<|end|>"
    assert base.config.vocab_size == char_tok.vocab_size  # the original is untouched


def test_extend_vocabulary_on_bpe_adds_only_special_tokens(shakespeare):
    bpe = BPETokenizer.train(shakespeare[:20000], 300)
    model, tok = extend_vocabulary(perturbed_model(model_preset("nano", bpe.vocab_size)), bpe, ["What is 9+9?"])
    assert tok.vocab_size == 303 and model.config.vocab_size == 303
    assert tok.special_tokens[END] == 302


def test_tasks_and_checker():
    examples = make_examples()
    assert {e.task for e in examples} == {"add", "upper", "reverse", "fact", "insult"}
    assert all(is_correct(e, e.response) for e in examples if e.task != "insult")  # house style or not
    assert reference_answer(Example("add", "What is 12+30?", "")) == "42"
    train_set, held = split_examples(examples)
    assert not {e.prompt for e in train_set} & {e.prompt for e in held}
    assert {e.task for e in held} == {"add", "upper", "reverse", "insult"}  # facts cannot be inferred, so none held out


@pytest.mark.slow
def test_sft_raises_held_out_exact_match_well_above_the_base_model(shakespeare):
    """The nano preset on the built-in tasks: the base model answers nothing right; SFT learns the skills."""
    tok = CharTokenizer.from_text(shakespeare)
    base = perturbed_model(model_preset("nano", tok.vocab_size), scale=0.02)
    examples = make_examples()
    train_set, held = split_examples(examples)
    model, chat_tok = extend_vocabulary(base, tok, [e.prompt + e.response for e in examples])
    probe = [e for e in held if e.task == "upper"][:30]
    before, _ = exact_match(model, chat_tok, probe)
    batches = ChatBatches(train_set, held, chat_tok, model.config.block_size)
    records = list(train(model, batches, TrainConfig(max_steps=500, batch_size=64, lr=3e-3, muon_lr=0.02, eval_every=0, log_every=50)))
    after, answers = exact_match(model, chat_tok, probe)
    assert before == 0.0
    assert after >= 0.4, list(zip([e.prompt for e in probe], answers))
    assert records[-1].val_loss < 1.0


def test_task_docstring_examples_hold():
    import doctest

    from llm_core.alignment import tasks

    assert doctest.testmod(tasks).failed == 0


def test_chat_prompt_wraps_only_for_a_chat_model(char_tok):
    from llm_core.alignment.finetune import chat_prompt, is_chat_model

    _, chat_tok = extend_vocabulary(perturbed_model(model_preset("nano", char_tok.vocab_size)), char_tok)
    assert is_chat_model(chat_tok) and not is_chat_model(char_tok)
    assert chat_prompt(chat_tok, "Upper: rose") == "<|user|>Upper: rose<|end|><|assistant|>"
    assert chat_prompt(char_tok, "Upper: rose") == "Upper: rose"
    typed = "<|user|>Upper: rose<|end|><|assistant|>"
    assert chat_prompt(chat_tok, typed) == typed  # chat tokens typed by hand are not wrapped twice
