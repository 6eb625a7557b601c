"""n-gram blocking and the repetition penalty of rnnkit.decoding.repetition, alone and inside
generate and beam_search."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.decoding import (
    beam_search, block_repeated_ngrams, generate, penalize_repetition, prime, sample_next,
)


def repeated_ngrams(tokens: list[int], n: int) -> list[tuple[int, ...]]:
    """The n-grams that occur more than once in ``tokens``."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return sorted({gram for gram in grams if grams.count(gram) > 1})


def blocked_reference(history: list[int], n: int) -> set[int]:
    """Tokens v such that history + [v] ends with an n-gram that history already holds."""
    if len(history) < n:
        return set()
    prefix = tuple(history[len(history) - n + 1:])
    return {history[i + n - 1] for i in range(len(history) - n + 1) if tuple(history[i:i + n - 1]) == prefix}


@pytest.fixture
def cycle_model(make_table_model):
    """0 → 1 → 2 → 0 … almost surely, over a vocabulary of 5: every decoder repeats it unless stopped."""
    transitions = torch.full((5, 5), 0.02)
    for token in range(5):
        transitions[token, (token + 1) % 3] = 1.0
    return make_table_model(transitions / transitions.sum(-1, keepdim=True))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_block_repeated_ngrams_bans_exactly_the_tokens_that_would_repeat_an_ngram(n):
    generator = torch.Generator().manual_seed(n)
    history = torch.randint(3, (8, 16), generator=generator)       # a small vocabulary: many repeats
    logits = torch.randn(8, 6, generator=generator)
    blocked = block_repeated_ngrams(logits, history, n)     # tokens 3-5 never occur: no row is emptied
    expected_rows = [blocked_reference(row_history, n) for row_history in history.tolist()]
    assert any(expected_rows), "some row should block something for this test to mean anything"
    for row, (expected, row_logits) in enumerate(zip(expected_rows, logits)):
        assert set(blocked[row].isneginf().nonzero().flatten().tolist()) == expected
        kept = [v for v in range(logits.size(-1)) if v not in expected]
        assert torch.equal(blocked[row, kept], row_logits[kept])


def test_block_repeated_ngrams_leaves_a_row_it_would_empty_unblocked():
    # Both bigrams after 0 are already held, and token 2 is banned by another rule.
    history = torch.tensor([[0, 0, 1, 0]])
    logits = torch.tensor([[0.5, -1.0, -math.inf]])
    assert torch.equal(block_repeated_ngrams(logits, history, 2), logits)


def test_block_repeated_ngrams_is_off_for_zero_and_for_a_short_history():
    logits = torch.randn(2, 5)
    history = torch.tensor([[1, 1, 1], [2, 2, 2]])
    assert torch.equal(block_repeated_ngrams(logits, history, 0), logits)
    assert torch.equal(block_repeated_ngrams(logits, history, 4), logits)


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0, 1.0], [0.3, 0.0, -0.4, 4.0, -2.0]], dtype=torch.float64)
    history = torch.tensor([[0, 1, 1], [4, 3, 3]])
    theta = 1.7
    penalized = penalize_repetition(logits, history, theta)
    # CTRL: p_v ∝ exp(z_v / θ) for a seen v with z_v > 0, exp(z_v · θ) for z_v < 0, exp(z_v) otherwise.
    for row, seen in enumerate(({0, 1}, {3, 4})):
        weights = []
        for v, z in enumerate(logits[row].tolist()):
            if v in seen:
                z = z / theta if z > 0 else z * theta
            weights.append(math.exp(z))
        expected = [w / sum(weights) for w in weights]
        torch.testing.assert_close(penalized[row].softmax(-1), torch.tensor(expected, dtype=torch.float64))


