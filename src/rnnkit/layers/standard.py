"""Drop-in ``RNN``, ``LSTM`` and ``GRU``: ``torch.nn``'s constructor, call and return values.

Their parameters carry ``torch.nn``'s names and shapes, so ``load_state_dict`` works both ways, and
they run on PyTorch's fused kernels by default (``engine="auto"``). Each also accepts ``lengths=`` in
its call and ``engine=``, ``init=`` (and ``forget_bias=`` for the LSTM) in its constructor.
"""

from __future__ import annotations

import torch

from .recurrent import Recurrent


def _check_proj_size(proj_size: int) -> None:
    if proj_size != 0:
        raise ValueError(
            f"proj_size={proj_size}: LSTM with projections (Sak et al. 2014) is not supported by rnnkit; "
            "use torch.nn.LSTM for it, or proj_size=0"
        )


class RNN(Recurrent):
    r"""Elman RNN, like ``torch.nn.RNN``: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    ``nonlinearity="relu"`` uses ReLU instead. Returns ``output, h_n``.

    Example:
        >>> rnn = rnnkit.RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(torch.randn(5, 3, 10))
        >>> h_n.shape
        torch.Size([2, 3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        engine: str = "auto",
        init: str | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, engine=engine, init=init, device=device, dtype=dtype)


class LSTM(Recurrent):
    r"""LSTM with forget gate, like ``torch.nn.LSTM`` (gate order i, f, g, o). Returns ``output, (h_n, c_n)``.

    Example:
        >>> lstm = rnnkit.LSTM(10, 20, num_layers=2)
        >>> output, (h_n, c_n) = lstm(torch.randn(5, 3, 10))
        >>> output.shape
        torch.Size([5, 3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        engine: str = "auto",
        init: str | None = None,
        forget_bias: float | None = None,
    ) -> None:
        _check_proj_size(proj_size)
        self.proj_size = proj_size
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, engine=engine, init=init, forget_bias=forget_bias,
                         device=device, dtype=dtype)


class GRU(Recurrent):
    r"""GRU, like ``torch.nn.GRU`` (gate order r, z, n; reset after the recurrent product). Returns ``output, h_n``.

    Example:
        >>> gru = rnnkit.GRU(10, 20, bidirectional=True)
        >>> output, h_n = gru(torch.randn(5, 3, 10))
        >>> output.shape
        torch.Size([5, 3, 40])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        engine: str = "auto",
        init: str | None = None,
    ) -> None:
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, engine=engine, init=init, device=device, dtype=dtype)
