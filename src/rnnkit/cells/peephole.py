r"""The LSTM with diagonal peephole connections.

Gers & Schmidhuber 2000, "Recurrent Nets that Time and Count": the gates also look at the cell. The
input and forget gates see the old cell c_{t-1}; the output gate sees the new cell c_t (the notes'
"LSTM variants #1: peephole connections", there written with full matrices W_i·[C_{t-1}, h_{t-1}, x_t];
here, as in the paper, the peepholes are diagonal: one weight per unit).

    i_t = σ(W_xi x_t + W_hi h_{t-1} + w_ci ⊙ c_{t-1} + b_i)
    f_t = σ(W_xf x_t + W_hf h_{t-1} + w_cf ⊙ c_{t-1} + b_f)
    g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t = σ(W_xo x_t + W_ho h_{t-1} + w_co ⊙ c_t + b_o)
    h_t = o_t ⊙ tanh(c_t)

Gate order i, f, g, o. Parameters: ``torch.nn.LSTM``'s four (weight_ih (4H, I), weight_hh (4H, H),
bias_ih (4H), bias_hh (4H)) plus ``weight_ch`` (3H) = [w_ci | w_cf | w_co]. The peepholes are weights,
not biases: a layer built with ``bias=False`` keeps them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .activations import tanh_
from .base import Params, State
from .lstm import LSTMFamilyCell


class PeepholeLSTMCell(LSTMFamilyCell):
    """LSTM with diagonal peepholes, output gate on the new cell (see the module docstring)."""

    name = "peephole_lstm"
    summary = "i,f = σ(· + w⊙c_{t-1}), c = f⊙c + i⊙g, o = σ(· + w_co⊙c_t), h = o⊙tanh(c)"

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {**super().parameter_shapes(), "weight_ch": (3 * self.hidden_size,)}

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        c_prev = state[1]
        gates = self.gate_values(wx, state, p)                             # o has seen the new c_t
        c = gates["f"] * c_prev + gates["i"] * gates["g"]
        return gates["o"] * c.tanh(), c

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """i, f (peeping at c_{t-1}), g, and o (peeping at the new c_t), each (B, H)."""
        h_prev, c_prev = state
        a_i, a_f, a_g, a_o = (wx + h_prev @ p.weight_hh.T).chunk(4, dim=-1)
        w_ci, w_cf, w_co = p.weight_ch.chunk(3)
        i = (a_i + w_ci * c_prev).sigmoid()
        f = (a_f + w_cf * c_prev).sigmoid()
        g = a_g.tanh()
        # o sees c_t, so the gate needs the cell update of this step.
        o = (a_o + w_co * (f * c_prev + i * g)).sigmoid()
        return {"i": i, "f": f, "g": g, "o": o}

    # ----------------------------------------------------------------------------------------------
    # Backward through time.
    #
    # Saved per step: the activated gates (B, 4H), written over wx_t, and c_t (the state itself);
    # tanh(c_t) is recomputed in the backward. c_{t-1} comes with the previous state.
    #
    # With dh = ∂L/∂h_t and dc = ∂L/∂c_t from the future, and a_* the pre-activations (= ∂ of wx_t):
    #   ∂L/∂a_o = dh ⊙ tanh(c_t) ⊙ o(1 − o)
    #   ∂L/∂c_t = dc + dh ⊙ o ⊙ (1 − tanh²c_t) + ∂L/∂a_o ⊙ w_co          (all paths into c_t)
    #   ∂L/∂a_i = ∂L/∂c_t ⊙ g ⊙ i(1 − i),  ∂L/∂a_f = ∂L/∂c_t ⊙ c_{t-1} ⊙ f(1 − f)
    #   ∂L/∂a_g = ∂L/∂c_t ⊙ i ⊙ (1 − g²)
    #   ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f + ∂L/∂a_i ⊙ w_ci + ∂L/∂a_f ⊙ w_cf
    #   ∂L/∂h_{t-1} = ∂L/∂a @ W_hh
    # Weights, over all steps at once: dW_hh = Σ_t ∂L/∂a_tᵀ h_{t-1};
    #   dw_ci = Σ ∂L/∂a_i ⊙ c_{t-1},  dw_cf = Σ ∂L/∂a_f ⊙ c_{t-1},  dw_co = Σ ∂L/∂a_o ⊙ c_t.

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        h_prev, c_prev = state
        hidden = self.hidden_size
        gates = wx.addmm_(h_prev, p.weight_hh.T)                           # (B, 4H) pre-activations, over wx_t
        w_cif, w_co = p.weight_ch[: 2 * hidden], p.weight_ch[2 * hidden :]
        # i and f both add their peephole on c_{t-1}: view the two blocks as (B, 2, H).
        if_ = gates[:, : 2 * hidden]
        if_.view(-1, 2, hidden).addcmul_(c_prev.unsqueeze(1), w_cif.view(2, hidden)).sigmoid_()
        i, f = if_.chunk(2, dim=1)
        g = tanh_(gates[:, 2 * hidden : 3 * hidden])
        o = gates[:, 3 * hidden :]
        c = torch.addcmul(f * c_prev, i, g)
        o.addcmul_(c, w_co).sigmoid_()
        tanh_c = tanh_(c.clone())
        # c_t is the new state (saved at no cost); tanh(c_t) is recomputed in the backward.
        return (o * tanh_c, c), (gates, c)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        dh, dc = d_state
        gates, c = saved
        tanh_c = tanh_(c.clone())                                          # (B, H)
        c_prev = state_prev[1]
        hidden = self.hidden_size
        w_ci, w_cf, w_co = p.weight_ch.chunk(3)
        i, f, g, o = gates.chunk(4, dim=1)
        da = torch.empty_like(gates)                                       # (B, 4H): ∂L/∂a_i,f,g,o
        da_i, da_f, da_g, da_o = da.chunk(4, dim=1)
        torch.mul(dh, tanh_c, out=da_o).mul_(o * (1 - o))
        # ∂L/∂c_t from the future, through h_t's tanh, and through o's peephole.
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dc.addcmul_(da_o, w_co)
        torch.mul(dc, g, out=da_i)
        torch.mul(dc, c_prev, out=da_f)
        torch.mul(dc, i, out=da_g).mul_(1 - g * g)
        # i and f share the sigmoid derivative s(1 − s): one op over both blocks.
        if_ = gates[:, : 2 * hidden]
        da[:, : 2 * hidden].mul_(if_ * (1 - if_))
        dc_prev = dc.mul_(f).addcmul_(da_i, w_ci).addcmul_(da_f, w_cf)
        dh_prev = da @ p.weight_hh                                         # (B, H)
        return da, (dh_prev, dc_prev), ()

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        h_prev, c_prev = state_prev                                        # (T, B, H) each
        c = saved[1]                                                       # (T, B, H)
        da_i, da_f, _, da_o = dwx.chunk(4, dim=-1)
        grad_weight_ch = torch.cat([
            (da_i * c_prev).sum((0, 1)),
            (da_f * c_prev).sum((0, 1)),
            (da_o * c).sum((0, 1)),
        ])
        grad_weight_hh = dwx.flatten(0, 1).T @ h_prev.flatten(0, 1)        # (4H, H), one GEMM
        return {"weight_hh": grad_weight_hh, "weight_ch": grad_weight_ch}