def test_repetition_penalty_of_one_or_without_history_changes_nothing():
    logits = torch.randn(2, 5)
    assert torch.equal(penalize_repetition(logits, torch.tensor([[1, 2], [0, 0]]), 1.0), logits)
    assert torch.equal(penalize_repetition(logits, torch.zeros(2, 0, dtype=torch.long), 2.0), logits)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_greedy_generation_with_ngram_blocking_repeats_no_ngram(cycle_model, n):
    prompt = torch.tensor([[0], [2]])
    length = 5 if n == 1 else 12                     # n = 1: at most one of each of the 5 tokens
    plain = torch.stack(list(generate(cycle_model, prompt, length, strategy="greedy")), dim=1)
    blocked = torch.stack(list(generate(cycle_model, prompt, length, strategy="greedy", no_repeat_ngram_size=n)),
                          dim=1)
    for plain_row, row in zip(plain.tolist(), blocked.tolist()):
        assert repeated_ngrams(plain_row, n), "without blocking the model repeats itself"
        assert repeated_ngrams(row, n) == []


@pytest.mark.parametrize("model_name", ["cycle_model", "lstm_model"])
@pytest.mark.parametrize("n", [2, 3])
def test_no_beam_hypothesis_holds_a_repeated_ngram(request, model_name, n):
    model = request.getfixturevalue(model_name)
    prompt = torch.tensor([0, 1])
    plain = beam_search(model, prompt, beam_size=4, max_new_tokens=12)
    assert any(repeated_ngrams(h.tokens, n) for h in plain), "without blocking some hypothesis repeats"
    hypotheses = beam_search(model, prompt, beam_size=4, max_new_tokens=12, no_repeat_ngram_size=n)
    assert len(hypotheses) == 4
    for hypothesis in hypotheses:
        assert repeated_ngrams(hypothesis.tokens, n) == []


def test_beam_of_one_with_ngram_blocking_is_greedy_with_ngram_blocking(lstm_model):
    prompt = torch.tensor([3, 1, 4])
    greedy = torch.cat(list(generate(lstm_model, prompt[None], 15, strategy="greedy", no_repeat_ngram_size=2)))
    (best,) = beam_search(lstm_model, prompt, beam_size=1, max_new_tokens=15, no_repeat_ngram_size=2)
    assert best.tokens == greedy.tolist()


def test_sampling_with_a_repetition_penalty_draws_from_the_penalized_logits(lstm_model):
    prompt = torch.randint(5, (3, 4), generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(3)
    expected, history = [], torch.zeros(3, 0, dtype=torch.long)
    logits, state = prime(lstm_model, prompt)
    for _ in range(8):
        tokens = sample_next(penalize_repetition(logits, history, 1.5), 0.8, generator=generator)
        expected.append(tokens)
        history = torch.cat([history, tokens[:, None]], dim=1)
        logits, state = lstm_model.step(tokens, state)
    generated = generate(lstm_model, prompt, 8, temperature=0.8, repetition_penalty=1.5,
                         generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.stack(list(generated), dim=1), torch.stack(expected, dim=1))


@pytest.mark.parametrize("strategy", ["greedy", "sample"])
def test_the_options_at_their_off_values_change_nothing(lstm_model, strategy):
    prompt = torch.tensor([[3, 1, 4]])

    def run(**options) -> list[int]:
        return torch.cat(list(generate(lstm_model, prompt, 20, strategy=strategy,
                                       generator=torch.Generator().manual_seed(0), **options))).tolist()

    assert run(no_repeat_ngram_size=0, repetition_penalty=1.0) == run()
    off, omitted = (beam_search(lstm_model, prompt[0], 3, 10, **options) for options in ({"no_repeat_ngram_size": 0}, {}))
    assert off == omitted


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
    ({"no_repeat_ngram_size": 1.5}, "no_repeat_ngram_size"),
    ({"no_repeat_ngram_size": True}, "no_repeat_ngram_size"),
    ({"repetition_penalty": 0}, "repetition_penalty"),
    ({"repetition_penalty": -1.2}, "repetition_penalty"),
    ({"repetition_penalty": float("nan")}, "repetition_penalty"),
])
def test_bad_repetition_arguments_raise_at_the_call(lstm_model, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        generate(lstm_model, torch.tensor([[1, 2]]), 3, **kwargs)
    if "no_repeat_ngram_size" in kwargs:
        with pytest.raises(ValueError, match=argument):
            beam_search(lstm_model, torch.tensor([1, 2]), 2, 3, **kwargs)
