"""``rnnkit.viz.gradient_flow``: the figures are autograd's ∂L_T/∂h_t, and they show the notes' argument."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch

import rnnkit
from rnnkit.viz import GradientFlowConfig, gradient_flow, plot_gradient_flow


def _reference_inputs(config: GradientFlowConfig) -> tuple[torch.Tensor, torch.Tensor, rnnkit.Recurrent]:
    """The inputs, projection and layer the library builds, drawn the same way."""
    generator = torch.Generator().manual_seed(config.seed)
    size = config.hidden_size
    x = config.input_scale * torch.randn(config.steps, config.batch_size, size, generator=generator,
                                         dtype=torch.float64)
    u = torch.randn(size, generator=generator, dtype=torch.float64)
    torch.manual_seed(config.seed)
    layer = rnnkit.Recurrent(config.cells[0], size, size, forget_bias=config.forget_bias, dtype=torch.float64)
    return x, u / u.norm(), layer


def _mean_norms(grads: tuple[torch.Tensor, ...]) -> list[float]:
    return [g.norm(dim=-1).mean().item() for g in grads]


def test_elman_figures_equal_a_hand_unrolled_autograd_gradient():
    config = GradientFlowConfig(cells=("rnn_tanh",), steps=6, hidden_size=5, batch_size=3)
    x, u, layer = _reference_inputs(config)
    w_ih, w_hh, b_ih, b_hh = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
    h = torch.zeros(3, 5, dtype=torch.float64)
    hs = []
    for x_t in x:
        h = torch.tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        hs.append(h)
    # The hand-unrolled h_T is the layer's own output: the reference runs the same network.
    torch.testing.assert_close(h, layer(x)[0][-1])
    expected = _mean_norms(torch.autograd.grad((hs[-1] @ u).sum(), hs))
    measured = gradient_flow(config).cells[0]
    torch.testing.assert_close(measured.grad_h, expected)
    assert measured.grad_c is None
    assert measured.sigma_max == pytest.approx([torch.linalg.matrix_norm(w_hh.detach(), ord=2).item()])


def test_lstm_figures_equal_a_hand_unrolled_autograd_gradient_for_h_and_c():
    config = GradientFlowConfig(cells=("lstm",), steps=6, hidden_size=4, batch_size=3, forget_bias=1.0)
    x, u, layer = _reference_inputs(config)
    h = c = torch.zeros(3, 4, dtype=torch.float64)
    hs, cs = [], []
    for x_t in x:
        a = x_t @ layer.weight_ih_l0.T + layer.bias_ih_l0 + h @ layer.weight_hh_l0.T + layer.bias_hh_l0
        i, f, g, o = a.chunk(4, dim=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        hs.append(h)
        cs.append(c)
    torch.testing.assert_close(h, layer(x)[0][-1])
    grads = torch.autograd.grad((hs[-1] @ u).sum(), hs + cs)
    measured = gradient_flow(config).cells[0]
    torch.testing.assert_close(measured.grad_h, _mean_norms(grads[:6]))
    torch.testing.assert_close(measured.grad_c, _mean_norms(grads[6:]))
    blocks = layer.weight_hh_l0.detach().split(4)
    assert measured.sigma_max == pytest.approx([torch.linalg.matrix_norm(b, ord=2).item() for b in blocks])


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_scale_whh_sets_every_blocks_largest_singular_value(cell):
    measured = gradient_flow(GradientFlowConfig(cells=(cell,), steps=3, hidden_size=6, batch_size=2,
                                                scale_whh=0.7)).cells[0]
    assert measured.sigma_max == pytest.approx([0.7] * len(measured.sigma_max))


def test_contracting_whh_makes_the_elman_gradient_vanish_geometrically():
    # σ_max = 0.5 and tanh′ ≤ 1: each step back multiplies the norm by at most 0.5.
    grad = gradient_flow(GradientFlowConfig(cells=("rnn_tanh",), steps=20, hidden_size=8, batch_size=4,
                                            scale_whh=0.5, input_scale=1e-3)).cells[0].grad_h
    for t in range(1, 20):
        assert grad[t - 1] <= 0.5 * grad[t] * 1.01
    assert grad[0] < 1e-5 * grad[-1]


def test_expanding_whh_makes_the_elman_gradient_explode_where_tanh_is_near_linear():
    # Every singular value 2 (orthogonal, rescaled) and tiny inputs: each step back doubles the norm.
    grad = gradient_flow(GradientFlowConfig(cells=("rnn_tanh",), steps=12, hidden_size=8, batch_size=4,
                                            init="orthogonal", scale_whh=2.0, input_scale=1e-5)).cells[0].grad_h
    for t in range(1, 12):
        assert grad[t - 1] > 1.8 * grad[t]
    assert grad[0] > 1e3 * grad[-1]


def test_a_high_forget_bias_keeps_the_lstm_cell_gradient_flat_where_the_elman_one_vanishes():
    result = gradient_flow(GradientFlowConfig(cells=("lstm", "rnn_tanh"), steps=50, hidden_size=8,
                                              batch_size=16, forget_bias=5.0))
    lstm, elman = result.cells
    # f ≈ σ(5) ≈ 0.993: the cell path alone keeps f^49 ≈ 0.72; the h paths add to it along the way.
    assert 0.25 <= lstm.grad_c[0] / lstm.grad_c[-1] <= 4
    assert elman.ratio < 1e-8


def test_csv_and_json_hold_the_returned_numbers_and_the_png_is_a_png(tmp_path):
    result = gradient_flow(GradientFlowConfig(cells=("rnn_tanh", "lstm"), steps=5, hidden_size=4, batch_size=2))
    record = json.loads(result.to_json())
    assert record["config"]["cells"] == ["rnn_tanh", "lstm"]
    assert record["config"]["steps"] == 5
    for stored, cell in zip(record["cells"], result.cells):
        assert stored == {"cell": cell.cell, "sigma_max": cell.sigma_max, "grad_h": cell.grad_h,
                          "grad_c": cell.grad_c, "jacobian": cell.jacobian}
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert len(rows) == 2 * 5
    by_cell = {cell.cell: cell for cell in result.cells}
    for row in rows:
        cell, t = by_cell[row["cell"]], int(row["t"])
        assert int(row["steps_back"]) == 5 - t
        assert float(row["grad_h"]) == cell.grad_h[t - 1]
        assert (row["grad_c"] == "") if cell.grad_c is None else (float(row["grad_c"]) == cell.grad_c[t - 1])
        assert float(row["jacobian"]) == cell.jacobian[t - 1]
    png = tmp_path / "flow.png"
    plot_gradient_flow(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_registered_cell_is_measured():
    result = gradient_flow(GradientFlowConfig(cells=tuple(rnnkit.cell_names()), steps=3, hidden_size=4,
                                              batch_size=2))
    for cell in result.cells:
        assert len(cell.grad_h) == 3
        assert all(value > 0 for value in cell.grad_h)


@pytest.mark.parametrize("field, value, named", [
    ("cells", ("nope",), "unknown cell 'nope'"), ("steps", 1, "steps"), ("hidden_size", 0, "hidden_size"),
    ("batch_size", 0, "batch_size"), ("scale_whh", 0.0, "scale_whh"), ("scale_whh", -1.0, "scale_whh"),
    ("input_scale", 0.0, "input_scale"), ("init", "zeros", "init"),
])
def test_a_bad_setting_is_refused_by_name(field, value, named):
    with pytest.raises(ValueError, match=named):
        GradientFlowConfig(**{field: value})
