"""Recurrent cells: the equations of the notes, one family per file, found by name.

A cell class (``LSTMCell``, ``GRUCell``, …) is the equations of one time step (parameter shapes, step,
derivative) that a layer runs, not a module: unlike ``torch.nn.LSTMCell`` it holds no weights and
cannot be called. Run a cell with a layer, ``rnnkit.Recurrent("lstm", 10, 20)`` or the drop-in
``rnnkit.LSTM``, ``rnnkit.GRU``, ``rnnkit.RNN``; for one step at a time (as ``torch.nn.LSTMCell``),
``rnnkit.RecurrentCell("lstm", 10, 20)`` (see :class:`Cell`).
"""

from __future__ import annotations

from .base import Cell, Params, State
from .elman import IRNNCell, ReLURNNCell, TanhRNNCell
from .greff import (
    CoupledLSTMCell,
    NoForgetGateLSTMCell,
    NoInputActivationLSTMCell,
    NoInputGateLSTMCell,
    NoOutputActivationLSTMCell,
    NoOutputGateLSTMCell,
)
from .gru import ChoGRUCell, GRUCell
from .layernorm import LayerNormGRUCell, LayerNormLSTMCell
from .lstm import LSTMCell
from .mut import MUT1Cell, MUT2Cell, MUT3Cell
from .peephole import PeepholeLSTMCell

_REGISTRY: dict[str, type[Cell]] = {}


def register_cell(cls: type[Cell]) -> type[Cell]:
    """Make a cell class available by its ``name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Cell)):
        raise TypeError(f"register_cell expects a subclass of rnnkit.cells.Cell, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"cell class {cls.__name__} needs a non-empty string attribute 'name'")
    _REGISTRY[name] = cls
    return cls


def cell_names() -> list[str]:
    """Every registered cell name, in registration order."""
    return list(_REGISTRY)


def get_cell_class(cell: str | type[Cell]) -> type[Cell]:
    """The cell class for a registered name, or the class itself."""
    if isinstance(cell, type) and issubclass(cell, Cell):
        return cell
    if isinstance(cell, str):
        try:
            return _REGISTRY[cell]
        except KeyError:
            raise ValueError(f"unknown cell {cell!r}; choose one of: {', '.join(_REGISTRY)}") from None
    raise TypeError(f"cell must be a cell name or a subclass of rnnkit.cells.Cell, got {cell!r}")


for _cls in (
    TanhRNNCell, ReLURNNCell, IRNNCell, LSTMCell, GRUCell, ChoGRUCell,
    PeepholeLSTMCell, CoupledLSTMCell, NoInputGateLSTMCell, NoForgetGateLSTMCell, NoOutputGateLSTMCell,
    NoInputActivationLSTMCell, NoOutputActivationLSTMCell, MUT1Cell, MUT2Cell, MUT3Cell,
    LayerNormLSTMCell, LayerNormGRUCell,
):
    register_cell(_cls)

__all__ = ["Cell", "Params", "State", "cell_names", "get_cell_class", "register_cell"]
