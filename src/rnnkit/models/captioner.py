r"""Image captioning: a CNN encodes the image, a recurrent decoder writes the caption.

The encoder (:mod:`rnnkit.vision`) turns an image into R regions of D features each (a 7×7 grid of
1280 for EfficientNet-Lite0 at 224×224), projected to a_1 … a_R of P features (``region_size``) and
layer-normalised (``region_norm``), and their mean ā. Two decoders read them, each
through the one-step :class:`~rnnkit.RecurrentCell` of any cell:

**Show and Tell** (Vinyals et al. 2015), the image seen once:

- ``image_as = "input"`` (Vinyals et al.): x_{-1} = W_I ā is the decoder's first input, before
  ``<bos>``; from then on it sees only words;
- ``image_as = "state"`` (the notes' ``h = tanh(W_xh x + W_hh h + W_ih v)`` at the first step):
  s_0 = tanh(W_s ā), for every layer and every part of the state (h, and c for the LSTM family);
- p(y_t | y_<t, I) = softmax(W_o h_t).

**Show, Attend and Tell** (Xu et al. 2015, soft attention), the image looked at again at every word::

    s_0 = tanh(W_s ā)                                 (f_init, every layer and part of the state;
                                                       initial_state "zeros": s_0 = 0, the image seen
                                                       only through attention)
    α_t = softmax_i( vᵀ tanh(W_q h_{t-1} + W_a a_i) ) (additive attention over the regions; score
                                                       "general": h_{t-1}ᵀ W_a a_i, Luong et al. 2015)
    β_t = σ(w_β · h_{t-1} + b_β)                       (the gating scalar, section 4.2.1)
    ẑ_t = β_t Σ_i α_ti a_i
    h_t = decoder([E y_{t-1}; ẑ_t], s_{t-1})
    p(y_t | y_<t, I) = softmax(W_o (E y_{t-1} + L_h h_t + L_z ẑ_t))   (the deep output, eq. 7)

and the doubly stochastic regulariser λ Σ_i (1 − Σ_t α_ti)² (eq. 14), which asks every region to
receive, summed over the caption, about one unit of attention (:func:`doubly_stochastic_penalty`).

There the query h_{t-1} has not seen y_{t-1}, the word just written: when the words so far could
describe several objects, the one the caption just chose is unknown to it. ``attend_with =
"current"`` (Lu et al. 2017, "Knowing When to Look", section 2.2: spatial attention from the current
hidden state) first reads the word and the previous context ẑ_{t-1} (input feeding, Luong et al.
2015), then looks::

    h_t = decoder([E y_{t-1}; ẑ_{t-1}], s_{t-1})      (ẑ_0 = 0)
    α_t = softmax_i(score(h_t, a_i)),  β_t = σ(w_β · h_t + b_β),  ẑ_t = β_t Σ_i α_ti a_i
    p(y_t | y_<t, I) = softmax(W_o (E y_{t-1} + L_h h_t + L_z ẑ_t))

with the same parameters as ``"previous"`` (Xu et al.'s order), so only the order differs.

A region's features say all of its object at once (shape, colour, size), so a context fed into the
decoder lets it look at an object once and write the rest of the phrase from memory, looking
elsewhere meanwhile. ``feed_context = False`` keeps the context out of the recurrence: h_t =
decoder(E y_{t-1}, s_{t-1}), and ẑ_t reaches only the output (Lu et al. 2017's spatial attention,
whose output is W_p(ĉ_t + h_t)), so every word's image evidence is what that word looks at.

The model reads cached region features ``(B, R, D)`` when the encoder is frozen (features computed
once, :func:`rnnkit.vision.cached_features`), or images ``(B, H, W, 3)`` uint8 when it holds a
trainable encoder (a small CNN trained from scratch, or a pretrained one fine-tuned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..cells import get_cell_class
from ..engines import check_cell_and_engine_names
from ..decoding.beam import select_rows
from ..layers import RecurrentCell
from .attention import Attention

DECODERS = ("show_attend_tell", "show_tell")
IMAGE_AS = ("input", "state")
INITIAL_STATES = ("image", "zeros")
SCORES = ("additive", "general")
ATTEND_WITH = ("previous", "current")


@dataclass(frozen=True)
class CaptionerConfig:
    """The decoder and how it sees the image (module docstring)."""

    decoder: str = "show_attend_tell"  # "show_attend_tell" (soft attention) or "show_tell" (no attention)
    cell: str = "lstm"                 # any name of rnnkit.cell_names()
    embedding_size: int = 256          # E, word embeddings (and the deep output's size)
    hidden_size: int = 512             # H of the decoder
    num_layers: int = 1                # L, stacked decoder layers
    attention_size: int = 512          # A, the additive attention's hidden size
    region_size: int = 512             # P: each region's D features are first projected to P (0: kept as D)
    region_norm: bool = False          # layer-normalise each projected region (Ba et al. 2016)
    score: str = "additive"            # attention scores: "additive" (Xu et al.'s MLP) or "general" (qᵀ W a)
    image_as: str = "input"            # Show and Tell: the image as the first "input" or the initial "state"
    initial_state: str = "image"       # Show, Attend and Tell: s_0 from the mean region ("image", Xu et al.) or
                                       # "zeros", so that everything the words need comes through attention
    attend_with: str = "previous"      # the attention's query: h_{t-1} ("previous", Xu et al.) or h_t, after
                                       # reading y_{t-1} and ẑ_{t-1} ("current", Lu et al. 2017)
    feed_context: bool = True          # the context as an input of the decoder (False: only of the output)
    gate: bool = True                  # Show, Attend and Tell's gating scalar β
    doubly_stochastic: float = 1.0     # λ of the doubly stochastic regulariser (0: none)
    dropout: float = 0.5               # before the output layer, and between layers

    def __post_init__(self) -> None:
        check_cell_and_engine_names(self.cell, "auto")
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choose one of: {', '.join(DECODERS)}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if self.initial_state not in INITIAL_STATES:
            raise ValueError(f"initial_state must be one of {', '.join(INITIAL_STATES)}, got {self.initial_state!r}")
        if not isinstance(self.feed_context, bool):
            raise ValueError(f"feed_context must be true or false, got {self.feed_context!r}")
        if self.attend_with not in ATTEND_WITH:
            raise ValueError(f"attend_with must be one of {', '.join(ATTEND_WITH)}, got {self.attend_with!r}")
        if self.image_as not in IMAGE_AS:
            raise ValueError(f"image_as must be one of {', '.join(IMAGE_AS)}, got {self.image_as!r}")
        for name in ("embedding_size", "hidden_size", "num_layers", "attention_size", "region_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "region_size" else 1):
                raise ValueError(f"{name} must be a positive integer{' or 0' if name == 'region_size' else ''}, "
                                 f"got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.doubly_stochastic >= 0:
            raise ValueError(f"doubly_stochastic (λ) must be >= 0, got {self.doubly_stochastic!r}")

    @property
    def attends(self) -> bool:
        return self.decoder == "show_attend_tell"


class CaptionState(NamedTuple):
    """What the decoder carries from word to word (B: images, R: regions)."""

    rnn: Tensor | tuple[Tensor, ...]   # the decoder's state, (L, B, H) (a tuple (h, c) for the LSTM family)
    memory: Tensor | None              # the regions a (B, R, D), with attention
    keys: Tensor | None                # W_a a (B, R, A), computed once per image
    mask: Tensor | None                # (B, R) all True: every region may be attended to
    context: Tensor | None = None      # ẑ_{t-1} (B, D), fed to the next step (attend_with "current")


def doubly_stochastic_penalty(weights: Tensor, steps: Tensor | None = None) -> Tensor:
    r"""Σ_i (1 − Σ_t α_ti)² for each image (B,), from the weights (T, B, R) of the caption's steps;
    ``steps`` (T, B) bool keeps only the real steps of each caption (not padding)."""
    if steps is not None:
        weights = weights * steps[..., None].to(weights.dtype)
    return (1.0 - weights.sum(dim=0)).square().sum(dim=-1)


class Captioner(nn.Module):
    """Show and Tell, or Show, Attend and Tell (module docstring).

    Args:
        config: the decoder.
        vocab_size: V, caption words (with ``<pad> <unk> <bos> <eos>``).
        feature_size: D, features per region.
        encoder: an :class:`~rnnkit.vision.ImageEncoder` trained with the decoder (then ``forward``
            and :meth:`encode` take images), or None (they take region features).
        pad_id: the padding word (its embedding stays zero).

    Inputs of ``forward``: ``images`` (features (B, R, D), or uint8 images (B, H, W, 3) with an
    encoder) and ``caption_input (T, B)``: ``<bos> y_1 … y_{T-1}``.

    Outputs of ``forward``: ``logits (T, B, V)`` and the attention weights ``(T, B, R)`` (None for
    Show and Tell).

    Example:
        >>> config = CaptionerConfig(hidden_size=16, embedding_size=8, attention_size=8, region_size=8)
        >>> model = Captioner(config, 30, 12)
        >>> logits, weights = model(torch.randn(2, 49, 12), torch.randint(4, 30, (6, 2)))
        >>> logits.shape, weights.sum(-1).allclose(torch.ones(6, 2))
        (torch.Size([6, 2, 30]), True)
    """

    def __init__(self, config: CaptionerConfig, vocab_size: int, feature_size: int, encoder: nn.Module | None = None,
                 pad_id: int = 0) -> None:
        super().__init__()
        self.config = config
        E, H, L = config.embedding_size, config.hidden_size, config.num_layers
        self.encoder = encoder
        # a_i = W_p f_i: the encoder's D features of each region projected to P (fewer weights after it).
        D = config.region_size or feature_size
        projection = nn.Linear(feature_size, config.region_size) if config.region_size else nn.Identity()
        self.region_projection = nn.Sequential(projection, nn.LayerNorm(D)) if config.region_norm else projection
        self.embedding = nn.Embedding(vocab_size, E, padding_idx=pad_id)
        decoder_input = E + (D if config.attends and config.feed_context else 0)
        # MUT1/MUT2 read x_t as a hidden-size vector: their inputs are first projected to H.
        square = get_cell_class(config.cell).needs_square_input is not None
        self.decoder_input = nn.Linear(decoder_input, H) if square else nn.Identity()
        self.decoder = RecurrentCell(config.cell, H if square else decoder_input, H, L,
                                     dropout=config.dropout if L > 1 else 0.0)
        self.state_parts = len(get_cell_class(config.cell).state_names)
        self.image_input: nn.Linear | None = None
        self.init_state: nn.ModuleList | None = None
        if config.attends and config.initial_state == "zeros":
            pass
        elif config.attends or config.image_as == "state":
            self.init_state = nn.ModuleList(nn.Linear(D, L * H) for _ in range(self.state_parts))   # W_s
        else:
            self.image_input = nn.Linear(D, E)                                                      # W_I
        self.dropout = nn.Dropout(config.dropout)
        self.attention: Attention | None = None
        if config.attends:
            self.attention = Attention(config.score, H, D, config.attention_size)
            self.gate = nn.Linear(H, 1) if config.gate else None                                    # f_β
            self.deep_hidden = nn.Linear(H, E)                                                       # L_h
            self.deep_context = nn.Linear(D, E, bias=False)                                          # L_z
        self.output = nn.Linear(E if config.attends else H, vocab_size)                              # W_o

    # -- the image

    def regions(self, images: Tensor) -> Tensor:
        """The regions a (B, R, P): the projected ``images`` (region features) without an encoder, else
        the projected encoder output for uint8 images (B, H, W, 3)."""
        if self.encoder is None:
            if images.dim() != 3:
                raise ValueError(f"this captioner reads region features (B, R, D), got shape {tuple(images.shape)}")
            return self.region_projection(images.to(self.output.weight.dtype))
        if images.dim() != 4 or images.size(-1) != 3:
            raise ValueError(f"this captioner's encoder reads images (B, H, W, 3), got shape {tuple(images.shape)}")
        pixels = images.permute(0, 3, 1, 2).to(self.output.weight.dtype) / 255.0
        return self.region_projection(self.encoder(pixels))

    def encode(self, images: Tensor) -> CaptionState:
        """The decoder's state before ``<bos>`` for a batch of images (or their region features)."""
        regions = self.regions(images)                                                 # (B, R, D)
        mean = regions.mean(dim=1)                                                     # ā (B, D)
        B, L, H = regions.size(0), self.config.num_layers, self.config.hidden_size
        if self.init_state is not None:
            parts = tuple(torch.tanh(f(mean)).view(B, L, H).transpose(0, 1).contiguous() for f in self.init_state)
            rnn = parts if self.state_parts > 1 else parts[0]
        elif self.image_input is None:
            # initial_state "zeros": the decoder starts blind and sees the image only through attention.
            zeros = tuple(regions.new_zeros(L, B, H) for _ in range(self.state_parts))
            rnn = zeros if self.state_parts > 1 else zeros[0]
        else:
            # Vinyals et al.: the image is the input of step −1, from a zero state.
            _, rnn = self.decoder(self.decoder_input(self.image_input(mean)))
        if self.attention is None:
            return CaptionState(rnn, None, None, None)
        mask = torch.ones(regions.shape[:2], dtype=torch.bool, device=regions.device)
        fed = self.config.attend_with == "current" and self.config.feed_context
        context = regions.new_zeros(B, regions.size(-1)) if fed else None
        return CaptionState(rnn, regions, self.attention.keys(regions), mask, context)

    # -- the words

    def decode_step(self, embedded: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState, Tensor | None]:
        """One word from the embedded previous word (B, E): logits (B, V), state, weights α_t (B, R)."""
        vector, state, weights = self._before_output(embedded, state)
        return self.output(self.dropout(vector)), state, weights

    def _before_output(self, embedded: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState, Tensor | None]:
        """One step up to what W_o reads: h_t (Show and Tell) or the deep output (B, ·), state, weights."""
        if self.attention is None:
            h, rnn = self.decoder(self.decoder_input(embedded), state.rnn)
            return h, state._replace(rnn=rnn), None
        feed = self.config.feed_context
        if self.config.attend_with == "current":
            x = torch.cat([embedded, state.context], dim=-1) if feed else embedded
            h, rnn = self.decoder(self.decoder_input(x), state.rnn)
            context, weights = self._look(h, state)
        else:
            context, weights = self._look((state.rnn[0] if isinstance(state.rnn, tuple) else state.rnn)[-1], state)
            x = torch.cat([embedded, context], dim=-1) if feed else embedded
            h, rnn = self.decoder(self.decoder_input(x), state.rnn)
        deep = embedded + self.deep_hidden(h) + self.deep_context(context)
        fed = context if state.context is not None else None
        return deep, state._replace(rnn=rnn, context=fed), weights

    def _look(self, query: Tensor, state: CaptionState) -> tuple[Tensor, Tensor]:
        """ẑ = β Σ_i α_i a_i (B, D) and α (B, R) for the query (B, H): h_{t-1} or h_t."""
        context, weights = self.attention(query, state.keys, state.memory, state.mask)
        if self.gate is not None:
            context = torch.sigmoid(self.gate(query)) * context
        return context, weights

    def step(self, tokens: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """``tokens (B,)`` (the previous words, ``<bos>`` first) → next-word logits (B, V), state."""
        if state is None:
            raise ValueError("a Captioner starts from the state of encode(images), not None")
        logits, state, _ = self.decode_step(self.embedding(tokens), state)
        return logits, state

    @staticmethod
    def reorder_state(state: CaptionState, indices: Tensor) -> CaptionState:
        """The rows ``indices`` (B',) of a state, in order (beam search's hook)."""
        return select_rows(state, indices)

    def forward(self, images: Tensor, caption_input: Tensor) -> tuple[Tensor, Tensor | None]:
        state = self.encode(images)
        embedded = self.embedding(caption_input)                                        # (T, B, E)
        vectors, all_weights = [], []
        for x in embedded:
            vector, state, weights = self._before_output(x, state)
            vectors.append(vector)
            all_weights.append(weights)
        # Every input is known (teacher forcing), so W_o is applied once to all steps.
        logits = self.output(self.dropout(torch.stack(vectors)))                         # (T, B, V)
        return logits, None if self.attention is None else torch.stack(all_weights)
