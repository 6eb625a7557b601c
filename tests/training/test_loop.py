import json
import os
import signal

import numpy as np
import torch

from rnnkit.data import StreamBatches
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.training import Metric, Trainer, TrainConfig
from rnnkit.training import checkpoint


class Scripted(LanguageModel):
    """A language model whose n-th loss call does something else (NaN, or a signal to itself)."""

    def __init__(self, at_call: int, action: str) -> None:
        torch.manual_seed(0)
        super().__init__(LanguageModelConfig(vocab_size=7, hidden_size=6))
        self.calls, self.at_call, self.action = 0, at_call, action

    def loss(self, tokens, targets, state=None):
        self.calls += 1
        loss, state = super().loss(tokens, targets, state)
        if self.calls == self.at_call and self.action == "nan":
            loss = loss * float("nan")
        if self.calls == self.at_call and self.action == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        return loss, state


def trainer(model, run_dir, steps=10, evaluate=None, val_every=None):
    tokens = np.random.default_rng(0).integers(0, 7, 2000)
    saved = []
    config = TrainConfig(steps=steps, batch_size=4, seq_len=8, save_every=1e-9, log_every=1,
                         val_every=val_every)
    return Trainer(model, StreamBatches(tokens, 4, 8), config, run_dir, evaluate,
                   lambda step, loss: saved.append(step), Metric("bpc"), "chars"), saved


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    model = Scripted(at_call=5, action="nan")
    run, _ = trainer(model, tmp_path)
    result = run.run()
    assert result.status == "diverged" and result.step == 4 and "nan" in result.message
    good = LanguageModel(model.config)
    _, info = checkpoint.load_trainer_state(tmp_path / "trainer.safetensors", good,
                                            torch.optim.AdamW(good.parameters()))
    assert info["step"] == 4
    for name, tensor in good.state_dict().items():     # the last good weights: the model before step 5
        assert torch.equal(tensor, model.state_dict()[name]) and torch.isfinite(tensor).all(), name


def test_sigint_saves_at_the_next_step_boundary_and_stops(tmp_path):
    model = Scripted(at_call=3, action="sigint")
    run, _ = trainer(model, tmp_path, steps=50)
    result = run.run()
    assert result.status == "interrupted" and result.signal == signal.SIGINT and result.step == 3
    _, info = checkpoint.load_trainer_state(tmp_path / "trainer.safetensors", LanguageModel(model.config),
                                            torch.optim.AdamW(model.parameters()))
    assert info["step"] == 3 and info["position"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handlers restored


def test_validation_keeps_the_best_and_logs_metrics_and_curves(tmp_path):
    losses = iter([3.0, 2.0, 2.5, 1.0, 1.5])
    run, saved = trainer(Scripted(at_call=0, action=""), tmp_path, steps=10, evaluate=lambda: next(losses),
                          val_every=2)
    run.run()
    assert saved == [2, 4, 8]                            # the steps whose validation improved
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 11))
    assert (tmp_path / "curves.png").stat().st_size > 0
