"""The classical forecasts a recurrent forecaster is judged against, fitted on the training part.

Each baseline is fitted once on the training part of a series (``fit(train)``) and then, at every
rolling origin, forecasts the next H values from the history up to that origin without refitting
its parameters (``forecast(history, horizon)``): it sees exactly what the recurrent model sees.

- ``naive``: ŷ_{n+h} = y_n.
- ``seasonal_naive``: ŷ_{n+h} = y_{n+h−m⌈h/m⌉}, the last season repeated (period m detected or given).
- ``ets``: exponential smoothing in state-space form (Hyndman et al. 2008), additive errors, the
  trend (none, linear, damped) and the season chosen by AIC; statsmodels' ``ExponentialSmoothing``.
- ``arima``: (seasonal) ARIMA with automatic order selection, bounded: d by repeated KPSS tests,
  D by the seasonal strength of an STL decomposition (Wang, Smith and Hyndman 2006: > 0.64),
  then p, q ∈ {0, 1, 2} (seasonal P = 0, Q = 1 when D or the season is strong) by AIC.
- ``theta``: the Theta method of Assimakopoulos and Nikolopoulos 2000 (the M3 winner), as
  statsmodels' ``ThetaModel`` (SES with drift, deseasonalised when there is a season); being
  cheap, refitted at each origin.
- ``kalman``: the linear dynamical system of the notes, a local-level state-space model
  (plus a stochastic season) whose states the Kalman filter tracks:

      y_t = μ_t + γ_t + ε_t,  ε_t ~ N(0, σ²_ε);   μ_{t+1} = μ_t + η_t,  η_t ~ N(0, σ²_η)

  fitted by maximum likelihood (statsmodels' ``UnobservedComponents``). Its one-step forecast is the
  filtered level: a_{t+1} = a_t + K_t (y_t − a_t), K_t = P_t / (P_t + σ²_ε), P_{t+1} = P_t (1 − K_t) + σ²_η.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BASELINES = ("naive", "seasonal_naive", "ets", "arima", "theta", "kalman")


@contextmanager
def _quiet():
    """statsmodels warns about convergence and frequencies at length; a baseline's result is what counts.
    Its many tiny matrix products run on one BLAS thread: threads of a multi-threaded BLAS waiting for
    each other on a busy machine made a small ARIMA fit thirty times slower."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(1):
        warnings.simplefilter("ignore")
        yield


def detect_period(values: np.ndarray, frequency_period: int = 1, given: int | None = None,
                  max_lag: int | None = None) -> int:
    """The seasonal period: ``given``; else the frequency's (12 monthly, 4 quarterly, …) when above 1;
    else the lag of the highest autocorrelation peak above 0.3 (2 ≤ lag ≤ n/3), else 1."""
    if given is not None:
        if given < 1:
            raise ValueError(f"period must be a positive integer, got {given}")
        return given
    if frequency_period > 1:
        return frequency_period
    from statsmodels.tsa.stattools import acf

    values = np.asarray(values, dtype=np.float64)
    max_lag = max_lag or len(values) // 3
    if max_lag < 3 or np.std(values) == 0:
        return 1
    with _quiet():
        r = acf(values, nlags=max_lag, fft=True)
    peaks = [lag for lag in range(2, max_lag) if r[lag] > r[lag - 1] and r[lag] >= r[lag + 1] and r[lag] > 0.3]
    return max(peaks, key=lambda lag: r[lag]) if peaks else 1


@dataclass
class Baseline:
    """A fitted baseline: ``forecast(history, horizon)`` from the history up to an origin."""

    name: str
    period: int
    predict: Callable[[np.ndarray, int], np.ndarray]
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        with _quiet():
            return np.asarray(self.predict(np.asarray(history, dtype=np.float64), horizon), dtype=np.float64)


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    return np.full(horizon, history[-1], dtype=np.float64)


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    if len(history) < period:
        raise ValueError(f"seasonal naive needs a full season of history ({period} values), got {len(history)}")
    steps = np.arange(horizon)
    return history[len(history) - period + steps % period].astype(np.float64)


def fit(name: str, train: np.ndarray, period: int) -> Baseline:
    """Baseline ``name`` (one of ``BASELINES``) fitted on ``train`` with seasonal period ``period``."""
    train = np.asarray(train, dtype=np.float64)
    if name == "naive":
        return Baseline(name, period, naive, "last value")
    if name == "seasonal_naive":
        return Baseline(name, period, lambda h, n: seasonal_naive(h, n, period), f"period {period}")
    if name not in FITTERS:
        raise ValueError(f"unknown baseline {name!r}; choose from: {', '.join(BASELINES)}")
    with _quiet():
        return FITTERS[name](train, period)


