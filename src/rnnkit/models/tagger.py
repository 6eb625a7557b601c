"""A recurrent sequence tagger (many-to-many, aligned): one label for every input step.

    x_t = E[w_t]                                   embedding (optionally whole words dropped)
    h_t = RNN(x_{1..T})_t                          any cell, L layers; bidirectional:
                                                   h_t = [→h_t ; ←h_t], →h_t reads x_1..x_t, ←h_t x_t..x_T
    p(y_t | x_{1..T}) = softmax(W h_t + b)

A sequence b of a padded batch is ``tokens[:lengths[b], b]``: the backward direction of a
bidirectional layer starts at ``lengths[b]`` and a forward direction reaches a step only from the
steps before it, so nothing written in the padding reaches a valid step, and
:func:`tagging_loss` averages the cross-entropy over valid steps only:

    L = − Σ_b Σ_{t < len_b} log p(y_{t,b} | x) / Σ_b len_b

A bidirectional layer is what a label that depends on what follows needs (Graves & Schmidhuber
2005, framewise phoneme classification with bidirectional LSTM; Huang et al. 2015, BiLSTM
tagging). The regularisers of the language model are available: embedding dropout and locked
(variational) dropout on the embeddings and on the recurrent output (Merity et al. 2017; Gal &
Ghahramani 2016), all off at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..engines import check_cell_and_engine_names
from ..layers import Recurrent
from .regularization import LockedDropout, embedding_dropout


@dataclass(frozen=True)
class TaggerConfig:
    """The architecture of a :class:`SequenceTagger` (the vocabulary and label counts come from the data)."""

    cell: str = "lstm"                  # any name of rnnkit.cell_names()
    hidden_size: int = 128              # H per direction
    num_layers: int = 1                 # stacked recurrent layers
    embedding_size: int = 64            # E
    bidirectional: bool = True          # a backward direction too: output 2H per step
    dropout: float = 0.0                # dropout between stacked layers
    embedding_dropout: float = 0.0      # drop whole tokens (rows of the embedding) during training
    input_dropout: float = 0.0          # locked dropout on the embeddings
    output_dropout: float = 0.0         # locked dropout on the recurrent output
    engine: str = "auto"                # "auto", "fused", "bptt", "autograd" (rnnkit.engine_names())

    def __post_init__(self) -> None:
        check_cell_and_engine_names(self.cell, self.engine)
        for name in ("hidden_size", "num_layers", "embedding_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("dropout", "embedding_dropout", "input_dropout", "output_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")


class SequenceTagger(nn.Module):
    """Embedding → :class:`rnnkit.Recurrent` → a linear layer at every step (module docstring).

    Args:
        config: the architecture.
        vocab_size: tokens V of the input vocabulary.
        num_labels: labels C.

    Inputs: ``tokens (T, B)`` int64 and ``lengths (B,)`` in [1, T] (None: every sequence is T long).
    Output: ``scores (T, B, C)``; the rows of padded steps are not meaningful.

    Example:
        >>> tagger = SequenceTagger(TaggerConfig(hidden_size=16, embedding_size=8), vocab_size=30, num_labels=5)
        >>> scores = tagger(torch.randint(30, (7, 3)), torch.tensor([7, 4, 1]))
        >>> scores.shape
        torch.Size([7, 3, 5])
    """

    def __init__(self, config: TaggerConfig, vocab_size: int, num_labels: int) -> None:
        super().__init__()
        if vocab_size < 1 or num_labels < 2:
            raise ValueError(f"a tagger needs a vocabulary and at least two labels, got vocab_size={vocab_size}, "
                             f"num_labels={num_labels}")
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.embedding_size)
        self.input_drop = LockedDropout(config.input_dropout)
        self.rnn = Recurrent(config.cell, config.embedding_size, config.hidden_size, config.num_layers,
                             dropout=config.dropout if config.num_layers > 1 else 0.0,
                             bidirectional=config.bidirectional, engine=config.engine)
        self.output_drop = LockedDropout(config.output_dropout)
        directions = 2 if config.bidirectional else 1
        self.head = nn.Linear(directions * config.hidden_size, num_labels)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape (T, B), got {tuple(tokens.shape)}")
        if self.training and self.config.embedding_dropout > 0:
            x = embedding_dropout(self.embedding, tokens, self.config.embedding_dropout)
        else:
            x = self.embedding(tokens)                                    # (T, B, E)
        # A forward-only layer's output at t reads steps ≤ t alone, so its valid steps need no lengths
        # (and skip the packed kernels, slow on CPU for unequal lengths); a backward direction must
        # start at each sequence's own end.
        lengths = lengths if self.config.bidirectional else None
        output, _ = self.rnn(self.input_drop(x), lengths=lengths)         # (T, B, D·H)
        return self.head(self.output_drop(output))                       # (T, B, C)


def valid_steps(lengths: Tensor, steps: int) -> Tensor:
    """The mask of valid steps, (T, B): ``mask[t, b] = t < lengths[b]``."""
    return torch.arange(steps, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


def tagging_loss(scores: Tensor, labels: Tensor, lengths: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``scores (T, B, C)`` against ``labels (T, B)`` over the valid steps only
    (``reduction`` "mean" per valid step, or "sum"); padded steps, whatever they hold, count for nothing."""
    mask = valid_steps(lengths.to(scores.device), scores.size(0))
    return F.cross_entropy(scores[mask].float(), labels[mask], reduction=reduction)
