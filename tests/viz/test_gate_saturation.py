"""``rnnkit.viz.gates``: the fractions are the cell's own gate equations counted by hand, and the files agree."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch

from rnnkit.data import CorpusConfig
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import MODEL_FILE, CheckpointError, TrainConfig, save_weights
from rnnkit.viz import GateSaturationConfig, gate_saturation, plot_gate_saturation

TEXT = "".join(f"def f{i % 7}(x):\n    return x + {i % 10} * y\n" for i in range(120))


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "code.py"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def runs(text_file, tmp_path_factory):
    """A tiny two-layer run per cell, trained for 3 steps, then its weights scaled up; built on first use.

    Three steps leave every gate near 0.5; scaled up (embedding ×20, recurrent layer ×6) the gates
    saturate both ways, so the counts compared are not all zero.
    """
    root, built = tmp_path_factory.mktemp("runs"), {}

    def run(cell: str) -> Path:
        if cell not in built:
            built[cell] = root / cell
            lm.train(built[cell], CorpusConfig(path=str(text_file)), {"hidden_size": 8, "num_layers": 2, "cell": cell},
                     train_config=TrainConfig(steps=3, batch_size=2, seq_len=8, val_tokens=200))
            model, _, _ = lm.load_run(built[cell])
            with torch.no_grad():
                model.embedding.weight.mul_(20)
                for parameter in model.rnn.parameters():
                    parameter.mul_(6)
            save_weights(built[cell] / MODEL_FILE, model)
        return built[cell]

    return run


def _count(values: list[torch.Tensor]) -> tuple[list[float], list[float]]:
    """Per unit, the fraction of steps below 0.1 and above 0.9 of the gates σ(·) recorded at each step."""
    stacked = torch.stack(values)                                                   # (T, H)
    steps = stacked.size(0)
    return ((stacked < 0.1).sum(0).double() / steps).tolist(), ((stacked > 0.9).sum(0).double() / steps).tolist()


def _lstm_reference(model, tokens: torch.Tensor) -> dict[tuple[int, str], tuple[list[float], list[float]]]:
    """A hand-run LSTM stack over the embedded tokens: i, f, o = σ(W x_t + U h_{t-1} + b) at every step."""
    rnn, x = model.rnn, model.embedding(tokens)                                     # (T, E)
    expected = {}
    for layer in range(rnn.num_layers):
        w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
        bias = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
        h = c = torch.zeros(rnn.hidden_size)
        recorded, outputs = {"i": [], "f": [], "o": []}, []
        for x_t in x:
            i, f, g, o = (w_ih @ x_t + w_hh @ h + bias).chunk(4)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            for name, value in (("i", i), ("f", f), ("o", o)):
                recorded[name].append(value)
            outputs.append(h)
        expected |= {(layer, name): _count(values) for name, values in recorded.items()}
        x = torch.stack(outputs)
    return expected


def _gru_reference(model, tokens: torch.Tensor) -> dict[tuple[int, str], tuple[list[float], list[float]]]:
    """A hand-run GRU stack (PyTorch's form): r, z = σ(W x_t + b_i + U h_{t-1} + b_h), n after the product."""
    rnn, x = model.rnn, model.embedding(tokens)
    size, expected = rnn.hidden_size, {}
    for layer in range(rnn.num_layers):
        w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
        h = torch.zeros(size)
        recorded, outputs = {"r": [], "z": []}, []
        for x_t in x:
            wx, wh = w_ih @ x_t + b_ih, w_hh @ h + b_hh
            r, z = torch.sigmoid(wx[: 2 * size] + wh[: 2 * size]).chunk(2)
            n = torch.tanh(wx[2 * size :] + r * wh[2 * size :])
            h = (1 - z) * n + z * h
            recorded["r"].append(r)
            recorded["z"].append(z)
            outputs.append(h)
        expected |= {(layer, name): _count(values) for name, values in recorded.items()}
        x = torch.stack(outputs)
    return expected


@pytest.mark.parametrize("cell, reference, names", [
    ("lstm", _lstm_reference, ["i", "f", "o"]), ("gru", _gru_reference, ["r", "z"]),
])
def test_fractions_equal_a_hand_run_of_the_cell_equations(runs, text_file, cell, reference, names):
    run_dir = runs(cell)
    result = gate_saturation(GateSaturationConfig(str(run_dir), str(text_file), length=300))
    model, tokenizer, _ = lm.load_run(run_dir)
    tokens = torch.as_tensor(tokenizer.encode(TEXT)[:300])
    with torch.no_grad():
        expected = reference(model, tokens)
    assert result.cell == cell and result.steps == 300
    assert [(gate.layer, gate.gate) for gate in result.gates] == [(layer, name) for layer in (0, 1) for name in names]
    for gate in result.gates:
        left, right = expected[gate.layer, gate.gate]
        assert len(gate.left) == 8
        assert gate.left == pytest.approx(left, abs=1e-12)
        assert gate.right == pytest.approx(right, abs=1e-12)
    # Both kinds occur, in both layers (the scaled weights), or the comparison above proves little.
    for layer in (0, 1):
        assert any(gate.mean_left > 0 for gate in result.gates if gate.layer == layer)
        assert any(gate.mean_right > 0 for gate in result.gates if gate.layer == layer)
        assert any(0 < value < 1 for gate in result.gates if gate.layer == layer for value in gate.left + gate.right)


def test_a_text_shorter_than_length_is_read_whole(runs, text_file):
    result = gate_saturation(GateSaturationConfig(str(runs("lstm")), str(text_file), length=10**6))
    assert result.steps == len(TEXT)


def test_png_csv_and_json_hold_the_returned_numbers(runs, text_file, tmp_path):
    result = gate_saturation(GateSaturationConfig(str(runs("lstm")), str(text_file), length=200))
    plot_gate_saturation(result, tmp_path / "gates.png")
    assert (tmp_path / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert list(rows[0]) == ["layer", "gate", "unit", "left", "right"]
    expected = [(gate.layer, gate.gate, unit, left, right) for gate in result.gates
                for unit, (left, right) in enumerate(zip(gate.left, gate.right))]
    assert [(int(r["layer"]), r["gate"], int(r["unit"]), float(r["left"]), float(r["right"])) for r in rows] == expected
    record = json.loads(result.to_json())
    assert record["steps"] == 200 and record["cell"] == "lstm" and record["config"]["length"] == 200
    for saved, gate in zip(record["gates"], result.gates, strict=True):
        assert (saved["layer"], saved["gate"], saved["left"], saved["right"]) == (gate.layer, gate.gate, gate.left,
                                                                                  gate.right)
        assert saved["mean_left"] == gate.mean_left and saved["mean_right"] == gate.mean_right


def test_a_cell_without_gates_is_refused_naming_it(runs, text_file):
    with pytest.raises(ValueError, match="'rnn_tanh'"):
        gate_saturation(GateSaturationConfig(str(runs("rnn_tanh")), str(text_file)))


def test_a_text_of_fewer_than_two_tokens_is_refused(runs, tmp_path):
    (tmp_path / "one.txt").write_text("x")
    with pytest.raises(ValueError, match="at least 2"):
        gate_saturation(GateSaturationConfig(str(runs("lstm")), str(tmp_path / "one.txt")))


def test_a_directory_that_is_not_a_run_is_refused(text_file, tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        gate_saturation(GateSaturationConfig(str(tmp_path), str(text_file)))


def test_length_below_one_is_refused():
    with pytest.raises(ValueError, match="length"):
        GateSaturationConfig("runs/demo", "input.txt", length=0)
