"""The generic trainer on two tasks: the language model and a tiny many-to-one classifier."""

import json
import math
import os
import signal
import threading

import pytest
import torch
from torch import nn

from rnnkit.tasks import majority, runs
from rnnkit.training import Callback, MODEL_FILE, TRAINER_FILE, Selection, Trainer, TrainConfig, load_weights
from rnnkit.training import checkpoint
from rnnkit.training.loop import make_optimizer
from rnnkit.training.precision import resolve_device

DATA = {"size": 256, "val_size": 128, "min_length": 3, "max_length": 9}


def majority_task(tmp_path, **train):
    record = {"data": DATA, "model": {"hidden_size": 16}, "train": {"steps": 40, "batch_size": 16, "lr": 1e-2,
                                                                    "log_every": 5, "save_every": 1e9} | train}
    return majority.MajorityTask(majority.MajorityTask.settings_from_record(record), tmp_path)


def trainer_for(task, tmp_path, callbacks=None, **kwargs):
    return Trainer(task, task.settings["train"], tmp_path / "run", callbacks=callbacks, **kwargs)


class Scripted(majority.MajorityTask):
    """The majority task whose n-th loss does something else: NaN, or a signal to this process."""

    at_call, action = 0, ""

    def loss(self, model, batch, state):
        self.calls = getattr(self, "calls", 0) + 1
        loss, state = super().loss(model, batch, state)
        if self.calls == self.at_call and self.action == "nan":
            loss = loss * float("nan")
        if self.calls == self.at_call and self.action == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        return loss, state


def scripted(tmp_path, at_call, action, **train):
    task = majority_task(tmp_path, **train)
    task.__class__ = Scripted
    task.at_call, task.action = at_call, action
    return task


class StopAt(Callback):
    """Asks the trainer to stop once it has made ``step`` steps (in-process, not by timing)."""

    def __init__(self, step):
        self.step = step

    def on_step(self, trainer):
        if trainer.step == self.step:
            trainer.request_stop()


def weights(model):
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    task = scripted(tmp_path, at_call=5, action="nan", save_every=1e-9, val_every=100)
    trainer = trainer_for(task, tmp_path, callbacks=[])
    result = trainer.run()
    assert result.status == "diverged" and result.step == 4 and "nan" in result.message
    assert "last good checkpoint is kept" in result.message
    good = task.build_model()
    _, info = checkpoint.load_trainer_state(tmp_path / "run" / TRAINER_FILE, good, torch.optim.AdamW(good.parameters()))
    assert info["step"] == 4
    for name, tensor in good.state_dict().items():     # the last good weights: the model before step 5
        assert torch.equal(tensor, trainer.model.state_dict()[name]) and torch.isfinite(tensor).all(), name


def test_a_run_that_diverges_before_any_save_says_nothing_was_saved(tmp_path):
    result = trainer_for(scripted(tmp_path, at_call=1, action="nan"), tmp_path, callbacks=[]).run()
    assert result.status == "diverged" and "nothing was saved" in result.message
    assert not (tmp_path / "run" / TRAINER_FILE).exists()


