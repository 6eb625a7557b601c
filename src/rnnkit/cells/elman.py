r"""Elman (vanilla) recurrent cells.

Elman 1990, "Finding Structure in Time"; the notes' vanilla RNN:

    h_t = φ(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh),    φ = tanh or ReLU

Parameters and their layout are ``torch.nn.RNN``'s (one gate block: G = 1).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor
from torch.nn import functional as F

from .base import Cell, Params, State


class ElmanCell(Cell):
    """Shared forward of the Elman cells; subclasses pick the nonlinearity."""

    gates: ClassVar[int] = 1

    def project(self, x: Tensor, p: Params) -> Tensor:
        # Both biases enter the same pre-activation, so fold b_hh into the one big product.
        bias = p.bias_ih + p.bias_hh if p.bias_ih is not None else None
        return F.linear(x, p.weight_ih, bias)



class TanhRNNCell(ElmanCell):
    r"""Elman cell with tanh: ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)``."""

    name = "rnn_tanh"
    summary = "h = tanh(W_xh x + W_hh h + b)"
    fused_mode = "RNN_TANH"

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return ((wx + h_prev @ p.weight_hh.T).tanh(),)


class ReLURNNCell(ElmanCell):
    r"""Elman cell with ReLU: ``h_t = max(0, W_xh x_t + W_hh h_{t-1} + b)``."""

    name = "rnn_relu"
    summary = "h = relu(W_xh x + W_hh h + b)"
    fused_mode = "RNN_RELU"

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return ((wx + h_prev @ p.weight_hh.T).relu(),)


class IRNNCell(ReLURNNCell):
    r"""IRNN: the ReLU Elman cell started at the identity.

    Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear
    Units": W_hh = I, b = 0, input weights N(0, 0.001²), so that at the start h_t ≈ h_{t-1} + W_xh x_t
    and gradients neither vanish nor explode through time.
    """

    name = "irnn"
    summary = "h = relu(W_xh x + W_hh h + b), W_hh = I and b = 0 at init"
    default_init = "identity"
