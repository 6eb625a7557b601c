r"""A fixed-window feed-forward language model: the last k tokens → the next.

The memoryless predecessor of the recurrent model in the notes (deck 004: autoregressive and
feed-forward models over a fixed window of the past), in the form of Bengio et al. 2003, "A neural
probabilistic language model": each of the k previous tokens is embedded, the embeddings are
concatenated, and one hidden layer predicts the next token,

    e    = [E x_{t−k}; …; E x_{t−1}]            (k·D)
    a    = tanh(W_h e + b_h)                    (H)
    P(x_t | x_{t−k} … x_{t−1}) = softmax(W_o a + b_o)

Whatever lies further back than k tokens is invisible to it. Near the start of a text, where fewer
than k tokens precede, the missing ones are a padding token of its own (id V).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class WindowConfig:
    """The window model's shape (the vocabulary size comes from the data)."""

    context: int = 16             # k, the tokens the model sees
    embedding_size: int = 32      # D, per token
    hidden_size: int = 512        # H, the hidden layer

    def __post_init__(self) -> None:
        for name in ("context", "embedding_size", "hidden_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


class WindowLanguageModel(nn.Module):
    """``windows (B, k)`` of token ids (V for padding) → next-token scores ``(B, V)``.

    Example:
        >>> model = WindowLanguageModel(WindowConfig(context=4), vocab_size=10)
        >>> model(torch.zeros(3, 4, dtype=torch.long)).shape
        torch.Size([3, 10])
    """

    def __init__(self, config: WindowConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size + 1, config.embedding_size)    # + the padding id V
        self.hidden = nn.Linear(config.context * config.embedding_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, vocab_size)

    def forward(self, windows: Tensor) -> Tensor:
        if windows.dim() != 2 or windows.size(1) != self.config.context:
            raise ValueError(f"windows must be (B, {self.config.context}) token ids, got {tuple(windows.shape)}")
        e = self.embedding(windows).flatten(1)                                   # (B, k·D)
        return self.output(torch.tanh(self.hidden(e)))


def windows(tokens: np.ndarray, positions: np.ndarray, context: int, pad: int) -> np.ndarray:
    """The ``context`` tokens before each of ``positions`` in ``tokens`` (T,), ``pad`` where a window
    reaches before the start: ``(len(positions), context)`` int64 (``tokens`` may be a memmap)."""
    offsets = np.asarray(positions)[:, None] - context + np.arange(context)     # (P, k)
    gathered = np.asarray(tokens)[np.maximum(offsets, 0)].astype(np.int64)
    gathered[offsets < 0] = pad
    return gathered
