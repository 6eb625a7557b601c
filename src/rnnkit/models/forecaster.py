"""A recurrent forecaster: windows of the past → ``Recurrent`` → the next H values (or their quantiles).

The notes' example, an ``nn.LSTM(input_size=1, hidden_size=100, num_layers=2, batch_first=True)``
followed by a linear layer predicting the next value, generalised in three ways:

- **inputs**: each step of the window holds the (scaled) target, any other input series and the
  calendar (sin/cos of the position in the season); the calendar and any columns known in advance
  (a planned promotion, a price) are also read for the horizon's steps, as ``known``;
- **the horizon**, either *direct* — one linear head reads the last state and the horizon's
  calendar and emits all H values at once (the MIMO strategy of Ben Taieb et al. 2012) — or
  *seq2seq* — an encoder-decoder whose decoder rolls the horizon out one step at a time, reading
  its previous value (the true one in training: teacher forcing; its own median when forecasting)
  and that step's calendar (Sutskever et al. 2014, as in the notes' seq2seq);
- **quantiles**: with quantile levels τ_1 < … < τ_Q the head emits Q values per step, trained with
  the pinball loss ρ_τ(y − q) = max(τ (y − q), (τ − 1)(y − q)) (Koenker and Bassett 1978). They never
  cross: q_1 is free and q_{k+1} = q_k + softplus(u_k). A point forecast is the median (Q = 1, τ = ½:
  half the mean absolute error).

With ``relative`` (the default) the task subtracts each window's last target value from the window's
target column and from the horizon, and adds it back to the forecast: the network learns changes
from the last value, so a trend that leaves the training part's range still extrapolates (scaling
alone would ask the network for outputs it never produced in training).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..engines import check_cell_and_engine_names
from ..layers import Recurrent

KINDS = ("rnn", "esrnn")
HEADS = ("direct", "seq2seq")


@dataclass(frozen=True)
class ForecasterConfig:
    """The forecasting model: a recurrent forecaster (``rnn``) or the ES-RNN hybrid (``esrnn``)."""

    kind: str = "rnn"                    # "rnn": Forecaster; "esrnn": exponential smoothing + RNN (Smyl 2020)
    cell: str = "lstm"                   # any name of rnnkit.cell_names()
    hidden_size: int = 64                # H of the recurrent layers
    num_layers: int = 2
    head: str = "direct"                 # "direct": all H values from the last state; "seq2seq": a decoder
    dropout: float = 0.0                 # between stacked layers
    quantiles: tuple[float, ...] = ()    # quantile levels in (0, 1), increasing; () for a point forecast
    calendar: bool = True                # feed the season's position (sin, cos) to the network
    relative: bool = True                # rnn: the target relative to the window's last value (trends extrapolate)
    level_penalty: float = 0.0           # ES-RNN: weight of Smyl's level-wiggliness penalty
    engine: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        check_cell_and_engine_names(self.cell, self.engine)
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}; got {self.head!r}")
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not all(0 < q < 1 for q in self.quantiles) or list(self.quantiles) != sorted(set(self.quantiles)):
            raise ValueError(f"quantiles must be increasing levels in (0, 1), got {list(self.quantiles)}")
        if self.level_penalty < 0:
            raise ValueError(f"level_penalty must be non-negative, got {self.level_penalty!r}")

    @property
    def levels(self) -> tuple[float, ...]:
        """The quantile levels the model emits: (0.5,) for a point forecast."""
        return self.quantiles or (0.5,)

    @property
    def median_index(self) -> int:
        """Which output is the point forecast: the median, else the level nearest to it."""
        return min(range(len(self.levels)), key=lambda k: abs(self.levels[k] - 0.5))


def ordered_quantiles(raw: Tensor) -> Tensor:
    """(…, Q) unconstrained outputs → non-decreasing quantiles: q_1 = u_0, q_{k+1} = q_k + softplus(u_k)."""
    if raw.size(-1) == 1:
        return raw
    steps = F.softplus(raw[..., 1:])
    return torch.cat([raw[..., :1], raw[..., :1] + steps.cumsum(-1)], dim=-1)


def pinball_loss(prediction: Tensor, target: Tensor, levels: tuple[float, ...]) -> Tensor:
    """Mean pinball loss of quantiles ``prediction`` (…, Q) at ``levels`` for ``target`` (…)."""
    tau = torch.tensor(levels, dtype=prediction.dtype, device=prediction.device)
    error = target.unsqueeze(-1) - prediction
    return torch.maximum(tau * error, (tau - 1) * error).mean()


class Forecaster(nn.Module):
    """``inputs (B, L, I)``, ``known (B, H, C)`` → quantile forecasts (B, H, Q) in the scaled units.

    Args:
        config: the model settings (module docstring).
        input_size: I, features per past step (target, other inputs, known columns, calendar).
        known_size: C, features per horizon step (known columns, calendar).
        horizon: H.

    With the seq2seq head, ``teacher (B, H)`` (the true horizon, training only) feeds the decoder;
    without it the decoder reads its own median.

    Example:
        >>> model = Forecaster(ForecasterConfig(hidden_size=8), input_size=3, known_size=2, horizon=4)
        >>> model(torch.randn(5, 12, 3), torch.randn(5, 4, 2)).shape
        torch.Size([5, 4, 1])
    """

    def __init__(self, config: ForecasterConfig, input_size: int, known_size: int, horizon: int) -> None:
        super().__init__()
        self.config, self.horizon, self.known_size = config, horizon, known_size
        quantiles = len(config.levels)
        self.encoder = Recurrent(config.cell, input_size, config.hidden_size, config.num_layers, batch_first=True,
                                 dropout=config.dropout, engine=config.engine)
        if config.head == "direct":
            self.head = nn.Linear(config.hidden_size + horizon * known_size, horizon * quantiles)
        else:
            self.decoder = Recurrent(config.cell, 1 + known_size, config.hidden_size, config.num_layers,
                                     batch_first=True, dropout=config.dropout, engine=config.engine)
            self.head = nn.Linear(config.hidden_size, quantiles)

    def forward(self, inputs: Tensor, known: Tensor, teacher: Tensor | None = None) -> Tensor:
        _, state = self.encoder(inputs)
        if self.config.head == "direct":
            h_n = state[0] if isinstance(state, tuple) else state          # (layers, B, H)
            features = torch.cat([h_n[-1], known.flatten(1)], dim=-1)
            raw = self.head(features).view(len(inputs), self.horizon, -1)
            return ordered_quantiles(raw)
        return self._roll_out(inputs[:, -1, :1], known, state, teacher)

    def _roll_out(self, last: Tensor, known: Tensor, state, teacher: Tensor | None) -> Tensor:
        """The decoder over the horizon: step h reads value h − 1 (the window's last value at h = 0)."""
        if teacher is not None:                        # all steps at once: the inputs are known
            previous = torch.cat([last, teacher[:, :-1]], dim=1).unsqueeze(-1)          # (B, H, 1)
            output, _ = self.decoder(torch.cat([previous, known], dim=-1), state)
            return ordered_quantiles(self.head(output))
        steps, value = [], last.unsqueeze(-1)                                            # (B, 1, 1)
        for h in range(self.horizon):
            output, state = self.decoder(torch.cat([value, known[:, h: h + 1]], dim=-1), state)
            quantiles = ordered_quantiles(self.head(output))                             # (B, 1, Q)
            steps.append(quantiles)
            value = quantiles[..., self.config.median_index: self.config.median_index + 1]
        return torch.cat(steps, dim=1)
