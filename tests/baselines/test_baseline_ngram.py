"""The Kneser-Ney n-gram model: a distribution at every history, the equations, clear errors."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from rnnkit.baselines.ngram import KneserNeyLM, _discounts

VOCAB = 5                     # token 4 never occurs in training: it must still get probability


def tiny_text(length: int = 400, seed: int = 0) -> np.ndarray:
    """A text over tokens 0-3 with some structure (a noisy cycle)."""
    rng = np.random.default_rng(seed)
    tokens = [0]
    for _ in range(length - 1):
        tokens.append((tokens[-1] + 1) % 4 if rng.random() < 0.7 else int(rng.integers(4)))
    return np.array(tokens)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_ngram_probabilities_sum_to_one_at_every_history(order):
    lm = KneserNeyLM(tiny_text(), VOCAB, max_order=4)
    # Every history of length order − 1 over the whole vocabulary, seen or not (token 4 never is).
    for history in itertools.product(range(VOCAB), repeat=order - 1):
        probability = lm.distribution(list(history), order)
        assert probability.shape == (VOCAB,)
        assert (probability > 0).all()
        assert probability.sum() == pytest.approx(1.0, abs=1e-12)


def test_ngram_log_likelihood_is_the_sum_of_its_distributions():
    lm = KneserNeyLM(tiny_text(), VOCAB, max_order=3)
    text = np.concatenate([tiny_text(60, seed=1), [4, 4, 0]])
    total, count = lm.log_likelihood(text, order=3)
    expected = sum(math.log(lm.distribution(text[max(0, t - 2): t], 3)[text[t]]) for t in range(1, len(text)))
    assert count == len(text) - 1
    assert total == pytest.approx(expected, rel=1e-12)


def reference_probability(text: list[int], order: int, history: tuple[int, ...], word: int) -> float:
    """Interpolated modified Kneser-Ney written from Chen & Goodman's equations, with dictionaries."""
    raw = [Counter(tuple(text[i: i + k]) for i in range(len(text) - k + 1)) for k in range(order + 1)]
    continuation = [Counter(gram[1:] for gram in raw[k + 1]) for k in range(order)]

    def probability(k: int, h: tuple[int, ...]) -> float:
        if k == 0:
            return 1.0 / VOCAB
        counts = raw[k] if k == order else continuation[k]
        discounts = _discounts(np.array(list(counts.values())))
        followers = {g[-1]: c for g, c in counts.items() if g[:-1] == h}
        total = sum(followers.values())
        if total == 0:
            return probability(k - 1, h[1:])
        c = followers.get(word, 0)
        own = max(c - discounts[min(c, 3) - 1], 0) if c else 0.0
        gamma = sum(discounts[min(n, 3) - 1] for n in followers.values())
        return own / total + gamma / total * probability(k - 1, h[1:])

    return probability(order, history)


def test_ngram_matches_kneser_ney_written_from_the_equations():
    text = tiny_text(300)
    lm = KneserNeyLM(text, VOCAB, max_order=3)
    for history in [(0, 1), (3, 3), (4, 2), (1, 4)]:
        ours = lm.distribution(list(history), 3)
        expected = [reference_probability(list(text), 3, history, w) for w in range(VOCAB)]
        np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_ngram_discounts_follow_chen_and_goodman():
    counts = np.array([1] * 40 + [2] * 15 + [3] * 8 + [4] * 5 + [9] * 3)
    y = 40 / (40 + 2 * 15)
    expected = [1 - 2 * y * 15 / 40, 2 - 3 * y * 8 / 15, 3 - 4 * y * 5 / 8]
    np.testing.assert_allclose(_discounts(counts), expected)


def test_ngram_higher_order_helps_on_structured_text():
    text = tiny_text(3000)
    lm = KneserNeyLM(text[:2500], VOCAB, max_order=3)
    unigram, _ = lm.log_likelihood(text[2500:], 1)
    bigram, _ = lm.log_likelihood(text[2500:], 2)
    assert bigram > unigram


def test_ngram_sample_draws_tokens_of_the_vocabulary():
    lm = KneserNeyLM(tiny_text(), VOCAB, max_order=3)
    drawn = lm.sample(50, order=3, generator=np.random.default_rng(0))
    assert len(drawn) == 50 and set(drawn) <= set(range(VOCAB))
    again = lm.sample(50, order=3, generator=np.random.default_rng(0))
    assert drawn == again


@pytest.mark.parametrize("tokens, order, message", [
    (np.array([], dtype=np.int64), 2, "non-empty"),
    (np.array([0, 1, 2]), 0, "at least 1"),
    (np.array([0, 1, 2]), 40, "largest order"),
    (np.array([0, 7]), 2, "must lie in"),
])
def test_ngram_bad_inputs_get_clear_errors(tokens, order, message):
    with pytest.raises(ValueError, match=message):
        KneserNeyLM(tokens, VOCAB, max_order=order)


def test_ngram_order_outside_the_fitted_range_is_refused():
    lm = KneserNeyLM(tiny_text(), VOCAB, max_order=2)
    with pytest.raises(ValueError, match="from 1 to 2"):
        lm.log_likelihood(tiny_text(20), order=3)
