"""``rnnkit cells``, the engine errors it helps answer, and ``rnnkit --version``."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import rnnkit
from rnnkit import engines
from rnnkit.cells import Cell
from rnnkit.cli.main import main


class StepOnlyCell(Cell):
    """A user cell with only its step: it runs on autograd (and auto), not on bptt or fused."""

    name, summary, gates = "step_only", "h = tanh(Wx + b)", 1

    def step(self, wx, state, p):
        return (wx.tanh(),)


def test_cells_lists_every_registered_cell_with_its_summary(capsys):
    assert main(["cells"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == rnnkit.cell_names()
    for row, name in zip(rows, rnnkit.cell_names()):
        assert rnnkit.get_cell_class(name).summary in row


def test_cells_table_opens_with_a_header_over_its_columns(capsys):
    assert main(["cells", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert main(["cells"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["cell", "engines", "equations"]
    engines_at, equations_at = header.index("engines"), header.index("equations")
    for row, record in zip(rows, records, strict=True):
        assert row[:engines_at].rstrip() == record["name"]
        assert row[engines_at:equations_at].rstrip() == ",".join(record["engines"])
        assert row[equations_at:] == record["summary"]


def test_cells_json_names_the_engines_that_run_each_cell(capsys):
    assert main(["cells", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "fused" in records["lstm"]["engines"]
    assert "fused" not in records["gru_cho"]["engines"]
    assert all("autograd" in r["engines"] for r in records.values())


@pytest.mark.parametrize(("engine", "cell"), [
    ("fused", rnnkit.get_cell_class("gru_cho")(3, 5)),
    ("fused", StepOnlyCell(3, 5)),
    ("bptt", StepOnlyCell(3, 5)),
    ("bptt-recompute", StepOnlyCell(3, 5)),
], ids=["fused-gru_cho", "fused-step_only", "bptt-step_only", "bptt-recompute-step_only"])
def test_an_engine_that_cannot_run_a_cell_names_those_that_can(engine, cell):
    assert not engines.can_run(engine, cell)
    capable = ["auto", *(e for e in engines.engine_names()[1:] if engines.can_run(e, cell))]
    with pytest.raises(ValueError) as error:
        engines.check_engine(engine, cell)
    message = str(error.value)
    assert message.startswith(f"engine={engine!r}") and f"cell {cell.name!r}" in message
    named = set(re.findall(r"'([a-z-]+)'", message.split(" runs on ")[-1]))
    assert named == set(capable)


def test_console_script_prints_its_version():
    result = subprocess.run([sys.executable, "-m", "rnnkit.cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"rnnkit {rnnkit.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: rnnkit" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["cells", "--help"])
    assert "examples:" in capsys.readouterr().out
