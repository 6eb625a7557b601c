r"""Elman (vanilla) recurrent cells.

Elman 1990, "Finding Structure in Time"; the notes' vanilla RNN:

    h_t = φ(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh),    φ = tanh or ReLU

Parameters and their layout are ``torch.nn.RNN``'s (one gate block: G = 1).

Backward through time (the notes' BPTT for the vanilla RNN). With a_t = wx_t + W_hh h_{t-1} the
pre-activation and dh = ∂L/∂h_t (from the output h_t and from step t+1):

    δ_t = ∂L/∂a_t = dh ⊙ φ'(a_t)        tanh: 1 − h_t²;  ReLU: 1 where h_t > 0, else 0
    ∂L/∂wx_t = δ_t,    ∂L/∂h_{t-1} = δ_t W_hh,    ∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1}

φ' is written with h_t, not a_t, so h_t (already kept as the state) is all a step saves.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from .activations import tanh_
from .base import Cell, Params, State


class ElmanCell(Cell):
    """Shared forward of the Elman cells; subclasses pick the nonlinearity.

    An Elman cell has no gates: its one block is the pre-activation of h_t itself, so
    :meth:`gate_values` is an empty dict (the cell supports it, and there is nothing to report).
    """

    gates: ClassVar[int] = 1

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        return {}

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

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        h = tanh_(torch.addmm(wx, h_prev, p.weight_hh.T))               # (B, H)
        # h_t is the new state and all the backward needs: saved as the same tensor, stored once.
        return (h,), (h,)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        (dh,), (h,) = d_state, saved
        # Elman: h_t = tanh(a_t), so δ_t = ∂L/∂a_t = dh ⊙ (1 − h_t²), in one pass by the kernel of
        # autograd's own tanh backward.
        delta = torch.ops.aten.tanh_backward(dh, h)                     # (B, H)
        # a_t sees h_{t-1} only through W_hh; dW_hh is the base class's one GEMM over all steps.
        return delta, (delta @ p.weight_hh,), ()


class ReLURNNCell(ElmanCell):
    r"""Elman cell with ReLU: ``h_t = max(0, W_xh x_t + W_hh h_{t-1} + b)``."""

    name = "rnn_relu"
    summary = "h = relu(W_xh x + W_hh h + b)"
    fused_mode = "RNN_RELU"

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return ((wx + h_prev @ p.weight_hh.T).relu(),)

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        h = torch.addmm(wx, h_prev, p.weight_hh.T).relu_()               # (B, H)
        return (h,), (h,)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        (dh,), (h,) = d_state, saved
        # h_t = max(0, a_t): δ_t = dh where the unit is active (h_t > 0 ⇔ a_t > 0), else 0, in one
        # pass by the kernel of autograd's own ReLU backward.
        delta = torch.ops.aten.threshold_backward(dh, h, 0)              # (B, H)
        return delta, (delta @ p.weight_hh,), ()


class IRNNCell(ReLURNNCell):
    r"""IRNN: the ReLU Elman cell started at the identity.

    Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear
    Units": W_hh = I, b = 0, input weights N(0, 0.001²), so that at the start h_t ≈ h_{t-1} + W_xh x_t
    and gradients neither vanish nor explode through time.
    """

    name = "irnn"
    summary = "h = relu(W_xh x + W_hh h + b), W_hh = I and b = 0 at init"
    default_init = "identity"
