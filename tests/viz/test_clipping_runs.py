"""``rnnkit viz gradients --clip``: both runs start alike, the clipped one never applies more than C, and
clipping is what keeps an exploding plain RNN alive."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.synthetic import AddingConfig, generate_adding
from rnnkit.viz import ClippingConfig, clipping_runs
from rnnkit.viz.clipping import _Regressor

EXPLODING = ClippingConfig(cells=("rnn_tanh", "lstm"), clip=1.0, steps=60, length=30, hidden_size=32, lr=0.3,
                           scale_whh=1.8)


@pytest.fixture(scope="module")
def result():
    return clipping_runs(EXPLODING)


def test_both_runs_start_from_the_same_weights_and_batches(result):
    for cell in EXPLODING.cells:
        plain, clipped = [run for run in result.runs if run.cell == cell]
        assert (plain.clipped, clipped.clipped) == (False, True)
        assert plain.grad_norm[0] == clipped.grad_norm[0] and plain.loss[0] == clipped.loss[0]


def test_the_first_gradient_norm_is_the_models_own(result):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(EXPLODING.seed)
        model = _Regressor("rnn_tanh", EXPLODING.hidden_size)
    with torch.no_grad():
        for block in model.rnn.weight_hh_l0.split(EXPLODING.hidden_size, 0):
            block.mul_(1.8 / torch.linalg.matrix_norm(block, ord=2))
    batch = generate_adding(EXPLODING.batch_size, 0, AddingConfig(EXPLODING.length))
    torch.nn.functional.mse_loss(model(batch.inputs), batch.targets).backward()
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
    assert result.runs[0].grad_norm[0] == pytest.approx(norm, rel=1e-5)


def test_the_clipped_run_applies_at_most_c_and_the_plain_run_applies_its_gradient(result):
    for run in result.runs:
        if run.clipped:
            assert all(u <= EXPLODING.clip * (1 + 1e-5) for u in run.update_norm)
            assert all(u == pytest.approx(min(g, EXPLODING.clip), rel=1e-5)
                       for g, u in zip(run.grad_norm, run.update_norm))
            assert run.clipped_steps == sum(g > EXPLODING.clip * (1 + 1e-5) for g in run.grad_norm)
        else:
            assert run.update_norm == run.grad_norm and run.clipped_steps == 0


def test_clipping_keeps_the_exploding_plain_rnn_finite(result):
    plain, clipped = [run for run in result.runs if run.cell == "rnn_tanh"]
    assert not math.isfinite(plain.loss[-1]) or not math.isfinite(plain.grad_norm[-1])
    assert len(plain.loss) < EXPLODING.steps                    # it stopped where it blew up
    assert len(clipped.loss) == EXPLODING.steps and all(math.isfinite(v) for v in clipped.loss)
    assert clipped.clipped_steps > 0


@pytest.mark.parametrize("changes, match", [({"clip": 0}, "clip"), ({"cells": ("nope",)}, "unknown cell"),
                                            ({"steps": 0}, "steps"), ({"lr": -1}, "lr")])
def test_bad_settings_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        ClippingConfig(**changes)


def test_the_command_writes_the_curves(tmp_path, capsys):
    prefix = tmp_path / "clipping"
    assert main(["viz", "gradients", "--clip", "1", "--cells", "rnn_tanh", "--scale-whh", "1.8", "--lr", "0.3",
                 "--steps", "30", "--train-steps", "30", "--out", str(prefix), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "no clipping" in out and "clip 1" in out
    record = json.loads(prefix.with_suffix(".json").read_text())
    assert [run["clipped"] for run in record["runs"]] == [False, True]
    assert prefix.with_suffix(".png").stat().st_size > 5000
    assert prefix.with_suffix(".csv").read_text().startswith("cell,clipped,step,grad_norm")
