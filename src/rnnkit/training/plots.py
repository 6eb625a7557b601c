"""The training-curve picture of a run: training and validation loss against steps (PNG, Agg)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(metrics_path: str | Path, png_path: str | Path, metric: str) -> None:
    """Plot ``metric`` of the train and val rows of a ``metrics.jsonl`` file into ``png_path``."""
    # Imported here: matplotlib takes half a second to import, and only the end of a run needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    figure = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for split, style in (("train", "-"), ("val", "o-")):
        points = [(row["step"], row[metric]) for row in rows if row["split"] == split]
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, style, label=split, markersize=3)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png_path)
