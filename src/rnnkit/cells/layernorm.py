r"""Layer-normalised LSTM and GRU.

Ba, Kiros & Hinton 2016, "Layer Normalization", section 3.1 and appendix: the summed inputs of a
recurrent layer are normalised over the hidden units at every time step,

    LN(a; α, β) = α ⊙ (a − μ) / σ + β,     μ = mean(a),  σ = √(var(a) + ε)  over a's units,  ε = 1e-5

with the input and the recurrent pre-activations normalised *separately*, each over its whole gate
vector (all G·H units at once, as in the paper), each with its own gain α and bias β. The paper's
extra bias b is the same constant as the two β, so it is not repeated here.

Parameters: weight_ih (G·H, I) and weight_hh (G·H, H) as in ``torch.nn``; the LN of W_x x has gain
``gain_ih`` and bias ``bias_ih``, the LN of W_h h has ``gain_hh`` and ``bias_hh`` (each (G·H)); the
LSTM's LN of the cell has ``gain_c`` and ``bias_c`` (H). Gains start at one and LN biases at zero
under every init scheme; ``bias=False`` removes the LN biases and keeps the gains. LN(W_x x) depends
on x alone, so ``project`` computes it for all time steps at once.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .activations import tanh_
from .base import Cell, Params, State
from .lstm import cell_update_backward

EPS = 1e-5


def _layer_norm(a: Tensor, gain: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """LN(a; α, β) over the last dimension, with μ and 1/σ (each (…, 1)) for the backward.

    PyTorch's fused kernel: one pass that also returns the statistics the backward needs.
    """
    return torch.native_layer_norm(a, a.shape[-1:], gain, bias, EPS)


def _layer_norm_backward(
    d_out: Tensor, a: Tensor, mean: Tensor, rstd: Tensor, gain: Tensor, bias: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """∂L/∂a, ∂L/∂α and ∂L/∂β (None without a bias) from ∂L/∂y for y = LN(a; α, β), by PyTorch's
    fused kernel, which forms all three in one pass without materialising â. Written out, with
    â = (a − μ)/σ and d = α ⊙ ∂L/∂y:  ∂L/∂a = (d − mean(d) − â ⊙ mean(d ⊙ â)) / σ,
    ∂L/∂α = Σ_rows ∂L/∂y ⊙ â,  ∂L/∂β = Σ_rows ∂L/∂y.
    """
    return torch.ops.aten.native_layer_norm_backward(
        d_out, a, a.shape[-1:], mean, rstd, gain, bias, [True, True, bias is not None]
    )


def _vector_grads(names: tuple[str, ...], deltas: tuple[Tensor, ...], p: Params) -> dict[str, Tensor]:
    """The LN gains' and biases' gradients: per-step sums (each (T, n)) added up over the steps.

    ``names`` lists the vectors in the order their per-step sums follow in ``deltas``; absent
    biases have no entry there.
    """
    present = [name for name in names if p[name] is not None]
    return {name: delta.sum(0) for name, delta in zip(present, deltas)}


class LayerNormCell(Cell):
    """What the LN cells share: the parameters, their initialisation, and LN(W_x x) in ``project``."""

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        width = self.gates * self.hidden_size
        return {
            "weight_ih": (width, self.input_size),
            "weight_hh": (width, self.hidden_size),
            "gain_ih": (width,),
            "bias_ih": (width,),
            "gain_hh": (width,),
            "bias_hh": (width,),
        }

    def _is_gain(self, name: str) -> bool:
        return name.startswith("gain")

    def reset_parameters(self, p: Params, init: str | None = None, forget_bias: float | None = None) -> None:
        """The weights by ``init`` (see :meth:`Cell.reset_parameters`); gains one and LN biases zero always."""
        matrices = Params({name: t for name, t in p.items() if name.startswith("weight")})
        vectors = Params({name: t for name, t in p.items() if name not in matrices})
        super().reset_parameters(matrices, init)
        # The named schemes set every vector as LN needs (gains one, biases zero); PyTorch's uniform
        # default must not randomise them, so the vectors always take that path, forget bias included.
        super().reset_parameters(vectors, "orthogonal", forget_bias)

    def project(self, x: Tensor, p: Params) -> Tensor:
        wx = F.linear(x, p.weight_ih)                                      # (T, B, G·H)
        return F.layer_norm(wx, wx.shape[-1:], p.gain_ih, p.bias_ih, EPS)


class LayerNormLSTMCell(LayerNormCell):
    r"""Layer-normalised LSTM, Ba et al. 2016, eq. (20)–(22), in PyTorch's gate order i, f, g, o.

        (a_i, a_f, a_g, a_o) = LN(W_x x_t; α_x, β_x) + LN(W_h h_{t-1}; α_h, β_h)
        i_t, f_t, o_t = σ(a_i), σ(a_f), σ(a_o);   g_t = tanh(a_g)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(LN(c_t; α_c, β_c))

    The paper writes the blocks f, i, o, g; LN over the whole 4H vector does not depend on the order.
    Parameters: see the module docstring (G = 4); ``forget_bias`` sets β_x's forget block.
    """

    name = "ln_lstm"
    summary = "a = LN(W_x x) + LN(W_h h), c = f⊙c + i⊙g, h = o⊙tanh(LN(c))  (Ba et al. 2016)"
    bptt_weight_grads_read_saved = False
    gates = 4
    state_names = ("h", "c")
    forget_gate = 1

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {**super().parameter_shapes(), "gain_c": (self.hidden_size,), "bias_c": (self.hidden_size,)}

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        c_prev = state[1]
        gates = self.gate_values(wx, state, p)
        c = gates["f"] * c_prev + gates["i"] * gates["g"]
        return gates["o"] * F.layer_norm(c, c.shape[-1:], p.gain_c, p.bias_c, EPS).tanh(), c

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """i, f, o = σ(a), g = tanh(a) of the normalised pre-activations a, each (B, H)."""
        wh = state[0] @ p.weight_hh.T
        a = wx + F.layer_norm(wh, wh.shape[-1:], p.gain_hh, p.bias_hh, EPS)
        i, f, g, o = a.chunk(4, dim=-1)
        return {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}

    # ----------------------------------------------------------------------------------------------
    # Backward through time.
    #
    # Saved per step: activated gates (B, 4H); W_h h_{t-1} (B, 4H) with its μ and 1/σ (B, 1); c_t's
    # μ and 1/σ (c_t itself is the state); tanh(LN(c_t)) (B, H).
    # With dh = ∂L/∂h_t, dc = ∂L/∂c_t from the future, ℓ = LN(c_t), a the gate pre-activations:
    #   ∂L/∂a_o = dh ⊙ tanh(ℓ) ⊙ o(1 − o)
    #   ∂L/∂ℓ = dh ⊙ o ⊙ (1 − tanh²ℓ)
    #   ∂L/∂c_t = dc + LN'ᵀ ∂L/∂ℓ                                        (_layer_norm_backward)
    #   ∂L/∂a_i, ∂L/∂a_f, ∂L/∂a_g, ∂L/∂c_{t-1}: as in the LSTM
    #   ∂L/∂(W_h h) = LN'ᵀ ∂L/∂a                                         (a delta: gives W_hh)
    #   ∂L/∂h_{t-1} = ∂L/∂(W_h h) @ W_hh
    # The same two LN kernels give this step's share of the LN vectors' gradients (â = (a − μ)/σ):
    #   dα_h = Σ_b ∂L/∂a ⊙ Ŵh, dβ_h = Σ_b ∂L/∂a, dα_c = Σ_b ∂L/∂ℓ ⊙ ĉ, dβ_c = Σ_b ∂L/∂ℓ
    # (deltas of one row each, added up over the steps), so nothing of size T·B·G·H beyond ∂L/∂(W_h h)
    # is kept for the weights. dW_hh = Σ_t ∂L/∂(W_h h)ᵀ h_{t-1} is one GEMM over all steps.

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        h_prev, c_prev = state
        hidden = self.hidden_size
        wh = h_prev @ p.weight_hh.T                                        # (B, 4H)
        wh_ln, wh_mean, wh_rstd = _layer_norm(wh, p.gain_hh, p.bias_hh)
        gates = wx.add_(wh_ln)                                             # (B, 4H) pre-activations, over wx_t
        gates[:, : 2 * hidden].sigmoid_()
        tanh_(gates[:, 2 * hidden : 3 * hidden])
        gates[:, 3 * hidden :].sigmoid_()
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.addcmul(f * c_prev, i, g)                                # (B, H)
        tanh_l, c_mean, c_rstd = _layer_norm(c, p.gain_c, p.bias_c)
        tanh_(tanh_l)
        return (o * tanh_l, c), (gates, wh, wh_mean, wh_rstd, c, c_mean, c_rstd, tanh_l)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        dh, dc_future = d_state
        gates, wh, wh_mean, wh_rstd, c, c_mean, c_rstd, tanh_l = saved
        c_prev = state_prev[1]
        _, f, _, o = gates.chunk(4, dim=1)
        da = torch.empty_like(gates)                                       # (B, 4H): ∂L/∂a_i,f,g,o
        da_o = da.chunk(4, dim=1)[3]
        # h_t = o ⊙ tanh(ℓ). With q = dh ⊙ o and u = q ⊙ tanh(ℓ):
        # ∂L/∂a_o = u ⊙ (1 − o), and ∂L/∂ℓ = q ⊙ (1 − tanh²ℓ) = q − u ⊙ tanh(ℓ).
        q = dh * o
        u = q * tanh_l
        torch.addcmul(u, u, o, value=-1, out=da_o)
        dl = q.addcmul_(u, tanh_l, value=-1)                               # ∂L/∂ℓ, (B, H)
        dc, d_gain_c, d_bias_c = _layer_norm_backward(dl, c, c_mean, c_rstd, p.gain_c, p.bias_c)
        dc += dc_future                                                    # ∂L/∂c_t, (B, H)
        cell_update_backward(dc, c_prev, gates, da)                        # c_t as in the LSTM
        d_wh, d_gain_hh, d_bias_hh = _layer_norm_backward(da, wh, wh_mean, wh_rstd, p.gain_hh, p.bias_hh)
        vectors = (grad for grad in (d_gain_hh, d_bias_hh, d_gain_c, d_bias_c) if grad is not None)
        return da, (d_wh @ p.weight_hh, dc.mul_(f)), (d_wh, *vectors)

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        d_wh, *vectors = deltas                                            # (T, B, 4H), then (T, n) each
        return {
            "weight_hh": d_wh.flatten(0, 1).T @ state_prev[0].flatten(0, 1),
            **_vector_grads(("gain_hh", "bias_hh", "gain_c", "bias_c"), tuple(vectors), p),
        }


class LayerNormGRUCell(LayerNormCell):
    r"""Layer-normalised GRU (Ba et al. 2016's recipe applied to the GRU), gate order r, z, n.

        (x_r, x_z, x_n) = LN(W_x x_t; α_x, β_x),   (u_r, u_z, u_n) = LN(W_h h_{t-1}; α_h, β_h)
        r_t = σ(x_r + u_r)
        z_t = σ(x_z + u_z)
        n_t = tanh(x_n + r_t ⊙ u_n)
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    The reset gate is applied *after* the recurrent product, as ``torch.nn.GRU`` and cuDNN do (the
    ``gru`` cell): LN(W_h h_{t-1}) is formed once for all three blocks, and r scales its n block.
    Applying r before the product (Cho et al. 2014, the ``gru_cho`` cell) would need a second
    normalised product per step. Parameters: see the module docstring (G = 3).
    """

    name = "ln_gru"
    summary = "x = LN(W_x x), u = LN(W_h h); n = tanh(x_n + r⊙u_n), h = (1−z)⊙n + z⊙h  (Ba et al. 2016)"
    bptt_weight_grads_read_saved = False
    gates = 3

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        gates = self.gate_values(wx, state, p)
        z = gates["z"]
        return ((1 - z) * gates["n"] + z * h_prev,)

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """r, z = σ(·) and n = tanh(·) of the normalised products, each (B, H)."""
        wh = state[0] @ p.weight_hh.T
        u = F.layer_norm(wh, wh.shape[-1:], p.gain_hh, p.bias_hh, EPS)
        x_r, x_z, x_n = wx.chunk(3, dim=-1)
        u_r, u_z, u_n = u.chunk(3, dim=-1)
        r = torch.sigmoid(x_r + u_r)
        return {"r": r, "z": torch.sigmoid(x_z + u_z), "n": torch.tanh(x_n + r * u_n)}

    # ----------------------------------------------------------------------------------------------
    # Backward through time.
    #
    # Saved per step: wx_t with r, z, n written over it (B, 3H), u_n (B, H), W_h h_{t-1} (B, 3H) with
    # its μ and 1/σ (B, 1).
    # h_t = n + z ⊙ (h_{t-1} − n), so with dh = ∂L/∂h_t:
    #   ∂L/∂a_n = dh ⊙ (1 − z) ⊙ (1 − n²)         (a_n = x_n + r ⊙ u_n: ∂L/∂x_n = ∂L/∂a_n)
    #   ∂L/∂a_z = dh ⊙ (h_{t-1} − n) ⊙ z(1 − z),  ∂L/∂a_r = ∂L/∂a_n ⊙ u_n ⊙ r(1 − r)
    #   ∂L/∂u = [∂L/∂a_r, ∂L/∂a_z, ∂L/∂a_n ⊙ r]
    #   ∂L/∂(W_h h) = LN'ᵀ ∂L/∂u                   (a delta: gives W_hh)
    #   ∂L/∂h_{t-1} = dh ⊙ z + ∂L/∂(W_h h) @ W_hh
    # The LN kernel also gives this step's dα_h = Σ_b ∂L/∂u ⊙ Ŵh and dβ_h = Σ_b ∂L/∂u (deltas of one
    # row each, added up over the steps). dW_hh = Σ_t ∂L/∂(W_h h)ᵀ h_{t-1} is one GEMM over all steps.

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        (h_prev,) = state
        hidden = self.hidden_size
        wh = h_prev @ p.weight_hh.T                                        # (B, 3H)
        u, wh_mean, wh_rstd = _layer_norm(wh, p.gain_hh, p.bias_hh)
        # r, z and n are written over wx_t's blocks: wx_t = [r | z | n] is saved without a copy.
        rz = wx[:, : 2 * hidden].add_(u[:, : 2 * hidden]).sigmoid_()      # (B, 2H)
        r, z = rz.chunk(2, dim=1)
        u_n = u[:, 2 * hidden :]
        n = tanh_(wx[:, 2 * hidden :].addcmul_(r, u_n))
        return (torch.addcmul(n, z, h_prev - n),), (wx, u_n, wh, wh_mean, wh_rstd)

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        (dh,) = d_state
        gates, u_n, wh, wh_mean, wh_rstd = saved
        (h_prev,) = state_prev
        hidden = self.hidden_size
        r, z, n = gates.chunk(3, dim=1)
        da = torch.empty(dh.size(0), 3 * hidden, dtype=dh.dtype, device=dh.device)
        da_r, da_z, da_n = da.chunk(3, dim=1)
        dh_z = dh * z                                                      # the direct path to h_{t-1}
        # ∂L/∂a_n = w − w ⊙ n² with w = dh ⊙ (1 − z) = dh − dh ⊙ z.
        torch.sub(dh, dh_z, out=da_n)
        da_n.addcmul_(da_n * n, n, value=-1)
        # ∂L/∂a_z = y − y ⊙ z with y = dh ⊙ (h_{t-1} − n) ⊙ z; ∂L/∂a_r likewise with y = ∂L/∂a_n ⊙ u_n ⊙ r.
        y = (h_prev - n).mul_(dh_z)
        torch.addcmul(y, y, z, value=-1, out=da_z)
        y = (da_n * u_n).mul_(r)
        torch.addcmul(y, y, r, value=-1, out=da_r)
        du = torch.empty_like(da)                                          # (B, 3H): ∂L/∂u
        du[:, : 2 * hidden].copy_(da[:, : 2 * hidden])
        torch.mul(da_n, r, out=du[:, 2 * hidden :])
        d_wh, d_gain, d_bias = _layer_norm_backward(du, wh, wh_mean, wh_rstd, p.gain_hh, p.bias_hh)
        vectors = (grad for grad in (d_gain, d_bias) if grad is not None)
        return da, (torch.addmm(dh_z, d_wh, p.weight_hh),), (d_wh, *vectors)

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        d_wh, *vectors = deltas                                            # (T, B, 3H), then (T, 3H) each
        return {
            "weight_hh": d_wh.flatten(0, 1).T @ state_prev[0].flatten(0, 1),
            **_vector_grads(("gain_hh", "bias_hh"), tuple(vectors), p),
        }
