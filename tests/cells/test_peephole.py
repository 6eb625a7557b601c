"""The peephole LSTM against Gers & Schmidhuber 2000's equations, and its analytic derivative."""

from __future__ import annotations

import pytest
import torch
from stepcheck import check_bptt_contract, reference_forward

import rnnkit
from rnnkit.cells import get_cell_class

NAMES = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ch"]


def peephole_reference_step(x_t, state, P):
    """Gers & Schmidhuber 2000 with diagonal peepholes; o sees the new cell."""
    h, c = state
    W_xi, W_xf, W_xg, W_xo = P["weight_ih"].chunk(4)
    W_hi, W_hf, W_hg, W_ho = P["weight_hh"].chunk(4)
    w_ci, w_cf, w_co = P["weight_ch"].chunk(3)
    if P["bias_ih"] is None:
        b_i = b_f = b_g = b_o = 0.0
    else:
        b_i, b_f, b_g, b_o = (P["bias_ih"] + P["bias_hh"]).chunk(4)
    i = torch.sigmoid(x_t @ W_xi.T + h @ W_hi.T + w_ci * c + b_i)
    f = torch.sigmoid(x_t @ W_xf.T + h @ W_hf.T + w_cf * c + b_f)
    g = torch.tanh(x_t @ W_xg.T + h @ W_hg.T + b_g)
    c_new = f * c + i * g
    o = torch.sigmoid(x_t @ W_xo.T + h @ W_ho.T + w_co * c_new + b_o)
    return o * torch.tanh(c_new), c_new


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (1, True), (2, True)])
def test_peephole_lstm_layer_matches_reference_equations(num_layers, bidirectional, bias):
    torch.manual_seed(0)
    layer = rnnkit.Recurrent("peephole_lstm", 3, 4, num_layers=num_layers, bidirectional=bidirectional,
                             bias=bias, engine="autograd", dtype=torch.float64)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    rows = num_layers * (2 if bidirectional else 1)
    hx = (torch.randn(rows, 3, 4, dtype=torch.float64), torch.randn(rows, 3, 4, dtype=torch.float64))
    lengths = torch.tensor([5, 2, 4])
    output, (h_n, c_n) = layer(x, hx, lengths)
    ref_output, (ref_h, ref_c) = reference_forward(layer, peephole_reference_step, NAMES, x, hx, lengths)
    torch.testing.assert_close(output, ref_output)
    torch.testing.assert_close(h_n, ref_h)
    torch.testing.assert_close(c_n, ref_c)


def test_peephole_weights_exist_without_bias_and_are_random_by_default():
    layer = rnnkit.Recurrent("peephole_lstm", 3, 4, bias=False)
    names = dict(layer.named_parameters())
    assert "bias_ih_l0" not in names
    assert names["weight_ch_l0"].shape == (12,)
    assert names["weight_ch_l0"].abs().sum() > 0


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_peephole_lstm_analytic_derivative_matches_autograd(steps, bias):
    check_bptt_contract(get_cell_class("peephole_lstm")(3, 4), steps, bias)
