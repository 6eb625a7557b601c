"""PackedSequence in and out, against torch.nn, for every way torch builds a pack."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence

import rnnkit

FAMILIES = [(rnnkit.LSTM, torch.nn.LSTM), (rnnkit.GRU, torch.nn.GRU), (rnnkit.RNN, torch.nn.RNN)]
FAMILY_IDS = ["lstm", "gru", "rnn"]
ENGINES = ["fused", "bptt", "autograd"]
TOL = {"atol": 1e-10, "rtol": 1e-10}
STEPS, INPUT_SIZE, HIDDEN_SIZE, NUM_LAYERS = 5, 3, 4, 2

# (how, lengths, enforce_sorted, batch_first): how is "padded" (pack_padded_sequence) or "sequences"
# (pack_sequence, which has no batch_first). Ties in lengths check that the batch keeps its own order.
PACKS = [
    pytest.param("padded", [5, 3, 3, 1], True, False, id="padded-sorted"),
    pytest.param("padded", [5, 3, 3, 1], True, True, id="padded-sorted-batch_first"),
    pytest.param("padded", [3, 5, 1, 3], False, False, id="padded-unsorted"),
    pytest.param("padded", [3, 5, 1, 3], False, True, id="padded-unsorted-batch_first"),
    pytest.param("sequences", [5, 3, 2], True, False, id="sequences-sorted"),
    pytest.param("sequences", [2, 5, 3], False, False, id="sequences-unsorted"),
    pytest.param("padded", [5, 5, 5], True, False, id="equal-lengths-sorted"),
    pytest.param("padded", [5, 5, 5], False, False, id="equal-lengths-unsorted"),
    pytest.param("padded", [4], True, False, id="batch-of-one-sorted"),
    pytest.param("sequences", [4], False, False, id="batch-of-one-unsorted"),
]


def _pack(x: torch.Tensor, how: str, lengths: list[int], enforce_sorted: bool, batch_first: bool) -> PackedSequence:
    """The pack torch builds from the time-major padded batch ``x`` (T, B, I)."""
    if how == "sequences":
        return pack_sequence([x[:length, b] for b, length in enumerate(lengths)], enforce_sorted=enforce_sorted)
    padded = x.transpose(0, 1) if batch_first else x
    return pack_padded_sequence(padded, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted)


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


def _loss(output: PackedSequence, state) -> torch.Tensor:
    # Weighted so every packed element and every final state tensor has its own gradient.
    weights = torch.linspace(-1, 1, output.data.numel(), dtype=output.data.dtype).view_as(output.data)
    return (output.data * weights).sum() + sum((s * s).sum() for s in _flat(state))


def _assert_same_indices(ours: torch.Tensor | None, ref: torch.Tensor | None, name: str) -> None:
    assert (ours is None) == (ref is None), f"{name}: {ours} vs torch.nn's {ref}"
    if ref is not None:
        assert torch.equal(ours, ref), f"{name}: {ours} vs torch.nn's {ref}"


@pytest.mark.parametrize("how,lengths,enforce_sorted,batch_first", PACKS)
@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_packed_sequence_matches_torch_nn(family, engine, bidirectional, with_hx, how, lengths, enforce_sorted,
                                          batch_first):
    ours_cls, ref_cls = family
    torch.manual_seed(0)
    shape = {"num_layers": NUM_LAYERS, "bidirectional": bidirectional, "batch_first": batch_first}
    ours = ours_cls(INPUT_SIZE, HIDDEN_SIZE, **shape, engine=engine).double()
    ref = ref_cls(INPUT_SIZE, HIDDEN_SIZE, **shape).double()
    ref.load_state_dict(ours.state_dict())

    x = torch.randn(STEPS, len(lengths), INPUT_SIZE, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    state_shape = (NUM_LAYERS * (2 if bidirectional else 1), len(lengths), HIDDEN_SIZE)
    hx = tuple(torch.randn(state_shape, dtype=torch.float64, requires_grad=True)
               for _ in range(2 if ours_cls is rnnkit.LSTM else 1)) if with_hx else ()
    hx_ref = tuple(h.detach().clone().requires_grad_() for h in hx)

    def state_argument(states):
        return None if not states else states if len(states) == 2 else states[0]

    y, s = ours(_pack(x, how, lengths, enforce_sorted, batch_first), state_argument(hx))
    y_ref, s_ref = ref(_pack(x_ref, how, lengths, enforce_sorted, batch_first), state_argument(hx_ref))

    assert isinstance(y, PackedSequence)
    torch.testing.assert_close(y.data, y_ref.data, **TOL)
    assert torch.equal(y.batch_sizes, y_ref.batch_sizes)
    _assert_same_indices(y.sorted_indices, y_ref.sorted_indices, "sorted_indices")
    _assert_same_indices(y.unsorted_indices, y_ref.unsorted_indices, "unsorted_indices")
    for a, b in zip(_flat(s), _flat(s_ref), strict=True):
        torch.testing.assert_close(a, b, **TOL)

    _loss(y, s).backward()
    _loss(y_ref, s_ref).backward()
    torch.testing.assert_close(x.grad, x_ref.grad, **TOL)
    for h, h_ref in zip(hx, hx_ref, strict=True):
        torch.testing.assert_close(h.grad, h_ref.grad, **TOL)
    for (name, p), (ref_name, q) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        assert name == ref_name
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=f"gradient of {name}")
