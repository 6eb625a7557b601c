"""Decoding for any model with ``step(tokens (B,), state) -> (logits (B, V), state)``.

:func:`prime` feeds a prompt; :func:`generate` streams tokens chosen by argmax or by sampling
(temperature, top-k, top-p).
"""

from __future__ import annotations

from .greedy import greedy_next
from .sampling import (
    STRATEGIES, DecoderState, StepModel, generate, prime, sample_next, top_k_filter, top_p_filter,
)

__all__ = [
    "STRATEGIES", "DecoderState", "StepModel", "generate", "greedy_next", "prime", "sample_next", "top_k_filter",
    "top_p_filter",
]
