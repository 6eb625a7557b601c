"""The autograd engine: the notes' forward loop, one step at a time, under autograd.

It is the readable reference: every other engine is tested against it. Its backward is whatever
autograd records, so it runs any cell that writes only its ``step``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..cells import Cell, Params, State
from .sequences import padding_mask, run_directions


def run_direction(cell: Cell, x: Tensor, p: Params, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """Run one direction over ``x`` (T, B, I) from ``state``; returns outputs (T, B, H) and final state."""
    wx = cell.project(x, p)                                                 # (T, B, G·H), one GEMM
    mask = None if lengths is None else padding_mask(lengths, x.size(0), x)
    outputs = []
    # unbind, not wx[t]: indexing one step at a time would make autograd's backward write a full
    # (T, B, G·H) gradient per step, O(T²) memory traffic.
    for t, wx_t in enumerate(wx.unbind(0)):
        new = cell.step(wx_t, state, p)
        if mask is not None:
            # Past a sequence's end its state is carried through unchanged.
            new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
        state = new
        outputs.append(state[0])
    output = torch.stack(outputs)                                           # (T, B, H)
    if mask is not None:
        output = output.masked_fill(~mask, 0.0)
    return output, state


def run_layer(
    cell: Cell,
    x: Tensor,
    params: list[Params],
    states: list[State],
    lengths: Tensor | None,
    training: bool,
) -> tuple[Tensor, list[State]]:
    """One layer, every direction: direction 1 (if any) reads each sequence backwards."""
    return run_directions(run_direction, cell, x, params, states, lengths)
