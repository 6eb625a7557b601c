"""Greedy decoding: the argmax step."""

from __future__ import annotations

from torch import Tensor


def greedy_next(logits: Tensor) -> Tensor:
    """The most probable next token of each row: ``argmax_v logits[b, v]``.

    Args:
        logits: (B, V) unnormalised log-probabilities of the next token.

    Returns:
        (B,) token ids (``torch.long``). Ties go to the lowest id.
    """
    return logits.argmax(dim=-1)
