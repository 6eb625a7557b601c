"""The training-curve picture of a run: training and validation curves against steps (PNG, Agg)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(metrics_path: str | Path, png_path: str | Path, metric: str) -> None:
    """Plot ``metric`` of the train and val rows of a ``metrics.jsonl`` file into ``png_path``.

    Where training rows lack ``metric`` (e.g. accuracy, measured on validation only), a first panel
    shows the loss of both splits and a second the metric.
    """
    # Imported here: matplotlib takes half a second to import, and only the end of a run needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    train_has_metric = any(row["split"] == "train" and metric in row for row in rows)
    panels = [metric] if train_has_metric or metric == "loss" else ["loss", metric]
    figure = Figure(figsize=(7 * len(panels) ** 0.5, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    for index, name in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        for split, style in (("train", "-"), ("val", "o-")):
            points = [(row["step"], row[name]) for row in rows if row["split"] == split and name in row]
            if points:
                steps, values = zip(*points)
                axes.plot(steps, values, style, label=split, markersize=3)
        axes.set_xlabel("step")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(png_path)
