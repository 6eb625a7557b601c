r"""The LSTM variants of Greff et al. 2017, "LSTM: A Search Space Odyssey".

Greff et al. ablate one part of their vanilla LSTM at a time. Their vanilla LSTM has peepholes; here
every variant is the plain forget-gate LSTM (the ``lstm`` cell, no peepholes) with exactly one thing
changed, so that each differs from ``lstm`` by that one thing:

    lstm_nig   no input gate           i_t = 1
    lstm_nfg   no forget gate          f_t = 1
    lstm_nog   no output gate          o_t = 1
    lstm_niaf  no input activation     g_t = W_xg x_t + W_hg h_{t-1} + b_g  (linear)
    lstm_noaf  no output activation    h_t = o_t ⊙ c_t
    cifg_lstm  coupled input and forget gate: c_t = f_t ⊙ c_{t-1} + (1 − f_t) ⊙ g_t

of the LSTM

    i_t = σ(W_xi x_t + W_hi h_{t-1} + b_i)        f_t = σ(W_xf x_t + W_hf h_{t-1} + b_f)
    g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)     o_t = σ(W_xo x_t + W_ho h_{t-1} + b_o)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t               h_t = o_t ⊙ tanh(c_t)

A removed gate is removed from the parameters too: the blocks that remain keep PyTorch's order
i, f, g, o (so G = 3 for nig, nfg, nog and cifg, G = 4 for niaf and noaf), with ``torch.nn.LSTM``'s
four parameters at that width: weight_ih (G·H, I), weight_hh (G·H, H), bias_ih (G·H), bias_hh (G·H).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .activations import tanh_
from .base import Params, State
from .lstm import LSTMFamilyCell


class LSTMAblationCell(LSTMFamilyCell):
    """The LSTM with gates or activations removed, as the class attributes say.

    The forward and the analytic derivative are written once for every ablation: a removed gate is
    the constant 1 (its term drops out of the derivative), a removed activation is the identity.
    Each subclass writes its own ``step`` in the notes' form.
    """

    blocks: ClassVar[tuple[str, ...]] = ("i", "f", "g", "o")  # gate blocks present, in order
    input_activation: ClassVar[bool] = True    # g = tanh(a_g); False: g = a_g
    output_activation: ClassVar[bool] = True   # h = o ⊙ tanh(c); False: h = o ⊙ c

    def __init_subclass__(cls, **kwargs: object) -> None:
        # G and the forget block's index follow from the blocks a subclass keeps.
        super().__init_subclass__(**kwargs)
        cls.gates = len(cls.blocks)
        cls.forget_gate = cls.blocks.index("f") if "f" in cls.blocks else None

    # ----------------------------------------------------------------------------------------------
    # Backward through time.
    #
    # Saved per step: the activated gates (B, G·H, written over wx_t) and c_t (the state itself);
    # a_c = tanh(c_t) (or c_t without the output activation) is recomputed in the backward.
    # With dh = ∂L/∂h_t, dc = ∂L/∂c_t from the future and a_* the pre-activations:
    #   ∂L/∂o = dh ⊙ a_c                      ∂L/∂c_t = dc + dh ⊙ o ⊙ a_c'     (a_c' = 1 − a_c² or 1)
    #   ∂L/∂i = ∂L/∂c_t ⊙ g     ∂L/∂f = ∂L/∂c_t ⊙ c_{t-1}     ∂L/∂g = ∂L/∂c_t ⊙ i
    #   ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f
    # then through the activations: σ' = s(1 − s), tanh' = 1 − g²; a removed gate is 1 and drops out.
    # ∂L/∂h_{t-1} = ∂L/∂a @ W_hh, and dW_hh = Σ_t ∂L/∂a_tᵀ h_{t-1} (the base class's one GEMM).

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """The blocks the ablation keeps, by name (``blocks``), each (B, H); g is linear in NIAF."""
        gates = wx + state[0] @ p.weight_hh.T                              # (B, G·H) pre-activations
        self._activate(gates)
        return {name: gates[:, self._block(name)] for name in self.blocks}

    def _block(self, name: str) -> slice:
        k = self.blocks.index(name)
        return slice(k * self.hidden_size, (k + 1) * self.hidden_size)

    def _activate(self, gates: Tensor) -> None:
        """σ on every gate block, tanh (or nothing) on g, in place: one op per contiguous run."""
        g = self._block("g")
        if g.start:
            gates[:, : g.start].sigmoid_()
        if self.input_activation:
            tanh_(gates[:, g])
        if g.stop < gates.size(1):
            gates[:, g.stop :].sigmoid_()

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        h_prev, c_prev = state
        gates = wx.addmm_(h_prev, p.weight_hh.T)                           # (B, G·H) pre-activations, over wx_t
        self._activate(gates)
        gate = {name: gates[:, self._block(name)] for name in self.blocks}
        c = gate["g"] * gate["i"] if "i" in gate else gate["g"].clone()   # (B, H)
        if "f" in gate:
            c.addcmul_(gate["f"], c_prev)
        else:
            c += c_prev
        a_c = tanh_(c.clone()) if self.output_activation else c
        # Without an output gate h_t is a_c itself (no ablation removes both o and the tanh).
        h = a_c * gate["o"] if "o" in gate else a_c
        # c_t is the new state (saved at no cost); tanh(c_t) is recomputed in the backward.
        return (h, c), (gates, c)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        dh, dc = d_state
        gates, c = saved
        a_c = tanh_(c.clone()) if self.output_activation else c
        c_prev = state_prev[1]
        gate = {name: gates[:, self._block(name)] for name in self.blocks}
        da = torch.empty_like(gates)                                       # (B, G·H)
        d = {name: da[:, self._block(name)] for name in self.blocks}
        # Into c_t: from the future and through h_t = o ⊙ a(c_t).
        if "o" in gate:
            torch.mul(dh, a_c, out=d["o"])
            dh = dh * gate["o"]
        dc = dc + (dh * (1 - a_c * a_c) if self.output_activation else dh)
        if "i" in gate:
            torch.mul(dc, gate["g"], out=d["i"])
            torch.mul(dc, gate["i"], out=d["g"])
        else:
            d["g"].copy_(dc)
        if "f" in gate:
            torch.mul(dc, c_prev, out=d["f"])
            dc_prev = dc.mul_(gate["f"])
        else:
            dc_prev = dc
        # Through the activations, ∂L/∂(gate) → ∂L/∂(pre-activation), one op per contiguous run.
        g = self._block("g")
        if self.input_activation:
            d["g"].mul_(1 - gate["g"] * gate["g"])
        for run in (slice(0, g.start), slice(g.stop, gates.size(1))):
            if run.stop > run.start:
                s = gates[:, run]
                da[:, run].mul_(s * (1 - s))
        return da, (da @ p.weight_hh, dc_prev), ()


class NoInputGateLSTMCell(LSTMAblationCell):
    """Greff's NIG on the plain LSTM: no input gate, ``c_t = f_t ⊙ c_{t-1} + g_t``. Blocks f, g, o."""

    name = "lstm_nig"
    summary = "LSTM without input gate (i = 1): c = f⊙c + g, h = o⊙tanh(c)  (Greff et al. 2017)"
    blocks = ("f", "g", "o")

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        h_prev, c_prev = state
        f, g, o = (wx + h_prev @ p.weight_hh.T).chunk(3, dim=-1)
        f, g, o = f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c_prev + g
        return o * c.tanh(), c


