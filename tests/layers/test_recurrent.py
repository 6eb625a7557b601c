"""The generic Recurrent layer: every cell, every engine, padding, states, init, user cells, errors."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cells import Cell, Params, State
from rnnkit.engines import can_run, engine_names

TOL = {"atol": 1e-10, "rtol": 1e-10}


def _cases():
    for name in rnnkit.cell_names():
        probe = rnnkit.get_cell_class(name)(4, 4)
        for engine in engine_names()[1:]:
            if can_run(engine, probe):
                yield name, engine


CASES = list(_cases())


def _layer(name, engine, **kwargs):
    torch.manual_seed(0)
    # input_size == hidden_size: MUT1/MUT2 need it; others accept it. For the same reason MUT1/MUT2
    # cannot sit on top of a bidirectional layer (it doubles the features), so they stack one way.
    if rnnkit.get_cell_class(name).needs_square_input and kwargs.get("num_layers", 1) > 1:
        kwargs["bidirectional"] = False
    return rnnkit.Recurrent(name, 4, 4, engine=engine, **kwargs).double()


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("name,engine", CASES)
def test_padding_invariance(name, engine):
    """A sequence's outputs and final state do not change when batched with longer ones."""
    layer = _layer(name, engine, num_layers=2, bidirectional=True)
    short = torch.randn(3, 1, 4, dtype=torch.float64)
    alone_y, alone_s = layer(short)
    batch = torch.randn(6, 3, 4, dtype=torch.float64)
    batch[:3, 1] = short[:, 0]
    y, s = layer(batch, lengths=torch.tensor([6, 3, 5]))
    torch.testing.assert_close(y[:3, 1], alone_y[:, 0], **TOL)
    assert torch.all(y[3:, 1] == 0)
    for a, b in zip(_flat(s), _flat(alone_s)):
        torch.testing.assert_close(a[:, 1], b[:, 0], **TOL)


@pytest.mark.parametrize("name,engine", CASES)
def test_engines_agree_with_autograd(name, engine):
    reference = _layer(name, "autograd", num_layers=2, bidirectional=True)
    layer = _layer(name, engine, num_layers=2, bidirectional=True)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    lengths = torch.tensor([5, 1, 3])
    (y, s), (y_ref, s_ref) = layer(x, lengths=lengths), reference(x, lengths=lengths)
    torch.testing.assert_close(y, y_ref, **TOL)
    for a, b in zip(_flat(s), _flat(s_ref)):
        torch.testing.assert_close(a, b, **TOL)
    (y.sum() + sum(t.sum() for t in _flat(s))).backward()
    (y_ref.sum() + sum(t.sum() for t in _flat(s_ref))).backward()
    for (param_name, p), q in zip(layer.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=param_name)


@pytest.mark.parametrize("name", rnnkit.cell_names())
def test_initial_state_is_used_and_gets_gradient(name):
    layer = _layer(name, "auto")
    count = len(layer.cells[0].state_names)
    hx = tuple(torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True) for _ in range(count))
    x = torch.randn(3, 2, 4, dtype=torch.float64)
    y, _ = layer(x, hx if count == 2 else hx[0])
    y_zero, _ = layer(x)
    assert not torch.allclose(y, y_zero)
    y.sum().backward()
    assert all(h.grad is not None and h.grad.abs().sum() > 0 for h in hx)


def test_batch_first_is_a_transpose():
    layer = _layer("gru_cho", "autograd")
    first = _layer("gru_cho", "autograd", batch_first=True)
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    torch.testing.assert_close(first(x.transpose(0, 1))[0].transpose(0, 1), layer(x)[0], **TOL)


def _single_layer(stack: rnnkit.Recurrent, layer: int) -> rnnkit.Recurrent:
    """Layer ``layer`` of a unidirectional 4→4 LSTM stack as a one-layer module."""
    single = rnnkit.Recurrent("lstm", 4, 4, engine="autograd").double()
    suffix = f"_l{layer}"
    single.load_state_dict({k.replace(suffix, "_l0"): v for k, v in stack.state_dict().items() if k.endswith(suffix)})
    return single


def test_residual_adds_the_layer_input():
    plain = _layer("lstm", "autograd", num_layers=2)
    residual = _layer("lstm", "autograd", num_layers=2, residual=True)
    x = torch.randn(3, 2, 4, dtype=torch.float64)
    y1 = _single_layer(plain, 0)(x)[0]
    y2 = _single_layer(plain, 1)(y1)[0]
    torch.testing.assert_close(plain(x)[0], y2, **TOL)
    torch.testing.assert_close(residual(x)[0], y2 + y1, **TOL)


# --------------------------------------------------------------------------------------------------
# Initialisation


def test_orthogonal_init_makes_each_recurrent_block_orthogonal():
    layer = rnnkit.Recurrent("lstm", 3, 6, init="orthogonal")
    for block in layer.weight_hh_l0.detach().split(6):
        torch.testing.assert_close(block @ block.T, torch.eye(6), atol=1e-5, rtol=0)
    assert torch.all(layer.bias_ih_l0 == 0)


