"""Truncated backpropagation through time with k1 = k2 = k (the chunk length).

The sequence is cut into chunks of k steps. Each chunk starts from the final state of the one
before, *detached*: the forward pass sees the whole history, the gradient flows back through at
most k steps::

    chunk:      [x_1 … x_k]          [x_{k+1} … x_{2k}]        …
    state:  0 ──► h_k ──detach──► h_k ──► h_{2k} ──detach──► …
    gradient:  ◄────────┘            ◄──────────┘               (never across a detach)

The model is any module with ``loss(inputs, targets, state) -> (loss, state)``; this module knows
nothing of cells.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

State = Tensor | tuple[Tensor, ...] | None


class SequenceLossModel(Protocol):
    """What truncated BPTT needs of a model."""

    def loss(self, inputs: Tensor, targets: Tensor, state: State) -> tuple[Tensor, State]: ...


def detach_state(state: State) -> State:
    """The state cut from the graph that produced it (same values, no gradient history)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(detach_state(part) for part in state)


def train_chunk(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    state: State,
    optimizer: torch.optim.Optimizer,
    clip_norm: float | None,
) -> tuple[Tensor, State, Tensor | None]:
    """One update on one chunk: forward from ``state``, backward, clip, step.

    Returns the loss (detached), the final state detached for the next chunk, and the gradient's
    global norm before clipping (None without clipping). With a non-finite loss or gradient norm the
    update is skipped, so the parameters stay as they were; the caller decides what to do.
    """
    loss, state = model.loss(inputs, targets, state)
    if not torch.isfinite(loss):
        return loss.detach(), detach_state(state), None
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = None
    if clip_norm is not None:
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        if not torch.isfinite(norm):
            return loss.detach(), detach_state(state), norm
    optimizer.step()
    return loss.detach(), detach_state(state), norm
