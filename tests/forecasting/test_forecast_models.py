"""The forecasting models: ordered quantiles, the pinball loss, the decoder, ES-RNN's coefficients."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.esrnn import ESRNN
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, ordered_quantiles, pinball_loss


@pytest.mark.parametrize("head", ["direct", "seq2seq"])
def test_quantile_forecasts_never_cross(head):
    torch.manual_seed(0)
    config = ForecasterConfig(hidden_size=8, num_layers=1, head=head, quantiles=(0.1, 0.5, 0.9))
    model = Forecaster(config, input_size=3, known_size=2, horizon=5)
    with torch.no_grad():
        for p in model.parameters():            # large random weights: raw outputs of every sign and size
            p.mul_(20)
        output = model(torch.randn(64, 7, 3), torch.randn(64, 5, 2))
    assert output.shape == (64, 5, 3)
    assert (output.diff(dim=-1) >= 0).all()


def test_ordered_quantiles_keep_the_first_and_add_positive_steps():
    raw = torch.tensor([[2.0, -30.0, 5.0]])
    q = ordered_quantiles(raw)
    assert q[0, 0] == 2.0
    torch.testing.assert_close(q[0, 2] - q[0, 1], torch.nn.functional.softplus(torch.tensor(5.0)))


def test_pinball_loss_by_hand():
    prediction = torch.tensor([[1.0, 2.0]])           # quantiles at 0.2 and 0.8
    target = torch.tensor([1.5])
    # τ=0.2: y−q = 0.5 > 0 → 0.2·0.5; τ=0.8: y−q = −0.5 < 0 → (0.8−1)(−0.5) = 0.1.
    assert pinball_loss(prediction, target, (0.2, 0.8)).item() == pytest.approx((0.1 + 0.1) / 2)


def test_seq2seq_roll_out_equals_teacher_forcing_on_its_own_medians():
    torch.manual_seed(0)
    config = ForecasterConfig(cell="gru", hidden_size=6, num_layers=2, head="seq2seq", quantiles=(0.25, 0.5, 0.75))
    model = Forecaster(config, input_size=1, known_size=2, horizon=4).eval()
    inputs, known = torch.randn(3, 6, 1), torch.randn(3, 4, 2)
    rolled = model(inputs, known)
    forced = model(inputs, known, teacher=rolled[..., 1])
    torch.testing.assert_close(rolled, forced)


def test_config_refuses_unordered_quantiles():
    with pytest.raises(ValueError, match="increasing levels"):
        ForecasterConfig(quantiles=(0.9, 0.1))


def test_esrnn_smoothing_coefficients_stay_in_the_unit_interval():
    torch.manual_seed(0)
    model = ESRNN(ForecasterConfig(hidden_size=4, num_layers=1), series=2, period=4, lookback=8, horizon=3)
    values = torch.rand(2, 40) + 1
    optimizer = torch.optim.Adam(model.parameters(), lr=0.5)          # large steps push them far
    for direction in (1.0, -1.0):
        for _ in range(20):
            optimizer.zero_grad()
            forecasts, normaliser, _ = model(values, torch.tensor([0, 1]), torch.tensor([20, 30]))
            (direction * (forecasts.mean() + normaliser.log().mean())).backward()
            optimizer.step()
        moved = model.level_logit.detach().abs().max()
        assert moved > 3                          # the free parameters did move far …
        for coefficient in (model.alpha, model.gamma):
            assert ((coefficient > 0) & (coefficient < 1)).all()     # … the coefficients stayed inside


def test_esrnn_smoothing_follows_the_holt_winters_recursion():
    model = ESRNN(ForecasterConfig(hidden_size=4, num_layers=1), series=1, period=2, lookback=2, horizon=1)
    with torch.no_grad():
        model.level_logit.fill_(0.3)
        model.season_logit.fill_(-0.4)
        model.initial_season.copy_(torch.tensor([[0.1, -0.2]]))
    y = [2.0, 3.0, 2.5, 4.0, 3.5]
    alpha, gamma = torch.sigmoid(torch.tensor(0.3)).item(), torch.sigmoid(torch.tensor(-0.4)).item()
    seasons = [torch.exp(torch.tensor(0.1)).item(), torch.exp(torch.tensor(-0.2)).item()]
    level, levels = y[0] / seasons[0], []
    for t, value in enumerate(y):
        if t:
            level = alpha * value / seasons[t] + (1 - alpha) * level
        levels.append(level)
        seasons.append(gamma * value / level + (1 - gamma) * seasons[t])
    got_levels, got_seasons = model.smooth(torch.tensor([y]))
    torch.testing.assert_close(got_levels[0], torch.tensor(levels))
    torch.testing.assert_close(got_seasons[0], torch.tensor(seasons))
