"""A cell object is the equations a layer runs, not a module: calling it says which layer to use."""

from __future__ import annotations

import re

import pytest
import torch

import rnnkit

DROP_INS = {
    "lstm": "rnnkit.LSTM(4, 4)",
    "gru": "rnnkit.GRU(4, 4)",
    "rnn_tanh": "rnnkit.RNN(4, 4)",
    "rnn_relu": "rnnkit.RNN(4, 4, nonlinearity='relu')",
}


@pytest.mark.parametrize("name", rnnkit.cell_names())
def test_calling_a_cell_names_the_layer_to_use(name):
    cell_class = rnnkit.get_cell_class(name)
    cell = cell_class(4, 4)  # square: MUT1/MUT2 need input_size == hidden_size
    with pytest.raises(TypeError, match=f"{cell_class.__name__} objects are not callable") as error:
        cell(torch.randn(2, 4))
    message = str(error.value)
    assert f"rnnkit.Recurrent({cell_class.__name__}, 4, 4)" in message
    assert f"rnnkit.RecurrentCell({cell_class.__name__}, 4, 4)" in message
    if name in DROP_INS:
        assert DROP_INS[name] in message


def test_calling_a_cell_without_bias_names_bias_false():
    with pytest.raises(TypeError, match=re.escape("rnnkit.GRU(3, 5, bias=False)")) as error:
        rnnkit.cells.GRUCell(3, 5, bias=False)(torch.randn(2, 3))
    assert "rnnkit.RecurrentCell(GRUCell, 3, 5, bias=False)" in str(error.value)


@pytest.mark.parametrize("name", ["lstm", "gru", "peephole_lstm"])
def test_the_one_step_module_the_error_names_runs_the_cell(name):
    cell_class = rnnkit.get_cell_class(name)
    with pytest.raises(TypeError) as error:
        cell_class(3, 5)(torch.randn(2, 3))
    assert f"rnnkit.RecurrentCell({cell_class.__name__}, 3, 5)" in str(error.value)
    output, _ = rnnkit.RecurrentCell(cell_class, 3, 5)(torch.randn(2, 3))
    assert output.shape == (2, 5)


@pytest.mark.parametrize("name", ["lstm", "gru", "peephole_lstm"])
def test_one_step_at_a_time_is_the_layer_on_length_one_inputs(name):
    # Stepping a layer on length-1 inputs with the state it returned is the whole sequence (the
    # recipe rnnkit.RecurrentCell replaces; tests/layers/test_recurrent_cell.py ties the two).
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(name, 3, 5, num_layers=2).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    hx, outputs = None, []
    for x_t in x:
        output, hx = layer(x_t.unsqueeze(0), hx)
        outputs.append(output)
    whole, h_n = layer(x)
    torch.testing.assert_close(torch.cat(outputs), whole, atol=1e-12, rtol=1e-12)
    for a, b in zip(_flat(hx), _flat(h_n), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def _flat(state):
    return state if isinstance(state, tuple) else (state,)
