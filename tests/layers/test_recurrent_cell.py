"""RecurrentCell: any cell one step at a time, with Recurrent's parameters, results and gradients."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.cells import Cell, Params, State

TOL = {"atol": 1e-10, "rtol": 1e-10}
NAMES = rnnkit.cell_names()   # the 18 built-in cells (collected before any test registers its own)
TORCH_CELLS = {  # our cell → torch.nn's one-step module of the same equations
    "lstm": lambda: nn.LSTMCell(4, 5),
    "gru": lambda: nn.GRUCell(4, 5),
    "rnn_tanh": lambda: nn.RNNCell(4, 5, nonlinearity="tanh"),
    "rnn_relu": lambda: nn.RNNCell(4, 5, nonlinearity="relu"),
}


def _layer(name: str, engine: str = "autograd", **kwargs) -> rnnkit.Recurrent:
    torch.manual_seed(0)
    # input_size == hidden_size: MUT1/MUT2 need it; the others accept it.
    return rnnkit.Recurrent(name, 4, 4, engine=engine, **kwargs).double()


def _cell_like(layer: rnnkit.Recurrent, **kwargs) -> rnnkit.RecurrentCell:
    """A RecurrentCell with ``layer``'s weights, through its state_dict."""
    cell = rnnkit.RecurrentCell(layer.cell_name, layer.input_size, layer.hidden_size, layer.num_layers,
                                layer.bias, **kwargs).double()
    cell.load_state_dict(layer.state_dict())
    return cell


def _run(module: rnnkit.RecurrentCell, x: torch.Tensor, state=None):
    """Step ``module`` through ``x`` (T, B, I): the stacked outputs (T, B, H) and the final state."""
    outputs = []
    for x_t in x:
        output, state = module(x_t, state)
        outputs.append(output)
    return torch.stack(outputs), state


def _random_state(name: str, num_layers: int, batch: int):
    count = len(rnnkit.get_cell_class(name).state_names)
    tensors = tuple(torch.randn(num_layers, batch, 4, dtype=torch.float64) for _ in range(count))
    return tensors if count == 2 else tensors[0]


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


# --------------------------------------------------------------------------------------------------
# Stepping is the sequence layer


@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "given_state"])
@pytest.mark.parametrize("engine", ["autograd", "auto"])
@pytest.mark.parametrize("name", NAMES)
def test_stepping_equals_recurrent_on_the_whole_sequence(name, engine, with_state):
    layer = _layer(name, engine, num_layers=2)
    cell = _cell_like(layer)
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    state = _random_state(name, 2, 3) if with_state else None
    (y, s), (y_ref, s_ref) = _run(cell, x, state), layer(x, state)
    torch.testing.assert_close(y, y_ref, **TOL)
    for a, b in zip(_flat(s), _flat(s_ref), strict=True):
        torch.testing.assert_close(a, b, **TOL)


class MinimalCell(Cell):
    """h_t = tanh(W x_t + b) ⊙ σ(W_hh h_{t-1}): a cell that exists only in this test, never registered."""

    name = "test_recurrent_cell_minimal"
    summary = "h = tanh(Wx + b) ⊙ σ(W_hh h)"

    def step(self, wx: torch.Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return (wx.tanh() * (h_prev @ p.weight_hh.T).sigmoid(),)


def test_a_cell_class_steps_like_recurrent():
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(MinimalCell, 3, 5, num_layers=2).double()
    cell = rnnkit.RecurrentCell(MinimalCell, 3, 5, num_layers=2).double()
    cell.load_state_dict(layer.state_dict())
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    (y, h), (y_ref, h_ref) = _run(cell, x), layer(x)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(h, h_ref, **TOL)


@pytest.mark.parametrize("name", NAMES)
def test_output_is_the_top_layers_new_hidden_state(name):
    cell = _cell_like(_layer(name, num_layers=3))
    output, state = cell(torch.randn(2, 4, dtype=torch.float64))
    assert output.shape == (2, 4) and _flat(state)[0].shape == (3, 2, 4)
    assert torch.equal(output, _flat(state)[0][-1])


@pytest.mark.parametrize("name", NAMES)
def test_gradients_flow_through_many_steps_as_in_recurrent(name):
    layer = _layer(name, num_layers=2)
    cell = _cell_like(layer)
    x = torch.randn(12, 2, 4, dtype=torch.float64)
    readout = torch.randn(4, dtype=torch.float64)
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    (_run(cell, inputs[0])[0][-1] @ readout).sum().backward()
    (layer(inputs[1])[0][-1] @ readout).sum().backward()
    assert cell.weight_hh_l0.grad.abs().sum() > 0 and inputs[0].grad[0].abs().sum() > 0
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad, **TOL)
    for (param_name, p), q in zip(cell.named_parameters(), layer.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=param_name)


