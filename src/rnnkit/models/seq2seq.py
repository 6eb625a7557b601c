r"""Sequence to sequence: an encoder reads the source, a decoder writes the target, attending to it.

The notes' "many-to-one + one-to-many" encoder-decoder (Sutskever et al. 2014; Cho et al. 2014): the
encoder's final state, which must "remember the whole input sentence", starts the decoder. Attention
(Bahdanau et al. 2015; Luong et al. 2015) is the fix: at every target step the decoder looks again at
every encoder output. This module follows Luong et al.'s global-attention architecture::

    source tokens ─ embedding ─ encoder (bidirectional, stacked Recurrent) ─ outputs m_1 … m_S (memory)
                                        └─ final states ─ bridge ─ s_0
    h_t = decoder([E y_{t-1}; h̃_{t-1}], s_{t-1})     (RecurrentCell; h̃_{t-1}: input feeding, optional)
    c_t, α_t = attention(h_t, m)                      (additive, dot or general scores; masked on padding)
    h̃_t = tanh(W_c [c_t; h_t])                       (attentional hidden state)
    p(y_t | y_<t, x) = softmax(W_o h̃_t)

- bridge: s_0 = tanh(W_b [h_fwd; h_bwd]) per layer, for every part of the state (h, and c for the LSTM
  family), from the encoder's final states of both directions;
- attention "none": the plain encoder-decoder (h̃_t = h_t, no input feeding), for comparison;
- the additive kind is Bahdanau et al.'s score function e_i = vᵀ tanh(W_q q + W_m m_i) inside this
  architecture (their own decoder queries with h_{t-1} and feeds c_t into the recurrence; here input
  feeding is what makes x_t depend on the previous step's attention);
- input feeding (Luong et al. 2015, section 3.3): h̃_{t-1} joins the next input, so the decoder knows
  what it attended to before. It is what needs a one-step :class:`~rnnkit.RecurrentCell`.

Decoding: :meth:`Seq2Seq.encode` gives the decoder's first state; :meth:`Seq2Seq.step` maps
``tokens (B,), state → logits (B, V), state`` (what :mod:`rnnkit.decoding` runs), and
:meth:`Seq2Seq.reorder_state` re-indexes a state's rows for beam search (the memory and its mask have
the batch in dimension 0, the recurrent state in dimension 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..cells import get_cell_class
from ..engines import check_cell_and_engine_names
from ..decoding.beam import select_rows
from ..layers import Recurrent, RecurrentCell
from .attention import ATTENTION_KINDS, Attention


@dataclass(frozen=True)
class Seq2SeqConfig:
    """An encoder-decoder with attention (module docstring)."""

    cell: str = "lstm"              # any name of rnnkit.cell_names(), encoder and decoder
    embedding_size: int = 256       # E, source and target embeddings
    hidden_size: int = 256          # H per direction of the encoder, and of the decoder
    num_layers: int = 2             # L, encoder and decoder
    bidirectional: bool = True      # a bidirectional encoder
    attention: str = "general"      # "none", "additive" (Bahdanau), "dot" or "general" (Luong)
    input_feeding: bool = True      # feed h̃_{t-1} into the decoder's next input (with attention only)
    dropout: float = 0.2            # on embeddings, between layers and before the output layer
    engine: str = "auto"            # the encoder's engine

    def __post_init__(self) -> None:
        check_cell_and_engine_names(self.cell, self.engine)
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention {self.attention!r}; choose one of: {', '.join(ATTENTION_KINDS)}")
        for name in ("embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        square = get_cell_class(self.cell).needs_square_input
        if square and self.bidirectional and self.num_layers > 1:
            raise ValueError(f"cell {self.cell!r} needs each layer's input to have the hidden size ({square}); a "
                             f"stacked bidirectional encoder feeds layer 2 with 2H: use one layer or a "
                             f"unidirectional encoder")
        if self.attention == "dot" and self.bidirectional:
            raise ValueError("dot attention needs the encoder outputs (2H with a bidirectional encoder) to have the "
                             "decoder's size H: use attention 'general', or a unidirectional encoder")

    @property
    def feeds_input(self) -> bool:
        return self.input_feeding and self.attention != "none"


class Seq2SeqState(NamedTuple):
    """What the decoder carries from step to step (B: sources, S: source positions)."""

    rnn: Tensor | tuple[Tensor, ...]   # the decoder's state, (L, B, H) (a tuple (h, c) for the LSTM family)
    feed: Tensor | None                # h̃_{t-1} (B, H) for input feeding, else None
    memory: Tensor | None              # encoder outputs (B, S, D), None without attention
    keys: Tensor | None                # Attention.keys(memory), (B, S, ·)
    mask: Tensor | None                # (B, S) True on source tokens, False on padding


class Seq2Seq(nn.Module):
    """Encoder-decoder with attention (module docstring).

    Args:
        config: the architecture.
        source_vocab_size, target_vocab_size: the vocabularies' sizes.
        pad_id: the padding token of both vocabularies (its embedding stays zero).

    Inputs of ``forward``: ``source (S, B)``, ``source_lengths (B,)``, ``target_input (T, B)`` (the
    target shifted right: ``<bos> y_1 … y_{T-1}``) and optionally ``sampled (T, B)`` bool: where True,
    the model's own previous prediction (argmax, detached) replaces ``target_input[t]`` (scheduled
    sampling; row 0 is ignored).

    Outputs of ``forward``: ``logits (T, B, V)`` and the attention weights ``(T, B, S)`` (None without
    attention).

    Example:
        >>> model = Seq2Seq(Seq2SeqConfig(hidden_size=16, embedding_size=8, num_layers=1), 20, 30)
        >>> logits, weights = model(torch.randint(4, 20, (7, 3)), torch.tensor([7, 5, 2]),
        ...                         torch.randint(4, 30, (6, 3)))
        >>> logits.shape, weights.shape
        (torch.Size([6, 3, 30]), torch.Size([6, 3, 7]))
    """

    def __init__(self, config: Seq2SeqConfig, source_vocab_size: int, target_vocab_size: int, pad_id: int = 0) -> None:
        super().__init__()
        self.config = config
        E, H, L = config.embedding_size, config.hidden_size, config.num_layers
        directions = 2 if config.bidirectional else 1
        between = config.dropout if L > 1 else 0.0
        self.source_embedding = nn.Embedding(source_vocab_size, E, padding_idx=pad_id)
        self.target_embedding = nn.Embedding(target_vocab_size, E, padding_idx=pad_id)
        # MUT1/MUT2 read x_t as a hidden-size vector: their inputs are first projected to H.
        square = get_cell_class(config.cell).needs_square_input is not None
        decoder_input = E + (H if config.feeds_input else 0)
        self.encoder_input = nn.Linear(E, H) if square else nn.Identity()
        self.decoder_input = nn.Linear(decoder_input, H) if square else nn.Identity()
        self.encoder = Recurrent(config.cell, H if square else E, H, L, dropout=between,
                                 bidirectional=config.bidirectional,
                                 engine=config.engine)
        state_parts = len(get_cell_class(config.cell).state_names)
        self.bridge = nn.ModuleList(nn.Linear(directions * H, H) for _ in range(state_parts))
        self.decoder = RecurrentCell(config.cell, H if square else decoder_input, H, L, dropout=between)
        self.attention: Attention | None = None
        if config.attention != "none":
            self.attention = Attention(config.attention, H, directions * H)
            self.combine = nn.Linear(directions * H + H, H, bias=False)              # W_c
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(H, target_vocab_size)                               # W_o

    # -- the encoder

    def encode(self, source: Tensor, source_lengths: Tensor) -> Seq2SeqState:
        """The decoder's first state for ``source (S, B)`` of ``source_lengths (B,)``."""
        if source.dim() != 2:
            raise ValueError(f"source must be token ids of shape (S, B), got shape {tuple(source.shape)}")
        lengths = source_lengths.to(source.device)
        embedded = self.encoder_input(self.dropout(self.source_embedding(source)))
        outputs, final = self.encoder(embedded, lengths=lengths)
        parts = final if isinstance(final, tuple) else (final,)
        rnn = tuple(torch.tanh(bridge(self._join_directions(part))) for bridge, part in zip(self.bridge, parts))
        rnn_state = rnn if len(rnn) > 1 else rnn[0]
        batch = source.size(1)
        feed = outputs.new_zeros(batch, self.config.hidden_size) if self.config.feeds_input else None
        if self.attention is None:
            return Seq2SeqState(rnn_state, feed, None, None, None)
        memory = outputs.transpose(0, 1)                                             # (B, S, D)
        mask = torch.arange(source.size(0), device=source.device)[None] < lengths[:, None]   # (B, S)
        return Seq2SeqState(rnn_state, feed, memory, self.attention.keys(memory), mask)

    def _join_directions(self, part: Tensor) -> Tensor:
        """(L·D, B, H) final states → (L, B, D·H): each layer's forward and backward state side by side."""
        directions = 2 if self.config.bidirectional else 1
        L, B, H = self.config.num_layers, part.size(1), part.size(2)
        return part.view(L, directions, B, H).permute(0, 2, 1, 3).reshape(L, B, directions * H)

    # -- the decoder

    def decode_step(self, embedded: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState, Tensor | None]:
        """One target step from the embedded previous token (B, E): logits (B, V), state, weights (B, S)."""
        h, state, weights = self._attend(embedded, state)
        return self.output(self.dropout(h)), state, weights

    def _attend(self, embedded: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState, Tensor | None]:
        """One step up to the attentional state: h̃_t (B, H) (h_t without attention), state, weights."""
        x = embedded if state.feed is None else torch.cat([embedded, state.feed], dim=-1)
        h, rnn = self.decoder(self.decoder_input(x), state.rnn)                     # (B, H)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(h, state.keys, state.memory, state.mask)
            h = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))            # h̃_t
        feed = h if state.feed is not None else None
        return h, state._replace(rnn=rnn, feed=feed), weights

    def step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """``tokens (B,)`` (the previous target tokens, ``<bos>`` first) → next-token logits (B, V), state."""
        if state is None:
            raise ValueError("a Seq2Seq decoder starts from the state of encode(source, lengths), not None")
        logits, state, _ = self.decode_step(self.target_embedding(tokens), state)
        return logits, state

    @staticmethod
    def reorder_state(state: Seq2SeqState, indices: Tensor) -> Seq2SeqState:
        """The rows ``indices`` (B',) of a state, in order (beam search's hook)."""
        return select_rows(state, indices)

    def forward(self, source: Tensor, source_lengths: Tensor, target_input: Tensor,
                sampled: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        state = self.encode(source, source_lengths)
        embedded = self.dropout(self.target_embedding(target_input))                # (T, B, E)
        if sampled is None:
            # Teacher forcing: every input is known, so W_o is applied once to all steps (one large product).
            outputs, all_weights = [], []
            for x in embedded:
                h, state, weights = self._attend(x, state)
                outputs.append(h)
                all_weights.append(weights)
            logits = self.output(self.dropout(torch.stack(outputs)))                 # (T, B, V)
        else:
            steps, all_weights = [], []
            for t in range(target_input.size(0)):
                x = embedded[t]
                if t > 0 and bool(sampled[t].any()):
                    # Scheduled sampling: the model's own previous guess where sampled[t] is True.
                    own = self.dropout(self.target_embedding(steps[-1].argmax(-1).detach()))
                    x = torch.where(sampled[t, :, None], own, x)
                step_logits, state, weights = self.decode_step(x, state)
                steps.append(step_logits)
                all_weights.append(weights)
            logits = torch.stack(steps)
        return logits, None if self.attention is None else torch.stack(all_weights)
