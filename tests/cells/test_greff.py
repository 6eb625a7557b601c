"""The Greff et al. 2017 LSTM variants against their equations, and their analytic derivatives."""

from __future__ import annotations

import pytest
import torch
from stepcheck import check_bptt_contract, reference_forward

import rnnkit
from rnnkit.cells import get_cell_class

NAMES = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def block(x_t, h, P, k):
    """The k-th gate block's pre-activation W_x[k] x_t + W_h[k] h + b[k], from explicit slices."""
    hidden = P["weight_hh"].size(1)
    rows = slice(k * hidden, (k + 1) * hidden)
    a = x_t @ P["weight_ih"][rows].T + h @ P["weight_hh"][rows].T
    if P["bias_ih"] is not None:
        a = a + P["bias_ih"][rows] + P["bias_hh"][rows]
    return a


def cifg_reference_step(x_t, state, P):
    h, c = state
    f = torch.sigmoid(block(x_t, h, P, 0))
    g = torch.tanh(block(x_t, h, P, 1))
    o = torch.sigmoid(block(x_t, h, P, 2))
    c = f * c + (1 - f) * g
    return o * torch.tanh(c), c


def nig_reference_step(x_t, state, P):
    h, c = state
    f = torch.sigmoid(block(x_t, h, P, 0))
    g = torch.tanh(block(x_t, h, P, 1))
    o = torch.sigmoid(block(x_t, h, P, 2))
    c = f * c + 1 * g
    return o * torch.tanh(c), c


def nfg_reference_step(x_t, state, P):
    h, c = state
    i = torch.sigmoid(block(x_t, h, P, 0))
    g = torch.tanh(block(x_t, h, P, 1))
    o = torch.sigmoid(block(x_t, h, P, 2))
    c = 1 * c + i * g
    return o * torch.tanh(c), c


def nog_reference_step(x_t, state, P):
    h, c = state
    i = torch.sigmoid(block(x_t, h, P, 0))
    f = torch.sigmoid(block(x_t, h, P, 1))
    g = torch.tanh(block(x_t, h, P, 2))
    c = f * c + i * g
    return 1 * torch.tanh(c), c


def niaf_reference_step(x_t, state, P):
    h, c = state
    i = torch.sigmoid(block(x_t, h, P, 0))
    f = torch.sigmoid(block(x_t, h, P, 1))
    g = block(x_t, h, P, 2)
    o = torch.sigmoid(block(x_t, h, P, 3))
    c = f * c + i * g
    return o * torch.tanh(c), c


def noaf_reference_step(x_t, state, P):
    h, c = state
    i = torch.sigmoid(block(x_t, h, P, 0))
    f = torch.sigmoid(block(x_t, h, P, 1))
    g = torch.tanh(block(x_t, h, P, 2))
    o = torch.sigmoid(block(x_t, h, P, 3))
    c = f * c + i * g
    return o * c, c


REFERENCES = {
    "cifg_lstm": (cifg_reference_step, 3, 0),
    "lstm_nig": (nig_reference_step, 3, 0),
    "lstm_nfg": (nfg_reference_step, 3, None),
    "lstm_nog": (nog_reference_step, 3, 1),
    "lstm_niaf": (niaf_reference_step, 4, 1),
    "lstm_noaf": (noaf_reference_step, 4, 1),
}
CELLS = list(REFERENCES)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (1, True), (2, True)])
def test_greff_variant_layer_matches_reference_equations(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional,
                             engine="autograd", dtype=torch.float64)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    rows = num_layers * (2 if bidirectional else 1)
    hx = (torch.randn(rows, 3, 4, dtype=torch.float64), torch.randn(rows, 3, 4, dtype=torch.float64))
    lengths = torch.tensor([5, 2, 4])
    output, (h_n, c_n) = layer(x, hx, lengths)
    ref_output, (ref_h, ref_c) = reference_forward(layer, REFERENCES[cell][0], NAMES, x, hx, lengths)
    torch.testing.assert_close(output, ref_output)
    torch.testing.assert_close(h_n, ref_h)
    torch.testing.assert_close(c_n, ref_c)


@pytest.mark.parametrize("cell", CELLS)
def test_greff_variant_without_bias_matches_reference_equations(cell):
    torch.manual_seed(1)
    layer = rnnkit.Recurrent(cell, 3, 4, bias=False, engine="autograd", dtype=torch.float64)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    hx = (torch.randn(1, 2, 4, dtype=torch.float64), torch.randn(1, 2, 4, dtype=torch.float64))
    output, _ = layer(x, hx)
    ref_output, _ = reference_forward(layer, REFERENCES[cell][0], NAMES, x, hx, torch.tensor([4, 4]))
    torch.testing.assert_close(output, ref_output)


@pytest.mark.parametrize("cell", CELLS)
def test_greff_variant_keeps_only_its_gate_blocks(cell):
    _, gates, forget_gate = REFERENCES[cell]
    layer = rnnkit.Recurrent(cell, 3, 4)
    assert layer.weight_ih_l0.shape == (gates * 4, 3)
    assert layer.weight_hh_l0.shape == (gates * 4, 4)
    assert get_cell_class(cell).forget_gate == forget_gate


@pytest.mark.parametrize("cell", ["cifg_lstm", "lstm_nig", "lstm_nog"])
def test_forget_bias_sets_the_forget_block(cell):
    forget_gate = REFERENCES[cell][2]
    layer = rnnkit.Recurrent(cell, 3, 4, forget_bias=2.0)
    block = slice(forget_gate * 4, (forget_gate + 1) * 4)
    torch.testing.assert_close(layer.bias_ih_l0[block], torch.full((4,), 2.0))
    torch.testing.assert_close(layer.bias_hh_l0[block], torch.zeros(4))


def test_forget_bias_on_the_lstm_without_forget_gate_raises():
    with pytest.raises(ValueError, match="no forget gate"):
        rnnkit.Recurrent("lstm_nfg", 3, 4, forget_bias=1.0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_greff_variant_analytic_derivative_matches_autograd(cell, steps, bias):
    check_bptt_contract(get_cell_class(cell)(3, 4), steps, bias)