@pytest.mark.parametrize("name", NAMES)
def test_a_given_state_gets_the_gradient_recurrent_gives_it(name):
    layer = _layer(name, num_layers=2)
    cell = _cell_like(layer)
    x = torch.randn(4, 2, 4, dtype=torch.float64)
    state = _random_state(name, 2, 2)
    states = [tuple(t.clone().requires_grad_() for t in _flat(state)) for _ in range(2)]
    states = [s if len(s) == 2 else s[0] for s in states]
    _run(cell, x, states[0])[0].sum().backward()
    layer(x, states[1])[0].sum().backward()
    for a, b in zip(_flat(states[0]), _flat(states[1])):
        assert a.grad.abs().sum() > 0
        torch.testing.assert_close(a.grad, b.grad, **TOL)


@pytest.mark.parametrize("name", sorted(TORCH_CELLS))
def test_matches_torch_nn_one_step_modules(name):
    torch.manual_seed(0)
    reference = TORCH_CELLS[name]().double()
    ours = rnnkit.RecurrentCell(name, 4, 5).double()
    # torch.nn's cells name their parameters without the layer suffix.
    ours.load_state_dict({f"{key}_l0": value for key, value in reference.state_dict().items()})
    x = torch.randn(3, 2, 4, dtype=torch.float64)
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    y, state = _run(ours, inputs[0])
    y_ref, state_ref = [], None
    for x_t in inputs[1]:
        state_ref = reference(x_t, state_ref)
        y_ref.append(_flat(state_ref)[0])
    y_ref = torch.stack(y_ref)
    torch.testing.assert_close(y, y_ref, **TOL)
    for a, b in zip(_flat(state), _flat(state_ref), strict=True):
        torch.testing.assert_close(a[0], b, **TOL)
    (y.sum() + _flat(state)[-1].sum()).backward()
    (y_ref.sum() + _flat(state_ref)[-1].sum()).backward()
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad, **TOL)
    for key, p in reference.named_parameters():
        torch.testing.assert_close(getattr(ours, f"{key}_l0").grad, p.grad, **TOL, msg=key)


# --------------------------------------------------------------------------------------------------
# Parameters: Recurrent's names, shapes and initialisation


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_loads_both_ways_with_recurrent(name, bias):
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(name, 4, 4, num_layers=2, bias=bias)
    cell = rnnkit.RecurrentCell(name, 4, 4, num_layers=2, bias=bias)
    assert {k: v.shape for k, v in cell.state_dict().items()} == {k: v.shape for k, v in layer.state_dict().items()}
    cell.load_state_dict(layer.state_dict())
    for key, value in layer.state_dict().items():
        assert torch.equal(cell.state_dict()[key], value), key
    torch.manual_seed(1)
    other = rnnkit.RecurrentCell(name, 4, 4, num_layers=2, bias=bias)
    layer.load_state_dict(other.state_dict())
    for key, value in other.state_dict().items():
        assert torch.equal(layer.state_dict()[key], value), key


@pytest.mark.parametrize("init", [None, "orthogonal", "identity"])
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_recurrents_initial_parameters(name, init):
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(name, 4, 4, num_layers=2, init=init)
    torch.manual_seed(0)
    cell = rnnkit.RecurrentCell(name, 4, 4, num_layers=2, init=init)
    for (key, p), q in zip(cell.state_dict().items(), layer.state_dict().values(), strict=True):
        assert torch.equal(p, q), key


def test_forget_bias_is_set_as_in_recurrent():
    cell = rnnkit.RecurrentCell("lstm", 3, 4, num_layers=2, forget_bias=1.0)
    for layer in range(2):
        assert torch.all(getattr(cell, f"bias_ih_l{layer}")[4:8] == 1.0)
        assert torch.all(getattr(cell, f"bias_hh_l{layer}")[4:8] == 0.0)
    with pytest.raises(ValueError, match="forget gate"):
        rnnkit.RecurrentCell("gru", 3, 4, forget_bias=1.0)


def test_a_bidirectional_state_dict_is_refused_by_name():
    bidirectional = rnnkit.Recurrent("lstm", 4, 4, bidirectional=True)
    with pytest.raises(ValueError, match=re.escape("weight_ih_l0_reverse")) as error:
        rnnkit.RecurrentCell("lstm", 4, 4).load_state_dict(bidirectional.state_dict())
    assert "bidirectional=True" in str(error.value)


