"""Decoding for any model with ``step(tokens (B,), state) -> (logits (B, V), state)``.

:func:`prime` feeds a prompt; :func:`generate` streams tokens chosen by argmax or by sampling
(temperature, top-k, top-p); :func:`beam_search` returns the most probable continuations. Both can
block repeated n-grams (:func:`block_repeated_ngrams`); :func:`generate` also takes CTRL's
repetition penalty (:func:`penalize_repetition`).
"""

from __future__ import annotations

from .beam import Hypothesis, batched_beam_search, beam_search, reorder, select_rows, select_state
from .greedy import greedy_next
from .repetition import block_repeated_ngrams, penalize_repetition
from .sampling import (
    STRATEGIES, DecoderState, StepModel, generate, prime, sample_next, top_k_filter, top_p_filter,
)

__all__ = [
    "STRATEGIES", "DecoderState", "Hypothesis", "StepModel", "batched_beam_search", "beam_search", "block_repeated_ngrams", "generate",
    "greedy_next", "penalize_repetition", "prime", "reorder", "sample_next", "select_rows", "select_state", "top_k_filter", "top_p_filter",
]
