r"""MUT1, MUT2 and MUT3: the architectures found by evolutionary search.

Jozefowicz, Zaremba & Sutskever 2015, "An Empirical Exploration of Recurrent Network Architectures";
the equations as in the notes, where the paper's h_t → h_{t+1} is written here h_{t-1} → h_t:

    MUT1:  z = σ(W_xz x_t + b_z)
           r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
           h_t = tanh(W_hh (r ⊙ h_{t-1}) + tanh(x_t) + b_h) ⊙ z + h_{t-1} ⊙ (1 − z)

    MUT2:  z = σ(W_xz x_t + W_hz h_{t-1} + b_z)
           r = σ(x_t + W_hr h_{t-1} + b_r)
           h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 − z)

    MUT3:  z = σ(W_xz x_t + W_hz tanh(h_{t-1}) + b_z)
           r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
           h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 − z)

MUT1 adds tanh(x_t) and MUT2's r adds x_t where a hidden-size vector is needed, so both need
input_size == hidden_size (a first layer of another cell, or a Linear layer, can provide that).

Parameter layout, the same for the three: the blocks are z, r, h̃ (in that order, G = 3 in the
input projection), and each parameter holds only the products the equations have:

    weight_ih  the x-products, stacked in block order:  MUT1 [W_xz; W_xr] (2H, I),
               MUT2 [W_xz; W_xh] (2H, I),  MUT3 [W_xz; W_xr; W_xh] (3H, I)
    weight_hh  the h-products, stacked in block order:  MUT1 [W_hr; W_hh] (2H, H),
               MUT2 and MUT3 [W_hz; W_hr; W_hh] (3H, H)
    bias       [b_z; b_r; b_h] (3H): one bias per equation, as in the paper

Everything that depends on x_t alone (the x-products, tanh(x_t) or x_t, the biases) is computed by
``project`` for all time steps at once: wx_t = [wx_z | wx_r | wx_h] (B, 3H).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from .activations import tanh_
from .base import Cell, Params, State


class MUTCell(Cell):
    """What the three share: blocks z, r, h̃; one bias per equation; the update h = h̃ ⊙ z + h ⊙ (1 − z).

    Backward through time, common to all three (a_* the pre-activations, = ∂ of wx_t's blocks):

        h_t = h_{t-1} + z ⊙ (h̃ − h_{t-1})
        ∂L/∂a_z = dh ⊙ (h̃ − h_{t-1}) ⊙ z(1 − z)
        ∂L/∂a_h = dh ⊙ z ⊙ (1 − h̃²)
        ∂L/∂(r ⊙ h_{t-1}) = ∂L/∂a_h @ W_hh                          (B, H)
        ∂L/∂a_r = ∂L/∂(r ⊙ h_{t-1}) ⊙ h_{t-1} ⊙ r(1 − r)
        ∂L/∂h_{t-1} = dh ⊙ (1 − z) + ∂L/∂(r ⊙ h_{t-1}) ⊙ r + (the paths through z's and r's
                      recurrent products, which differ per cell)

    Saved per step: wx_t with z, r, h̃ (activated) written over its blocks, and r ⊙ h_{t-1}, the
    right operand of dW_hh.
    """

    gates = 3
    x_products: ClassVar[int]   # blocks in weight_ih
    h_products: ClassVar[int]   # blocks in weight_hh

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        hidden = self.hidden_size
        return {
            "weight_ih": (self.x_products * hidden, self.input_size),
            "weight_hh": (self.h_products * hidden, hidden),
            "bias": (3 * hidden,),
        }

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        """h_t = h̃ ⊙ z + h_{t-1} ⊙ (1 − z), with z and r as each cell's equations say."""
        (h_prev,) = state
        z, _, h_tilde = self._gates(wx, h_prev, p)
        return (h_tilde * z + h_prev * (1 - z),)

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """z, r and the candidate h̃ (``"h_tilde"``), each (B, H)."""
        z, r, h_tilde = self._gates(wx, state[0], p)
        return {"z": z, "r": r, "h_tilde": h_tilde}

    def _gates(self, wx: Tensor, h_prev: Tensor, p: Params) -> tuple[Tensor, Tensor, Tensor]:
        """z, r, h̃ = tanh(W_hh (r ⊙ h_{t-1}) + wx_h); W_hh is the last block of weight_hh in all three."""
        wx_z, wx_r, wx_h = wx.chunk(3, dim=-1)
        z, r = self._update_and_reset(wx_z, wx_r, h_prev, p)
        h_tilde = torch.tanh((r * h_prev) @ p.weight_hh[-self.hidden_size :].T + wx_h)
        return z, r, h_tilde

    def _update_and_reset(self, wx_z: Tensor, wx_r: Tensor, h_prev: Tensor, p: Params) -> tuple[Tensor, Tensor]:
        """z and r of this cell's equations, each (B, H): what MUT1, MUT2 and MUT3 differ in (abstract)."""
        raise NotImplementedError(f"{type(self).__name__} must say how z and r read h_t-1 (_update_and_reset)")

    def _update(
        self, dh: Tensor, z: Tensor, r: Tensor, h_tilde: Tensor, h_prev: Tensor, weight_hh_h: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The shared part of the backward: ∂L/∂a (B, 3H) and ∂L/∂h_{t-1} but for z's and r's products."""
        hidden = self.hidden_size
        da = torch.empty(dh.size(0), 3 * hidden, dtype=dh.dtype, device=dh.device)
        da_z, da_r, da_h = da.split(hidden, dim=1)
        torch.mul(dh, h_tilde - h_prev, out=da_z).mul_(z * (1 - z))
        torch.mul(dh, z, out=da_h).mul_(1 - h_tilde * h_tilde)
        d_rh = da_h @ weight_hh_h                                          # (B, H)
        torch.mul(d_rh, h_prev, out=da_r).mul_(r * (1 - r))
        dh_prev = (1 - z).mul_(dh).addcmul_(d_rh, r)
        return da, dh_prev


class MUT1Cell(MUTCell):
    """MUT1 of Jozefowicz et al. 2015: z from x_t alone, tanh(x_t) in the candidate (see the module docstring)."""

    name = "mut1"
    summary = "z = σ(W_xz x + b_z), r = σ(W_xr x + W_hr h + b_r), h = tanh(W_hh(r⊙h) + tanh(x) + b_h)⊙z + h⊙(1−z)"
    needs_square_input = "h_t = tanh(W_hh (r ⊙ h_{t-1}) + tanh(x_t) + b_h) ⊙ z + h_{t-1} ⊙ (1 − z)"
    x_products = 2   # W_xz, W_xr
    h_products = 2   # W_hr, W_hh

    def project(self, x: Tensor, p: Params) -> Tensor:
        hidden = self.hidden_size
        wx_zr = F.linear(x, p.weight_ih, None if p.bias is None else p.bias[: 2 * hidden])
        wx_h = x.tanh() if p.bias is None else x.tanh() + p.bias[2 * hidden :]
        return torch.cat([wx_zr, wx_h], dim=-1)                            # (T, B, 3H)

    def _update_and_reset(self, wx_z: Tensor, wx_r: Tensor, h_prev: Tensor, p: Params) -> tuple[Tensor, Tensor]:
        W_hr = p.weight_hh[: self.hidden_size]
        return torch.sigmoid(wx_z), torch.sigmoid(wx_r + h_prev @ W_hr.T)

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        hidden = self.hidden_size
        W_hr, W_hh = p.weight_hh.chunk(2)
        z = wx[:, :hidden].sigmoid_()
        r = wx[:, hidden : 2 * hidden].addmm_(h_prev, W_hr.T).sigmoid_()
        rh = r * h_prev
        h_tilde = tanh_(wx[:, 2 * hidden :].addmm_(rh, W_hh.T))
        return (torch.addcmul(h_prev, z, h_tilde - h_prev),), (wx, rh)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        z, r, h_tilde = saved[0].chunk(3, dim=1)
        (h_prev,) = state_prev
        W_hr, W_hh = p.weight_hh.chunk(2)
        da, dh_prev = self._update(d_state[0], z, r, h_tilde, h_prev, W_hh)
        # z does not see h_{t-1}; r sees it through W_hr.
        dh_prev.addmm_(da[:, self.hidden_size : 2 * self.hidden_size], W_hr)
        return da, (dh_prev,), ()

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        hidden = self.hidden_size
        h_prev, rh = state_prev[0].flatten(0, 1), saved[1].flatten(0, 1)   # (T·B, H)
        da = dwx.flatten(0, 1)                                             # (T·B, 3H)
        # dW_hr = Σ_t ∂L/∂a_rᵀ h_{t-1},  dW_hh = Σ_t ∂L/∂a_hᵀ (r ⊙ h_{t-1}): one GEMM each.
        return {"weight_hh": torch.cat([da[:, hidden : 2 * hidden].T @ h_prev, da[:, 2 * hidden :].T @ rh])}


class MUT2Cell(MUTCell):
    """MUT2 of Jozefowicz et al. 2015: x_t itself in the reset gate (see the module docstring)."""

    name = "mut2"
    summary = "z = σ(W_xz x + W_hz h + b_z), r = σ(x + W_hr h + b_r), h = tanh(W_hh(r⊙h) + W_xh x + b_h)⊙z + h⊙(1−z)"
    needs_square_input = "r = σ(x_t + W_hr h_{t-1} + b_r)"
    x_products = 2   # W_xz, W_xh
    h_products = 3   # W_hz, W_hr, W_hh

    def project(self, x: Tensor, p: Params) -> Tensor:
        wx_z, wx_h = F.linear(x, p.weight_ih).chunk(2, dim=-1)
        wx = torch.cat([wx_z, x, wx_h], dim=-1)                            # (T, B, 3H)
        return wx if p.bias is None else wx + p.bias

    def _update_and_reset(self, wx_z: Tensor, wx_r: Tensor, h_prev: Tensor, p: Params) -> tuple[Tensor, Tensor]:
        W_hz, W_hr, _ = p.weight_hh.chunk(3)
        return torch.sigmoid(wx_z + h_prev @ W_hz.T), torch.sigmoid(wx_r + h_prev @ W_hr.T)

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        hidden = self.hidden_size
        # z and r both multiply h_{t-1}: one product with [W_hz; W_hr].
        zr = wx[:, : 2 * hidden].addmm_(h_prev, p.weight_hh[: 2 * hidden].T).sigmoid_()
        z, r = zr.chunk(2, dim=1)
        rh = r * h_prev
        h_tilde = tanh_(wx[:, 2 * hidden :].addmm_(rh, p.weight_hh[2 * hidden :].T))
        return (torch.addcmul(h_prev, z, h_tilde - h_prev),), (wx, rh)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        hidden = self.hidden_size
        z, r, h_tilde = saved[0].chunk(3, dim=1)
        (h_prev,) = state_prev
        da, dh_prev = self._update(d_state[0], z, r, h_tilde, h_prev, p.weight_hh[2 * hidden :])
        # z and r see h_{t-1} through [W_hz; W_hr]: one product with [∂L/∂a_z, ∂L/∂a_r].
        dh_prev.addmm_(da[:, : 2 * hidden], p.weight_hh[: 2 * hidden])
        return da, (dh_prev,), ()

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        hidden = self.hidden_size
        h_prev, rh = state_prev[0].flatten(0, 1), saved[1].flatten(0, 1)   # (T·B, H)
        da = dwx.flatten(0, 1)                                             # (T·B, 3H)
        # d[W_hz; W_hr] = Σ_t ∂L/∂a_{z,r}ᵀ h_{t-1},  dW_hh = Σ_t ∂L/∂a_hᵀ (r ⊙ h_{t-1}).
        return {"weight_hh": torch.cat([da[:, : 2 * hidden].T @ h_prev, da[:, 2 * hidden :].T @ rh])}


class MUT3Cell(MUTCell):
    """MUT3 of Jozefowicz et al. 2015: the update gate reads tanh(h_{t-1}) (see the module docstring)."""

    name = "mut3"
    summary = "z = σ(W_xz x + W_hz tanh(h) + b_z), r = σ(W_xr x + W_hr h + b_r), h = tanh(W_hh(r⊙h) + W_xh x + b_h)⊙z + h⊙(1−z)"
    x_products = 3   # W_xz, W_xr, W_xh
    h_products = 3   # W_hz, W_hr, W_hh

    def project(self, x: Tensor, p: Params) -> Tensor:
        return F.linear(x, p.weight_ih, p.bias)                            # (T, B, 3H)

    def _update_and_reset(self, wx_z: Tensor, wx_r: Tensor, h_prev: Tensor, p: Params) -> tuple[Tensor, Tensor]:
        W_hz, W_hr, _ = p.weight_hh.chunk(3)
        return torch.sigmoid(wx_z + torch.tanh(h_prev) @ W_hz.T), torch.sigmoid(wx_r + h_prev @ W_hr.T)

    # Saved beyond the common four: tanh(h_{t-1}), the right operand of dW_hz.

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        hidden = self.hidden_size
        W_hz, W_hr, W_hh = p.weight_hh.chunk(3)
        tanh_h = tanh_(h_prev.clone())
        z = wx[:, :hidden].addmm_(tanh_h, W_hz.T).sigmoid_()
        r = wx[:, hidden : 2 * hidden].addmm_(h_prev, W_hr.T).sigmoid_()
        rh = r * h_prev
        h_tilde = tanh_(wx[:, 2 * hidden :].addmm_(rh, W_hh.T))
        return (torch.addcmul(h_prev, z, h_tilde - h_prev),), (wx, rh, tanh_h)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        (z, r, h_tilde), tanh_h = saved[0].chunk(3, dim=1), saved[2]
        (h_prev,) = state_prev
        W_hz, W_hr, W_hh = p.weight_hh.chunk(3)
        da, dh_prev = self._update(d_state[0], z, r, h_tilde, h_prev, W_hh)
        da_z, da_r = da[:, : self.hidden_size], da[:, self.hidden_size : 2 * self.hidden_size]
        # r sees h_{t-1} through W_hr; z through W_hz tanh(h_{t-1}), so × (1 − tanh²h_{t-1}).
        dh_prev.addmm_(da_r, W_hr)
        dh_prev.addcmul_(da_z @ W_hz, 1 - tanh_h * tanh_h)
        return da, (dh_prev,), ()

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        hidden = self.hidden_size
        h_prev = state_prev[0].flatten(0, 1)                               # (T·B, H)
        rh, tanh_h = saved[1].flatten(0, 1), saved[2].flatten(0, 1)
        da = dwx.flatten(0, 1)                                             # (T·B, 3H)
        # dW_hz = Σ ∂L/∂a_zᵀ tanh(h_{t-1}),  dW_hr = Σ ∂L/∂a_rᵀ h_{t-1},  dW_hh = Σ ∂L/∂a_hᵀ (r ⊙ h_{t-1}).
        return {"weight_hh": torch.cat([
            da[:, :hidden].T @ tanh_h,
            da[:, hidden : 2 * hidden].T @ h_prev,
            da[:, 2 * hidden :].T @ rh,
        ])}