def test_a_seq2seq_model_with_a_bidirectional_encoder_loads():
    # The reverse keys of a sibling module are not the decoder's: only its own prefix is checked.
    def model():
        return nn.ModuleDict({
            "encoder": rnnkit.Recurrent("gru", 4, 4, bidirectional=True),
            "decoder": rnnkit.RecurrentCell("gru", 4, 4),
        })
    source, target = model(), model()
    target.load_state_dict(source.state_dict())
    assert torch.equal(target["decoder"].weight_hh_l0, source["decoder"].weight_hh_l0)


def test_functional_call_substitutes_a_parameter():
    cell = rnnkit.RecurrentCell("gru", 3, 4)
    x = torch.randn(2, 3)
    zero = {"weight_ih_l0": torch.zeros_like(cell.weight_ih_l0), "bias_ih_l0": torch.zeros_like(cell.bias_ih_l0),
            "bias_hh_l0": torch.zeros_like(cell.bias_hh_l0)}
    output, _ = torch.func.functional_call(cell, zero, (x,))
    # No input weight, no bias, from h = 0: the GRU stays at 0.
    assert torch.all(output == 0) and not torch.all(cell(x)[0] == 0)


# --------------------------------------------------------------------------------------------------
# Unbatched input, dropout


@pytest.mark.parametrize("name", NAMES)
def test_unbatched_input_is_a_batch_of_one(name):
    cell = _cell_like(_layer(name, num_layers=2))
    x, state = torch.randn(4, dtype=torch.float64), _random_state(name, 2, 1)
    output, new = cell(x, tuple(s[:, 0] for s in _flat(state)) if isinstance(state, tuple) else state[:, 0])
    output_ref, new_ref = cell(x.unsqueeze(0), state)
    assert output.shape == (4,)
    torch.testing.assert_close(output, output_ref[0], **TOL)
    for a, b in zip(_flat(new), _flat(new_ref), strict=True):
        assert a.shape == (2, 4)
        torch.testing.assert_close(a, b[:, 0], **TOL)


def test_unbatched_shapes_are_torch_nn_lstm_cells():
    ours, reference = rnnkit.RecurrentCell("lstm", 4, 5), nn.LSTMCell(4, 5)
    x = torch.randn(4)
    output, (h, c) = ours(x)
    h_ref, c_ref = reference(x)
    assert output.shape == h_ref.shape and h[0].shape == h_ref.shape and c[0].shape == c_ref.shape


def test_dropout_between_layers_only_in_training_mode():
    torch.manual_seed(0)
    cell = rnnkit.RecurrentCell("lstm", 4, 4, num_layers=2, dropout=0.5).double()
    plain = rnnkit.RecurrentCell("lstm", 4, 4, num_layers=2).double()
    plain.load_state_dict(cell.state_dict())
    x = torch.randn(3, 4, dtype=torch.float64)
    first, second = cell(x)[0], cell(x)[0]
    assert not torch.allclose(first, second)
    cell.eval()
    torch.testing.assert_close(cell(x)[0], plain(x)[0], **TOL)
    torch.testing.assert_close(cell(x)[0], cell(x)[0], **TOL)


def test_dropout_in_training_is_recurrents_on_one_step():
    layer = _layer("gru", num_layers=3, dropout=0.5)
    cell = _cell_like(layer, dropout=0.5)
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.manual_seed(1)
    output, state = cell(x)
    torch.manual_seed(1)
    output_ref, state_ref = layer(x.unsqueeze(0))
    torch.testing.assert_close(output, output_ref[0], **TOL)
    torch.testing.assert_close(state, state_ref, **TOL)


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        rnnkit.RecurrentCell("gru", 3, 4, dropout=0.2)


def test_autocast_lets_a_lower_precision_input_and_state_through():
    cell = rnnkit.RecurrentCell("lstm", 3, 5, num_layers=2)
    state = (torch.zeros(2, 2, 5, dtype=torch.bfloat16), torch.zeros(2, 2, 5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for x_t in torch.randn(3, 2, 3):           # float32 steps, then what autocast made of the state
            output, state = cell(x_t, state)
        output, state = cell(torch.randn(2, 3).bfloat16(), state)
    assert output.shape == (2, 5) and torch.isfinite(output).all()
    with pytest.raises(ValueError, match="state h has dtype torch.bfloat16"):
        cell(torch.randn(2, 3), (state[0].bfloat16(), state[1].float()))


# --------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("cell,error,match", [
    ("no_such_cell", ValueError, "unknown cell 'no_such_cell'"),
    (nn.LSTMCell, TypeError, "cell must be a cell name"),
])
def test_unknown_cell_is_refused(cell, error, match):
    with pytest.raises(error, match=match):
        rnnkit.RecurrentCell(cell, 3, 4)


