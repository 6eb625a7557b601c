"""``rnnkit viz gradients`` and ``rnnkit viz gates``: the three files, the table, and their argument errors."""

from __future__ import annotations

import csv
import json

import pytest

from rnnkit.cli.main import main
from rnnkit.data import CorpusConfig
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import TrainConfig


def test_viz_gradients_writes_png_csv_json_and_prints_the_table(tmp_path, capsys):
    prefix = tmp_path / "out" / "flow"
    assert main(["viz", "gradients", "--cells", "rnn_tanh,lstm", "--steps", "5", "--hidden", "4", "--batch", "2",
                 "--forget-bias", "2", "--out", str(prefix)]) == 0
    captured = capsys.readouterr()
    header, *rows = captured.out.splitlines()
    assert header.split()[0] == "cell" and [row.split()[0] for row in rows] == ["rnn_tanh", "lstm"]
    record = json.loads((tmp_path / "out" / "flow.json").read_text())
    assert record["config"]["forget_bias"] == 2.0
    for row, cell in zip(rows, record["cells"]):
        sigma, grad_last, grad_first, ratio = map(float, row.split()[1:])
        assert sigma == pytest.approx(max(cell["sigma_max"]), abs=5e-4)
        assert grad_first == pytest.approx(cell["grad_h"][0], rel=1e-3)
        assert grad_last == pytest.approx(cell["grad_h"][-1], rel=1e-3)
    assert (tmp_path / "out" / "flow.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "flow.csv").read_text().startswith("cell,t,steps_back,grad_h,grad_c,jacobian\n")
    for suffix in (".png", ".csv", ".json"):
        assert f"flow{suffix}" in captured.err


@pytest.mark.parametrize("flags, named", [
    (["--cells", "rnn_tanh,nope"], "--cells"), (["--steps", "1"], "--steps"), (["--hidden", "0"], "--hidden"),
    (["--scale-whh", "0"], "--scale-whh"), (["--scale-whh", "-2"], "--scale-whh"),
])
def test_viz_gradients_refuses_bad_arguments_naming_the_flag(flags, named, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["viz", "gradients", *flags])
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_viz_help_lists_gradients_with_examples(capsys):
    for argv in (["viz", "--help"], ["viz", "gradients", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "gradients" in out and "examples:" in out


@pytest.fixture(scope="module")
def gate_runs(tmp_path_factory):
    """The text, and a tiny two-layer LSTM and rnn_tanh language model trained on it for 3 steps."""
    root = tmp_path_factory.mktemp("gates")
    text = root / "text.txt"
    text.write_text("".join(f"def f{i % 7}(x):\n    return x + {i % 10}\n" for i in range(100)))
    for cell in ("lstm", "rnn_tanh"):
        lm.train(root / cell, CorpusConfig(path=str(text)), {"hidden_size": 8, "num_layers": 2, "cell": cell},
                 train_config=TrainConfig(steps=3, batch_size=2, seq_len=8, val_tokens=200))
    return root, text


def test_viz_gates_writes_png_csv_json_and_prints_the_means(gate_runs, tmp_path, capsys):
    root, text = gate_runs
    prefix = tmp_path / "out" / "gates"
    assert main(["viz", "gates", str(root / "lstm"), "--text", str(text), "--length", "150",
                 "--out", str(prefix)]) == 0
    captured = capsys.readouterr()
    header, *rows = captured.out.splitlines()
    assert header.split()[:3] == ["layer", "gate", "units"]
    record = json.loads((tmp_path / "out" / "gates.json").read_text())
    assert record["steps"] == 150 and record["cell"] == "lstm"
    assert [(row.split()[0], row.split()[1]) for row in rows] == [(str(g["layer"]), g["gate"])
                                                                    for g in record["gates"]]
    for row, gate in zip(rows, record["gates"]):
        units, left, right = row.split()[2:]
        assert int(units) == len(gate["left"]) == 8
        assert float(left) == pytest.approx(gate["mean_left"], abs=5e-4)
        assert float(right) == pytest.approx(gate["mean_right"], abs=5e-4)
    with open(tmp_path / "out" / "gates.csv", newline="") as table:
        saved = list(csv.DictReader(table))
    assert len(saved) == 2 * 3 * 8
    assert [float(r["left"]) for r in saved] == [value for g in record["gates"] for value in g["left"]]
    assert (tmp_path / "out" / "gates.png").read_bytes()[:4] == b"\x89PNG"
    for suffix in (".png", ".csv", ".json"):
        assert f"gates{suffix}" in captured.err


def test_viz_gates_refuses_a_cell_without_gates_naming_it(gate_runs, tmp_path, capsys):
    root, text = gate_runs
    assert main(["viz", "gates", str(root / "rnn_tanh"), "--text", str(text), "--out", str(tmp_path / "g")]) == 2
    assert "'rnn_tanh'" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("case, message", [
    ("not a run", "not a run directory"), ("one token", "at least 2"), ("no text", "does not exist"),
])
def test_viz_gates_refuses_bad_inputs_with_a_clear_error(gate_runs, tmp_path, capsys, case, message):
    root, text = gate_runs
    (tmp_path / "one.txt").write_text("x")
    run_dir, text_path = {"not a run": (tmp_path, text), "one token": (root / "lstm", tmp_path / "one.txt"),
                          "no text": (root / "lstm", tmp_path / "missing.txt")}[case]
    assert main(["viz", "gates", str(run_dir), "--text", str(text_path), "--out", str(tmp_path / "g")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("length", ["0", "-3", "many"])
def test_viz_gates_refuses_a_length_below_one_naming_the_flag(gate_runs, length, capsys):
    root, text = gate_runs
    with pytest.raises(SystemExit) as exit_info:
        main(["viz", "gates", str(root / "lstm"), "--text", str(text), "--length", length])
    assert exit_info.value.code == 2
    assert "--length" in capsys.readouterr().err


def test_viz_gates_help_has_examples_and_names_the_gates(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["viz", "gates", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--text" in out and "i, f," in out


def test_viz_without_a_diagnostic_prints_help_and_fails(capsys):
    assert main(["viz"]) == 2
    err = capsys.readouterr().err
    assert "gradients" in err and "gates" in err
