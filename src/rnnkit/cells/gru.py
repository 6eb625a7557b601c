r"""Gated recurrent units, in PyTorch/cuDNN's convention.

Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation", as computed by ``torch.nn.GRU`` and cuDNN (gate order r, z, n):

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

The reset gate multiplies the recurrent product *after* it is formed, so one matrix product of
h_{t-1} serves all three gates. The paper (and the notes) apply it *before*, to h_{t-1} itself:
that is the ``gru_cho`` cell.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .base import Cell, Params, State


class GRUCell(Cell):
    """GRU with the reset gate applied after the recurrent product (see the module docstring)."""

    name = "gru"
    summary = "n = tanh(W_in x + r⊙(W_hn h + b_hn)), h = (1−z)⊙n + z⊙h  (PyTorch/cuDNN)"
    gates = 3
    fused_mode = "GRU"

    def project(self, x: Tensor, p: Params) -> Tensor:
        # b_hr and b_hz add to the input side; b_hn stays inside r ⊙ (…), so it cannot be folded.
        bias = None
        if p.bias_ih is not None:
            rz = 2 * self.hidden_size
            bias = torch.cat([p.bias_ih[:rz] + p.bias_hh[:rz], p.bias_ih[rz:]])
        return F.linear(x, p.weight_ih, bias)

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        hidden = self.hidden_size
        wh = h_prev @ p.weight_hh.T                                        # (B, 3H)
        rz = (wx[:, : 2 * hidden] + wh[:, : 2 * hidden]).sigmoid()
        r, z = rz.chunk(2, dim=-1)
        wh_n = wh[:, 2 * hidden :]
        if p.bias_hh is not None:
            wh_n = wh_n + p.bias_hh[2 * hidden :]
        n = (wx[:, 2 * hidden :] + r * wh_n).tanh()
        return (n + z * (h_prev - n),)


class ChoGRUCell(Cell):
    r"""GRU as written by Cho et al. 2014 and the notes: reset applied *before* the recurrent product.

        r_t = σ(W_r x_t + U_r h_{t-1} + b_r)
        z_t = σ(W_z x_t + U_z h_{t-1} + b_z)
        h̃_t = tanh(W x_t + U (r_t ⊙ h_{t-1}) + b)
        h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

    The interpolation follows the notes (z chooses the new content); Cho et al. write the mirror image
    h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃, the same family with z's sign flipped. Parameters keep
    ``torch.nn.GRU``'s layout (blocks r, z, n); since nothing multiplies a bias by r here, both biases
    fold into the input projection. The price of the paper's form: U_r, U_z multiply h_{t-1} and U
    multiplies r ⊙ h_{t-1}, two recurrent products per step instead of one.
    """

    name = "gru_cho"
    summary = "h̃ = tanh(W x + U(r⊙h) + b), h = (1−z)⊙h + z⊙h̃  (Cho et al. 2014, the notes)"
    gates = 3

    def project(self, x: Tensor, p: Params) -> Tensor:
        bias = p.bias_ih + p.bias_hh if p.bias_ih is not None else None
        return F.linear(x, p.weight_ih, bias)

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        hidden = self.hidden_size
        u_rz, u_n = p.weight_hh[: 2 * hidden], p.weight_hh[2 * hidden :]
        r, z = (wx[:, : 2 * hidden] + h_prev @ u_rz.T).sigmoid().chunk(2, dim=-1)
        h_tilde = (wx[:, 2 * hidden :] + (r * h_prev) @ u_n.T).tanh()
        return (h_prev + z * (h_tilde - h_prev),)
