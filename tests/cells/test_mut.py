"""MUT1–3 against the equations of Jozefowicz et al. 2015 (as in the notes), and their derivatives."""

from __future__ import annotations

import pytest
import torch
from stepcheck import check_bptt_contract, reference_forward

import rnnkit
from rnnkit.cells import get_cell_class

NAMES = ["weight_ih", "weight_hh", "bias"]


def biases(P, hidden):
    if P["bias"] is None:
        return 0.0, 0.0, 0.0
    return P["bias"][:hidden], P["bias"][hidden : 2 * hidden], P["bias"][2 * hidden :]


def mut1_reference_step(x_t, state, P):
    (h,) = state
    W_xz, W_xr = P["weight_ih"].chunk(2)
    W_hr, W_hh = P["weight_hh"].chunk(2)
    b_z, b_r, b_h = biases(P, h.size(-1))
    z = torch.sigmoid(x_t @ W_xz.T + b_z)
    r = torch.sigmoid(x_t @ W_xr.T + h @ W_hr.T + b_r)
    return (torch.tanh((r * h) @ W_hh.T + torch.tanh(x_t) + b_h) * z + h * (1 - z),)


def mut2_reference_step(x_t, state, P):
    (h,) = state
    W_xz, W_xh = P["weight_ih"].chunk(2)
    W_hz, W_hr, W_hh = P["weight_hh"].chunk(3)
    b_z, b_r, b_h = biases(P, h.size(-1))
    z = torch.sigmoid(x_t @ W_xz.T + h @ W_hz.T + b_z)
    r = torch.sigmoid(x_t + h @ W_hr.T + b_r)
    return (torch.tanh((r * h) @ W_hh.T + x_t @ W_xh.T + b_h) * z + h * (1 - z),)


def mut3_reference_step(x_t, state, P):
    (h,) = state
    W_xz, W_xr, W_xh = P["weight_ih"].chunk(3)
    W_hz, W_hr, W_hh = P["weight_hh"].chunk(3)
    b_z, b_r, b_h = biases(P, h.size(-1))
    z = torch.sigmoid(x_t @ W_xz.T + torch.tanh(h) @ W_hz.T + b_z)
    r = torch.sigmoid(x_t @ W_xr.T + h @ W_hr.T + b_r)
    return (torch.tanh((r * h) @ W_hh.T + x_t @ W_xh.T + b_h) * z + h * (1 - z),)


REFERENCES = {"mut1": mut1_reference_step, "mut2": mut2_reference_step, "mut3": mut3_reference_step}
# MUT1 and MUT2 need input_size == hidden_size, so a second layer over a bidirectional first one
# (input 2H) is impossible for them: only MUT3 runs the 2-layer bidirectional stack.
CONFIGS = [(cell, 2, False) for cell in REFERENCES] + [(cell, 1, True) for cell in REFERENCES] + [("mut3", 2, True)]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell, num_layers, bidirectional", CONFIGS)
def test_mut_layer_matches_reference_equations(cell, num_layers, bidirectional, bias):
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(cell, 4, 4, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                             engine="autograd", dtype=torch.float64)
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    hx = (torch.randn(num_layers * (2 if bidirectional else 1), 3, 4, dtype=torch.float64),)
    lengths = torch.tensor([5, 2, 4])
    output, h_n = layer(x, hx[0], lengths)
    ref_output, (ref_h,) = reference_forward(layer, REFERENCES[cell], NAMES, x, hx, lengths)
    torch.testing.assert_close(output, ref_output)
    torch.testing.assert_close(h_n, ref_h)


def test_mut3_takes_any_input_size():
    torch.manual_seed(0)
    layer = rnnkit.Recurrent("mut3", 3, 5, engine="autograd", dtype=torch.float64)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    hx = (torch.zeros(1, 2, 5, dtype=torch.float64),)
    output, _ = layer(x)
    torch.testing.assert_close(output, reference_forward(layer, mut3_reference_step, NAMES, x, hx,
                                                         torch.tensor([4, 4]))[0])


@pytest.mark.parametrize("cell, equation", [("mut1", "tanh(x_t)"), ("mut2", "σ(x_t + W_hr")])
def test_mut1_and_mut2_refuse_input_size_other_than_hidden_size(cell, equation):
    with pytest.raises(ValueError, match="input_size == hidden_size") as error:
        rnnkit.Recurrent(cell, 3, 4)
    assert equation in str(error.value)


@pytest.mark.parametrize("cell", ["mut1", "mut2"])
def test_mut1_and_mut2_cannot_stack_over_a_bidirectional_layer(cell):
    with pytest.raises(ValueError, match="input_size=8, hidden_size=4"):
        rnnkit.Recurrent(cell, 4, 4, num_layers=2, bidirectional=True)


@pytest.mark.parametrize("cell", list(REFERENCES))
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_mut_analytic_derivative_matches_autograd(cell, steps, bias):
    check_bptt_contract(get_cell_class(cell)(4, 4), steps, bias)
