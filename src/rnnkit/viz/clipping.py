r"""What gradient clipping does to a training run: the gradient norm step by step, clipped and not.

Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks", section 3.2:
when ‖g‖ > C, rescale the gradient to g · C/‖g‖. An exploding step then moves the weights at most
lr · C instead of lr · ‖g‖, which would throw them far off a cliff of the loss surface; below C
nothing changes. The notes draw the same picture.

:func:`clipping_runs` makes it measurable: for each cell, a freshly initialised single-layer network
(:class:`rnnkit.Recurrent` + a linear readout of the last state) is trained by plain SGD on the adding
problem (:func:`rnnkit.data.synthetic.generate_adding`) twice from the same weights and the same
batches — once without clipping, once clipping the global norm at C — recording at every step the
gradient's norm before clipping, the norm of the update actually applied (divided by lr), and the
loss. ``scale_whh`` rescales W_hh's blocks to a largest singular value (> 1 makes explosion likely),
as ``rnnkit viz gradients --scale-whh`` does.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..cells import cell_names
from ..data.synthetic import AddingConfig, generate_adding
from ..layers import Recurrent


@dataclass(frozen=True)
class ClippingConfig:
    cells: tuple[str, ...] = ("rnn_tanh", "lstm")
    clip: float = 1.0                    # C, the global-norm threshold of the clipped run
    steps: int = 200                     # SGD steps of each run
    length: int = 30                     # T of the adding problem
    hidden_size: int = 32
    batch_size: int = 16
    lr: float = 0.05
    scale_whh: float | None = None       # rescale each block of W_hh to this σ_max; None keeps the init
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        unknown = [name for name in self.cells if name not in cell_names()]
        if not self.cells or unknown:
            raise ValueError(f"unknown cell {unknown[0]!r}; choose from {', '.join(cell_names())}" if unknown
                             else "cells must name at least one cell")
        for name, minimum in (("steps", 1), ("length", 2), ("hidden_size", 1), ("batch_size", 1)):
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {getattr(self, name)}")
        for name in ("clip", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.scale_whh is not None and not self.scale_whh > 0:
            raise ValueError(f"scale_whh must be positive, got {self.scale_whh}")


@dataclass
class RunCurves:
    cell: str
    clipped: bool
    grad_norm: list[float]               # ‖g‖ before clipping, per step (inf or nan once the run blew up)
    update_norm: list[float]             # ‖applied update‖ / lr: min(‖g‖, C) when clipped, ‖g‖ otherwise
    loss: list[float]                    # the step's mean squared error (before its update)

    @property
    def clipped_steps(self) -> int:
        """Steps whose gradient was rescaled (those with ‖g‖ above C in the clipped run)."""
        return sum(1 for g, u in zip(self.grad_norm, self.update_norm) if u < g) if self.clipped else 0


@dataclass
class ClippingRuns:
    config: ClippingConfig
    runs: list[RunCurves] = field(default_factory=list)

    def to_json(self) -> str:
        record = {"config": asdict(self.config) | {"cells": list(self.config.cells)},
                  "runs": [asdict(run) | {"clipped_steps": run.clipped_steps} for run in self.runs]}
        return json.dumps(record, indent=2, allow_nan=True) + "\n"

    def to_csv(self) -> str:
        """One row per cell, run and step: cell, clipped, step, grad_norm, update_norm, loss."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["cell", "clipped", "step", "grad_norm", "update_norm", "loss"])
        for run in self.runs:
            for step, row in enumerate(zip(run.grad_norm, run.update_norm, run.loss), start=1):
                writer.writerow([run.cell, int(run.clipped), step, *map(repr, row)])
        return buffer.getvalue()


class _Regressor(nn.Module):
    """A recurrent layer over (value, marker) pairs and a linear readout of its last hidden state."""

    def __init__(self, cell: str, hidden_size: int) -> None:
        super().__init__()
        self.rnn = Recurrent(cell, 2, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(inputs)
        return self.readout(output[-1]).squeeze(-1)


def clipping_runs(config: ClippingConfig = ClippingConfig()) -> ClippingRuns:
    """Train each cell twice (unclipped, clipped at C) from the same start on the same batches."""
    result = ClippingRuns(config)
    batches = [generate_adding(config.batch_size, config.seed * 100_003 + step, AddingConfig(config.length))
               for step in range(config.steps)]
    for name in config.cells:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            start = _Regressor(name, config.hidden_size)
        if config.scale_whh is not None:
            _rescale(start.rnn, config.scale_whh, config.hidden_size)
        for clipped in (False, True):
            model = _Regressor(name, config.hidden_size)
            model.load_state_dict(start.state_dict())
            result.runs.append(_train(model, name, clipped, batches, config))
    return result


def _rescale(layer: Recurrent, sigma: float, size: int) -> None:
    with torch.no_grad():
        for block in layer.weight_hh_l0.split(size, dim=0):
            block.mul_(sigma / torch.linalg.matrix_norm(block, ord=2))


def _train(model: _Regressor, name: str, clipped: bool, batches, config: ClippingConfig) -> RunCurves:
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    curves = RunCurves(name, clipped, [], [], [])
    for batch in batches:
        loss = nn.functional.mse_loss(model(batch.inputs), batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        parameters = [p for p in model.parameters() if p.grad is not None]
        norm = nn.utils.get_total_norm([p.grad for p in parameters]).item()
        curves.loss.append(loss.item())
        curves.grad_norm.append(norm)
        if not math.isfinite(norm) or not math.isfinite(loss.item()):
            curves.update_norm.append(norm)      # the run blew up: it stops here, as a trainer would
            break
        if clipped:
            nn.utils.clip_grads_with_norm_(parameters, config.clip, torch.tensor(norm))
            norm = nn.utils.get_total_norm([p.grad for p in parameters]).item()
        curves.update_norm.append(norm)
        optimizer.step()
    return curves


def plot_clipping(result: ClippingRuns, png_path: str | Path) -> None:
    """Two panels: ‖g‖ per step (log scale) and the loss, each cell unclipped (solid) and clipped (dashed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    norms, losses = figure.subplots(1, 2)
    cells = list(result.config.cells)
    for run in result.runs:
        color, style = f"C{cells.index(run.cell) % 10}", "--" if run.clipped else "-"
        label = f"{run.cell}, " + (f"clipped at {result.config.clip:g} ({run.clipped_steps} steps)" if run.clipped
                                   else "not clipped")
        steps = range(1, len(run.grad_norm) + 1)
        norms.plot(steps, run.grad_norm, style, color=color, linewidth=1, label=label)
        losses.plot(steps, run.loss, style, color=color, linewidth=1, label=label)
    norms.axhline(result.config.clip, color="0.5", linewidth=0.8, linestyle=":")
    norms.set_yscale("log")
    norms.set_xlabel("step")
    norms.set_ylabel("‖∂L/∂θ‖ before clipping")
    losses.set_yscale("log")
    losses.set_xlabel("step")
    losses.set_ylabel("mean squared error")
    config = result.config
    scale = f", σ_max(W_hh) {config.scale_whh:g}" if config.scale_whh is not None else ""
    figure.suptitle(f"Gradient clipping on the adding problem (T={config.length}, SGD lr {config.lr:g}{scale})",
                    fontsize=10)
    norms.grid(alpha=0.3, which="both")
    losses.grid(alpha=0.3, which="both")
    losses.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(png_path)