def _seasonal(train: np.ndarray, period: int) -> bool:
    """Whether a season of ``period`` is worth modelling: two full seasons at least."""
    return period > 1 and len(train) >= 2 * period + 2


def _state_space(name: str, period: int, results: Any, description: str) -> Baseline:
    """A fitted statsmodels state-space model, filtered (not refitted) over each origin's history."""

    def predict(history: np.ndarray, horizon: int) -> np.ndarray:
        return results.apply(history).forecast(horizon)

    return Baseline(name, period, predict, description, {"aic": float(results.aic)})


def fit_ets(train: np.ndarray, period: int) -> Baseline:
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing

    seasons = [period, None] if _seasonal(train, period) else [None]
    best = None
    for seasonal in seasons:
        for trend, damped in ((False, False), (True, False), (True, True)):
            try:
                results = ExponentialSmoothing(train, trend=trend, damped_trend=damped, seasonal=seasonal).fit(
                    disp=False, maxiter=200)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(results.aic) and (best is None or results.aic < best[0].aic):
                best = (results, f"trend {'damped' if damped else 'linear' if trend else 'none'}, "
                                 f"season {seasonal or 'none'}")
    if best is None:
        raise ValueError("no exponential-smoothing model could be fitted to the training part")
    return _state_space("ets", period, *best)


def fit_arima(train: np.ndarray, period: int) -> Baseline:
    from statsmodels.tsa.arima.model import ARIMA

    seasonal = _seasonal(train, period) and _seasonal_strength(train, period) > 0.64
    big_d = 1 if seasonal else 0
    differenced = train[period:] - train[:-period] if big_d else train
    d = _differences(differenced)
    seasonal_order = (0, big_d, 1, period) if seasonal else (0, 0, 0, 0)
    trend = "c" if d + big_d == 0 else "n"
    best = None
    for p in range(3):
        for q in range(3):
            try:
                results = ARIMA(train, order=(p, d, q), seasonal_order=seasonal_order, trend=trend).fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(results.aic) and (best is None or results.aic < best[0].aic):
                best = (results, f"ARIMA({p},{d},{q})" + (f"({seasonal_order[0]},{big_d},1)[{period}]"
                                                          if seasonal else ""))
    if best is None:
        raise ValueError("no ARIMA model could be fitted to the training part")
    return _state_space("arima", period, *best)


def _differences(values: np.ndarray, max_d: int = 2) -> int:
    """How many first differences make ``values`` stationary by the KPSS test at 5 %."""
    from statsmodels.tsa.stattools import kpss

    for d in range(max_d + 1):
        if len(values) < 10 or np.std(values) == 0:
            return d
        if kpss(values, regression="c", nlags="auto")[1] > 0.05:
            return d
        values = np.diff(values)
    return max_d


def _seasonal_strength(values: np.ndarray, period: int) -> float:
    """F_S = max(0, 1 − Var(R) / Var(S + R)) of an STL decomposition (Wang, Smith and Hyndman 2006)."""
    from statsmodels.tsa.seasonal import STL

    result = STL(values, period=period, robust=True).fit()
    total = np.var(result.seasonal + result.resid)
    return float(max(0.0, 1 - np.var(result.resid) / total)) if total > 0 else 0.0


def fit_theta(train: np.ndarray, period: int) -> Baseline:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    seasonal = _seasonal(train, period)

    def predict(history: np.ndarray, horizon: int) -> np.ndarray:
        model = ThetaModel(history, period=period if seasonal else 1, deseasonalize=seasonal)
        return np.asarray(model.fit().forecast(horizon))

    return Baseline("theta", period, predict, "deseasonalised" if seasonal else "no season")


def fit_kalman(train: np.ndarray, period: int, params: np.ndarray | None = None) -> Baseline:
    """The local-level (+ season) model; ``params`` (σ²_ε, σ²_η[, σ²_season]) fixes them instead of fitting."""
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    model = UnobservedComponents(train, level="llevel", seasonal=period if _seasonal(train, period) else None)
    results = model.fit(disp=False) if params is None else model.filter(np.asarray(params, dtype=np.float64))
    variances = ", ".join(f"{n} {v:.3g}" for n, v in zip(model.param_names, results.params))
    return _state_space("kalman", period, results, f"local level{' + season' if model.seasonal else ''}: "
                                                    f"{variances}")


FITTERS = {"ets": fit_ets, "arima": fit_arima, "theta": fit_theta, "kalman": fit_kalman}


def rolling_forecasts(baseline: Baseline, values: np.ndarray, origins: list[int], horizon: int) -> np.ndarray:
    """(len(origins), horizon): the forecast from ``values[:o]`` for each origin o."""
    return np.stack([baseline.forecast(values[:origin], horizon) for origin in origins])
