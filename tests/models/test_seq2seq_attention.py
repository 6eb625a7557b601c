"""Attention of rnnkit.models.attention: additive (Bahdanau) and multiplicative (Luong) scores, masked."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.attention import Attention, masked_softmax

KINDS = ["additive", "dot", "general"]


def _memory(lengths: list[int], size: int = 6):
    memory = torch.randn(len(lengths), max(lengths), size, dtype=torch.float64)
    mask = torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]
    return memory, mask


@pytest.mark.parametrize("kind", KINDS)
def test_weights_sum_to_one_and_are_zero_on_padding(kind):
    torch.manual_seed(0)
    attention = Attention(kind, 6, 6).double()
    memory, mask = _memory([5, 2, 4])
    _, weights = attention(torch.randn(3, 6, dtype=torch.float64), attention.keys(memory), memory, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.float64))
    assert bool((weights[~mask] == 0).all())
    assert bool((weights[mask] > 0).all())


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_does_not_change_the_context(kind):
    torch.manual_seed(1)
    attention = Attention(kind, 6, 6).double()
    memory, mask = _memory([5, 2])
    query = torch.randn(2, 6, dtype=torch.float64)
    changed = memory.clone()
    changed[~mask] = 1e3                                   # garbage where the source is padding
    context, _ = attention(query, attention.keys(memory), memory, mask)
    context_changed, _ = attention(query, attention.keys(changed), changed, mask)
    torch.testing.assert_close(context, context_changed)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_are_the_papers_formulas(kind):
    torch.manual_seed(2)
    attention = Attention(kind, 6, 6).double()
    memory, mask = _memory([4])
    query = torch.randn(1, 6, dtype=torch.float64)
    q, m = query[0], memory[0]
    if kind == "dot":
        expected = m @ q
    elif kind == "general":
        expected = (m @ attention.memory_projection.weight.T) @ q           # qᵀ W_a m_i
    else:
        w_q, w_m = attention.query_projection.weight, attention.memory_projection.weight
        hidden = torch.tanh(q @ w_q.T + m @ w_m.T + attention.memory_projection.bias)
        expected = hidden @ attention.v.weight[0]                            # vᵀ tanh(W_q q + W_m m_i)
    context, weights = attention(query, attention.keys(memory), memory, mask)
    torch.testing.assert_close(weights[0], expected.softmax(0))
    torch.testing.assert_close(context[0], (expected.softmax(0)[:, None] * m).sum(0))


def test_dot_attention_needs_equal_sizes():
    with pytest.raises(ValueError, match="dot attention needs the query and the memory to have the same size"):
        Attention("dot", 8, 16)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown attention 'cosine'"):
        Attention("cosine", 4, 4)


def test_masked_softmax_refuses_a_mask_of_another_shape():
    with pytest.raises(ValueError, match="the mask has shape"):
        masked_softmax(torch.zeros(2, 3), torch.ones(2, 4, dtype=torch.bool))
