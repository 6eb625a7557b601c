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

Backward through time. With a_* the gate pre-activations (a = wx_t + W_hh h_{t-1}, so ∂L/∂wx_t =
∂L/∂a), dh = ∂L/∂h_t and dc = ∂L/∂c_t from step t+1, and σ' = σ(1 − σ), tanh' = 1 − tanh²:

    ∂L/∂a_o = dh ⊙ tanh(c_t) ⊙ o(1 − o)
    ∂L/∂c_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t))             (from the future and through h_t)
    ∂L/∂a_i = ∂L/∂c_t ⊙ g ⊙ i(1 − i)
    ∂L/∂a_f = ∂L/∂c_t ⊙ c_{t-1} ⊙ f(1 − f)
    ∂L/∂a_g = ∂L/∂c_t ⊙ i ⊙ (1 − g²)
    ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f                             (the constant error carousel)
    ∂L/∂h_{t-1} = ∂L/∂a W_hh,      ∂L/∂W_hh = Σ_t ∂L/∂a_tᵀ h_{t-1}
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .activations import tanh_
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
        c_prev = state[1]
        gates = self.gate_values(wx, state, p)
        c = gates["f"] * c_prev + gates["i"] * gates["g"]
        return gates["o"] * c.tanh(), c

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """i, f, o = σ(·), g = tanh(·), each (B, H); c is the state, not a gate."""
        h_prev = state[0]
        i, f, g, o = (wx + h_prev @ p.weight_hh.T).chunk(4, dim=-1)
        return {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        h_prev, c_prev = state
        hidden = self.hidden_size
        gates = wx.addmm_(h_prev, p.weight_hh.T)                           # (B, 4H) pre-activations, over wx_t
        # Activated in place: the saved gates replace their pre-activations (σ' and tanh' need only
        # the activated values).
        gates[:, : 2 * hidden].sigmoid_()
        tanh_(gates[:, 2 * hidden : 3 * hidden])
        gates[:, 3 * hidden :].sigmoid_()
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.addcmul(f * c_prev, i, g)                                # (B, H)
        # c_t is the new state: saving that same tensor costs nothing; tanh(c_t) is recomputed in
        # the backward rather than stored (one elementwise op per step for T·B·H less memory).
        return (o * tanh_(c.clone()), c), (gates, c)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        dh, dc = d_state
        gates, c = saved
        c_prev = state_prev[1]
        _, f, _, o = gates.chunk(4, dim=1)
        tanh_c = tanh_(c.clone())                                          # (B, H)
        da = torch.empty_like(gates)                                       # (B, 4H): ∂L/∂a_i,f,g,o
        da_o = da.chunk(4, dim=1)[3]
        # h_t = o ⊙ tanh(c_t). With q = dh ⊙ o and u = q ⊙ tanh(c_t) (= dh ⊙ h_t):
        # ∂L/∂a_o = u ⊙ (1 − o), and c_t gains q ⊙ (1 − tanh²c_t) = q − u ⊙ tanh(c_t).
        q = dh * o
        u = q * tanh_c
        torch.addcmul(u, u, o, value=-1, out=da_o)
        dc = (dc + q).addcmul_(u, tanh_c, value=-1)                        # ∂L/∂c_t, (B, H)
        cell_update_backward(dc, c_prev, gates, da)
        dh_prev = da @ p.weight_hh                                         # (B, 4H) @ (4H, H)
        return da, (dh_prev, dc.mul_(f)), ()


def cell_update_backward(dc: Tensor, c_prev: Tensor, gates: Tensor, da: Tensor) -> None:
    """∂L/∂a_i, ∂L/∂a_f, ∂L/∂a_g into ``da``'s first three blocks, from ∂L/∂c_t = ``dc``.

    c_t = f ⊙ c_{t-1} + i ⊙ g with i, f = σ(a_i), σ(a_f) and g = tanh(a_g) (``gates`` activated, in
    PyTorch's order i, f, g, o). With v = ∂L/∂c_t ⊙ i ⊙ g and w = ∂L/∂c_t ⊙ c_{t-1} ⊙ f:
    ∂L/∂a_i = v ⊙ (1 − i), ∂L/∂a_g = ∂L/∂c_t ⊙ i − v ⊙ g, ∂L/∂a_f = w ⊙ (1 − f).
    """
    i, f, g, _ = gates.chunk(4, dim=1)
    da_i, da_f, da_g, _ = da.chunk(4, dim=1)
    torch.mul(dc, i, out=da_g)
    v = da_g * g
    torch.addcmul(v, v, i, value=-1, out=da_i)
    da_g.addcmul_(v, g, value=-1)
    torch.mul(dc, c_prev, out=da_f).mul_(f)
    da_f.addcmul_(da_f, f, value=-1)
