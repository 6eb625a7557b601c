"""Baselines and metrics against values computed by hand on tiny series."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.forecasting import baselines
from rnnkit.forecasting.metrics import mase, smape


def test_naive_repeats_the_last_value():
    np.testing.assert_array_equal(baselines.naive(np.array([3.0, 1.0, 4.0]), 3), [4.0, 4.0, 4.0])


def test_seasonal_naive_repeats_the_last_season():
    history = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    # Period 3: the last season is 10, 20, 30; five steps ahead wrap round to it again.
    np.testing.assert_array_equal(baselines.seasonal_naive(history, 5, 3), [10.0, 20.0, 30.0, 10.0, 20.0])


def test_mase_by_hand():
    insample = np.array([1.0, 3.0, 2.0, 5.0])          # naive errors 2, 1, 3: mean 2
    truth, forecast = np.array([4.0, 6.0]), np.array([5.0, 3.0])    # absolute errors 1, 3: mean 2
    assert mase(truth, forecast, insample, period=1) == pytest.approx(2 / 2)
    # Period 2: seasonal errors |2-1|, |5-3| → mean 1.5.
    assert mase(truth, forecast, insample, period=2) == pytest.approx(2 / 1.5)


def test_smape_by_hand():
    truth, forecast = np.array([100.0, 0.0, 50.0]), np.array([110.0, 0.0, 25.0])
    expected = 200 / 3 * (10 / 210 + 0 + 25 / 75)
    assert smape(truth, forecast) == pytest.approx(expected)


def test_mase_of_a_constant_insample_series_is_an_error():
    with pytest.raises(ValueError, match="constant"):
        mase(np.ones(2), np.ones(2), np.ones(5))


def test_kalman_local_level_one_step_forecast_by_hand():
    y = np.array([1.0, 2.0, 1.5, 3.0, 2.5])
    noise, level_noise = 0.5, 0.2                     # σ²_ε, σ²_η
    # Exact diffuse start: after y_1 the level is estimated as y_1, with error variance σ²_ε (the
    # observation's noise), so the next step's prediction has variance P_2 = σ²_ε + σ²_η.
    a, p = y[0], noise + level_noise
    for value in y[1:]:
        gain = p / (p + noise)
        a = a + gain * (value - a)
        p = p * (1 - gain) + level_noise
    fitted = baselines.fit_kalman(y, period=1, params=np.array([noise, level_noise]))
    assert fitted.forecast(y, 1)[0] == pytest.approx(a)


def test_detect_period_finds_a_hidden_cycle():
    t = np.arange(120)
    values = np.sin(2 * np.pi * t / 7) + 0.01 * np.cos(t)
    assert baselines.detect_period(values) == 7
    assert baselines.detect_period(values, frequency_period=12) == 12
    assert baselines.detect_period(values, given=5) == 5


@pytest.mark.parametrize("name", baselines.BASELINES)
def test_every_baseline_forecasts_a_seasonal_series(name):
    t = np.arange(48)
    values = 10 + 0.1 * t + np.sin(2 * np.pi * t / 4) + 0.05 * np.random.default_rng(0).standard_normal(48)
    fitted = baselines.fit(name, values[:40], period=4)
    forecasts = baselines.rolling_forecasts(fitted, values, [40, 44], 4)
    assert forecasts.shape == (2, 4)
    # Every baseline beats a forecast of zeros by far on a series around 10–15.
    assert np.abs(forecasts - np.stack([values[40:44], values[44:48]])).mean() < 2
