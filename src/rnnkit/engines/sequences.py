"""Helpers every engine shares: the padding mask and per-sequence reversal.

A padded batch, time-major, with lengths (3, 1, 2)::

    t →   0  1  2
    b=0   a  b  c
    b=1   d  ·  ·        · = padding: the state stops, the output is zero
    b=2   e  f  ·

The reverse direction of a bidirectional layer reads each sequence from its *own* last element:
reversed, b=2 is ``f e ·``, not ``· f e``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..cells import Cell, Params, State

DirectionRunner = Callable[[Cell, Tensor, Params, State, "Tensor | None"], tuple[Tensor, State]]


def padding_mask(lengths: Tensor, steps: int, like: Tensor) -> Tensor:
    """(T, B, 1) boolean mask on ``like``'s device: True where ``t < lengths[b]``."""
    time = torch.arange(steps, device=like.device).unsqueeze(1)          # (T, 1)
    return (time < lengths.to(like.device).unsqueeze(0)).unsqueeze(-1)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (T, B, F) within its length; padding stays where it is."""
    if lengths is None:
        return x.flip(0)
    steps = x.size(0)
    time = torch.arange(steps, device=x.device).unsqueeze(1)                # (T, 1)
    lengths = lengths.to(x.device).unsqueeze(0)                             # (1, B)
    index = torch.where(time < lengths, lengths - 1 - time, time)           # (T, B)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


def run_directions(
    run_direction: DirectionRunner,
    cell: Cell,
    x: Tensor,
    params: list[Params],
    states: list[State],
    lengths: Tensor | None,
) -> tuple[Tensor, list[State]]:
    """One layer, every direction, with ``run_direction`` running one: direction 1 (if any) reads
    each sequence backwards, and its outputs are put back in time order before the two are joined."""
    outputs, finals = [], []
    for direction, (p, state) in enumerate(zip(params, states)):
        inputs = reverse_padded(x, lengths) if direction else x
        output, final = run_direction(cell, inputs, p, state, lengths)
        outputs.append(reverse_padded(output, lengths) if direction else output)
        finals.append(final)
    return torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0], finals
