"""The nn.Modules users call."""

from .recurrent import Recurrent
from .standard import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "Recurrent"]
