r"""A hidden Markov language model: N discrete hidden states, one token emitted per step.

The model of the notes (deck 004, "Hidden Markov Models"; Rabiner 1989, "A tutorial on hidden Markov
models and selected applications in speech recognition"): a start distribution π, a transition
matrix A and an emission matrix B,

    P(s_1) = π,   P(s_t | s_{t−1}) = A[s_{t−1}, s_t],   P(x_t | s_t) = B[s_t, x_t],

fitted by Baum–Welch (Baum et al. 1970: expectation–maximisation with the forward–backward
algorithm), which never lowers the likelihood of the training text. A text is scored with the
forward algorithm, α_1 = π ⊙ B[:, x_1], α_t = (α_{t−1} A) ⊙ B[:, x_t], P(x_1 … x_T) = Σ α_T.
The notes' point: at each step the model is in *one* of its N states, so it carries at most
log₂ N bits about what it has generated so far.

hmmlearn's :class:`~hmmlearn.hmm.CategoricalHMM` does the work (its "scaling" implementation, in
compiled code). A Dirichlet pseudo-count on the emissions (``emission_pseudocount``; a MAP estimate)
keeps every token possible in every state, so a character of the validation text that the training
slice lacks costs bits instead of making the likelihood zero. Baum–Welch costs O(T N²) per
iteration — for N = 256 about 10 s per 20,000 characters on one core — so it is trained on a
bounded slice of the text for a bounded number of iterations (:class:`HMMConfig`) and evaluated on
the whole validation text.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

INSTALL_HINT = "the HMM baseline needs hmmlearn: pip install rnnkit[baselines]"


@dataclass(frozen=True)
class HMMConfig:
    """How the hidden Markov model is fitted."""

    states: int = 64                    # N, the hidden states
    train_tokens: int = 50_000          # Baum–Welch reads the last this many training tokens; 0: all
    iterations: int = 10                # at most this many Baum–Welch iterations
    tolerance: float = 1e-3             # stop earlier when the log-likelihood gains less (nats)
    emission_pseudocount: float = 0.1   # Dirichlet pseudo-count added to every emission; 0: maximum likelihood
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.states, int) or self.states < 1:
            raise ValueError(f"the HMM needs at least 1 hidden state, got states={self.states!r}")
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {self.iterations!r}")
        if not isinstance(self.train_tokens, int) or self.train_tokens < 0:
            raise ValueError(f"train_tokens must be a non-negative integer, got {self.train_tokens!r}")
        if self.emission_pseudocount < 0:
            raise ValueError(f"emission_pseudocount must be non-negative, got {self.emission_pseudocount!r}")


class HiddenMarkovLM:
    """A categorical HMM over token ids ``0 … vocab_size − 1``, fitted by Baum–Welch (module docstring).

    Example:
        >>> hmm = HiddenMarkovLM(np.array([0, 1, 0, 1, 0, 1, 0, 1]), 2, HMMConfig(states=2, iterations=5))
        >>> hmm.log_likelihood(np.array([0, 1, 0]))[1]
        2
    """

    def __init__(self, tokens: np.ndarray, vocab_size: int, config: HMMConfig = HMMConfig()) -> None:
        hmm = _hmmlearn()
        tokens = np.asarray(tokens)
        if tokens.ndim != 1 or len(tokens) < 2:
            raise ValueError(f"the HMM needs a 1-D sequence of at least 2 token ids, got shape {tokens.shape}")
        if tokens.min() < 0 or tokens.max() >= vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size}), got ids from {tokens.min()} to {tokens.max()}")
        self.config = config
        self.vocab_size = vocab_size
        self.training = tokens[-config.train_tokens:] if config.train_tokens else tokens
        self.model = hmm.CategoricalHMM(
            n_components=config.states, n_features=vocab_size, n_iter=config.iterations, tol=config.tolerance,
            random_state=config.seed, implementation="scaling",
            emissionprob_prior=1.0 + config.emission_pseudocount,
        )
        # hmmlearn logs that N² + N·V parameters outnumber a short slice; the prior is the answer.
        log = logging.getLogger("hmmlearn")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            self.model.fit(self.training.astype(np.int64).reshape(-1, 1))
        finally:
            log.setLevel(level)

    @property
    def history(self) -> list[float]:
        """The training slice's log-likelihood (nats) after each Baum–Welch iteration."""
        return list(self.model.monitor_.history)

    @property
    def iterations(self) -> int:
        return int(self.model.monitor_.iter)

    def size(self) -> int:
        """Free parameters: (N − 1) + N(N − 1) + N(V − 1)."""
        n, v = self.config.states, self.vocab_size
        return (n - 1) + n * (n - 1) + n * (v - 1)

    def log_likelihood(self, tokens: np.ndarray) -> tuple[float, int]:
        """ln P(x_2 … x_T | x_1) of ``tokens`` (nats) and the count T − 1: the first token is given,
        not predicted, as for the recurrent model."""
        tokens = np.asarray(tokens).astype(np.int64)
        if len(tokens) < 2:
            raise ValueError(f"evaluation needs at least 2 tokens, got {len(tokens)}")
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        total = self.model.score(tokens.reshape(-1, 1))
        first = math.log(float(self.model.startprob_ @ self.model.emissionprob_[:, tokens[0]]))
        return float(total - first), len(tokens) - 1

    def sample(self, length: int, seed: int = 0) -> list[int]:
        """``length`` token ids generated by the model from its start distribution."""
        tokens, _ = self.model.sample(length, random_state=seed)
        return [int(t) for t in tokens.ravel()]


def _hmmlearn():
    try:
        from hmmlearn import hmm
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return hmm
