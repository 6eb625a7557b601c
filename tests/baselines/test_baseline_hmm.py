"""The hidden Markov language model: Baum–Welch never lowers the likelihood, scores are the
forward algorithm's, bad settings get clear errors."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

pytest.importorskip("hmmlearn", reason="the HMM baseline needs hmmlearn (pip install rnnkit[baselines])")

from rnnkit.baselines.hmm import HiddenMarkovLM, HMMConfig  # noqa: E402


def generated_text(length: int = 600, seed: int = 0) -> np.ndarray:
    """Tokens 0-5 from a hidden 2-state process: state 0 emits mostly 0-2, state 1 mostly 3-5."""
    rng = np.random.default_rng(seed)
    state, tokens = 0, []
    for _ in range(length):
        state = state if rng.random() < 0.9 else 1 - state
        tokens.append(int(rng.integers(3)) + 3 * state if rng.random() < 0.9 else int(rng.integers(6)))
    return np.array(tokens)


def forward_log_likelihood(tokens: np.ndarray, start: np.ndarray, transition: np.ndarray,
                           emission: np.ndarray) -> float:
    """ln P(x_1 … x_T) by the scaled forward algorithm (Rabiner 1989, eqs. 19-21 with scaling)."""
    alpha = start * emission[:, tokens[0]]
    total = 0.0
    for t in range(len(tokens)):
        if t:
            alpha = (alpha @ transition) * emission[:, tokens[t]]
        scale = alpha.sum()
        total += math.log(scale)
        alpha = alpha / scale
    return total


def test_hmm_baum_welch_never_lowers_the_likelihood():
    hmm = HiddenMarkovLM(generated_text(), 6, HMMConfig(states=4, iterations=25, tolerance=-1.0,
                                                         emission_pseudocount=0.0))
    history = hmm.history
    assert len(history) == 25
    assert all(later >= earlier - 1e-6 for earlier, later in zip(history, history[1:]))
    assert history[-1] > history[0]


def test_hmm_log_likelihood_is_the_forward_algorithm():
    hmm = HiddenMarkovLM(generated_text(), 6, HMMConfig(states=3, iterations=5))
    text = generated_text(200, seed=1)
    model = hmm.model
    full = forward_log_likelihood(text, model.startprob_, model.transmat_, model.emissionprob_)
    first = math.log(model.startprob_ @ model.emissionprob_[:, text[0]])
    total, count = hmm.log_likelihood(text)
    assert count == len(text) - 1
    assert total == pytest.approx(full - first, rel=1e-9)


def test_hmm_pseudocount_keeps_unseen_tokens_possible():
    training = generated_text() % 5                      # token 5 never seen in training
    hmm = HiddenMarkovLM(training, 6, HMMConfig(states=2, iterations=5, emission_pseudocount=0.1))
    total, _ = hmm.log_likelihood(np.array([0, 5, 1, 5]))
    assert math.isfinite(total)


def test_hmm_trains_on_the_last_slice_it_is_given():
    text = generated_text(500)
    hmm = HiddenMarkovLM(text, 6, HMMConfig(states=2, iterations=2, train_tokens=100))
    np.testing.assert_array_equal(hmm.training, text[-100:])
    assert hmm.size() == 1 + 2 * 1 + 2 * 5


def test_hmm_sample_is_reproducible_and_in_the_vocabulary():
    hmm = HiddenMarkovLM(generated_text(), 6, HMMConfig(states=2, iterations=3))
    drawn = hmm.sample(40, seed=3)
    assert len(drawn) == 40 and set(drawn) <= set(range(6))
    assert drawn == hmm.sample(40, seed=3)


@pytest.mark.parametrize("settings, message", [
    ({"states": 0}, "at least 1 hidden state"),
    ({"iterations": 0}, "iterations"),
    ({"emission_pseudocount": -1.0}, "pseudocount"),
])
def test_hmm_bad_settings_get_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        HMMConfig(**settings)


def test_hmm_refuses_a_text_too_short():
    with pytest.raises(ValueError, match="at least 2 token"):
        HiddenMarkovLM(np.array([], dtype=np.int64), 3, HMMConfig(states=2))


def test_hmm_without_hmmlearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hmmlearn", None)
    with pytest.raises(ImportError, match=r"rnnkit\[baselines\]"):
        HiddenMarkovLM(generated_text(20), 6, HMMConfig(states=2))
