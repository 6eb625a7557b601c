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

Backward through time. With a_r, a_z, a_n the pre-activations, m = W_hn h_{t-1} + b_hn (so
a_n = wx_n + r ⊙ m) and dh = ∂L/∂h_t:

    ∂L/∂n = dh ⊙ (1 − z),   ∂L/∂z = dh ⊙ (h_{t-1} − n)
    ∂L/∂a_n = ∂L/∂n ⊙ (1 − n²),   ∂L/∂a_z = ∂L/∂z ⊙ z(1 − z)
    ∂L/∂m = ∂L/∂a_n ⊙ r,          ∂L/∂a_r = ∂L/∂a_n ⊙ m ⊙ r(1 − r)
    ∂L/∂h_{t-1} = dh ⊙ z + [∂L/∂a_r, ∂L/∂a_z, ∂L/∂m] W_hh

The n block differs between the two sides of the step: wx_n receives ∂L/∂a_n, the recurrent product
receives ∂L/∂m = r ⊙ ∂L/∂a_n. So the weight gradients are dW_h{r,z} = Σ_t ∂L/∂a_{r,z}ᵀ h_{t-1},
dW_hn = Σ_t ∂L/∂mᵀ h_{t-1} and db_hn = Σ_t ∂L/∂m (b_hr, b_hz are folded into the input projection).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .activations import tanh_
from .base import Cell, Params, State


