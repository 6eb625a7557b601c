"""``rnnkit compare``: a tiny grid runs end to end and writes its table and plots, resumes without retraining
what finished (also after a kill), takes a user's own cell, and refuses a grid it cannot run."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.cells import Cell, Params, State
from rnnkit.cli.main import main
from rnnkit.compare import NOTES_TABLE, CompareConfig, CompareError, compare, entries_for, write_report

TINY = {"arith": {"data": {"max_digits": 1, "val_size": 20}}, "adding": {"data": {"length": 5, "val_size": 20}}}


def tiny(out: Path, cells=("rnn_tanh", "lstm_b"), **changes) -> CompareConfig:
    return CompareConfig(**({"cells": cells, "tasks": ("arith", "adding"), "steps": 3, "seeds": 2, "trials": 1,
                             "hidden_size": 4, "batch_size": 4, "out": str(out), "task_settings": TINY} | changes))


class GatedTanh(Cell):
    """h_t = tanh(W x_t + b) ⊙ σ(W_hh h_{t-1}): a user's cell, defined only here."""

    name = "test_compare_gated_tanh"
    summary = "h = tanh(Wx + b) ⊙ σ(W_hh h)"

    def step(self, wx: torch.Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return (wx.tanh() * (h_prev @ p.weight_hh.T).sigmoid(),)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    return compare(tiny(out), progress=False), out


def test_a_tiny_grid_runs_end_to_end_and_writes_the_table_and_plots(grid):
    comparison, out = grid
    assert comparison.trained == 2 * 2 * 2 and comparison.reused == 0
    paths = write_report(comparison)
    assert [p.name for p in paths] == ["table.md", "table.csv", "bars.png", "curves.png"]
    assert all(p.stat().st_size > 100 for p in paths)
    rows = list(csv.DictReader(io.StringIO(paths[1].read_text())))
    assert sorted((r["cell"], r["task"]) for r in rows) == [("lstm_b", "adding"), ("lstm_b", "arith"),
                                                             ("rnn_tanh", "adding"), ("rnn_tanh", "arith")]
    for row in rows:
        values = [float(v) for v in row["values"].split()]
        assert len(values) == 2 and float(row["mean"]) == pytest.approx(sum(values) / 2)
    table = paths[0].read_text()
    assert f"{NOTES_TABLE['lstm_b'][1]:.3f} (LSTM-b)" in table and "seed noise" in table
    # lstm_b is the LSTM started with forget-gate bias 1.
    run_dir = Path(comparison.result("lstm_b", "adding").metrics_files[0]).parent
    model = json.loads((run_dir / "config.json").read_text())["model"]
    assert (model["cell"], model["forget_bias"]) == ("lstm", 1.0)


def test_the_best_trial_is_the_best_mean_over_seeds(grid):
    comparison, out = grid
    import optuna

    study = optuna.load_study(study_name="rnn_tanh/adding", storage=f"sqlite:///{out / 'study.db'}")
    means = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(means) >= 1
    assert comparison.result("rnn_tanh", "adding").mean == pytest.approx(min(means))   # mse: lower is better


def test_running_the_grid_again_retrains_nothing(grid):
    _, out = grid
    again = compare(tiny(out), progress=False)
    assert again.trained == 0 and again.reused == 0      # every trial complete: no run is even read
    more = compare(tiny(out, trials=2), progress=False)  # one more trial per cell and task, nothing else
    assert more.trained == 4 * 2


def test_a_grid_resumed_with_another_budget_or_size_is_refused_not_read_back(grid):
    _, out = grid
    for changes, named in (({"steps": 4}, "steps 3 there, 4 now"), ({"seeds": 3}, "seeds"),
                           ({"hidden_size": 8}, "hidden_size"),
                           ({"task_settings": TINY | {"adding": {"data": {"length": 6}}}}, "task_settings")):
        with pytest.raises(CompareError, match=named):
            compare(tiny(out, **changes), progress=False)
    assert compare(tiny(out, cells=("rnn_tanh",)), progress=False).trained == 0    # fewer cells: fine


@pytest.mark.slow
def test_a_killed_grid_restarts_without_retraining_finished_runs(tmp_path):
    out = tmp_path / "killed"
    script = (f"import torch; torch.set_num_threads(1)\nfrom rnnkit.compare import *\n"
              f"compare(CompareConfig(cells=('rnn_tanh', 'lstm'), tasks=('adding',), steps=20, seeds=2, trials=2, "
              f"hidden_size=4, batch_size=4, out={str(out)!r}, task_settings={TINY!r}), progress=False)\n")
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ | {"OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(out.glob("runs/*/*/*/result.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p: p.read_text() for p in out.glob("runs/*/*/*/result.json")}
    assert 2 <= len(finished) < 8, process.stderr.read().decode()[-2000:]
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    resumed = compare(CompareConfig(cells=("rnn_tanh", "lstm"), tasks=("adding",), steps=20, seeds=2, trials=2,
                                    hidden_size=4, batch_size=4, out=str(out), task_settings=TINY), progress=False)
    for path, text in finished.items():                  # never rewritten
        assert path.read_text() == text and path.stat().st_mtime_ns == stamps[path]
    assert resumed.trained + len(finished) >= 8 - 1      # what remained was trained (a cut trial may be redrawn)
    assert all(len(r.values) == 2 for r in resumed.results)


def _study(out: Path, name: str):
    import optuna
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")


def test_a_trial_failed_by_a_kill_is_asked_again_with_its_parameters_once(tmp_path):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    one = dict(cells=("rnn_tanh",), tasks=("adding",), seeds=1)
    compare(tiny(tmp_path, trials=1, **one), progress=False)
    params = {"lr": 0.01, "init_scale": 1.0, "dropout": 0.1}
    distributions = {"lr": FloatDistribution(3e-4, 3e-2, log=True),
                     "init_scale": FloatDistribution(0.5, 2.0, log=True),
                     "dropout": CategoricalDistribution([0.0, 0.1, 0.2])}
    # What the heartbeat leaves of a trial whose process was killed: failed, with its parameters.
    _study(tmp_path, "rnn_tanh/adding").add_trial(optuna.trial.create_trial(
        params=params, distributions=distributions, state=optuna.trial.TrialState.FAIL))
    resumed = compare(tiny(tmp_path, trials=2, **one), progress=False)
    complete = [t for t in _study(tmp_path, "rnn_tanh/adding").trials if t.state.name == "COMPLETE"]
    assert resumed.trained == 1 and [t.params for t in complete][1] == params
    again = compare(tiny(tmp_path, trials=2, **one), progress=False)      # asked once, not at every restart
    assert again.trained == 0 and len(_study(tmp_path, "rnn_tanh/adding").trials) == 3


def test_a_users_own_cell_runs_in_the_harness(tmp_path):
    comparison = compare(tiny(tmp_path, cells=(GatedTanh, "rnn_tanh"), tasks=("adding",), seeds=1, trials=1),
                         progress=False)
    assert [r.entry for r in comparison.results] == ["test_compare_gated_tanh", "rnn_tanh"]
    assert "one seed" in comparison.verdicts()[0]


def test_the_continual_arith_trains_arith_with_several_problems_beside_the_notes_arith(tmp_path):
    settings = TINY | {"arith-stream": {"data": {"max_digits": 1, "problems": 3, "val_size": 20}}}
    comparison = compare(tiny(tmp_path, cells=("lstm",), tasks=("arith", "arith-stream"), seeds=1,
                              task_settings=settings), progress=False)
    run_dir = Path(comparison.result("lstm", "arith-stream").metrics_files[0]).parent
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "arith" and config["data"]["problems"] == 3
    assert comparison.result("lstm", "arith-stream").metric == "accuracy"
    table = comparison.to_markdown()
    assert table.splitlines()[0].count("notes: Arith") == 1 and "arith-stream" in table


@pytest.mark.parametrize("changes, match", [
    ({"cells": ("lstm", "nope")}, "unknown cell 'nope'"),
    ({"cells": ()}, "grid is empty"),
    ({"tasks": ("sorting",)}, "unknown task 'sorting'"),
    ({"tasks": ()}, "grid is empty"),
    ({"steps": 0}, "budget must be positive"),
    ({"steps": None, "minutes": 0.0}, "budget must be positive"),
    ({"steps": None}, "give a budget"),
    ({"cells": ("lstm", "lstm")}, "named twice"),
])
def test_a_grid_that_cannot_run_is_refused_clearly(changes, match, tmp_path):
    with pytest.raises(CompareError, match=match):
        entries_for(tiny(tmp_path, **changes).cells)
        compare(tiny(tmp_path, **changes), progress=False)


def test_the_command_prints_the_table_and_refuses_bad_input(tmp_path, capsys):
    assert main(["compare", "--cells", "rnn_tanh", "--tasks", "adding", "--steps", "2", "--seeds", "1", "--trials",
                 "1", "--hidden", "4", "--batch", "4", "--out", str(tmp_path / "c"), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "| rnn_tanh |" in captured.out and "runs trained" in captured.err
    assert main(["compare", "--cells", "lstm,no_such_module:Cell", "--steps", "2"]) == 2
    assert "cannot load cell" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--budget", "soon"])
