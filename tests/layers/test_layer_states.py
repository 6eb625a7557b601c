"""``Recurrent.trace``: every layer's states (and gates) per step agree with the layer's own forward."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from rnnkit.cells import Cell, Params, State
from rnnkit.engines import can_run, engine_names

TOL = {"atol": 1e-10, "rtol": 1e-10}
HIDDEN, BATCH, STEPS = 4, 3, 6
LENGTHS = torch.tensor([6, 2, 4])


def _cases():
    for name in rnnkit.cell_names():
        probe = rnnkit.get_cell_class(name)(HIDDEN, HIDDEN)
        for engine in engine_names()[1:]:
            if can_run(engine, probe):
                yield name, engine


def _layer(name, engine="auto", **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("num_layers", 2)
    kwargs.setdefault("bidirectional", True)
    # MUT1/MUT2 need input_size == hidden_size, so they cannot sit on a bidirectional layer.
    if rnnkit.get_cell_class(name).needs_square_input and kwargs["num_layers"] > 1:
        kwargs["bidirectional"] = False
    return rnnkit.Recurrent(name, HIDDEN, HIDDEN, engine=engine, **kwargs).double()


def _inputs(layer):
    torch.manual_seed(1)
    x = torch.randn(STEPS, BATCH, HIDDEN, dtype=torch.float64)
    count = layer.num_layers * layer.num_directions
    hx = tuple(torch.randn(count, BATCH, HIDDEN, dtype=torch.float64) for _ in range(layer.state_size))
    return x, hx


def _finals(trace, layer, name, lengths):
    """h_n's layout (L·D, B, H) gathered from the trace: forward at t = length − 1, backward at t = 0."""
    rows = []
    for states in trace.states:
        for direction in range(layer.num_directions):
            half = states[name][..., direction * HIDDEN : (direction + 1) * HIDDEN]      # (T, B, H)
            steps = torch.zeros_like(lengths) if direction else lengths - 1
            rows.append(half[steps, torch.arange(BATCH)])
    return torch.stack(rows)


@pytest.mark.parametrize("name,engine", list(_cases()))
def test_traced_states_match_the_forward_on_every_engine(name, engine):
    layer = _layer(name, engine)
    x, hx = _inputs(layer)
    output, final = layer(x, hx if layer.state_size == 2 else hx[0], lengths=LENGTHS)
    trace = layer.trace(x, hx if layer.state_size == 2 else hx[0], lengths=LENGTHS, gates=True)
    torch.testing.assert_close(trace.states[-1]["h"], output, **TOL)
    finals = final if isinstance(final, tuple) else (final,)
    for state_name, expected in zip(layer.cells[0].state_names, finals):
        torch.testing.assert_close(_finals(trace, layer, state_name, LENGTHS), expected, **TOL)
    width = layer.num_directions * HIDDEN
    assert len(trace.states) == len(trace.gates) == 2
    for states, gates in zip(trace.states, trace.gates):
        assert set(states) == set(layer.cells[0].state_names)
        assert all(v.shape == (STEPS, BATCH, width) for v in (*states.values(), *gates.values()))


def test_traced_lstm_gates_rebuild_the_cell_in_both_directions_with_padding():
    layer = _layer("lstm")
    x, hx = _inputs(layer)
    trace = layer.trace(x, hx, lengths=LENGTHS, gates=True)
    for index, (states, gates) in enumerate(zip(trace.states, trace.gates)):
        for direction in range(2):
            block = slice(direction * HIDDEN, (direction + 1) * HIDDEN)
            c0 = hx[1][2 * index + direction]
            c, (i, f, g) = states["c"][..., block], (gates[k][..., block] for k in "ifg")
            for b, length in enumerate(LENGTHS.tolist()):
                # The backward direction runs t = length − 1 … 0: its previous step is t + 1.
                order = range(length - 1, -1, -1) if direction else range(length)
                c_prev = c0[b]
                for t in order:
                    torch.testing.assert_close(c[t, b], f[t, b] * c_prev + i[t, b] * g[t, b], **TOL)
                    c_prev = c[t, b]
                for value in (c, i, f, g):
                    assert not value[length:, b].any()                          # zero at padded steps


def test_trace_reads_batch_first_packed_and_unbatched_inputs_as_forward_does():
    layer = _layer("gru")
    x, _ = _inputs(layer)
    reference = layer.trace(x, lengths=LENGTHS, gates=True)
    packed = layer.trace(pack_padded_sequence(x, LENGTHS, enforce_sorted=False), gates=True)
    first = _layer("gru", batch_first=True).trace(x.transpose(0, 1), lengths=LENGTHS, gates=True)
    single = layer.trace(x[:, 0], gates=True)
    for got, layout in ((packed, lambda v: v), (first, lambda v: v.transpose(0, 1))):
        for k in range(2):
            for name in reference.states[k]:
                torch.testing.assert_close(layout(got.states[k][name]), reference.states[k][name], **TOL)
            for name in reference.gates[k]:
                torch.testing.assert_close(layout(got.gates[k][name]), reference.gates[k][name], **TOL)
    torch.testing.assert_close(single.states[-1]["h"], reference.states[-1]["h"][:, 0], **TOL)


def test_trace_applies_residual_connections_as_forward_does():
    layer = _layer("lstm", bidirectional=False, residual=True)
    x, _ = _inputs(layer)
    output, _ = layer(x)
    trace = layer.trace(x)
    torch.testing.assert_close(trace.states[1]["h"] + trace.states[0]["h"], output, **TOL)
    assert trace.gates is None


def test_trace_keeps_no_graph():
    layer = _layer("peephole_lstm")
    x, _ = _inputs(layer)
    trace = layer.trace(x.requires_grad_(), gates=True)
    assert not any(v.requires_grad for states in trace.states + trace.gates for v in states.values())


class StepOnlyCell(Cell):
    name, summary, gates = "step_only_trace", "h = tanh(Wx + b) ⊙ σ(W_hh h)", 1

    def step(self, wx: torch.Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return (wx.tanh() * (h_prev @ p.weight_hh.T).sigmoid(),)


def test_a_cell_without_gate_values_traces_its_states_and_refuses_gates_by_name():
    layer = rnnkit.Recurrent(StepOnlyCell, HIDDEN, HIDDEN, num_layers=2, bidirectional=True).double()
    x, _ = _inputs(layer)
    output, _ = layer(x, lengths=LENGTHS)
    torch.testing.assert_close(layer.trace(x, lengths=LENGTHS).states[-1]["h"], output, **TOL)
    with pytest.raises(ValueError, match="step_only_trace.*gate_values"):
        layer.trace(x, gates=True)
