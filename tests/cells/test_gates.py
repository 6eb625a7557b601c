"""``Cell.gate_values``: every cell's gates, against its equations written out here and against its step."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cells import Cell, Params, State

TOL = {"atol": 1e-12, "rtol": 1e-12}
HIDDEN, BATCH = 5, 3
# The gates that are candidates (tanh) rather than σ gates; lstm_niaf's candidate is linear.
CANDIDATES = {"g", "n", "h_tilde"}
NAMES = {
    "elman": set(),
    "lstm": {"i", "f", "g", "o"},
    "gru": {"r", "z", "n"},
    "mut": {"z", "r", "h_tilde"},
}
EXPECTED_NAMES = {
    "rnn_tanh": NAMES["elman"], "rnn_relu": NAMES["elman"], "irnn": NAMES["elman"],
    "lstm": NAMES["lstm"], "peephole_lstm": NAMES["lstm"], "lstm_niaf": NAMES["lstm"], "lstm_noaf": NAMES["lstm"],
    "ln_lstm": NAMES["lstm"], "cifg_lstm": {"f", "g", "o"}, "lstm_nig": {"f", "g", "o"},
    "lstm_nfg": {"i", "g", "o"}, "lstm_nog": {"i", "f", "g"},
    "gru": NAMES["gru"], "gru_cho": NAMES["gru"], "ln_gru": NAMES["gru"],
    "mut1": NAMES["mut"], "mut2": NAMES["mut"], "mut3": NAMES["mut"],
}


def _setup(name):
    """A cell, its parameters (every entry random, LN gains included), x_t (B, H) and a random state."""
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(name, HIDDEN, HIDDEN).double()
    with torch.no_grad():
        for param in layer.parameters():
            param.uniform_(-0.8, 0.8)
    cell, p = layer.cells[0], layer.cell_params(0, 0)
    x = torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    state = tuple(torch.randn(BATCH, HIDDEN, dtype=torch.float64) for _ in cell.state_names)
    return cell, p, x, state


def _gate_values(cell, p, x, state):
    return cell.gate_values(cell.project(x.unsqueeze(0), p)[0], state, p)


def _layer_norm(a, gain, bias):
    mean = a.mean(-1, keepdim=True)
    var = ((a - mean) ** 2).mean(-1, keepdim=True)
    return (a - mean) / torch.sqrt(var + 1e-5) * gain + bias


# The equations of each cell's docstring, from x_t and the raw parameters (not through ``project``).

def _lstm(p, x, h, c):
    i, f, g, o = (x @ p.weight_ih.T + p.bias_ih + h @ p.weight_hh.T + p.bias_hh).chunk(4, -1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}


def _peephole_lstm(p, x, h, c):
    a_i, a_f, a_g, a_o = (x @ p.weight_ih.T + p.bias_ih + h @ p.weight_hh.T + p.bias_hh).chunk(4, -1)
    w_ci, w_cf, w_co = p.weight_ch.chunk(3)
    i, f, g = torch.sigmoid(a_i + w_ci * c), torch.sigmoid(a_f + w_cf * c), torch.tanh(a_g)
    c_new = f * c + i * g
    return {"i": i, "f": f, "g": g, "o": torch.sigmoid(a_o + w_co * c_new)}


def _cifg_lstm(p, x, h, c):
    f, g, o = (x @ p.weight_ih.T + p.bias_ih + h @ p.weight_hh.T + p.bias_hh).chunk(3, -1)
    return {"f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}


def _lstm_nig(p, x, h, c):
    return _cifg_lstm(p, x, h, c)                      # the same three blocks f, g, o; only c_t differs


def _lstm_niaf(p, x, h, c):
    i, f, g, o = (x @ p.weight_ih.T + p.bias_ih + h @ p.weight_hh.T + p.bias_hh).chunk(4, -1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": g, "o": torch.sigmoid(o)}


def _ln_lstm(p, x, h, c):
    a = _layer_norm(x @ p.weight_ih.T, p.gain_ih, p.bias_ih) + _layer_norm(h @ p.weight_hh.T, p.gain_hh, p.bias_hh)
    i, f, g, o = a.chunk(4, -1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}


def _gru(p, x, h):
    x_r, x_z, x_n = (x @ p.weight_ih.T + p.bias_ih).chunk(3, -1)
    h_r, h_z, h_n = (h @ p.weight_hh.T + p.bias_hh).chunk(3, -1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return {"r": r, "z": z, "n": torch.tanh(x_n + r * h_n)}


def _gru_cho(p, x, h):
    x_r, x_z, x_n = (x @ p.weight_ih.T + p.bias_ih + p.bias_hh).chunk(3, -1)
    U_r, U_z, U = p.weight_hh.chunk(3)
    r, z = torch.sigmoid(x_r + h @ U_r.T), torch.sigmoid(x_z + h @ U_z.T)
    return {"r": r, "z": z, "n": torch.tanh(x_n + (r * h) @ U.T)}


def _ln_gru(p, x, h):
    x_r, x_z, x_n = _layer_norm(x @ p.weight_ih.T, p.gain_ih, p.bias_ih).chunk(3, -1)
    u_r, u_z, u_n = _layer_norm(h @ p.weight_hh.T, p.gain_hh, p.bias_hh).chunk(3, -1)
    r = torch.sigmoid(x_r + u_r)
    return {"r": r, "z": torch.sigmoid(x_z + u_z), "n": torch.tanh(x_n + r * u_n)}


def _mut1(p, x, h):
    W_xz, W_xr = p.weight_ih.chunk(2)
    W_hr, W_hh = p.weight_hh.chunk(2)
    b_z, b_r, b_h = p.bias.chunk(3)
    z = torch.sigmoid(x @ W_xz.T + b_z)
    r = torch.sigmoid(x @ W_xr.T + h @ W_hr.T + b_r)
    return {"z": z, "r": r, "h_tilde": torch.tanh((r * h) @ W_hh.T + torch.tanh(x) + b_h)}


def _mut2(p, x, h):
    W_xz, W_xh = p.weight_ih.chunk(2)
    W_hz, W_hr, W_hh = p.weight_hh.chunk(3)
    b_z, b_r, b_h = p.bias.chunk(3)
    z = torch.sigmoid(x @ W_xz.T + h @ W_hz.T + b_z)
    r = torch.sigmoid(x + h @ W_hr.T + b_r)
    return {"z": z, "r": r, "h_tilde": torch.tanh((r * h) @ W_hh.T + x @ W_xh.T + b_h)}


def _mut3(p, x, h):
    W_xz, W_xr, W_xh = p.weight_ih.chunk(3)
    W_hz, W_hr, W_hh = p.weight_hh.chunk(3)
    b_z, b_r, b_h = p.bias.chunk(3)
    z = torch.sigmoid(x @ W_xz.T + torch.tanh(h) @ W_hz.T + b_z)
    r = torch.sigmoid(x @ W_xr.T + h @ W_hr.T + b_r)
    return {"z": z, "r": r, "h_tilde": torch.tanh((r * h) @ W_hh.T + x @ W_xh.T + b_h)}


EQUATIONS = {
    "lstm": _lstm, "peephole_lstm": _peephole_lstm, "cifg_lstm": _cifg_lstm, "lstm_nig": _lstm_nig,
    "lstm_niaf": _lstm_niaf, "ln_lstm": _ln_lstm, "gru": _gru, "gru_cho": _gru_cho, "ln_gru": _ln_gru,
    "mut1": _mut1, "mut2": _mut2, "mut3": _mut3,
}


@pytest.mark.parametrize("name", list(EQUATIONS))
def test_gate_values_match_the_written_out_equations(name):
    cell, p, x, state = _setup(name)
    expected = EQUATIONS[name](p, x, *state)
    got = _gate_values(cell, p, x, state)
    assert list(got) == list(expected)
    for gate in expected:
        torch.testing.assert_close(got[gate], expected[gate], **TOL)


def test_every_registered_cell_is_covered():
    assert set(EXPECTED_NAMES) == set(rnnkit.cell_names())


@pytest.mark.parametrize("name", rnnkit.cell_names())
def test_gate_values_are_named_activated_and_shaped(name):
    cell, p, x, state = _setup(name)
    assert cell.supports_gates
    got = _gate_values(cell, p, x, state)
    assert set(got) == EXPECTED_NAMES[name]
    for gate, value in got.items():
        assert value.shape == (BATCH, HIDDEN)
        if gate not in CANDIDATES:
            assert 0 <= value.min() and value.max() <= 1, gate
        elif name != "lstm_niaf":
            assert -1 <= value.min() and value.max() <= 1, gate


def _recombine(name, gates, state, p):
    """The cell's new state from its reported gates and s_{t-1}, by its state equations."""
    if name in ("rnn_tanh", "rnn_relu", "irnn"):
        return None
    if len(state) == 2:                                # the LSTM family
        h_prev, c_prev = state
        f = gates.get("f", 1.0)
        i = 1 - f if name == "cifg_lstm" else gates.get("i", 1.0)
        c = f * c_prev + i * gates["g"]
        if name == "ln_lstm":
            out = torch.tanh(_layer_norm(c, p.gain_c, p.bias_c))
        else:
            out = c if name == "lstm_noaf" else torch.tanh(c)
        return gates.get("o", 1.0) * out, c
    (h_prev,) = state
    if name in ("gru", "ln_gru"):
        return ((1 - gates["z"]) * gates["n"] + gates["z"] * h_prev,)
    if name == "gru_cho":
        return ((1 - gates["z"]) * h_prev + gates["z"] * gates["n"],)
    return (gates["h_tilde"] * gates["z"] + h_prev * (1 - gates["z"]),)   # MUT1–3