class NoForgetGateLSTMCell(LSTMAblationCell):
    """Greff's NFG on the plain LSTM: no forget gate, ``c_t = c_{t-1} + i_t ⊙ g_t``. Blocks i, g, o.

    With no forget gate there is no forget bias to set: ``forget_bias`` raises.
    """

    name = "lstm_nfg"
    summary = "LSTM without forget gate (f = 1): c = c + i⊙g, h = o⊙tanh(c)  (Greff et al. 2017)"
    blocks = ("i", "g", "o")

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        h_prev, c_prev = state
        i, g, o = (wx + h_prev @ p.weight_hh.T).chunk(3, dim=-1)
        i, g, o = i.sigmoid(), g.tanh(), o.sigmoid()
        c = c_prev + i * g
        return o * c.tanh(), c


class NoOutputGateLSTMCell(LSTMAblationCell):
    """Greff's NOG on the plain LSTM: no output gate, ``h_t = tanh(c_t)``. Blocks i, f, g."""

    name = "lstm_nog"
    summary = "LSTM without output gate (o = 1): c = f⊙c + i⊙g, h = tanh(c)  (Greff et al. 2017)"
    blocks = ("i", "f", "g")

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        h_prev, c_prev = state
        i, f, g = (wx + h_prev @ p.weight_hh.T).chunk(3, dim=-1)
        i, f, g = i.sigmoid(), f.sigmoid(), g.tanh()
        c = f * c_prev + i * g
        return c.tanh(), c


