r"""The LSTM with forget gate.

Hochreiter & Schmidhuber 1997, with the forget gate of Gers, Schmidhuber & Cummins 2000; the notes'
equations in PyTorch's gate order i, f, g, o:

    i_t = σ(W_xi x_t + W_hi h_{t-1} + b_i)        input gate
    f_t = σ(W_xf x_t + W_hf h_{t-1} + b_f)        forget gate
    g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)     candidate
    o_t = σ(W_xo x_t + W_ho h_{t-1} + b_o)        output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Parameters and layout are ``torch.nn.LSTM``'s: weight_ih (4H, I), weight_hh (4H, H), two biases.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from .base import Cell, Params, State


class LSTMFamilyCell(Cell):
    """What the LSTM and its variants share: state (h, c), i, f, g, o blocks, both biases folded."""

    gates = 4
    state_names = ("h", "c")
    forget_gate = 1

    def project(self, x: Tensor, p: Params) -> Tensor:
        # b_ih and b_hh always add up, so they join the one big product over all time steps.
        bias = p.bias_ih + p.bias_hh if p.bias_ih is not None else None
        return F.linear(x, p.weight_ih, bias)


class LSTMCell(LSTMFamilyCell):
    """LSTM with forget gate, PyTorch's gate order i, f, g, o (see the module docstring)."""

    name = "lstm"
    summary = "c = f⊙c + i⊙g, h = o⊙tanh(c); gates i,f,o = σ(·), g = tanh(·)"
    fused_mode = "LSTM"

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        h_prev, c_prev = state
        i, f, g, o = (wx + h_prev @ p.weight_hh.T).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c_prev + i * g
        return o * c.tanh(), c
