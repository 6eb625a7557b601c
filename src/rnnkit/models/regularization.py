"""Regularisers of recurrent language models, after Merity et al. 2017, "Regularizing and
Optimizing LSTM Language Models" (AWD-LSTM).

- :class:`LockedDropout`: variational dropout (Gal & Ghahramani 2016): one mask per sequence,
  the same at every time step, so a unit is either off for the whole chunk or on.
- :func:`embedding_dropout`: drops whole words, i.e. rows of the embedding matrix, for one call.
- :func:`drop_recurrent_weights`: DropConnect (Wan et al. 2013) on the recurrent matrices W_hh:
  one mask per call, the same at every time step. The dropped matrices are handed to the layer with
  ``torch.func.functional_call``, so every engine (fused kernels included) runs them unchanged.

All draw from torch's global generator, so a saved generator state replays them exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence: ``x (T, B, F)`` is multiplied by ``m (1, B, F) / (1 − p)``.

    Example:
        >>> drop = LockedDropout(0.5).train()
        >>> y = drop(torch.ones(4, 2, 3))
        >>> bool((y == y[0]).all())
        True
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"locked dropout probability must be in [0, 1), got {p!r}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = x.new_empty(1, *x.shape[1:]).bernoulli_(1.0 - self.p) / (1.0 - self.p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float) -> Tensor:
    """Look up ``tokens`` with each word's row of the embedding dropped (all its uses) with probability p."""
    weight = embedding.weight
    mask = weight.new_empty(weight.size(0), 1).bernoulli_(1.0 - p) / (1.0 - p)   # (V, 1)
    return F.embedding(tokens, weight * mask, embedding.padding_idx)


def drop_recurrent_weights(layer: nn.Module, p: float) -> dict[str, Tensor]:
    """Every recurrent matrix of ``layer`` (``weight_hh_*``) with DropConnect applied, by name.

    Pass the result to ``torch.func.functional_call(layer, dropped, args)``: the layer reads its
    parameters afresh at every call, so the dropped matrices are used for that call only and the
    gradient reaches the real parameters through the mask.
    """
    return {
        name: F.dropout(param, p, training=True)
        for name, param in layer.named_parameters()
        if name.startswith("weight_hh")
    }
