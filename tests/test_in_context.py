"""llm_core.generation.in_context: zero-shot against few-shot, measured from the model's own numbers."""

import math

import pytest
import torch
from conftest import perturbed_model

from llm_core.generation.in_context import QUESTIONS, TASKS, WORDS, examples_for, few_shot_curve, few_shot_prompt
from llm_core.generation.sample import generate
from llm_core.model.config import model_preset
from llm_core.text.tokenizers import CharTokenizer


def test_prompts_hold_k_examples_and_never_the_question_itself():
    for i, word in enumerate(WORDS[:QUESTIONS]):
        examples = examples_for(word, 4, seed=i)
        assert word not in examples and len(set(examples)) == 4
        assert examples_for(word, 2, seed=i) == examples[:2]  # K=4 adds to the K=2 examples
        prompt = few_shot_prompt(TASKS["capitalise"], word, examples)
        assert prompt.count("\n") == 4 and prompt.endswith(f"{word}: ")
        assert f"{examples[0]}: {examples[0].capitalize()}\n" in prompt


def test_the_curve_is_the_models_probability_of_the_right_answer(nano_model, char_tok):
    curve = few_shot_curve(nano_model, char_tok, "reverse")
    assert [p.shots for p in curve.points] == [0, 1, 2] and curve.skipped_shots == [4]  # 4 examples outgrow nano's 64 characters
    assert curve.vocab_size == char_tok.vocab_size
    for point in curve.points:
        assert len(point.questions) == QUESTIONS
        q = point.questions[3]
        ids = char_tok.encode(q.prompt + q.answer)
        with torch.no_grad():
            probs = torch.softmax(nano_model(torch.tensor([ids]))[0][0], -1)
        P = len(char_tok.encode(q.prompt))
        expected = [float(probs[P - 1 + i, t]) for i, t in enumerate(ids[P:])]
        assert q.first_prob == pytest.approx(expected[0], rel=1e-4)
        assert q.answer_prob == pytest.approx(math.prod(expected), rel=1e-3)
        # "exact" is what greedy decoding really writes after the prompt.
        written = [s.token_id for s in generate(nano_model, char_tok.encode(q.prompt), len(q.answer), 0.0)]
        assert q.exact == (char_tok.decode(written) == q.answer)
        assert point.first_prob == pytest.approx(sum(x.first_prob for x in point.questions) / QUESTIONS)
    assert curve.gain == pytest.approx(curve.most.first_prob / curve.zero.first_prob)


def test_unknown_task_and_unreadable_words_are_explained(nano_model, char_tok):
    with pytest.raises(ValueError, match="unknown task"):
        few_shot_curve(nano_model, char_tok, "translate")
    abc = CharTokenizer.from_text("abc :\n")
    with pytest.raises(ValueError, match="cannot write"):
        few_shot_curve(perturbed_model(model_preset("nano", abc.vocab_size)), abc, "copy")
