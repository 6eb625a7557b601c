"""``rnnkit viz gradients``: the three files, the table, and its argument errors."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli.main import main


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
    assert (tmp_path / "out" / "flow.csv").read_text().startswith("cell,t,steps_back,grad_h,grad_c\n")
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


def test_viz_without_a_diagnostic_prints_help_and_fails(capsys):
    assert main(["viz"]) == 2
    assert "gradients" in capsys.readouterr().err
