"""Tiny models with ``step(tokens, state) -> (logits, state)`` for the decoding tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn


class TinyLSTMModel(nn.Module):
    """Embedding, 2-layer LSTM, linear head; state (h, c), each (2, B, H). Has forward and step."""

    def __init__(self, vocab_size: int = 5, hidden_size: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers=2)
        self.head = nn.Linear(hidden_size, vocab_size)
        # Sharper next-token distributions than the default initialisation, so the decoders differ.
        nn.init.normal_(self.head.weight, std=2.0)

    def forward(self, tokens: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple]:
        """tokens (P, B) → logits (P, B, V), (h, c)."""
        output, state = self.lstm(self.embedding(tokens), state)
        return self.head(output), state

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple]:
        """tokens (B,) → logits (B, V), (h, c): the LSTM equations written out, one layer after another."""
        x = self.embedding(tokens)
        if state is None:
            zeros = x.new_zeros(self.lstm.num_layers, x.size(0), self.lstm.hidden_size)
            state = (zeros, zeros)
        hs, cs = [], []
        for layer in range(self.lstm.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = (
                getattr(self.lstm, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            i, f, g, o = (x @ weight_ih.T + bias_ih + state[0][layer] @ weight_hh.T + bias_hh).chunk(4, dim=-1)
            c = f.sigmoid() * state[1][layer] + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            hs.append(h)
            cs.append(c)
            x = h
        return self.head(x), (torch.stack(hs), torch.stack(cs))


class TableModel:
    """Next-token distribution given by the previous token only: p(v | u) = transitions[u, v]. Step only; no state."""

    def __init__(self, transitions: Tensor) -> None:
        self.transitions = transitions

    def step(self, tokens: Tensor, state: None) -> tuple[Tensor, None]:
        return self.transitions[tokens].log(), None


def sequence_log_prob(model, prompt: Tensor, tokens: list[int]) -> float:
    """log P(tokens | prompt), by stepping the model over the prompt and then the tokens one at a time."""
    state = None
    for token in prompt.tolist():
        logits, state = model.step(torch.tensor([token]), state)
    total = 0.0
    for token in tokens:
        total += logits.double().log_softmax(-1)[0, token].item()
        logits, state = model.step(torch.tensor([token]), state)
    return total


def all_sequences(vocab_size: int, max_len: int, stop_tokens: set[int]) -> list[list[int]]:
    """Every complete continuation: one that ends at its first stop token, or reaches max_len without one."""
    sequences = []
    for length in range(1, max_len + 1):
        for sequence in itertools.product(range(vocab_size), repeat=length):
            if any(token in stop_tokens for token in sequence[:-1]):
                continue
            if length == max_len or sequence[-1] in stop_tokens:
                sequences.append(list(sequence))
    return sequences


@pytest.fixture
def lstm_model() -> TinyLSTMModel:
    torch.manual_seed(2)  # a seed under which greedy decoding and beam search disagree
    return TinyLSTMModel().eval()


@pytest.fixture
def make_table_model() -> Callable[[Tensor], TableModel]:
    return TableModel


@pytest.fixture
def random_table_model() -> TableModel:
    generator = torch.Generator().manual_seed(0)
    return TableModel((3 * torch.randn(4, 4, generator=generator)).softmax(-1))


@pytest.fixture
def log_prob_of() -> Callable[..., float]:
    return sequence_log_prob


@pytest.fixture
def enumerate_sequences() -> Callable[..., list[list[int]]]:
    return all_sequences