@pytest.mark.parametrize("name", rnnkit.cell_names())
def test_gate_values_reproduce_the_step(name):
    cell, p, x, state = _setup(name)
    wx = cell.project(x.unsqueeze(0), p)[0]
    gates = cell.gate_values(wx, state, p)
    expected = _recombine(name, gates, state, p)
    if expected is None:
        assert gates == {}
        return
    for got, want in zip(cell.step(wx, state, p), expected):
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("name", rnnkit.cell_names())
def test_gate_values_leave_their_arguments_alone(name):
    cell, p, x, state = _setup(name)
    wx = cell.project(x.unsqueeze(0), p)[0]
    copies = wx.clone(), tuple(s.clone() for s in state)
    cell.gate_values(wx, state, p)
    torch.testing.assert_close(wx, copies[0], rtol=0, atol=0)
    for s, copy in zip(state, copies[1]):
        torch.testing.assert_close(s, copy, rtol=0, atol=0)


class StepOnlyCell(Cell):
    name, summary, gates = "step_only_gates", "h = tanh(Wx + b) ⊙ σ(W_hh h)", 1

    def step(self, wx: torch.Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return (wx.tanh() * (h_prev @ p.weight_hh.T).sigmoid(),)


def test_a_cell_without_gate_values_declares_it_and_says_so_by_name():
    cell = StepOnlyCell(2, 3)
    assert not cell.supports_gates
    with pytest.raises(TypeError, match="step_only_gates.*gate_values"):
        cell.gate_values(torch.zeros(1, 3), (torch.zeros(1, 3),), Params())
