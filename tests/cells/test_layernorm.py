"""Layer-normalised LSTM and GRU against Ba et al. 2016's equations, their init, and their derivatives."""

from __future__ import annotations

import pytest
import torch
from stepcheck import check_bptt_contract, reference_forward

import rnnkit
from rnnkit.cells import get_cell_class

LSTM_NAMES = ["weight_ih", "weight_hh", "gain_ih", "bias_ih", "gain_hh", "bias_hh", "gain_c", "bias_c"]
GRU_NAMES = LSTM_NAMES[:6]


def layer_norm(a, gain, bias):
    """LN(a; α, β) = α ⊙ (a − μ)/√(σ² + ε) + β over the last dimension, written out."""
    mean = a.mean(-1, keepdim=True)
    var = ((a - mean) ** 2).mean(-1, keepdim=True)
    out = gain * (a - mean) / torch.sqrt(var + 1e-5)
    return out if bias is None else out + bias


def ln_lstm_reference_step(x_t, state, P):
    h, c = state
    a = layer_norm(x_t @ P["weight_ih"].T, P["gain_ih"], P["bias_ih"]) + layer_norm(
        h @ P["weight_hh"].T, P["gain_hh"], P["bias_hh"])
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
    c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(layer_norm(c, P["gain_c"], P["bias_c"])), c


def ln_gru_reference_step(x_t, state, P):
    (h,) = state
    x_r, x_z, x_n = layer_norm(x_t @ P["weight_ih"].T, P["gain_ih"], P["bias_ih"]).chunk(3, dim=-1)
    u_r, u_z, u_n = layer_norm(h @ P["weight_hh"].T, P["gain_hh"], P["bias_hh"]).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + u_r)
    z = torch.sigmoid(x_z + u_z)
    n = torch.tanh(x_n + r * u_n)
    return ((1 - z) * n + z * h,)


REFERENCES = {"ln_lstm": (ln_lstm_reference_step, LSTM_NAMES), "ln_gru": (ln_gru_reference_step, GRU_NAMES)}


def randomize_vectors(layer):
    """Gains and LN biases start at 1 and 0; make them random so that the comparison sees them."""
    with torch.no_grad():
        for name, param in layer.named_parameters():
            if name.startswith(("gain", "bias")):
                param.copy_(1.0 + 0.5 * torch.randn_like(param) if name.startswith("gain") else torch.randn_like(param))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell", list(REFERENCES))
@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (1, True), (2, True)])
def test_layernorm_layer_matches_reference_equations(cell, num_layers, bidirectional, bias):
    torch.manual_seed(0)
    ref_step, names = REFERENCES[cell]
    layer = rnnkit.Recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                             engine="autograd", dtype=torch.float64)
    randomize_vectors(layer)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    rows = num_layers * (2 if bidirectional else 1)
    state_size = len(get_cell_class(cell).state_names)
    hx = tuple(torch.randn(rows, 3, 4, dtype=torch.float64) for _ in range(state_size))
    lengths = torch.tensor([5, 2, 4])
    output, finals = layer(x, hx if state_size == 2 else hx[0], lengths)
    ref_output, ref_finals = reference_forward(layer, ref_step, names, x, hx, lengths)
    torch.testing.assert_close(output, ref_output)
    for ours, theirs in zip(finals if state_size == 2 else (finals,), ref_finals):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("init", [None, "orthogonal", "identity"])
@pytest.mark.parametrize("cell", list(REFERENCES))
def test_layernorm_gains_start_at_one_and_biases_at_zero(cell, init):
    layer = rnnkit.Recurrent(cell, 3, 4, init=init)
    for name, param in layer.named_parameters():
        if name.startswith("gain"):
            torch.testing.assert_close(param, torch.ones_like(param), msg=name)
        elif name.startswith("bias"):
            torch.testing.assert_close(param, torch.zeros_like(param), msg=name)
        else:
            assert param.abs().sum() > 0, f"{name} was left at zero"


def test_ln_lstm_forget_bias_sets_the_input_ln_bias_of_the_forget_block():
    layer = rnnkit.Recurrent("ln_lstm", 3, 4, forget_bias=1.5)
    torch.testing.assert_close(layer.bias_ih_l0[4:8], torch.full((4,), 1.5))
    torch.testing.assert_close(layer.bias_ih_l0[:4], torch.zeros(4))
    torch.testing.assert_close(layer.gain_ih_l0, torch.ones(16))


def test_layernorm_without_bias_keeps_the_gains():
    names = dict(rnnkit.Recurrent("ln_lstm", 3, 4, bias=False).named_parameters())
    assert {"gain_ih_l0", "gain_hh_l0", "gain_c_l0"} <= set(names)
    assert not any(name.startswith("bias") for name in names)


@pytest.mark.parametrize("cell", list(REFERENCES))
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_analytic_derivative_matches_autograd(cell, steps, bias):
    check_bptt_contract(get_cell_class(cell)(3, 4), steps, bias)