class NoInputActivationLSTMCell(LSTMAblationCell):
    """Greff's NIAF on the plain LSTM: the candidate is linear, ``g_t = a_g``. Blocks i, f, g, o."""

    name = "lstm_niaf"
    summary = "LSTM without input activation: g = W_xg x + W_hg h + b_g (linear)  (Greff et al. 2017)"
    input_activation = False

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        h_prev, c_prev = state
        i, f, g, o = (wx + h_prev @ p.weight_hh.T).chunk(4, dim=-1)
        i, f, o = i.sigmoid(), f.sigmoid(), o.sigmoid()
        c = f * c_prev + i * g
        return o * c.tanh(), c


class NoOutputActivationLSTMCell(LSTMAblationCell):
    """Greff's NOAF on the plain LSTM: no tanh on the cell output, ``h_t = o_t ⊙ c_t``. Blocks i, f, g, o."""

    name = "lstm_noaf"
    summary = "LSTM without output activation: h = o⊙c  (Greff et al. 2017)"
    output_activation = False

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        h_prev, c_prev = state
        i, f, g, o = (wx + h_prev @ p.weight_hh.T).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c_prev + i * g
        return o * c, c


class CoupledLSTMCell(LSTMFamilyCell):
    r"""LSTM with coupled input and forget gates (CIFG), Greff et al. 2017, on the plain LSTM.

        f_t = σ(W_xf x_t + W_hf h_{t-1} + b_f)
        g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)
        o_t = σ(W_xo x_t + W_ho h_{t-1} + b_o)
        c_t = f_t ⊙ c_{t-1} + (1 − f_t) ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    The notes' "coupled gates: only memorize new if forgetting old". Packed gate order f, g, o
    (G = 3); parameters as ``torch.nn.LSTM``'s at width 3H.
    """

    name = "cifg_lstm"
    summary = "c = f⊙c + (1−f)⊙g, h = o⊙tanh(c): input gate i = 1 − f  (Greff et al. 2017)"
    gates = 3
    forget_gate = 0

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        c_prev = state[1]
        gates = self.gate_values(wx, state, p)
        f = gates["f"]
        c = f * c_prev + (1 - f) * gates["g"]
        return gates["o"] * c.tanh(), c

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """f, g, o, each (B, H); the coupled input gate is 1 − f, not reported twice."""
        f, g, o = (wx + state[0] @ p.weight_hh.T).chunk(3, dim=-1)
        return {"f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}

    # ----------------------------------------------------------------------------------------------
    # Backward through time. Saved per step: activated gates f, g, o (B, 3H, over wx_t) and c_t (the
    # state itself; tanh(c_t) is recomputed).
    # c_t = g + f ⊙ (c_{t-1} − g), so with ∂L/∂c_t = dc + dh ⊙ o ⊙ (1 − tanh²c_t):
    #   ∂L/∂f = ∂L/∂c_t ⊙ (c_{t-1} − g),  ∂L/∂g = ∂L/∂c_t ⊙ (1 − f),  ∂L/∂o = dh ⊙ tanh(c_t)
    #   ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f
    # and through σ' = s(1 − s), tanh' = 1 − g². dW_hh = Σ_t ∂L/∂a_tᵀ h_{t-1} (the base class's GEMM).

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        h_prev, c_prev = state
        hidden = self.hidden_size
        gates = wx.addmm_(h_prev, p.weight_hh.T)                           # (B, 3H) pre-activations, over wx_t
        f = gates[:, :hidden].sigmoid_()
        g = tanh_(gates[:, hidden : 2 * hidden])
        o = gates[:, 2 * hidden :].sigmoid_()
        c = torch.addcmul(g, f, c_prev - g)
        tanh_c = tanh_(c.clone())
        return (o * tanh_c, c), (gates, c)                                 # tanh(c_t): recomputed

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        dh, dc = d_state
        gates, c = saved
        tanh_c = tanh_(c.clone())                                          # (B, H)
        c_prev = state_prev[1]
        f, g, o = gates.chunk(3, dim=1)
        da = torch.empty_like(gates)                                       # (B, 3H): ∂L/∂a_f,g,o
        da_f, da_g, da_o = da.chunk(3, dim=1)
        torch.mul(dh, tanh_c, out=da_o).mul_(o * (1 - o))
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        torch.mul(dc, c_prev - g, out=da_f).mul_(f * (1 - f))
        torch.mul(dc, 1 - f, out=da_g).mul_(1 - g * g)
        return da, (da @ p.weight_hh, dc.mul_(f)), ()
