"""ES-RNN: exponential smoothing and a recurrent network learned jointly (Smyl 2020, the M4 winner).

Smyl, "A hybrid method of exponential smoothing and recurrent neural networks for time series
forecasting", International Journal of Forecasting 36 (2020). Each series s keeps its own
Holt-Winters-style multiplicative level and season, with smoothing coefficients α_s, γ_s ∈ (0, 1)
(sigmoids of free parameters) and initial seasonal factors exp(σ_{s,1..m}):

    l_t     = α_s y_t / s_t + (1 − α_s) l_{t−1}               (l_0 = y_0 / s_0)
    s_{t+m} = γ_s y_t / l_t + (1 − γ_s) s_t

The network sees the window of the last L values de-seasonalised and divided by the last level,
on a log scale, x_i = log(y_i / (l_{o−1} s_i)) for i = o−L … o−1, and predicts the horizon in the
same units; the forecast is ŷ_{o+h} = exp(ŷ'_h) · l_{o−1} · s_{o+h}, with s repeating its last known
season beyond m steps. The smoothing coefficients, the initial seasons and the network's weights
are all trained by the same gradient of the pinball loss (plus, optionally, Smyl's penalty on the
wiggliness of the level: the mean of (Δ log l_t − Δ log l_{t−1})²).

The recursion needs positive values: the task adds a constant to series that are not (fitted on
the training part). Here the network is a ``Recurrent`` of any cell, where Smyl used dilated LSTMs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import Recurrent
from .forecaster import ForecasterConfig, ordered_quantiles


class ESRNN(nn.Module):
    """``values (S, T)`` positive, windows ``(series (B,), origins (B,))`` → log forecasts (B, H, Q).

    :meth:`forward` returns the log-scale quantiles ŷ' (B, H, Q), the normaliser l_{o−1} s_{o+h}
    (B, H) that turns them into values (``exp(ŷ') · normaliser``), and the level penalty (a scalar).

    Args:
        config: model settings (the ``rnn`` settings; ``level_penalty`` weighs the penalty).
        series: S, the number of series (each has its own α, γ and initial season).
        period: m, the seasonal period (1: a level only).
        lookback: L.
        horizon: H.
    """

    def __init__(self, config: ForecasterConfig, series: int, period: int, lookback: int, horizon: int) -> None:
        super().__init__()
        self.config, self.period, self.lookback, self.horizon = config, period, lookback, horizon
        # Start smoothing slowly (α = γ = sigmoid(−1) ≈ 0.27) with flat seasons.
        self.level_logit = nn.Parameter(torch.full((series,), -1.0))
        self.season_logit = nn.Parameter(torch.full((series,), -1.0))
        self.initial_season = nn.Parameter(torch.zeros(series, max(period, 1)))
        self.rnn = Recurrent(config.cell, 1, config.hidden_size, config.num_layers, batch_first=True,
                             dropout=config.dropout, engine=config.engine)
        self.head = nn.Linear(config.hidden_size, horizon * len(config.levels))

    @property
    def alpha(self) -> Tensor:
        """(S,): the level smoothing coefficients, in (0, 1)."""
        return torch.sigmoid(self.level_logit)

    @property
    def gamma(self) -> Tensor:
        """(S,): the season smoothing coefficients, in (0, 1)."""
        return torch.sigmoid(self.season_logit)

    def smooth(self, values: Tensor) -> tuple[Tensor, Tensor]:
        """Levels l (S, T) and seasonal factors s (S, T + m) of the module docstring's recursion."""
        alpha, gamma = self.alpha[:, None], self.gamma[:, None]
        m = self.period
        seasons = list(torch.exp(self.initial_season).unbind(1)) if m > 1 else []
        level = values[:, 0] / (seasons[0] if m > 1 else 1)
        levels = []
        for t in range(values.size(1)):
            y = values[:, t]
            season = seasons[t] if m > 1 else 1
            level = alpha[:, 0] * y / season + (1 - alpha[:, 0]) * level if t else level
            levels.append(level)
            if m > 1:
                seasons.append(gamma[:, 0] * y / level + (1 - gamma[:, 0]) * season)
        level_series = torch.stack(levels, 1)
        season_series = torch.stack(seasons, 1) if m > 1 else torch.ones_like(level_series)
        return level_series, season_series

    def forward(self, values: Tensor, series: Tensor, origins: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        levels, seasons = self.smooth(values)
        past = origins[:, None] + torch.arange(-self.lookback, 0, device=origins.device)          # (B, L)
        if self.period > 1:
            # The horizon's seasons: the last known season (rows o … o+m−1) repeated.
            ahead = origins[:, None] + torch.arange(self.horizon, device=origins.device) % self.period  # (B, H)
            season_past, season_ahead = seasons[series[:, None], past], seasons[series[:, None], ahead]
        else:
            season_past = values.new_ones(past.shape)
            season_ahead = values.new_ones((len(origins), self.horizon))
        last_level = levels[series, origins - 1][:, None]                                        # (B, 1)
        window = torch.log(values[series[:, None], past] / (last_level * season_past))           # (B, L)
        output, _ = self.rnn(window.unsqueeze(-1))
        raw = self.head(output[:, -1]).view(len(origins), self.horizon, -1)
        return ordered_quantiles(raw), last_level * season_ahead, self._wiggliness(levels)

    def _wiggliness(self, levels: Tensor) -> Tensor:
        """Smyl's level penalty: the mean squared change of the level's log growth."""
        if levels.size(1) < 3:
            return levels.new_zeros(())
        growth = torch.diff(torch.log(levels), dim=1)
        return torch.diff(growth, dim=1).pow(2).mean()
