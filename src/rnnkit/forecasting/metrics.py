"""Forecast accuracy: MASE, sMAPE and RMSE, as the M4 competition scores them.

Makridakis, Spiliotis and Assimakopoulos 2018, "The M4 Competition: Results, findings, conclusion
and way forward". For a forecast ŷ of the H values y after the history y_1 … y_n, with seasonal
period m:

    MASE  = (1/H) Σ_h |y_{n+h} − ŷ_{n+h}|  /  ((1/(n−m)) Σ_{t=m+1}^{n} |y_t − y_{t−m}|)
    sMAPE = (200/H) Σ_h |y_{n+h} − ŷ_{n+h}| / (|y_{n+h}| + |ŷ_{n+h}|)         (percent, 0 … 200)
    RMSE  = √((1/H) Σ_h (y_{n+h} − ŷ_{n+h})²)

MASE divides by the in-sample error of the seasonal naive forecast (naive when m = 1), so 1 means
"as good as repeating last season, in-sample". Over rolling origins each figure is averaged.
"""

from __future__ import annotations

import numpy as np


def mase(truth: np.ndarray, forecast: np.ndarray, insample: np.ndarray, period: int = 1) -> float:
    """MASE of ``forecast`` against ``truth`` (any matching shapes), scaled by ``insample``'s seasonal naive error."""
    insample = np.asarray(insample, dtype=np.float64)
    m = period if len(insample) > period else 1
    scale = np.mean(np.abs(insample[m:] - insample[:-m]))
    if not scale > 0:
        raise ValueError("MASE is undefined: the in-sample series is constant (its seasonal naive error is 0)")
    return float(np.mean(np.abs(np.asarray(truth) - np.asarray(forecast))) / scale)


def smape(truth: np.ndarray, forecast: np.ndarray) -> float:
    """sMAPE in percent; a step where truth and forecast are both 0 counts as no error."""
    truth, forecast = np.asarray(truth, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    denominator = np.abs(truth) + np.abs(forecast)
    ratio = np.divide(np.abs(truth - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(200 * np.mean(ratio))


def rmse(truth: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(truth) - np.asarray(forecast)) ** 2)))


def scores(truth: np.ndarray, forecast: np.ndarray, insample: np.ndarray, period: int) -> dict[str, float]:
    """MASE, sMAPE and RMSE of one or many forecasts (arrays (origins, H)), averaged over everything."""
    return {"mase": mase(truth, forecast, insample, period), "smape": smape(truth, forecast),
            "rmse": rmse(truth, forecast)}