def test_irnn_starts_at_identity():
    layer = rnnkit.Recurrent("irnn", 3, 6)
    torch.testing.assert_close(layer.weight_hh_l0.detach(), torch.eye(6))
    assert torch.all(layer.bias_hh_l0 == 0) and layer.weight_ih_l0.abs().max() < 0.01


def test_forget_bias_sets_the_forget_block():
    layer = rnnkit.LSTM(3, 4, forget_bias=1.0)
    assert torch.all(layer.bias_ih_l0[4:8] == 1.0) and torch.all(layer.bias_hh_l0[4:8] == 0.0)
    with pytest.raises(ValueError, match="forget gate"):
        rnnkit.Recurrent("gru", 3, 4, forget_bias=1.0)


# --------------------------------------------------------------------------------------------------
# A user-defined cell: only its step equations.


class MinimalCell(Cell):
    """h_t = tanh(W x_t + b) ⊙ σ(W_hh h_{t-1}): a cell that exists only in this test."""

    name = "test_minimal"
    summary = "h = tanh(Wx + b) ⊙ σ(W_hh h)"

    def step(self, wx: torch.Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return (wx.tanh() * (h_prev @ p.weight_hh.T).sigmoid(),)


def test_user_defined_cell_runs_with_every_layer_feature():
    layer = rnnkit.Recurrent(MinimalCell, 3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    y, h = layer(x, lengths=torch.tensor([4, 2]))
    assert y.shape == (2, 4, 10) and h.shape == (4, 2, 5)
    # The equations, by hand, for the first layer's forward direction of sequence 0.
    w, b, w_hh = layer.weight_ih_l0, layer.bias_ih_l0, layer.weight_hh_l0
    h_t = torch.zeros(5, dtype=torch.float64)
    for t in range(4):
        h_t = (w @ x[0, t] + b).tanh() * (w_hh @ h_t).sigmoid()
    torch.testing.assert_close(h[0, 0], h_t, **TOL)
    assert torch.autograd.gradcheck(lambda inp: layer(inp)[0], (x,))


def test_register_cell_makes_a_name():
    rnnkit.register_cell(MinimalCell)
    assert "test_minimal" in rnnkit.cell_names()
    assert rnnkit.Recurrent("test_minimal", 3, 5).cell_name == "test_minimal"


# --------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("shape", [(3,), (2, 4, 3, 1)])
def test_wrong_rank_is_named(shape):
    with pytest.raises(ValueError, match="input must have 3 dimensions"):
        rnnkit.LSTM(3, 5)(torch.randn(*shape))


def test_wrong_feature_size_is_named():
    with pytest.raises(ValueError, match="input_size=3"):
        rnnkit.GRU(3, 5)(torch.randn(4, 2, 7))


def test_empty_sequence_is_refused():
    with pytest.raises(ValueError, match="empty sequence"):
        rnnkit.GRU(3, 5)(torch.randn(0, 2, 3))


@pytest.mark.parametrize("lengths,match", [
    ([5, 2], "at most"), ([0, 2], "at least 1"), ([2], "one per sequence"), ([[1, 2]], "1-D"),
])
def test_bad_lengths_are_named(lengths, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.LSTM(3, 5)(torch.randn(4, 2, 3), lengths=torch.tensor(lengths))


def test_float_lengths_are_refused():
    with pytest.raises(TypeError, match="lengths must hold integers"):
        rnnkit.LSTM(3, 5)(torch.randn(4, 2, 3), lengths=torch.tensor([1.0, 2.0]))


def test_wrong_state_shape_is_named():
    with pytest.raises(ValueError, match=r"h_0 must have shape"):
        rnnkit.GRU(3, 5, num_layers=2)(torch.randn(4, 2, 3), torch.zeros(1, 2, 5))
    with pytest.raises(TypeError, match=r"\(h_0, c_0\)"):
        rnnkit.LSTM(3, 5)(torch.randn(4, 2, 3), torch.zeros(1, 2, 5))


def test_unknown_cell_and_engine_are_named():
    with pytest.raises(ValueError, match="unknown cell 'lstmm'"):
        rnnkit.Recurrent("lstmm", 3, 5)
    with pytest.raises(ValueError, match="unknown engine 'cuda'"):
        rnnkit.Recurrent("lstm", 3, 5, engine="cuda")
    with pytest.raises(TypeError, match="cell must be"):
        rnnkit.Recurrent(42, 3, 5)


def test_fused_refuses_a_cell_it_cannot_run():
    with pytest.raises(ValueError, match="engine='fused'"):
        rnnkit.Recurrent("gru_cho", 3, 5, engine="fused")


@pytest.mark.parametrize("kwargs,match", [
    ({"num_layers": 0}, "num_layers"), ({"dropout": 1.5}, "dropout"), ({"hidden_size": 0}, "hidden_size"),
])
def test_bad_constructor_arguments_are_named(kwargs, match):
    arguments = {"input_size": 3, "hidden_size": 5} | kwargs
    with pytest.raises(ValueError, match=match):
        rnnkit.Recurrent("lstm", **arguments)


def test_lengths_with_packed_input_is_refused():
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(3, 2, 3), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="PackedSequence"):
        rnnkit.LSTM(3, 5)(packed, lengths=torch.tensor([3, 2]))
