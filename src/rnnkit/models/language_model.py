"""A recurrent language model: embedding → :class:`rnnkit.Recurrent` (any cell) → softmax over the vocabulary.

    x_t = E[w_t]                          embedding (optionally with whole words dropped)
    h_t = RNN(x_t, h_{t-1})               any cell, L layers, any engine
    p(w_{t+1} | w_{≤t}) = softmax(W h_t + b)

With ``tie_weights`` the output matrix W is the embedding matrix E (Press & Wolf 2017; Inan et al.
2017); when the hidden size differs from the embedding size, a linear projection H → E comes first.
For a large word vocabulary an adaptive softmax (Grave et al. 2017, torch's
``nn.AdaptiveLogSoftmaxWithLoss``) replaces the full one: frequent words (small ids) get the head,
rare ones smaller clusters. Tied with an adaptive softmax, the embedding is read from the softmax's
own matrices (Baevski & Auli 2019, "Adaptive Input Representations", tied input and output): a
head word's vector is its row of the head; a word of tail cluster i has a row r of that cluster's
output matrix (E / 4^(i+1) wide) and its vector is r mapped back to E by the cluster's projection,
so rare words get fewer free parameters.

The regularisers of Merity et al. 2017 are in :mod:`rnnkit.models.regularization`; each is off at 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from ..engines import check_cell_and_engine_names
from ..layers import Recurrent
from .regularization import LockedDropout, drop_recurrent_weights, embedding_dropout

LMState = Tensor | tuple[Tensor, ...] | None   # the layer's state: h_n, or (h_n, c_n), each (L, B, H)


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")


# The adaptive softmax's tail cluster k reads a projection of d / DIV_VALUE^k units (Grave et al. 2017).
DIV_VALUE = 4.0


@dataclass(frozen=True)
class LanguageModelConfig:
    """Everything needed to rebuild a :class:`LanguageModel` (stored as ``config.json`` of a run)."""

    vocab_size: int                     # tokens V of the vocabulary
    cell: str = "lstm"                  # any name of rnnkit.cell_names()
    hidden_size: int = 256              # H of every recurrent layer
    num_layers: int = 1                 # stacked recurrent layers
    embedding_size: int | None = None   # E of the embedding; None: the hidden size
    dropout: float = 0.0                # dropout between stacked layers
    input_dropout: float = 0.0          # locked (variational) dropout on the embeddings
    output_dropout: float = 0.0         # locked dropout on the last layer's output
    weight_drop: float = 0.0            # DropConnect on every recurrent matrix W_hh
    embedding_dropout: float = 0.0      # drop whole words from the embedding matrix
    tie_weights: bool = False           # share the embedding and output matrices
    adaptive_cutoffs: tuple[int, ...] = ()  # adaptive softmax cluster bounds; empty: full softmax
    engine: str = "auto"                # "auto", "fused", "autograd", … (rnnkit.engine_names())
    forget_bias: float | None = None    # initial forget-gate bias (LSTM family); None: the cell's default

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {self.vocab_size}")
        if self.embedding_size is not None and (not isinstance(self.embedding_size, int) or self.embedding_size < 1):
            raise ValueError(f"embedding_size must be a positive integer or None, got {self.embedding_size!r}")
        check_cell_and_engine_names(self.cell, self.engine)
        for name in ("dropout", "input_dropout", "output_dropout", "weight_drop", "embedding_dropout"):
            _check_probability(name, getattr(self, name))
        if self.forget_bias is not None and not (isinstance(self.forget_bias, (int, float))
                                                  and math.isfinite(self.forget_bias)):
            raise ValueError(f"forget_bias must be a finite number or None, got {self.forget_bias!r}")
        cutoffs = list(self.adaptive_cutoffs)
        if cutoffs and (cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= self.vocab_size - 1):
            raise ValueError(
                f"adaptive_cutoffs must increase strictly within [1, vocab_size - 1) = [1, {self.vocab_size - 1}), "
                f"got {tuple(cutoffs)}"
            )
        # The last cluster's projection must keep at least one unit, or its words get no information.
        width = (self.embedding_size or self.hidden_size) if self.tie_weights else self.hidden_size
        if cutoffs and int(width // DIV_VALUE ** len(cutoffs)) < 1:
            needed = int(DIV_VALUE ** len(cutoffs))
            raise ValueError(
                f"an adaptive softmax with {len(cutoffs)} tail clusters divides its input of {width} units by "
                f"{DIV_VALUE:g} per cluster, leaving the last one none: it needs at least {needed} units "
                f"(a larger hidden size, or embedding size when tied), or a full softmax"
            )

    def to_json(self) -> dict:
        return asdict(self) | {"adaptive_cutoffs": list(self.adaptive_cutoffs)}

    @classmethod
    def from_json(cls, record: dict) -> LanguageModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(record) - known
        if unknown:
            raise ValueError(f"model config has unknown fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**(record | {"adaptive_cutoffs": tuple(record.get("adaptive_cutoffs", ()))}))


class LanguageModel(nn.Module):
    """Embedding → Recurrent → (projection) → softmax, with the decoding interface ``step``.

    Inputs of ``forward``: ``tokens (T, B)`` int64 and a state (None: zeros).
    Outputs: ``logits (T, B, V)`` and the final state (the layer's: ``h_n`` or ``(h_n, c_n)``).
    With an adaptive softmax the "logits" are log-probabilities, which softmax and argmax treat alike.

    Example:
        >>> model = LanguageModel(LanguageModelConfig(vocab_size=50, hidden_size=32))
        >>> logits, state = model(torch.randint(50, (7, 3)))
        >>> logits.shape
        torch.Size([7, 3, 50])
        >>> next_logits, state = model.step(torch.tensor([1, 2, 3]), state)
    """

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        embedding_size = config.embedding_size or config.hidden_size
        # Tied to an adaptive softmax, the embedding is read from the softmax's matrices (_embed).
        tied_adaptive = config.tie_weights and bool(config.adaptive_cutoffs)
        self.embedding = None if tied_adaptive else nn.Embedding(config.vocab_size, embedding_size)
        self.input_drop = LockedDropout(config.input_dropout)
        self.rnn = Recurrent(
            config.cell, embedding_size, config.hidden_size, config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            engine=config.engine, forget_bias=config.forget_bias,
        )
        self.output_drop = LockedDropout(config.output_dropout)
        tied_projection = config.tie_weights and embedding_size != config.hidden_size
        self.projection = nn.Linear(config.hidden_size, embedding_size) if tied_projection else None
        softmax_size = embedding_size if config.tie_weights else config.hidden_size
        if config.adaptive_cutoffs:
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(softmax_size, config.vocab_size,
                                                          list(config.adaptive_cutoffs), div_value=DIV_VALUE)
            self.head = None
        else:
            self.adaptive = None
            self.head = nn.Linear(softmax_size, config.vocab_size)
        if self.embedding is not None:
            with torch.no_grad():
                self.embedding.weight.uniform_(-0.1, 0.1)
            if config.tie_weights:
                self.head.weight = self.embedding.weight

    def hidden(self, tokens: Tensor, state: LMState = None) -> tuple[Tensor, LMState]:
        """The representation the softmax reads, (T, B, H or E), and the final state."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape (T, B), got {tuple(tokens.shape)}")
        config = self.config
        if self.embedding is None:
            x = self._embed(tokens)                                       # (T, B, E)
            if self.training and config.embedding_dropout > 0:
                keep = 1.0 - config.embedding_dropout                     # whole words, all their uses
                mask = x.new_empty(config.vocab_size, 1).bernoulli_(keep).div_(keep)
                x = x * F.embedding(tokens, mask)
        elif self.training and config.embedding_dropout > 0:
            x = embedding_dropout(self.embedding, tokens, config.embedding_dropout)
        else:
            x = self.embedding(tokens)                                    # (T, B, E)
        x = self.input_drop(x)
        if self.training and config.weight_drop > 0:
            dropped = drop_recurrent_weights(self.rnn, config.weight_drop)
            output, state = functional_call(self.rnn, dropped, (x, state))
        else:
            output, state = self.rnn(x, state)                            # (T, B, H)
        output = self.output_drop(output)
        if self.projection is not None:
            output = self.projection(output)
        return output, state

    def _embed(self, tokens: Tensor) -> Tensor:
        """Word vectors read from the adaptive softmax (tied): head rows, or tail rows projected up."""
        adaptive = self.adaptive
        flat = tokens.reshape(-1)
        vectors = F.embedding(flat.clamp(max=adaptive.shortlist_size - 1), adaptive.head.weight)
        bounds = adaptive.cutoffs                                         # cluster i: [bounds[i], bounds[i+1])
        for cluster, (low, high) in enumerate(zip(bounds[:-1], bounds[1:])):
            inside = ((flat >= low) & (flat < high)).nonzero().squeeze(1)
            if inside.numel():
                projection, output = adaptive.tail[cluster]               # Linear(E → e), Linear(e → words)
                rows = F.embedding(flat[inside] - low, output.weight)     # (n, e)
                vectors = vectors.index_copy(0, inside, rows @ projection.weight)
        return vectors.unflatten(0, tokens.shape)

    def logits(self, hidden: Tensor) -> Tensor:
        """Scores over the vocabulary, (…, V), for hidden vectors (…, H)."""
        if self.adaptive is not None:
            return self.adaptive.log_prob(hidden.flatten(0, -2)).unflatten(0, hidden.shape[:-1])
        return self.head(hidden)

    def forward(self, tokens: Tensor, state: LMState = None) -> tuple[Tensor, LMState]:
        hidden, state = self.hidden(tokens, state)
        return self.logits(hidden), state

    def step(self, tokens: Tensor, state: LMState = None) -> tuple[Tensor, LMState]:
        """One token per sequence: ``tokens (B,) → logits (B, V)`` and the next state."""
        logits, state = self.forward(tokens.unsqueeze(0), state)
        return logits[0], state

    def loss(self, tokens: Tensor, targets: Tensor, state: LMState = None) -> tuple[Tensor, LMState]:
        """Mean cross-entropy in nats per token of predicting ``targets (T, B)`` from ``tokens``."""
        hidden, state = self.hidden(tokens, state)
        flat = hidden.flatten(0, 1)
        if self.adaptive is not None:
            return self.adaptive(flat, targets.flatten()).loss, state
        return F.cross_entropy(self.logits(flat), targets.flatten()), state
