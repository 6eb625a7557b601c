"""Time series for forecasting: data with every check, chronological splits and windows, the classical
baselines (naive, seasonal naive, ETS, ARIMA, Theta, Kalman local level), MASE/sMAPE/RMSE, and plots."""

from .baselines import BASELINES, Baseline, detect_period, fit, naive, rolling_forecasts, seasonal_naive
from .data import DATASETS, Series, calendar_features, load_dataset, read_csv
from .metrics import mase, rmse, scores, smape
from .windows import Scaler, Split, gather, split_series

__all__ = [
    "BASELINES", "DATASETS", "Baseline", "Scaler", "Series", "Split", "calendar_features", "detect_period", "fit",
    "gather", "load_dataset", "mase", "naive", "read_csv", "rmse", "rolling_forecasts", "scores", "seasonal_naive",
    "smape", "split_series",
]
