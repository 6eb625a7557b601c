r"""Attention over a memory of encoder outputs: additive (Bahdanau) and multiplicative (Luong).

The notes: "weights are determined by similarity between query and key; summation is over
weights × value". For a query q (the decoder's state, (B, Q)) and a memory m_1 … m_S (the encoder's
outputs, (B, S, D)), each kind scores every source position i, the scores are normalised by a
softmax over the positions that are not padding, and the context is the weighted sum::

    additive  (Bahdanau et al. 2015):  e_i = vᵀ tanh(W_q q + W_m m_i)
    dot       (Luong et al. 2015):     e_i = qᵀ m_i                      (needs Q = D)
    general   (Luong et al. 2015):     e_i = qᵀ W_a m_i

    α_i = exp(e_i) / Σ_{j not padding} exp(e_j),   α_i = 0 on padding,   c = Σ_i α_i m_i

The memory's part of each score (W_m m_i, or W_a m_i) does not depend on the query, so
:meth:`Attention.keys` computes it once per source and every decoding step reuses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ATTENTION_KINDS = ("none", "additive", "dot", "general")


class Attention(nn.Module):
    """Scores of a query against a memory, masked softmax weights, and the context vector.

    Args:
        kind: ``"additive"``, ``"dot"`` or ``"general"`` (module docstring).
        query_size: Q, features of the query.
        memory_size: D, features of each memory position.
        attention_size: A, the hidden size of the additive score (default: Q).

    Example:
        >>> attention = Attention("general", 8, 6)
        >>> memory, mask = torch.randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool)
        >>> context, weights = attention(torch.randn(2, 8), attention.keys(memory), memory, mask)
        >>> context.shape, weights.sum(-1).tolist()
        (torch.Size([2, 6]), [1.0, 1.0])
    """

    def __init__(self, kind: str, query_size: int, memory_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS[1:]:
            raise ValueError(f"unknown attention {kind!r}; choose one of: {', '.join(ATTENTION_KINDS[1:])}")
        if kind == "dot" and query_size != memory_size:
            raise ValueError(f"dot attention needs the query and the memory to have the same size, got "
                             f"query_size={query_size} and memory_size={memory_size}; use 'general' instead")
        self.kind = kind
        if kind == "additive":
            attention_size = attention_size or query_size
            self.query_projection = nn.Linear(query_size, attention_size, bias=False)     # W_q
            self.memory_projection = nn.Linear(memory_size, attention_size)               # W_m (and a bias)
            self.v = nn.Linear(attention_size, 1, bias=False)
        elif kind == "general":
            self.memory_projection = nn.Linear(memory_size, query_size, bias=False)       # W_a

    def keys(self, memory: Tensor) -> Tensor:
        """The query-independent part of the scores: (B, S, D) → (B, S, A) additive, (B, S, Q) general,
        the memory itself for dot."""
        return memory if self.kind == "dot" else self.memory_projection(memory)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """e (B, S) for a query (B, Q) and :meth:`keys` (B, S, ·)."""
        if self.kind == "additive":
            return self.v(torch.tanh(keys + self.query_projection(query)[:, None])).squeeze(-1)
        return torch.bmm(keys, query[:, :, None]).squeeze(-1)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The context c (B, D) and the weights α (B, S); ``mask`` (B, S) is True on real tokens."""
        weights = masked_softmax(self.scores(query, keys), mask)
        return torch.bmm(weights[:, None].to(memory.dtype), memory).squeeze(1), weights


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dimension where ``mask`` is True; exactly 0 elsewhere.

    Every row must have at least one True (a source of length 0 has nothing to attend to).
    """
    if mask.shape != scores.shape:
        raise ValueError(f"the mask has shape {tuple(mask.shape)}, the scores {tuple(scores.shape)}")
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32)).masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1).masked_fill(~mask, 0.0)