@pytest.mark.parametrize("kwargs,match", [
    ({"num_layers": 0}, "num_layers must be a positive integer"),
    ({"dropout": 1.5}, re.escape("dropout must be a number in [0, 1]")),
    ({"init": "xavier"}, "unknown init 'xavier'"),
])
def test_bad_arguments_are_named(kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            rnnkit.RecurrentCell("gru", 3, 4, **kwargs)


def test_mut1_needs_a_square_input():
    with pytest.raises(ValueError, match="needs input_size == hidden_size"):
        rnnkit.RecurrentCell("mut1", 3, 4)


@pytest.mark.parametrize("shape,match", [
    ((), "input must have 2 dimensions"),
    ((5, 2, 3), re.escape("for a whole sequence (T, B, I) use rnnkit.Recurrent")),
    ((2, 7), "input has 7 features in its last dimension; this module was built with input_size=3"),
])
def test_input_of_the_wrong_shape_is_named(shape, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.RecurrentCell("lstm", 3, 5)(torch.randn(shape))


def test_input_that_is_not_a_tensor_is_named():
    with pytest.raises(TypeError, match="input must be a Tensor, got list"):
        rnnkit.RecurrentCell("lstm", 3, 5)([[0.0, 1.0, 2.0]])


def test_input_of_another_dtype_is_named_with_the_fix():
    message = ("input has dtype torch.float64 but this module's parameters are torch.float32: convert the input "
               "with input.to(torch.float32), or the module with module.to(torch.float64)")
    with pytest.raises(ValueError, match=re.escape(message)):
        rnnkit.RecurrentCell("lstm", 3, 5)(torch.randn(2, 3, dtype=torch.float64))


def test_non_floating_input_is_named_with_the_fix():
    with pytest.raises(ValueError, match=re.escape("input has dtype torch.int64; a recurrent cell reads floating")):
        rnnkit.RecurrentCell("lstm", 3, 5)(torch.ones(2, 3, dtype=torch.int64))


def test_input_on_another_device_is_named_with_the_fix():
    message = ("input is on meta but this module's parameters are on cpu: move the input with input.to('cpu'), "
               "or the module with module.to('meta')")
    with pytest.raises(ValueError, match=re.escape(message)):
        rnnkit.RecurrentCell("lstm", 3, 5)(torch.randn(2, 3, device="meta"))


@pytest.mark.parametrize("name,state,error,match", [
    ("lstm", torch.zeros(2, 2, 5), TypeError, re.escape("state must be a tuple (h, c) of Tensors")),
    ("lstm", (torch.zeros(2, 2, 5),), TypeError, re.escape("got a tuple of 1 (Tensor)")),
    ("gru", (torch.zeros(2, 2, 5), torch.zeros(2, 2, 5)), TypeError, "state must be a Tensor h"),
    ("gru", torch.zeros(1, 2, 5), ValueError, re.escape("(num_layers, B, hidden_size) = (2, 2, 5), got (1, 2, 5)")),
    ("gru", torch.zeros(2, 3, 5), ValueError, re.escape("= (2, 2, 5), got (2, 3, 5)")),
    ("lstm", (torch.zeros(2, 2, 5), torch.zeros(2, 2, 4)), ValueError, re.escape("state c must have shape")),
    ("gru", torch.zeros(2, 2, 5, dtype=torch.float64), ValueError,
     re.escape("state h has dtype torch.float64 but the input and this module's parameters are torch.float32: "
               "convert it with h.to(torch.float32)")),
    ("lstm", (torch.zeros(2, 2, 5), torch.zeros(2, 2, 5, device="meta")), ValueError,
     re.escape("state c is on meta but the input is on cpu: move it with c.to('cpu')")),
])
def test_bad_state_is_named(name, state, error, match):
    with pytest.raises(error, match=match):
        rnnkit.RecurrentCell(name, 3, 5, num_layers=2)(torch.randn(2, 3), state)


def test_unbatched_state_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=re.escape("(num_layers, hidden_size) = (2, 5) for an unbatched input")):
        rnnkit.RecurrentCell("gru", 3, 5, num_layers=2)(torch.randn(3), torch.zeros(5))
