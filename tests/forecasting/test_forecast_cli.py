"""`rnnkit train forecast`, `rnnkit eval` and `rnnkit forecast` end to end on a tiny series."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.tasks import forecasting

TINY = ["--horizon", "4", "--lookback", "8", "--hidden", "4", "--layers", "1", "--steps", "4", "--batch", "8",
        "--threads", "1"]


@pytest.fixture
def monthly_csv(tmp_path):
    t = np.arange(72)
    dates = pd.date_range("2018-01-01", periods=len(t), freq="MS")
    frame = pd.DataFrame({"month": dates.strftime("%Y-%m-%d"), "sales": 20 + np.sin(2 * np.pi * t / 12) + 0.05 * t,
                          "price": np.cos(t)})
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False)
    return path


def train(tmp_path, csv, *extra):
    out = tmp_path / "run"
    code = main(["train", "forecast", "--data", str(csv), "--time", "month", "--target", "sales", "--features",
                 "price", *TINY, "--out", str(out), *extra])
    assert code == 0
    return out


def test_forecast_writes_the_next_steps_continuing_the_monthly_frequency(tmp_path, monthly_csv, capsys):
    run = train(tmp_path, monthly_csv, "--quantiles", "0.1,0.5,0.9")
    out = tmp_path / "next.csv"
    assert main(["forecast", str(run), "--data", str(monthly_csv), "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame["month"]) == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    assert list(frame.columns) == ["month", "sales", "sales_q0.1", "sales_q0.5", "sales_q0.9"]
    assert (frame["sales_q0.1"] <= frame["sales_q0.5"]).all() and (frame["sales_q0.5"] <= frame["sales_q0.9"]).all()


def test_checkpoint_round_trips_and_forecasts_identically(tmp_path, monthly_csv):
    run = train(tmp_path, monthly_csv, "--model", "esrnn")
    task, model = forecasting.load_run(run)
    items = task.items("test")
    first = task.predict(model, items)
    again_task, again_model = forecasting.load_run(run)
    for (name, p), (_, q) in zip(model.state_dict().items(), again_model.state_dict().items()):
        torch.testing.assert_close(p, q, msg=name)
    np.testing.assert_array_equal(first, again_task.predict(again_model, items))
    from_file = forecasting.forecast_file(run, monthly_csv)
    np.testing.assert_array_equal(from_file["sales"].to_numpy(), forecasting.forecast_file(run)["sales"].to_numpy())


def test_eval_prints_the_model_beside_the_baselines(tmp_path, monthly_csv, capsys):
    run = train(tmp_path, monthly_csv, "--head", "seq2seq")
    capsys.readouterr()
    assert main(["eval", str(run), "--baselines", "naive,seasonal_naive"]) == 0
    printed = capsys.readouterr().out
    for name in ("model", "naive", "seasonal_naive", "MASE", "sMAPE", "RMSE"):
        assert name in printed
    saved = json.loads((run / "eval.json").read_text())
    assert set(saved["methods"]) == {"model", "naive", "seasonal_naive"}
    assert (run / "forecast.png").stat().st_size > 0


def test_bad_input_exits_2_naming_the_problem(tmp_path, monthly_csv, capsys):
    code = main(["train", "forecast", "--data", str(monthly_csv), "--time", "month", "--target", "revenue", *TINY,
                 "--out", str(tmp_path / "bad")])
    assert code == 2
    assert "rnnkit train forecast: error:" in capsys.readouterr().err
    code = main(["train", "forecast", "--dataset", "nile", "--horizon", "0", "--out", str(tmp_path / "zero")])
    assert code == 2
    assert "horizon must be a positive number of steps, got 0" in capsys.readouterr().err


def test_forecast_of_a_run_that_is_not_a_forecast_run_is_refused(tmp_path, capsys):
    assert main(["forecast", str(tmp_path / "nowhere")]) == 2
    assert "rnnkit forecast: error:" in capsys.readouterr().err


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["train", "forecast", "--help"])
    assert "rnnkit train forecast --dataset co2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    assert "rnnkit forecast runs/co2" in capsys.readouterr().out
