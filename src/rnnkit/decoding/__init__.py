"""Decoding for any model with ``step(tokens (B,), state) -> (logits (B, V), state)``.

:func:`prime` feeds a prompt; :func:`generate` streams tokens chosen by argmax or by sampling
(temperature, top-k, top-p); :func:`beam_search` returns the most probable continuations.
"""

from __future__ import annotations

from .beam import Hypothesis, beam_search, select_state
from .greedy import greedy_next
from .sampling import (
    STRATEGIES, DecoderState, StepModel, generate, prime, sample_next, top_k_filter, top_p_filter,
)

__all__ = [
    "STRATEGIES", "DecoderState", "Hypothesis", "StepModel", "beam_search", "generate", "greedy_next", "prime",
    "sample_next", "select_state", "top_k_filter", "top_p_filter",
]
