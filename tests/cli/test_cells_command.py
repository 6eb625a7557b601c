"""``rnnkit cells`` and ``rnnkit --version``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rnnkit
from rnnkit.cli.main import main


def test_cells_lists_every_registered_cell_with_its_summary(capsys):
    assert main(["cells"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == rnnkit.cell_names()
    for line, name in zip(lines, rnnkit.cell_names()):
        assert rnnkit.get_cell_class(name).summary in line


def test_cells_json_names_the_engines_that_run_each_cell(capsys):
    assert main(["cells", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "fused" in records["lstm"]["engines"]
    assert "fused" not in records["gru_cho"]["engines"]
    assert all("autograd" in r["engines"] for r in records.values())


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
