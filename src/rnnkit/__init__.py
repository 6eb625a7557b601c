"""rnnkit: recurrent neural networks on PyTorch, every cell of the notes in one API."""

from importlib.metadata import PackageNotFoundError, version

from .cells import Cell, cell_names, get_cell_class, register_cell
from .engines import engine_names
from .layers import GRU, LSTM, RNN, Recurrent, RecurrentCell

try:
    __version__ = version("rnnkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "GRU", "LSTM", "RNN", "Cell", "Recurrent", "RecurrentCell", "cell_names", "engine_names", "get_cell_class",
    "register_cell", "__version__",
]
