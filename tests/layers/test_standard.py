"""The drop-in RNN, LSTM and GRU against torch.nn: outputs, final states, gradients, state dicts."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

FAMILIES = [
    (rnnkit.LSTM, torch.nn.LSTM, {}),
    (rnnkit.GRU, torch.nn.GRU, {}),
    (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
]
FAMILY_IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
ENGINES = ["autograd", "fused", "auto"]
TOL = {"atol": 1e-10, "rtol": 1e-10}


def _pair(ours_cls, ref_cls, kwargs, engine, **shape):
    torch.manual_seed(0)
    ours = ours_cls(3, 5, **kwargs, **shape, engine=engine).double()
    ref = ref_cls(3, 5, **kwargs, **shape).double()
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


def _assert_same_grads(ours, ref):
    for (name, p), (ref_name, q) in zip(ours.named_parameters(), ref.named_parameters()):
        assert name == ref_name
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=f"gradient of {name}")


def _loss(output, state):
    # Weighted so every output element and every final state tensor has its own gradient.
    weights = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)
    return (output * weights).sum() + sum((s * s).sum() for s in _flat(state))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_matches_torch_nn_dense(family, engine, num_layers, bidirectional, batch_first):
    ours, ref = _pair(*family, engine, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    (y, s), (y_ref, s_ref) = ours(x), ref(x_ref)
    torch.testing.assert_close(y, y_ref, **TOL)
    for a, b in zip(_flat(s), _flat(s_ref)):
        torch.testing.assert_close(a, b, **TOL)
    _loss(y, s).backward()
    _loss(y_ref, s_ref).backward()
    torch.testing.assert_close(x.grad, x_ref.grad, **TOL)
    _assert_same_grads(ours, ref)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_lengths_match_torch_nn_packed(family, engine, bidirectional):
    ours, ref = _pair(*family, engine, num_layers=2, bidirectional=bidirectional)
    lengths = torch.tensor([5, 2, 4])
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    state_shape = (2 * (2 if bidirectional else 1), 3, 5)
    hx = tuple(torch.randn(state_shape, dtype=torch.float64) for _ in _flat(ours.cells[0].state_names))
    hx = hx if len(hx) == 2 else hx[0]
    y, s = ours(x, hx, lengths=lengths)
    packed_out, s_ref = ref(pack_padded_sequence(x, lengths, enforce_sorted=False), hx)
    y_ref = pad_packed_sequence(packed_out, total_length=5)[0]
    torch.testing.assert_close(y, y_ref, **TOL)
    for a, b in zip(_flat(s), _flat(s_ref)):
        torch.testing.assert_close(a, b, **TOL)
    _loss(y, s).backward()
    _loss(y_ref, s_ref).backward()
    _assert_same_grads(ours, ref)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_packed_sequence_in_and_out_like_torch_nn(family, engine):
    ours, ref = _pair(*family, engine, bidirectional=True)
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor([3, 6, 1, 6]), enforce_sorted=False)
    (y, s), (y_ref, s_ref) = ours(packed), ref(packed)
    assert isinstance(y, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(y.data, y_ref.data, **TOL)
    torch.testing.assert_close(y.batch_sizes, y_ref.batch_sizes)
    torch.testing.assert_close(y.unsorted_indices, y_ref.unsorted_indices)
    for a, b in zip(_flat(s), _flat(s_ref)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_unbatched_input_like_torch_nn(family):
    ours, ref = _pair(*family, "auto", num_layers=2)
    x = torch.randn(4, 3, dtype=torch.float64)
    (y, s), (y_ref, s_ref) = ours(x), ref(x)
    torch.testing.assert_close(y, y_ref, **TOL)
    for a, b in zip(_flat(s), _flat(s_ref)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_state_dict_loads_both_ways(family):
    ours_cls, ref_cls, kwargs = family
    ref = ref_cls(3, 5, num_layers=2, bidirectional=True, **kwargs)
    ours = ours_cls(3, 5, num_layers=2, bidirectional=True, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    back = ref_cls(3, 5, num_layers=2, bidirectional=True, **kwargs)
    back.load_state_dict(ours.state_dict())
    for (name, a), b in zip(ref.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_default_init_has_torch_nn_distribution(family):
    ours_cls, _, kwargs = family
    layer = ours_cls(3, 16, **kwargs)
    bound = 16 ** -0.5
    for name, p in layer.named_parameters():
        assert p.abs().max() <= bound, name
        assert p.std() > bound / 4, name  # not all zero or constant


def test_bias_false_matches_torch_nn():
    ours, ref = _pair(rnnkit.LSTM, torch.nn.LSTM, {"bias": False}, "autograd")
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], **TOL)
    assert not any("bias" in name for name, _ in ours.named_parameters())


def test_fused_engine_backward_in_eval_mode():
    # cuDNN refuses backward when its forward ran with train=False; the fused engine must not.
    lstm = rnnkit.LSTM(3, 5, engine="fused").eval()
    output, _ = lstm(torch.randn(4, 2, 3))
    output.sum().backward()
    assert lstm.weight_hh_l0.grad is not None


def test_inter_layer_dropout_only_in_training():
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    lstm.eval()
    first, second = lstm(x)[0], lstm(x)[0]
    torch.testing.assert_close(first, second)
    lstm.train()
    assert not torch.allclose(lstm(x)[0], first)


def test_proj_size_is_refused_clearly():
    with pytest.raises(ValueError, match="proj_size"):
        rnnkit.LSTM(3, 5, proj_size=2)
