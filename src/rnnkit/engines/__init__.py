"""Engines: how a sequence runs through a cell. Chosen per call; ``auto`` picks the fastest exact one.

- ``autograd``: the plain per-step loop under autograd, the reference (any cell).
- ``bptt``: the project's own forward loop and hand-derived backward through time (cells that give
  their analytic derivative: ``Cell.supports_bptt``).
- ``bptt-recompute``: bptt that keeps only the states for the backward and rebuilds the rest there
  in one batch (less memory, more time; the same cells as ``bptt``).
- ``fused``: PyTorch's cuDNN/oneDNN kernels (the cells PyTorch implements exactly).

``auto`` = fused where PyTorch has the exact kernel, else bptt where the cell supports it, else
autograd (so a user-defined cell that writes only ``step`` runs on autograd).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from ..cells import Cell
from . import autograd, bptt, fused

ENGINES: dict[str, Callable] = {
    "autograd": autograd.run_layer,
    "bptt": bptt.run_layer,
    "bptt-recompute": partial(bptt.run_layer, recompute=True),
    "fused": fused.run_layer,
}


def engine_names() -> list[str]:
    """Every engine name accepted by a layer, ``auto`` first."""
    return ["auto", *ENGINES]


def can_run(engine: str, cell: Cell) -> bool:
    """Whether ``engine`` (not ``auto``) can run ``cell``."""
    if engine == "fused":
        return fused.supports(cell)
    if engine in ("bptt", "bptt-recompute"):
        return cell.supports_bptt
    return True


def check_cell_and_engine_names(cell: str, engine: str) -> None:
    """Raise a clear error for a cell or engine name that is not registered (a model config's check)."""
    from ..cells import cell_names

    if cell not in cell_names():
        raise ValueError(f"unknown cell {cell!r}; choose one of: {', '.join(cell_names())}")
    if engine not in engine_names():
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(engine_names())}")


def check_engine(engine: str, cell: Cell) -> None:
    """Raise a clear error if ``engine`` is unknown or cannot run ``cell``, naming the engines that can."""
    if engine not in engine_names():
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(engine_names())}")
    if engine == "auto" or can_run(engine, cell):
        return
    # ``auto`` runs every cell; list it first, then the engines that can run this one.
    capable = ["auto", *(name for name in ENGINES if can_run(name, cell))]
    choices = f"engine={capable[0]!r}" + "".join(f", {name!r}" for name in capable[1:-1]) + f" or {capable[-1]!r}"
    if engine == "fused":
        raise ValueError(f"engine='fused' runs only the cells PyTorch implements (rnn_tanh, rnn_relu, irnn, lstm, "
                         f"gru); cell {cell.name!r} runs on {choices}")
    raise ValueError(f"engine={engine!r} needs the cell's analytic derivative (bptt_forward, bptt_backward), which "
                     f"cell {cell.name!r} does not define (only its step): it runs on {choices}")


def resolve(engine: str, cell: Cell) -> str:
    """The engine that runs ``cell``: ``engine`` itself, or for ``auto`` fused, else bptt, else autograd."""
    if engine != "auto":
        return engine
    if fused.supports(cell):
        return "fused"
    return "bptt" if cell.supports_bptt else "autograd"


def select(engine: str, cell: Cell) -> Callable:
    """The ``run_layer`` function for ``engine`` (``auto``: see :func:`resolve`)."""
    return ENGINES[resolve(engine, cell)]
