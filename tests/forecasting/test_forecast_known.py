"""Known future covariates (``--known``): read over the horizon, scaled by the training part only,
and needed for the H rows after the data when forecasting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.cli.main import main
from rnnkit.forecasting.data import read_csv
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.tasks import forecasting
from rnnkit.tasks.forecasting import ForecastData, ForecastTask
from rnnkit.training import Shard, TrainConfig

HORIZON = 3
SPIKE = 1e6
TINY = ["--horizon", str(HORIZON), "--lookback", "6", "--hidden", "4", "--layers", "1", "--steps", "4", "--batch",
        "8", "--threads", "1"]


def driven(n: int, seed: int = 0) -> pd.DataFrame:
    """A daily series whose target is 3 × a random known column (a planned promotion) plus a little noise."""
    rng = np.random.default_rng(seed)
    promo = rng.normal(size=n)
    return pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                         "sales": 3 * promo + 0.05 * rng.normal(size=n), "promo": promo})


def write(tmp_path, frame: pd.DataFrame, name: str = "sales.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def with_future(frame: pd.DataFrame, rows: int, seed: int = 1) -> pd.DataFrame:
    """``frame`` and ``rows`` more days, the target empty and the promotion planned."""
    dates = pd.date_range(frame["date"].iloc[-1], periods=rows + 1, freq="D")[1:]
    promo = np.random.default_rng(seed).normal(size=rows)
    future = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "sales": [""] * rows, "promo": promo})
    return pd.concat([frame, future], ignore_index=True)


def train(tmp_path, csv, *extra, out="run"):
    run = tmp_path / out
    assert main(["train", "forecast", "--data", str(csv), "--time", "date", "--target", "sales", *TINY,
                 "--out", str(run), *extra]) == 0
    return run


@pytest.mark.parametrize("head", ["direct", "seq2seq"])
def test_a_known_covariate_that_drives_the_target_makes_the_forecast_far_better(tmp_path, head):
    csv = write(tmp_path, driven(240))
    settings = ["--head", head, "--hidden", "16", "--steps", "150", "--batch", "32", "--lr", "0.02"]
    scores = {}
    for name, known in (("with", ["--known", "promo"]), ("without", [])):
        run = train(tmp_path, csv, *settings, *known, out=name)
        task, model = forecasting.load_run(run)
        scores[name] = forecasting.evaluate(task, model, methods=())["methods"]["model"]["mase"]
    assert scores["with"] < 0.4 * scores["without"], scores


def test_a_spike_in_the_test_part_of_a_known_column_never_reaches_training(tmp_path):
    frame = driven(120)
    data = dict(target=("sales",), time="date", known=("promo",), horizon=HORIZON, lookback=6)
    settings = {"model": ForecasterConfig(hidden_size=4, num_layers=1), "train": TrainConfig(steps=1, batch_size=4)}
    task = ForecastTask(settings | {"data": ForecastData(path=str(write(tmp_path, frame)), **data)}, tmp_path)
    frame.loc[task.split.val_end + 2, "promo"] = SPIKE
    task = ForecastTask(settings | {"data": ForecastData(path=str(write(tmp_path, frame)), **data)}, tmp_path)
    train_rows = frame["promo"].to_numpy()[: task.split.train_end]
    assert task.scaler.mean[-1] == pytest.approx(train_rows.mean())
    assert task.scaler.scale[-1] == pytest.approx(train_rows.std())
    batches = task.train_batches(Shard())
    for position in range(len(batches)):
        batch = batches.batch(position)
        assert batch["inputs"].abs().max() < 10 and batch["known"].abs().max() < 10
    # The test windows do read it: known values are the horizon's own.
    spiked = task.batch([(0, task.split.val_end)])
    assert spiked["known"][0, 2, 0] > 1e4


def test_known_values_over_the_horizon_line_up_with_their_rows(tmp_path):
    frame = driven(80)
    settings = {"data": ForecastData(path=str(write(tmp_path, frame)), target=("sales",), time="date",
                                     known=("promo",), horizon=HORIZON, lookback=6),
                "model": ForecasterConfig(hidden_size=4, num_layers=1), "train": TrainConfig(steps=1)}
    task = ForecastTask(settings, tmp_path)
    batch = task.batch([(0, 30)])
    mean, scale = task.scaler.mean[-1], task.scaler.scale[-1]
    promo = frame["promo"].to_numpy()
    np.testing.assert_allclose(batch["known"][0, :, 0].double().numpy() * scale + mean, promo[30:33], rtol=1e-5)
    np.testing.assert_allclose(batch["inputs"][0, :, 1].double().numpy() * scale + mean, promo[24:30], rtol=1e-5)
    assert batch["known"].shape[-1] == 1 + task.prepared.calendar.shape[1]


def test_forecast_reads_the_future_rows_of_the_known_columns(tmp_path):
    history = driven(90)
    run = train(tmp_path, write(tmp_path, history), "--known", "promo")
    assert forecasting.load_run(run)[0].settings["data"].known == ("promo",)
    forecasts = []
    for seed in (1, 2):
        future = write(tmp_path, with_future(history, HORIZON, seed), f"future{seed}.csv")
        out = tmp_path / f"next{seed}.csv"
        assert main(["forecast", str(run), "--data", str(future), "--out", str(out)]) == 0
        frame = pd.read_csv(out)
        assert list(frame["date"]) == ["2020-03-31", "2020-04-01", "2020-04-02"]
        forecasts.append(frame["sales"].to_numpy())
    # Other planned promotions, another forecast: the future rows are read.
    assert not np.allclose(forecasts[0], forecasts[1])


def test_forecast_refuses_missing_partial_or_non_numeric_future_rows(tmp_path, capsys):
    history = driven(90)
    run = train(tmp_path, write(tmp_path, history), "--known", "promo")
    capsys.readouterr()
    assert main(["forecast", str(run)]) == 2
    assert "known column(s) promo need their values for the 3 steps" in capsys.readouterr().err
    short = write(tmp_path, with_future(history, HORIZON - 1), "short.csv")
    assert main(["forecast", str(run), "--data", str(short)]) == 2
    error = capsys.readouterr().err
    assert "only 2 row(s) follow it" in error and "2020-04-02" in error
    partial = with_future(history, HORIZON).astype({"promo": object})
    partial.loc[91, "promo"] = ""
    assert main(["forecast", str(run), "--data", str(write(tmp_path, partial, "partial.csv"))]) == 2
    assert "line 93: known column 'promo' is empty at 2020-04-01" in capsys.readouterr().err
    partial.loc[91, "promo"] = "soon"
    assert main(["forecast", str(run), "--data", str(write(tmp_path, partial, "text.csv"))]) == 2
    assert "line 93: column 'promo' holds 'soon', not a number" in capsys.readouterr().err


def test_the_future_rows_are_kept_apart_from_the_series(tmp_path):
    series = read_csv(write(tmp_path, with_future(driven(20), HORIZON)), ["sales"], "date", known=["promo"])
    assert len(series) == 20 and series.future.shape == (HORIZON, 1)
    assert series.values.shape == (20, 2)


def test_a_known_column_that_does_not_exist_is_named(tmp_path, capsys):
    code = main(["train", "forecast", "--data", str(write(tmp_path, driven(60))), "--time", "date", "--target",
                 "sales", "--known", "holiday", *TINY, "--out", str(tmp_path / "bad")])
    assert code == 2
    assert "no column 'holiday'" in capsys.readouterr().err


def test_esrnn_refuses_known_columns(tmp_path, capsys):
    code = main(["train", "forecast", "--data", str(write(tmp_path, driven(60))), "--time", "date", "--target",
                 "sales", "--known", "promo", "--model", "esrnn", *TINY, "--out", str(tmp_path / "bad")])
    assert code == 2
    assert "--known needs --model rnn" in capsys.readouterr().err


def test_a_training_file_may_hold_the_future_rows_already(tmp_path):
    csv = write(tmp_path, with_future(driven(90), HORIZON))
    run = train(tmp_path, csv, "--known", "promo")
    task, _ = forecasting.load_run(run)
    assert len(task.series) == 90
    own, again = forecasting.forecast_file(run), forecasting.forecast_file(run, csv)
    np.testing.assert_array_equal(own["sales"].to_numpy(), again["sales"].to_numpy())
    assert len(own) == HORIZON
