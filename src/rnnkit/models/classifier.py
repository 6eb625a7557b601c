r"""A recurrent many-to-one classifier: inputs → :class:`rnnkit.Recurrent` → pooling over time → head.

    x_t = E[w_t]  (tokens)   or   x_t = W_in v_t + b_in  (real-valued inputs, e.g. pixel rows)
                             or   x_t = v_t  (real-valued inputs, ``input_layer=False``)
    h_1 … h_T = RNN(x_1 … x_T)                  any cell, L layers, uni- or bidirectional
    s = pool(h_1 … h_n)                         n = the sequence's own length
    p(y | x) = softmax(W_out s + b_out)

Pooling, every one over the valid steps t < n only (padding never changes a prediction):

- ``last``: the final state h_n; bidirectional: [forward h_n | backward h_1], both halves having
  read the whole sequence (the layer's own ``h_n``, which stops at each sequence's length);
- ``mean``: (1/n) Σ_{t≤n} h_t;
- ``max``: the elementwise max over t ≤ n (Collobert et al. 2011; Conneau et al. 2017 for BiLSTM-max);
- ``attention``: additive attention pooling (Bahdanau et al. 2015's score against a learned query;
  Yang et al. 2016, "Hierarchical Attention Networks"):

      u_t = tanh(W_a h_t + b_a),   e_t = vᵀ u_t,
      α_t = exp(e_t) / Σ_{τ≤n} exp(e_τ)   (α_t = 0 for t > n),   s = Σ_t α_t h_t.

  The weights α are what ``rnnkit predict --explain`` shows.

Regularisers of the language model (:mod:`rnnkit.models.regularization`) are available, each off at
0: embedding dropout (whole words), locked dropout on the inputs and on the recurrent outputs, and
dropout between stacked layers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..engines import check_cell_and_engine_names
from ..layers import Recurrent
from .regularization import LockedDropout, embedding_dropout

POOLINGS = ("last", "mean", "max", "attention")


@dataclass(frozen=True)
class SequenceClassifierConfig:
    """The hyperparameters of a :class:`SequenceClassifier` (its sizes of data come separately)."""

    cell: str = "lstm"                  # any name of rnnkit.cell_names()
    hidden_size: int = 128              # H of every recurrent layer (per direction)
    num_layers: int = 1                 # stacked recurrent layers
    bidirectional: bool = False         # a second direction reading each sequence backwards
    pooling: str = "last"               # "last", "mean", "max" or "attention"
    embedding_size: int = 128           # E: the token embedding, or the linear input layer's output
    input_layer: bool = True            # real-valued inputs: through a linear layer to E (True), or
                                        # straight into the recurrent layer (False), as the IRNN of
                                        # Le et al. 2015 reads pixels
    attention_size: int | None = None   # units of the attention scorer; None: the pooled size (D·H)
    dropout: float = 0.0                # dropout between stacked layers
    embedding_dropout: float = 0.0      # drop whole words (rows of the embedding) for a batch
    input_dropout: float = 0.0          # locked dropout on the inputs x_t
    output_dropout: float = 0.0         # locked dropout on the recurrent outputs h_t (before pooling)
    engine: str = "auto"                # "auto", "fused", "bptt", "autograd", …
    forget_bias: float | None = None    # initial forget-gate bias (LSTM family); None: the cell's default

    def __post_init__(self) -> None:
        check_cell_and_engine_names(self.cell, self.engine)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        for name in ("hidden_size", "num_layers", "embedding_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.input_layer, bool):
            raise ValueError(f"input_layer must be true or false, got {self.input_layer!r}")
        if self.attention_size is not None and (not isinstance(self.attention_size, int) or self.attention_size < 1):
            raise ValueError(f"attention_size must be a positive integer or None, got {self.attention_size!r}")
        for name in ("dropout", "embedding_dropout", "input_dropout", "output_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
        if self.forget_bias is not None and not (isinstance(self.forget_bias, (int, float))
                                                  and math.isfinite(self.forget_bias)):
            raise ValueError(f"forget_bias must be a finite number or None, got {self.forget_bias!r}")

    def to_json(self) -> dict:
        return asdict(self)


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """``mask (T, B)``: True where t < lengths[b]."""
    return torch.arange(steps, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


class AttentionPooling(nn.Module):
    r"""Additive attention pooling over time: ``s = Σ_t α_t h_t``, α a softmax over the valid steps.

    ``e_t = vᵀ tanh(W_a h_t + b_a)``; padded steps get e_t = −∞, so α_t = 0 there exactly and the
    weights of each sequence sum to one over its own steps.

    Inputs: ``h (T, B, D)``, ``mask (T, B)`` bool. Outputs: ``s (B, D)``, ``α (T, B)``.
    """

    def __init__(self, size: int, attention_size: int) -> None:
        super().__init__()
        self.project = nn.Linear(size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)      # v

    def forward(self, h: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.score(torch.tanh(self.project(h))).squeeze(-1)          # (T, B)
        scores = scores.float().masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=0)                                 # (T, B), 0 on padding
        pooled = (weights.to(h.dtype).unsqueeze(-1) * h).sum(0)                # (B, D)
        return pooled, weights


class SequenceClassifier(nn.Module):
    """Token ids or real-valued vectors → class scores, pooling respecting each sequence's length.

    Args:
        config: the hyperparameters (:class:`SequenceClassifierConfig`).
        classes: C, the number of labels.
        vocab_size: V for token inputs (an embedding); or
        input_size: F for real-valued inputs (a linear layer F → E). Exactly one of the two.

    Inputs of ``forward``: ``inputs`` (T, B) int64 token ids, or (T, B, F) floats; ``lengths`` (B,)
    in [1, T] (None: every sequence has T steps). Output: ``logits (B, C)``.
    :meth:`explain` returns the logits and, per step, how much it mattered (attention weights).

    Example:
        >>> model = SequenceClassifier(SequenceClassifierConfig(hidden_size=16, pooling="attention"),
        ...                            classes=3, vocab_size=50)
        >>> model(torch.randint(50, (7, 4)), torch.tensor([7, 3, 5, 1])).shape
        torch.Size([4, 3])
    """

    def __init__(self, config: SequenceClassifierConfig, classes: int, vocab_size: int | None = None,
                 input_size: int | None = None) -> None:
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (token inputs) and input_size (real-valued inputs)")
        if classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {classes}")
        self.config = config
        self.classes = classes
        if vocab_size is not None and not config.input_layer:
            raise ValueError("input_layer=False is for real-valued inputs; token inputs always have an embedding")
        self.embedding = nn.Embedding(vocab_size, config.embedding_size) if vocab_size is not None else None
        self.input_size = input_size
        self.input_layer = (nn.Linear(input_size, config.embedding_size)
                            if input_size is not None and config.input_layer else None)
        self.input_drop = LockedDropout(config.input_dropout)
        rnn_input = config.embedding_size if self.input_layer is not None or self.embedding is not None else input_size
        self.rnn = Recurrent(config.cell, rnn_input, config.hidden_size, config.num_layers,
                             dropout=config.dropout if config.num_layers > 1 else 0.0,
                             bidirectional=config.bidirectional, engine=config.engine,
                             forget_bias=config.forget_bias)
        self.output_drop = LockedDropout(config.output_dropout)
        size = config.hidden_size * (2 if config.bidirectional else 1)
        self.attention = (AttentionPooling(size, config.attention_size or size)
                          if config.pooling == "attention" else None)
        self.head = nn.Linear(size, classes)
        if self.embedding is not None:
            with torch.no_grad():
                self.embedding.weight.uniform_(-0.1, 0.1)

    def _inputs(self, inputs: Tensor) -> Tensor:
        if self.embedding is not None:
            if inputs.dim() != 2 or inputs.is_floating_point():
                raise ValueError(f"token inputs must be int64 ids of shape (T, B), got {inputs.dtype} "
                                 f"{tuple(inputs.shape)}")
            p = self.config.embedding_dropout
            if self.training and p > 0:
                return embedding_dropout(self.embedding, inputs, p)
            return self.embedding(inputs)                                       # (T, B, E)
        if inputs.dim() != 3 or inputs.size(-1) != self.input_size:
            raise ValueError(f"real-valued inputs must have shape (T, B, {self.input_size}), "
                             f"got {tuple(inputs.shape)}")
        return inputs if self.input_layer is None else self.input_layer(inputs)

    def encode(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """The pooled representation ``s (B, D·H)`` and the attention weights ``α (T, B)`` (or None)."""
        steps, batch = inputs.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        lengths = lengths.to(inputs.device)
        x = self.input_drop(self._inputs(inputs))
        output, state = self.rnn(x, lengths=lengths)                            # (T, B, D·H)
        output = self.output_drop(output)
        mask = valid_mask(lengths, steps)                                       # (T, B)
        pooling = self.config.pooling
        if pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state               # (L·D, B, H)
            if self.config.bidirectional:
                # The last layer's forward (stopped at n) and backward (started at n) final states.
                return torch.cat([h_n[-2], h_n[-1]], dim=-1), None
            return h_n[-1], None
        if pooling == "mean":
            total = (output * mask.unsqueeze(-1).to(output.dtype)).sum(0)     # (B, D·H)
            return total / lengths.unsqueeze(-1).to(output.dtype), None
        if pooling == "max":
            return output.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(0), None
        return self.attention(output, mask)

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        pooled, _ = self.encode(inputs, lengths)
        return self.head(pooled)

    @torch.no_grad()
    def explain(self, inputs: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``logits (B, C)`` and each step's importance ``(T, B)``, summing to one over the valid steps.

        With attention pooling the importance is the attention weight α_t. Otherwise it is the
        leave-one-out occlusion effect (Li et al. 2016, "Understanding Neural Networks through
        Representation Erasure"), normalised: |p(ŷ | x) − p(ŷ | x without step t)| / Σ_τ (…),
        one batch of n shortened copies per sequence; uniform where no step changes anything.
        """
        pooled, weights = self.encode(inputs, lengths)
        logits = self.head(pooled)
        if weights is not None:
            return logits, weights
        steps, batch = inputs.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        lengths = lengths.to(logits.device)
        predicted = logits.argmax(-1)
        full = torch.softmax(logits.float(), -1).gather(1, predicted.unsqueeze(1)).squeeze(1)     # (B,)
        importance = torch.zeros(steps, batch, device=logits.device)
        for b in range(batch):
            n = int(lengths[b])
            if n == 1:
                importance[0, b] = 1.0
                continue
            sequence = inputs[:n, b]                                            # (n,) or (n, F)
            keep = ~torch.eye(n, dtype=torch.bool, device=sequence.device)      # row t: all but step t
            shortened = torch.stack([sequence[row] for row in keep], dim=1)     # (n − 1, n[, F])
            p = torch.softmax(self.forward(shortened, torch.full((n,), n - 1)).float(), -1)[:, predicted[b]]
            change = (full[b] - p).abs()
            total = change.sum()
            importance[:n, b] = change / total if total > 0 else torch.full_like(change, 1.0 / n)
        return logits, importance
