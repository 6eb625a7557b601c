"""The nn.Modules users call."""

from .cell import RecurrentCell
from .recurrent import Recurrent
from .standard import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "Recurrent", "RecurrentCell"]
