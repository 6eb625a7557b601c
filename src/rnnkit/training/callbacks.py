"""What a run shows and writes as it trains: the trainer calls these hooks, only on rank 0.

- :class:`ProgressBar`: a tqdm bar on stderr (step, loss, the task's metric, items/s, time left);
- :class:`MetricsFile`: one JSON row per log interval and per validation in ``metrics.jsonl``
  (rows past the resumed step, written by a run killed between saves, are dropped on resume);
- :class:`CurvesPlot`: ``curves.png``, the training and validation curves, at the end;
- :class:`TensorBoard`: losses, metrics and learning rate as scalars, and per-layer gradient
  norms and gradient histograms, through ``torch.utils.tensorboard``.

A callback is any object with some of the methods of :class:`Callback`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .plots import plot_curves

if TYPE_CHECKING:
    from .loop import Trainer, TrainResult

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"


class Callback:
    """The hooks; each does nothing by default."""

    def on_start(self, trainer: Trainer) -> None:
        """Before the first step (of this process: after a resume, at the resumed step)."""

    def on_gradients(self, trainer: Trainer) -> None:
        """At each log step, after the backward (and unscaling), before clipping."""

    def on_step(self, trainer: Trainer) -> None:
        """After every optimizer step."""

    def on_log(self, trainer: Trainer, row: dict) -> None:
        """A training row: step, elapsed_s, loss (the mean since the last row), lr, throughput, …"""

    def on_validation(self, trainer: Trainer, row: dict) -> None:
        """A validation row: step, elapsed_s and the task's metrics."""

    def on_end(self, trainer: Trainer, result: TrainResult) -> None:
        """After the last step, whatever the way the run ended."""


class ProgressBar(Callback):
    """A tqdm bar on stderr over the budget (steps, or seconds for a time budget)."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.last_val: float | None = None

    def on_start(self, trainer: Trainer) -> None:
        config = trainer.config
        total = config.steps if config.steps is not None else round(config.budget_seconds())
        done = trainer.step if config.steps is not None else round(trainer.elapsed)
        self.bar = tqdm(total=total, initial=min(done, total), unit=" steps" if config.steps else " s",
                        file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                        bar_format="{percentage:3.0f}%|{bar:12}| {n_fmt}/{total_fmt}{unit} {desc}")

    def on_step(self, trainer: Trainer) -> None:
        if trainer.config.steps is not None:
            self.bar.update(1)
        else:
            self.bar.update(min(round(trainer.elapsed), self.bar.total) - self.bar.n)

    def on_log(self, trainer: Trainer, row: dict) -> None:
        task, config = trainer.task, trainer.config
        if config.steps is not None:
            left = (config.steps - trainer.step) * trainer.elapsed / max(trainer.step, 1)
        else:
            left = config.budget_seconds() - trainer.elapsed
        shown = task.display_metric
        text = f"step {trainer.step} loss {row['loss']:.3f}"
        if shown != "loss" and shown in row:
            text += f" {shown} {row[shown]:.3f}"
        if self.last_val is not None:
            text += f" val {self.last_val:.3f}"
        minutes, seconds = divmod(max(int(left), 0), 60)
        text += f" {row[task.throughput_key]:,.0f} {task.unit}/s left {minutes}:{seconds:02d}"
        self.bar.set_description_str(text, refresh=False)

    def on_validation(self, trainer: Trainer, row: dict) -> None:
        self.last_val = row.get(trainer.task.display_metric)

    def on_end(self, trainer: Trainer, result: TrainResult) -> None:
        if self.bar is not None:
            self.bar.close()


class MetricsFile(Callback):
    """``metrics.jsonl`` in the run directory: one JSON object per line."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / METRICS_FILE

    def on_start(self, trainer: Trainer) -> None:
        if trainer.step and self.path.is_file():
            lines = [line for line in self.path.read_text().splitlines() if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= trainer.step]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif not trainer.step:
            self.path.unlink(missing_ok=True)

    def _append(self, row: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def on_log(self, trainer: Trainer, row: dict) -> None:
        self._append(row)

    def on_validation(self, trainer: Trainer, row: dict) -> None:
        self._append(row)


class CurvesPlot(Callback):
    """``curves.png``: the task's display metric of the train and val rows against the step."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def on_end(self, trainer: Trainer, result: TrainResult) -> None:
        metrics = self.run_dir / METRICS_FILE
        if metrics.is_file() and metrics.stat().st_size:
            plot_curves(metrics, self.run_dir / CURVES_FILE, trainer.task.display_metric)


class TensorBoard(Callback):
    """Event files for TensorBoard in ``log_dir``: scalars per row, gradients per log step.

    Scalars: ``train/<name>`` and ``val/<name>`` for every number of a row (loss, metrics, lr,
    throughput). Gradients: ``grad_norm/<parameter>`` (the L2 norm of each parameter's gradient,
    before clipping) and ``gradients/<parameter>`` histograms.
    """

    def __init__(self, log_dir: str | Path) -> None:
        # Imported here: tensorboard is only needed by runs that ask for it.
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def on_gradients(self, trainer: Trainer) -> None:
        for name, parameter in trainer.model.named_parameters():
            if parameter.grad is not None:
                grad = parameter.grad.detach().float()
                self.writer.add_scalar(f"grad_norm/{name}", grad.norm().item(), trainer.step + 1)
                self.writer.add_histogram(f"gradients/{name}", grad.cpu(), trainer.step + 1)

    def _scalars(self, split: str, row: dict) -> None:
        for key, value in row.items():
            if key not in ("step", "split") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"{split}/{key}", value, row["step"])

    def on_log(self, trainer: Trainer, row: dict) -> None:
        self._scalars("train", row)

    def on_validation(self, trainer: Trainer, row: dict) -> None:
        self._scalars("val", row)
        self.writer.flush()

    def on_end(self, trainer: Trainer, result: TrainResult) -> None:
        self.writer.close()
