"""The fused engine: PyTorch's own kernels (cuDNN on GPU, oneDNN or ATen's native loop on CPU).

Used for the cells that PyTorch implements exactly (``Cell.fused_mode``): ``rnn_tanh``, ``rnn_relu``
(and ``irnn``, which only starts differently), ``lstm`` and ``gru``. One call runs one layer in every
direction; padded batches go through a ``PackedSequence`` so each sequence stops at its own length.

cuDNN refuses a backward pass when its forward ran with ``train=False`` ("cudnn RNN backward can
only be called in training mode"). With no dropout inside the kernel, ``train`` changes nothing but
what is kept for the backward, so it is set whenever a gradient will be needed, whatever the module's
mode: eval-mode backward works here.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import Cell, Params, State

_KERNELS = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}


def supports(cell: Cell) -> bool:
    """Whether a PyTorch kernel computes exactly this cell."""
    return cell.fused_mode in _KERNELS


def run_layer(
    cell: Cell,
    x: Tensor,
    params: list[Params],
    states: list[State],
    lengths: Tensor | None,
    training: bool,
) -> tuple[Tensor, list[State]]:
    """One layer, every direction, in one kernel call."""
    kernel = _KERNELS[cell.fused_mode]
    has_bias = params[0].bias_ih is not None
    weights = []
    for p in params:
        weights += [p.weight_ih, p.weight_hh] + ([p.bias_ih, p.bias_hh] if has_bias else [])
    # (D, B, H) per state tensor: h0 (and c0) of every direction.
    hx = [torch.stack([state[k] for state in states]) for k in range(len(states[0]))]
    bidirectional = len(params) == 2
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or any(w.requires_grad for w in weights) or any(h.requires_grad for h in hx)
    )
    train = training or needs_grad

    if lengths is None:
        hidden = hx if cell.fused_mode == "LSTM" else hx[0]
        result = kernel(x, hidden, weights, has_bias, 1, 0.0, train, bidirectional, False)
        output, finals = result[0], result[1:]
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        hx = [h.index_select(1, packed.sorted_indices) for h in hx]
        hidden = hx if cell.fused_mode == "LSTM" else hx[0]
        result = kernel(packed.data, packed.batch_sizes, hidden, weights, has_bias, 1, 0.0, train, bidirectional)
        output = _unpack(result[0], packed, x.size(0))
        finals = [h.index_select(1, packed.unsorted_indices) for h in result[1:]]
    return output, [tuple(f[d] for f in finals) for d in range(len(params))]


def _unpack(data: Tensor, packed: PackedSequence, steps: int) -> Tensor:
    """Packed kernel output back to a zero-padded (T, B, D·H) tensor in the batch's own order."""
    out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    return pad_packed_sequence(out, total_length=steps)[0]