class GRUCell(Cell):
    """GRU with the reset gate applied after the recurrent product (see the module docstring)."""

    name = "gru"
    summary = "n = tanh(W_in x + r⊙(W_hn h + b_hn)), h = (1−z)⊙n + z⊙h  (PyTorch/cuDNN)"
    gates = 3
    fused_mode = "GRU"
    bptt_weight_grads_read_saved = False

    def project(self, x: Tensor, p: Params) -> Tensor:
        # b_hr and b_hz add to the input side; b_hn stays inside r ⊙ (…), so it cannot be folded.
        bias = None
        if p.bias_ih is not None:
            rz = 2 * self.hidden_size
            bias = torch.cat([p.bias_ih[:rz] + p.bias_hh[:rz], p.bias_ih[rz:]])
        return F.linear(x, p.weight_ih, bias)

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        gates = self.gate_values(wx, state, p)
        n = gates["n"]
        return (n + gates["z"] * (h_prev - n),)

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """r, z = σ(·) and the candidate n = tanh(·), each (B, H)."""
        (h_prev,) = state
        hidden = self.hidden_size
        wh = h_prev @ p.weight_hh.T                                        # (B, 3H)
        r, z = (wx[:, : 2 * hidden] + wh[:, : 2 * hidden]).sigmoid().chunk(2, dim=-1)
        wh_n = wh[:, 2 * hidden :]
        if p.bias_hh is not None:
            wh_n = wh_n + p.bias_hh[2 * hidden :]
        return {"r": r, "z": z, "n": (wx[:, 2 * hidden :] + r * wh_n).tanh()}

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        hidden = self.hidden_size
        # One product of h_{t-1} for all three blocks; r, z and n are then written over wx_t's three
        # blocks, so that wx_t = [r | z | n] is saved without a copy, with m = W_hn h_{t-1} + b_hn.
        pre = h_prev @ p.weight_hh.T                                       # (B, 3H)
        rz = wx[:, : 2 * hidden].add_(pre[:, : 2 * hidden]).sigmoid_()
        r, z = rz.chunk(2, dim=1)
        m = pre[:, 2 * hidden :]
        if p.bias_hh is not None:
            m.add_(p.bias_hh[2 * hidden :])
        n = tanh_(wx[:, 2 * hidden :].addcmul_(r, m))                      # (B, H)
        return (torch.addcmul(n, z, h_prev - n),), (wx, m)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        (dh,), (gates, m), (h_prev,) = d_state, saved, state_prev
        hidden = self.hidden_size
        r, z, n = gates.chunk(3, dim=1)
        da = torch.empty_like(gates)                                       # (B, 3H): ∂L/∂wx_t
        da_r, da_z, da_n = da.chunk(3, dim=1)
        # h_t = n + z ⊙ (h_{t-1} − n): ∂L/∂n = dh − dh ⊙ z; then tanh' = 1 − n².
        dn = torch.addcmul(dh, dh, z, value=-1)
        torch.addcmul(dn, dn * n, n, value=-1, out=da_n)
        # a_n = wx_n + r ⊙ m: the recurrent side of the n block gets r ⊙ ∂L/∂a_n,
        # the reset gate m ⊙ ∂L/∂a_n.
        dm = da_n * r                                                      # (B, H): delta of this step
        dr = da_n * m * r
        torch.addcmul(dr, dr, r, value=-1, out=da_r)                       # σ': dr ⊙ r − (dr ⊙ r) ⊙ r
        dz = dh * (h_prev - n) * z
        torch.addcmul(dz, dz, z, value=-1, out=da_z)
        # ∂L/∂h_{t-1}: directly dh ⊙ z, and through the recurrent product [da_r, da_z, dm] W_hh.
        dh_prev = torch.addmm(dh * z, da[:, : 2 * hidden], p.weight_hh[: 2 * hidden])
        dh_prev.addmm_(dm, p.weight_hh[2 * hidden :])
        return da, (dh_prev,), (dm,)

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        hidden = self.hidden_size
        (dm,), h_prev = deltas, state_prev[0].flatten(0, 1)                # (T, B, H), (T·B, H)
        grad_weight_hh = torch.empty_like(p.weight_hh)                     # (3H, H)
        # r, z rows from ∂L/∂wx, n rows from ∂L/∂m: each one GEMM over all T·B rows.
        torch.mm(dwx[..., : 2 * hidden].flatten(0, 1).T, h_prev, out=grad_weight_hh[: 2 * hidden])
        torch.mm(dm.flatten(0, 1).T, h_prev, out=grad_weight_hh[2 * hidden :])
        grads = {"weight_hh": grad_weight_hh}
        if p.bias_hh is not None:
            # Only b_hn is inside the step; b_hr, b_hz get their gradient through the projection.
            grads["bias_hh"] = torch.cat([dm.new_zeros(2 * hidden), dm.sum((0, 1))])
        return grads


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

    Backward through time, with dh = ∂L/∂h_t and s = r ⊙ h_{t-1} the reset state:

        ∂L/∂h̃ = dh ⊙ z,   ∂L/∂z = dh ⊙ (h̃ − h_{t-1}),   ∂L/∂a_n = ∂L/∂h̃ ⊙ (1 − h̃²)
        ∂L/∂s = ∂L/∂a_n U,   ∂L/∂r = ∂L/∂s ⊙ h_{t-1}         (the second product's gradient)
        ∂L/∂a_r = ∂L/∂r ⊙ r(1 − r),   ∂L/∂a_z = ∂L/∂z ⊙ z(1 − z)
        ∂L/∂h_{t-1} = dh ⊙ (1 − z) + ∂L/∂s ⊙ r + [∂L/∂a_r, ∂L/∂a_z] [U_r; U_z]
        ∂L/∂[U_r; U_z] = Σ_t [∂L/∂a_r, ∂L/∂a_z]ᵀ h_{t-1},   ∂L/∂U = Σ_t ∂L/∂a_nᵀ s_t
    """

    name = "gru_cho"
    summary = "h̃ = tanh(W x + U(r⊙h) + b), h = (1−z)⊙h + z⊙h̃  (Cho et al. 2014, the notes)"
    gates = 3

    def project(self, x: Tensor, p: Params) -> Tensor:
        bias = p.bias_ih + p.bias_hh if p.bias_ih is not None else None
        return F.linear(x, p.weight_ih, bias)

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        gates = self.gate_values(wx, state, p)                             # "n" is the candidate h̃
        return (h_prev + gates["z"] * (gates["n"] - h_prev),)

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """r, z and the candidate h̃, named ``"n"`` as ``gru``'s (its block), each (B, H)."""
        (h_prev,) = state
        hidden = self.hidden_size
        u_rz, u_n = p.weight_hh[: 2 * hidden], p.weight_hh[2 * hidden :]
        r, z = (wx[:, : 2 * hidden] + h_prev @ u_rz.T).sigmoid().chunk(2, dim=-1)
        return {"r": r, "z": z, "n": (wx[:, 2 * hidden :] + (r * h_prev) @ u_n.T).tanh()}

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        hidden = self.hidden_size
        u_rz, u_n = p.weight_hh[: 2 * hidden], p.weight_hh[2 * hidden :]
        # r, z and h̃ are written over wx_t's blocks: wx_t = [r | z | h̃] is saved without a copy.
        rz = wx[:, : 2 * hidden].addmm_(h_prev, u_rz.T).sigmoid_()        # (B, 2H)
        r, z = rz.chunk(2, dim=1)
        h_tilde = tanh_(wx[:, 2 * hidden :].addmm_(r * h_prev, u_n.T))
        # r ⊙ h_{t-1} is not saved: the backward forms it again, one product per step.
        return (torch.addcmul(h_prev, z, h_tilde - h_prev),), (wx,)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        (dh,), (gates,), (h_prev,) = d_state, saved, state_prev
        hidden = self.hidden_size
        r, z, h_tilde = gates.chunk(3, dim=1)
        da = dh.new_empty(dh.size(0), 3 * hidden)                         # (B, 3H): ∂L/∂wx_t
        da_r, da_z, da_n = da.chunk(3, dim=1)
        # h_t = h_{t-1} + z ⊙ (h̃ − h_{t-1}): ∂L/∂h̃ = dh ⊙ z, then tanh' = 1 − h̃².
        dh_tilde = dh * z
        torch.addcmul(dh_tilde, dh_tilde * h_tilde, h_tilde, value=-1, out=da_n)
        # The second recurrent product, U (r ⊙ h_{t-1}), runs first backwards: the reset gate needs it.
        ds = da_n @ p.weight_hh[2 * hidden :]                             # (B, H): ∂L/∂(r ⊙ h_{t-1})
        dr = ds * h_prev * r
        torch.addcmul(dr, dr, r, value=-1, out=da_r)                       # σ': (dr ⊙ r)(1 − r)
        dz = (h_tilde - h_prev).mul_(dh).mul_(z)
        torch.addcmul(dz, dz, z, value=-1, out=da_z)
        # h_{t-1} is reached directly (1 − z), through the reset state (r), and through U_r, U_z.
        dh_prev = torch.addcmul(dh - dh_tilde, ds, r)
        dh_prev.addmm_(da[:, : 2 * hidden], p.weight_hh[: 2 * hidden])
        # r ⊙ h_{t-1}, the right operand of dU, handed on as a delta: the saved r lives in wx, which
        # the engine may reuse for ∂L/∂wx once this step is done.
        return da, (dh_prev,), (r * h_prev,)

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        hidden = self.hidden_size
        h_prev = state_prev[0]                                             # (T, B, H)
        (reset_state,) = deltas                                            # r ⊙ h_{t-1}, (T, B, H)
        grad_weight_hh = torch.empty_like(p.weight_hh)                     # (3H, H)
        torch.mm(dwx[..., : 2 * hidden].flatten(0, 1).T, h_prev.flatten(0, 1), out=grad_weight_hh[: 2 * hidden])
        torch.mm(dwx[..., 2 * hidden :].flatten(0, 1).T, reset_state.flatten(0, 1), out=grad_weight_hh[2 * hidden :])
        return {"weight_hh": grad_weight_hh}