def test_sigint_saves_at_the_next_step_boundary_and_stops(tmp_path):
    trainer = trainer_for(scripted(tmp_path, at_call=3, action="sigint", steps=50), tmp_path, callbacks=[])
    result = trainer.run()
    assert result.status == "interrupted" and result.signal == signal.SIGINT and result.step == 3
    _, info = checkpoint.load_trainer_state(tmp_path / "run" / TRAINER_FILE, trainer.task.build_model(),
                                            torch.optim.AdamW(trainer.model.parameters()))
    assert info["step"] == 3 and info["position"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handlers restored


def test_a_second_task_selects_its_best_checkpoint_on_a_higher_is_better_metric(tmp_path):
    task = majority_task(tmp_path, steps=150, val_every=15)
    assert task.selection == Selection("accuracy", higher_is_better=True)
    result = trainer_for(task, tmp_path).run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    validations = [row for row in rows if row["split"] == "val"]
    best = max(validations, key=lambda row: (row["accuracy"], -row["step"]))
    assert result.best_metric == "accuracy" and result.best_value == best["accuracy"]
    assert best["accuracy"] > 0.9                                    # it learned to count in seconds
    # model.safetensors holds the weights of the most accurate validation, not the last one.
    metadata = load_weights(tmp_path / "run" / MODEL_FILE, task.build_model())
    assert int(metadata["step"]) == best["step"] and float(metadata["accuracy"]) == best["accuracy"]
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0


@pytest.mark.parametrize("task_name", ["majority", "lm"])
def test_a_run_stopped_at_step_k_and_resumed_ends_with_the_uninterrupted_weights(task_name, tmp_path):
    if task_name == "majority":
        def make(directory):
            return majority_task(directory, steps=30, val_every=7, save_every=1e9)
    else:
        text = tmp_path / "text.txt"
        text.write_text("".join(f"line {i % 17} of {i % 5} words\n" for i in range(400)))
        from rnnkit.tasks.language_modeling import LanguageModelingTask

        def make(directory):
            record = {"corpus": {"path": str(text)}, "model": {"hidden_size": 16, "dropout": 0.2, "num_layers": 2,
                                                                "input_dropout": 0.1},
                      "train": {"steps": 30, "batch_size": 4, "seq_len": 8, "val_every": 7, "val_tokens": 500}}
            return LanguageModelingTask(LanguageModelingTask.settings_from_record(record), directory)

    full = Trainer(make(tmp_path), make(tmp_path).settings["train"], tmp_path / "full", callbacks=[])
    assert full.run().status == "finished"

    cut = Trainer(make(tmp_path), make(tmp_path).settings["train"], tmp_path / "cut", callbacks=[StopAt(11)])
    assert cut.run().status == "interrupted" and cut.step == 11
    resumed = Trainer(make(tmp_path), make(tmp_path).settings["train"], tmp_path / "cut", callbacks=[])
    resumed.resume()
    assert resumed.step == 11
    assert resumed.run().status == "finished" and resumed.step == 30
    expected = weights(full.model)
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    best_full, best_cut = (load_weights(d / MODEL_FILE, make(tmp_path).build_model()) for d in
                           (tmp_path / "full", tmp_path / "cut"))
    assert best_full == best_cut


def test_early_stopping_after_patience_validations_without_improvement(tmp_path):
    class Flat(majority.MajorityTask):
        def metrics(self, sums):
            return {"loss": 1.0, "accuracy": 0.5}       # never improves after the first validation

    task = majority_task(tmp_path, steps=100, val_every=5, patience=2)
    task.__class__ = Flat
    result = trainer_for(task, tmp_path, callbacks=[]).run()
    assert result.status == "finished" and result.step == 15 and "stopped early" in result.message


def test_the_trainer_runs_from_a_thread_other_than_the_main_one(tmp_path):
    outcome = {}

    def train():
        trainer = trainer_for(majority_task(tmp_path, steps=5), tmp_path, callbacks=[])
        outcome["result"] = trainer.run()

    thread = threading.Thread(target=train)
    thread.start()
    thread.join(timeout=120)
    assert outcome["result"].status == "finished" and outcome["result"].step == 5


def test_request_stop_from_another_thread_saves_and_stops(tmp_path):
    stopped = threading.Event()

    class Stopper(Callback):
        def on_step(self, trainer):
            if trainer.step == 3:
                threading.Thread(target=lambda: (trainer.request_stop(), stopped.set())).start()
                stopped.wait(10)

    trainer = trainer_for(majority_task(tmp_path, steps=100), tmp_path, callbacks=[Stopper()], handle_signals=False)
    result = trainer.run()
    assert result.status == "interrupted" and result.step == 3 and (tmp_path / "run" / TRAINER_FILE).is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(name):
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        resolve_device(name)


def test_unknown_devices_and_fp16_on_the_cpu_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        trainer_for(majority_task(tmp_path, precision="fp16", device="cpu"), tmp_path)


def test_sgd_with_nesterov_momentum_and_a_constant_schedule(tmp_path):
    task = majority_task(tmp_path, optimizer="sgd", lr=0.5, momentum=0.9, nesterov=True, schedule="constant",
                         warmup_steps=0, steps=60)
    trainer = trainer_for(task, tmp_path, callbacks=[])
    assert isinstance(trainer.optimizer, torch.optim.SGD) and trainer.optimizer.defaults["nesterov"]
    assert {trainer.schedule(step, step / 60) for step in range(60)} == {0.5}
    result = trainer.run()
    assert result.best_value > 0.8


def test_clipping_by_value_bounds_every_gradient_element(tmp_path):
    seen = []

    class Watch(Callback):
        def on_step(self, trainer):
            seen.append(max(p.grad.abs().max().item() for p in trainer.model.parameters()))

    task = majority_task(tmp_path, clip=1e-3, clip_mode="value", steps=5)
    trainer_for(task, tmp_path, callbacks=[Watch()]).run()
    assert seen and max(seen) == pytest.approx(1e-3)           # float32 rounding of 1e-3


def test_make_optimizer_follows_the_config():
    model = nn.Linear(3, 2)
    adamw = make_optimizer(TrainConfig(steps=1, lr=0.1, weight_decay=0.2), model)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["weight_decay"] == 0.2
    with pytest.raises(ValueError, match="nesterov needs optimizer 'sgd'"):
        TrainConfig(steps=1, nesterov=True)


def test_bf16_autocast_trains_the_classifier(tmp_path):
    task = majority_task(tmp_path, precision="bf16", steps=60, val_every=20)
    result = trainer_for(task, tmp_path, callbacks=[]).run()
    assert result.status == "finished" and result.best_value > 0.7
    assert all(p.dtype == torch.float32 for p in task.build_model().parameters())


def test_tensorboard_receives_losses_metrics_lr_and_gradient_histograms(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    task = majority_task(tmp_path, steps=10, val_every=5)
    trainer = trainer_for(task, tmp_path, tensorboard=tmp_path / "tb")
    trainer.run()
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    scalars, histograms = set(events.Tags()["scalars"]), set(events.Tags()["histograms"])
    assert {"train/loss", "train/lr", "val/accuracy", "val/loss"} <= scalars
    assert "grad_norm/rnn.weight_hh_l0" in scalars and "gradients/rnn.weight_hh_l0" in histograms
    steps = [event.step for event in events.Scalars("train/loss")]
    assert steps == [5, 10]
    # The logged norm is the gradient's norm at that step, before clipping.
    assert all(math.isfinite(event.value) and event.value > 0 for event in events.Scalars("grad_norm/head.weight"))


def test_a_run_directory_is_locked_against_a_second_trainer(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with runs._Lock(run_dir):
        with pytest.raises(runs.RunError, match=f"is in use: process {os.getpid()}"):
            runs.train("majority", majority.MajorityTask.settings_from_record({"data": DATA}), run_dir)


def test_validation_of_a_step_budget_takes_a_bounded_share_of_the_time(tmp_path, monkeypatch):
    """A validation far slower than a step is not repeated at every tenth of the steps."""
    import time

    task = majority_task(tmp_path, steps=50)
    slow = task.validation_sums

    def slow_validation(model, shard):
        time.sleep(0.2)
        return slow(model, shard)

    monkeypatch.setattr(task, "validation_sums", slow_validation)
    trainer = trainer_for(task, tmp_path, callbacks=[])
    validations = []
    monkeypatch.setattr(trainer, "_emit", lambda hook, *args: validations.append(args[0]["step"])
                        if hook == "on_validation" else None)
    trainer.run()
    # Steps take milliseconds: after the first validation the next may come only ≥ 0.8 s later.
    assert validations[0] == 5 and validations[-1] == 50 and len(validations) < 4


def test_the_thread_governor_uses_the_cores_other_processes_leave_free(monkeypatch):
    from rnnkit.training.threads import ThreadGovernor, busy_seconds

    clock = {"wall": 0.0, "busy": 0.0, "own": 0.0}
    monkeypatch.setattr("rnnkit.training.threads.time.monotonic", lambda: clock["wall"])
    monkeypatch.setattr("rnnkit.training.threads.time.sleep", lambda seconds: None)
    governor = ThreadGovernor(interval=5, busy=lambda cores: clock["busy"], own=lambda: clock["own"])
    governor.cores = [0, 1]
    before = torch.get_num_threads()
    try:
        governor.on_start(None)
        for others, own, expected in ((1.0, 1.0, 1), (0.0, 2.0, 2), (0.3, 1.6, 2), (2.0, 0.0, 1)):
            clock["wall"] += 5                               # 5 s in which other processes used `others` cores
            clock["busy"] += 5 * (others + own)
            clock["own"] += 5 * own
            governor.on_step(None)
            assert torch.get_num_threads() == expected, (others, own)
    finally:
        torch.set_num_threads(before)
    assert busy_seconds([0]) is None or busy_seconds([0]) > 0          # /proc/stat, where there is one
