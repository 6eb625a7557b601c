"""The picture of an evaluation: history, truth, the model's forecast with its quantile band, and the baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

HISTORY = 4            # horizons of history shown before the last origin


def plot_forecasts(task: Any, result: dict[str, Any], path: Path) -> Path:
    """A PNG per evaluation: for each target series, the forecasts from the last test origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin, forecasts = result["last_origin"]["origin"], result["last_origin"]["forecasts"]
    horizon, series = result["horizon"], task.series
    levels = task.settings["model"].levels
    figure, axes = plt.subplots(len(series.targets), 1, figsize=(10, 3.2 * len(series.targets)), squeeze=False)
    index = series.index
    start = max(0, origin - HISTORY * horizon)
    ahead = index[origin: origin + horizon]
    for s, (axis, name) in enumerate(zip(axes[:, 0], series.targets)):
        values = series.target_values[:, s]
        axis.plot(index[start: origin], values[start: origin], color="black", label="history")
        axis.plot(ahead, values[origin: origin + horizon], color="black", linestyle="--", label="truth")
        model = np.asarray(forecasts["model"][s])                                        # (H, Q)
        median = task.settings["model"].median_index
        axis.plot(ahead, model[:, median], color="tab:red", linewidth=2, label="model")
        if len(levels) > 1:
            axis.fill_between(ahead, model[:, 0], model[:, -1], color="tab:red", alpha=0.2,
                              label=f"model {levels[0]:g}–{levels[-1]:g}")
        for name_b, rows in forecasts.items():
            if name_b != "model":
                axis.plot(ahead, rows[s], linewidth=1, alpha=0.8, label=name_b)
        stamp = index[origin]
        when = stamp.date() if hasattr(stamp, "date") else stamp
        axis.set_title(f"{name}: forecasts from the last test origin ({when})")
        axis.legend(fontsize=7, ncol=4)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
