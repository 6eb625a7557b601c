"""Engines: how a sequence runs through a cell. Chosen per call; ``auto`` picks the fastest exact one.

- ``autograd``: the plain per-step loop under autograd, the reference (any cell).
- ``fused``: PyTorch's cuDNN/oneDNN kernels (the cells PyTorch implements exactly).
"""

from __future__ import annotations

from typing import Callable

from ..cells import Cell
from . import autograd, fused

ENGINES: dict[str, Callable] = {"autograd": autograd.run_layer, "fused": fused.run_layer}


def engine_names() -> list[str]:
    """Every engine name accepted by a layer, ``auto`` first."""
    return ["auto", *ENGINES]


def can_run(engine: str, cell: Cell) -> bool:
    """Whether ``engine`` (not ``auto``) can run ``cell``."""
    return engine != "fused" or fused.supports(cell)


def check_engine(engine: str, cell: Cell) -> None:
    """Raise a clear error if ``engine`` is unknown or cannot run ``cell``."""
    if engine not in engine_names():
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(engine_names())}")
    if engine != "auto" and not can_run(engine, cell):
        raise ValueError(
            f"engine='fused' runs only the cells PyTorch implements (rnn_tanh, rnn_relu, irnn, lstm, gru); "
            f"cell {cell.name!r} needs engine='auto' or 'autograd'"
        )


def select(engine: str, cell: Cell) -> Callable:
    """The ``run_layer`` function for ``engine`` (``auto``: fused where exact, else autograd)."""
    if engine == "auto":
        engine = "fused" if fused.supports(cell) else "autograd"
    return ENGINES[engine]
