"""The forecasting task: no leakage from validation or test into training, windows on the right rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.tasks.forecasting import ForecastData, ForecastTask
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.training import Shard, TrainConfig

SPIKE = 1e6


def write_series(tmp_path, values, name="series.csv", start="2015-01-01"):
    dates = pd.date_range(start, periods=len(values), freq="MS")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "y": values, "x": np.cos(np.arange(len(values)))})
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def make_task(tmp_path, values, kind="rnn", features=("x",), **data):
    path = write_series(tmp_path, values)
    settings = {"data": ForecastData(path=str(path), target=("y",), time="date", features=features,
                                     **({"horizon": 4, "lookback": 8} | data)),
                "model": ForecasterConfig(kind=kind, hidden_size=4, num_layers=1),
                "train": TrainConfig(steps=1, batch_size=4)}
    return ForecastTask(settings, tmp_path)


def seasonal(n):
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t


@pytest.mark.parametrize("kind", ["rnn", "esrnn"])
def test_training_never_sees_a_spike_planted_in_the_test_part(tmp_path, kind):
    values = seasonal(120)
    task = make_task(tmp_path, values, kind)
    values[task.split.val_end + 3] = SPIKE
    task = make_task(tmp_path, values, kind)
    # The scaler is the training rows' own.
    train_rows = values[: task.split.train_end]
    assert task.scaler.mean[0] == pytest.approx(train_rows.mean())
    assert task.scaler.scale[0] == pytest.approx(train_rows.std())
    batches = task.train_batches(Shard())
    for position in range(len(batches)):
        batch = batches.batch(position)
        assert batch["inputs"].abs().max() < 10 and batch["targets"].abs().max() < 10
        assert int(batch["origins"].max()) + 4 <= task.split.train_end
        if kind == "esrnn":
            assert batch["values"].shape[1] == task.split.train_end
            assert batch["values"].max() < 100 and batch["raw_targets"].max() < 100


def test_validation_windows_stop_before_the_test_part(tmp_path):
    task = make_task(tmp_path, seasonal(120))
    origins = [o for _, o in task.val_items]
    assert min(origins) == task.split.train_end and max(origins) + 4 == task.split.val_end
    test = [o for _, o in task.items("test")]
    assert min(test) == task.split.val_end and max(test) + 4 == len(task.series)


def test_windows_line_up_with_their_timestamps(tmp_path):
    values = np.arange(100, dtype=np.float64) + 1        # value = row + 1: a window's rows are readable
    task = make_task(tmp_path, values, features=())
    batch = task.batch([(0, 30)])
    scale, mean = task.scaler.scale[0], task.scaler.mean[0]
    # Relative windows: the last input value is the origin of both the inputs and the targets.
    anchor = batch["anchor"][0].double().numpy()
    assert batch["inputs"][0, -1, 0] == 0
    inputs = (batch["inputs"][0, :, 0].double().numpy() + anchor) * scale + mean
    targets = (batch["targets"][0].double().numpy() + anchor) * scale + mean
    np.testing.assert_allclose(inputs, np.arange(22, 30) + 1, rtol=1e-5)
    np.testing.assert_allclose(targets, np.arange(30, 34) + 1, rtol=1e-5)
    # Row 30 of a monthly series from January 2015 is July 2017: the first forecast step.
    assert task.series.index[30] == pd.Timestamp("2017-07-01")
    calendar = batch["known"][0, 0].double().numpy()
    np.testing.assert_allclose(calendar, [np.sin(2 * np.pi * 6 / 12), np.cos(2 * np.pi * 6 / 12)], atol=1e-6)


def test_esrnn_forecast_undoes_its_normalisation(tmp_path):
    task = make_task(tmp_path, seasonal(120), kind="esrnn")
    torch.manual_seed(0)
    model = task.build_model().eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()         # log-forecast 0: the forecast is level × season
    items = [(0, 60)]
    forecast = task.predict(model, items)[0, :, 0]
    values = torch.from_numpy(task.prepared.positive).float()
    with torch.no_grad():
        levels, seasons = model.smooth(values)
    expected = levels[0, 59] * seasons[0, 60 + torch.arange(4) % 12]
    np.testing.assert_allclose(forecast, expected.numpy() - task.shift[0], rtol=1e-5)


def test_non_positive_series_get_a_shift_for_esrnn(tmp_path):
    task = make_task(tmp_path, seasonal(120) - 10.5, kind="esrnn")
    assert task.shift[0] > 0
    assert (task.prepared.positive[:, : task.split.train_end] > 0).all()


def test_a_panel_forecasts_each_series_in_its_own_units(tmp_path):
    t = np.arange(80)
    dates = pd.date_range("2015-01-01", periods=len(t), freq="MS")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "a": seasonal(80), "b": 100 * seasonal(80) + t})
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    settings = {"data": ForecastData(path=str(path), target=("a", "b"), time="date", horizon=4, lookback=8),
                "model": ForecasterConfig(hidden_size=4, num_layers=1), "train": TrainConfig(steps=1)}
    task = ForecastTask(settings, tmp_path)
    assert {s for s, _ in task.train_items} == {0, 1}
    model = task.build_model().eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()          # no change from the last value: the naive forecast
    forecasts = task.predict(model, [(0, 50), (1, 50)])[..., 0]
    np.testing.assert_allclose(forecasts[0], np.full(4, frame["a"][49]), rtol=1e-5)
    np.testing.assert_allclose(forecasts[1], np.full(4, frame["b"][49]), rtol=1e-5)
    # ES-RNN keeps one level and one season coefficient per series.
    esrnn = ForecastTask(settings | {"model": ForecasterConfig(kind="esrnn", hidden_size=4, num_layers=1)},
                         tmp_path).build_model()
    assert esrnn.alpha.shape == esrnn.gamma.shape == (2,)
