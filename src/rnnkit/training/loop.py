"""The trainer: any :class:`~rnnkit.training.task.Task`, with a budget, validation and checkpoints.

What it guarantees, for every task:

- **Budget.** ``steps`` (the run's total, counted across resumes) or ``minutes`` of training time.
  The learning rate warms up linearly, then follows a cosine over the budget or stays constant.
- **Exact resume.** Everything that decides the next update is saved at a step boundary and
  restored: weights, optimizer state, every process's RNG states (dropout masks; the GPU's too),
  the step, the data position, the carried state, the gradient scaler and early-stopping counts.
  Batches depend only on the position, the schedule only on the step and the time spent, so a
  resumed ``steps`` run ends with exactly the uninterrupted run's weights.
- **Nothing lost.** SIGINT (Ctrl-C) and SIGTERM set a flag; at the next step boundary the trainer
  saves and returns ``"interrupted"`` (on every rank, whichever one was signalled). The trainer
  state is also saved every ``save_every`` seconds. A non-finite loss or gradient, or validation
  metrics the task calls diverged, stop the run with ``"diverged"`` without overwriting the last
  good checkpoint. Signal handlers are installed only on the main thread (and only when asked):
  from another thread or a notebook, :meth:`Trainer.request_stop` does the same.
- **Best checkpoint.** ``model.safetensors`` holds the weights of the best validation by the
  task's selection metric (higher or lower is better); early stopping after ``patience``
  validations without improvement.
- **Devices and precision.** ``device`` auto/cpu/cuda[:N]; ``precision`` fp32, or bf16/fp16
  autocast with float32 master weights (:mod:`rnnkit.training.precision`).
- **Data-parallel.** Under torchrun the model is wrapped in DistributedDataParallel and each rank
  reads its shard; clipping sees the all-reduced gradients, validation statistics are summed over
  the ranks, and only rank 0 writes (:mod:`rnnkit.training.distributed`).

The trainer knows nothing of cells or text: only the task contract.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from . import distributed
from .callbacks import Callback, CurvesPlot, MetricsFile, ProgressBar, TensorBoard
from .checkpoint import RankState, load_trainer_state, save_trainer_state, save_weights
from .precision import PRECISIONS, autocast, check_precision, grad_scaler, resolve_device
from .schedules import WarmupCosine
from .task import Batch, Shard, State, Task
from .threads import ThreadGovernor
from .tbptt import detach_state

TRAINER_FILE = "trainer.safetensors"
MODEL_FILE = "model.safetensors"
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant")
CLIP_MODES = ("norm", "value")


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train. Exactly one of ``steps`` and ``minutes`` is the budget."""

    steps: int | None = None          # budget: optimizer steps in total (across resumes)
    minutes: float | None = None      # budget: minutes of training (across resumes)
    batch_size: int = 32              # B: sequences (streams) per step, over all processes
    seq_len: int = 64                 # k: steps per chunk of truncated BPTT (tasks that carry a state)
    optimizer: str = "adamw"          # "adamw" or "sgd"
    lr: float = 3e-3                  # peak learning rate
    weight_decay: float = 0.01        # AdamW's decoupled weight decay; SGD's L2 penalty
    momentum: float = 0.9             # SGD momentum
    nesterov: bool = False            # SGD with Nesterov momentum
    schedule: str = "cosine"          # after the warm-up: "cosine" decay, or "constant"
    warmup_steps: int = 20            # steps of linear learning-rate warm-up
    final_lr_ratio: float = 0.05      # learning rate at the end of a cosine, as a fraction of lr
    clip: float = 1.0                 # gradient clipping threshold; 0 turns it off
    clip_mode: str = "norm"           # "norm": by the global L2 norm; "value": each element to ±clip
    patience: int = 0                 # stop after this many validations without improvement; 0: never
    val_every: int | None = None      # steps between validations; None: ten per run, at most a
                                      # fifth of the time spent validating
    val_tokens: int = 100_000         # tokens of the validation text read per validation; 0: all
    save_every: float = 60.0          # seconds between saves of the trainer state
    log_every: int = 10               # steps between training rows of metrics.jsonl
    seed: int = 0                     # seeds torch, numpy and Python's random
    device: str = "auto"              # "auto" (a GPU if there is one), "cpu", "cuda" or "cuda:N"
    precision: str = "fp32"           # "fp32", or autocast in "bf16" or "fp16" (GPU only)

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise ValueError(f"give exactly one budget, steps or minutes; got steps={self.steps}, minutes={self.minutes}")
        if self.steps is not None and (not _is_int(self.steps) or self.steps < 1):
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.minutes is not None and not (_is_number(self.minutes) and 0 < self.minutes < math.inf):
            raise ValueError(f"minutes must be a positive number, got {self.minutes!r}")
        for name in ("batch_size", "seq_len", "log_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("clip_mode", CLIP_MODES),
                              ("precision", tuple(PRECISIONS))):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        # A learning rate beyond float32's range overflows inside the optimizer; 1e3 is already absurd.
        if not (_is_number(self.lr) and 0 < self.lr <= 1e3):
            raise ValueError(f"lr must be a positive number of at most 1000, got {self.lr!r}")
        for name in ("weight_decay", "clip"):
            value = getattr(self, name)
            if not (_is_number(value) and 0 <= value < math.inf):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if not (_is_number(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optimizer 'sgd' with a momentum above 0")
        for name in ("warmup_steps", "patience"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not (_is_number(self.final_lr_ratio) and 0.0 <= self.final_lr_ratio <= 1.0):
            raise ValueError(f"final_lr_ratio must be in [0, 1], got {self.final_lr_ratio!r}")
        if self.val_every is not None and (not _is_int(self.val_every) or self.val_every < 1):
            raise ValueError(f"val_every must be a positive integer or None, got {self.val_every!r}")
        if not _is_int(self.val_tokens) or self.val_tokens < 0:
            raise ValueError(f"val_tokens must be a non-negative integer, got {self.val_tokens!r}")
        if not (_is_number(self.save_every) and 0 < self.save_every < math.inf):
            raise ValueError(f"save_every must be a positive number of seconds, got {self.save_every!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be a whole number in [0, 2^32), got {self.seed!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string (auto, cpu, cuda, cuda:N), got {self.device!r}")

    def budget_seconds(self) -> float | None:
        return None if self.minutes is None else self.minutes * 60.0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: ``finished`` (budget spent or stopped early), ``interrupted`` (a signal or
    :meth:`Trainer.request_stop`; saved) or ``diverged`` (the last good checkpoint kept)."""

    status: str
    step: int
    best_value: float | None           # the best validation value of the selection metric
    best_metric: str = "loss"
    message: str = ""
    signal: int | None = None          # the signal that interrupted the run

    @property
    def best_val_loss(self) -> float | None:
        """The best validation loss, where the loss is what selects the best checkpoint."""
        return self.best_value if self.best_metric == "loss" else None


class _Objective(nn.Module):
    """The task's loss as a module's forward, so DistributedDataParallel's hooks see every call."""

    def __init__(self, task: Task, model: nn.Module) -> None:
        super().__init__()
        self.task = task
        self.model = model

    def forward(self, batch: Batch, state: State) -> tuple[Tensor, State]:
        return self.task.loss(self.model, batch, state)


@dataclass
class _Window:
    """Training figures accumulated between two log rows."""

    loss: float = 0.0
    steps: int = 0
    items: int = 0
    seconds: float = 0.0
    lr: float = 0.0


class Trainer:
    """Trains ``task``'s model under ``config``, writing into ``run_dir`` (rank 0 only).

    Constructing a trainer builds the model (seeded), moves it to the device, wraps it for
    data-parallel training under torchrun, and writes nothing: :meth:`run` does.

    Args:
        task: what to train (:class:`~rnnkit.training.task.Task`).
        config: budget, optimisation, device and precision.
        run_dir: where ``trainer.safetensors``, ``model.safetensors``, ``metrics.jsonl`` and
            ``curves.png`` go.
        callbacks: what shows and records progress; None: a progress bar, ``metrics.jsonl``,
            ``curves.png`` (and TensorBoard event files in ``tensorboard`` if given).
        handle_signals: install SIGINT/SIGTERM handlers during :meth:`run` (main thread only).
        tensorboard: a directory for TensorBoard event files, with the default callbacks.
        adapt_threads: with the default callbacks, fit PyTorch's CPU thread count to the cores
            other processes leave free (:class:`~rnnkit.training.threads.ThreadGovernor`; one
            process on the CPU only).

    Example:
        >>> trainer = Trainer(task, TrainConfig(steps=100), "runs/mine")   # doctest: +SKIP
        >>> result = trainer.run()                                        # doctest: +SKIP
    """

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        run_dir: str | Path,
        callbacks: list[Callback] | None = None,
        handle_signals: bool = True,
        tensorboard: str | Path | None = None,
        adapt_threads: bool = False,
    ) -> None:
        self.task = task
        self.config = config
        self.run_dir = Path(run_dir)
        self.device = resolve_device(config.device)
        check_precision(config.precision, self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.shard: Shard = distributed.setup(self.device)
        self.is_writer = self.shard.rank == 0
        seed_everything(config.seed)
        self.model = task.build_model().to(self.device)
        if self.shard.rank:                      # the same weights everywhere, other dropout masks
            seed_everything(config.seed + self.shard.rank)
        objective = _Objective(task, self.model)
        if self.shard.world_size > 1:
            objective = nn.parallel.DistributedDataParallel(
                objective, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=task.find_unused_parameters,
            )
        self.objective = objective
        self.batches = task.train_batches(self.shard)
        self.optimizer = make_optimizer(config, self.model)
        self.schedule = WarmupCosine(config.lr, config.warmup_steps,
                                     config.final_lr_ratio if config.schedule == "cosine" else 1.0)
        self.scaler = grad_scaler(config.precision, self.device)
        if not self.is_writer:
            callbacks = []
        elif callbacks is None:
            callbacks = [ProgressBar(), MetricsFile(self.run_dir), CurvesPlot(self.run_dir)]
            if tensorboard is not None:
                callbacks.append(TensorBoard(tensorboard))
            if adapt_threads and self.device.type == "cpu" and self.shard.world_size == 1:
                callbacks.append(ThreadGovernor())
        self.callbacks = callbacks
        self.handle_signals = handle_signals
        self.validates = task.has_validation()
        self.step = 0
        self.position = 0
        self.elapsed = 0.0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.bad_validations = 0
        self.last_val_elapsed = 0.0
        self.last_val_step: int | None = None
        self.last_val_seconds = 0.0
        self.carried: State = None
        self._stop: int | None = None

    # ----------------------------------------------------------------------------------------------
    # Entry points

    def run(self) -> TrainResult:
        """Train until the budget is spent, a stop is asked for, early stopping, or divergence."""
        if self.is_writer:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._emit("on_start")
        with _SignalFlag(self, self.handle_signals):
            result = self._loop()
        self._emit("on_end", result)
        return result

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Stop at the next step boundary, saving first (thread-safe; what the signal handlers call)."""
        self._stop = signum

    def resume(self) -> None:
        """Restore the state saved in ``run_dir`` (written by a trainer of the same task and config)."""
        self.carried, info = load_trainer_state(self.run_dir / TRAINER_FILE, self.model, self.optimizer,
                                                self.shard.rank, self.shard.world_size, self.device)
        self.step, self.position, self.elapsed = info["step"], info["position"], info["elapsed_s"]
        self.best_value = info.get("best_value", info.get("best_val_loss"))
        self.best_step = info["best_step"]
        self.bad_validations = info.get("bad_validations", 0)
        self.last_val_elapsed, self.last_val_step = info["last_val_elapsed_s"], info["last_val_step"]
        if self.scaler is not None and info.get("scaler"):
            self.scaler.load_state_dict(info["scaler"])

    def save(self) -> None:
        """Write the trainer state atomically (rank 0; every rank takes part in gathering it)."""
        ranks = distributed.gather(RankState.capture(self.carried, self.device))
        if not self.is_writer:
            return
        info = {
            "step": self.step, "position": self.position, "elapsed_s": self.elapsed,
            "best_value": self.best_value, "best_step": self.best_step, "selection": self.task.selection.metric,
            "bad_validations": self.bad_validations,
            "last_val_elapsed_s": self.last_val_elapsed, "last_val_step": self.last_val_step,
        }
        scaler = self.scaler.state_dict() if self.scaler is not None else None
        save_trainer_state(self.run_dir / TRAINER_FILE, self.model, self.optimizer, self.carried, info,
                           ranks=ranks, scaler=scaler)
        if not self.validates:
            save_weights(self.run_dir / MODEL_FILE, self.model, {"step": str(self.step)})

    # ----------------------------------------------------------------------------------------------
    # The loop

    def _loop(self) -> TrainResult:
        config = self.config
        window = _Window()
        last_save = time.monotonic()
        while True:
            stop, done, save_due = distributed.agree([
                float(self._stop or 0), float(self._done()), float(time.monotonic() - last_save >= config.save_every),
            ])
            if stop:
                self.save()
                name = signal.Signals(int(stop)).name
                return self._result("interrupted", f"{name} at step {self.step}: saved; continue with "
                                                   f"--resume {self.run_dir}", int(stop))
            if done:
                break
            if save_due:
                self.save()
                last_save = time.monotonic()
            started = time.monotonic()
            diverged = self._train_step(window)
            if diverged:
                return self._result("diverged", f"{diverged} at step {self.step + 1}: stopped without saving this "
                                                f"step; {self._kept()} (try a lower --lr or --clip)")
            self.step += 1
            self.position += 1
            spent = time.monotonic() - started
            self.elapsed += spent
            window.seconds += spent
            if self.step % config.log_every == 0 or self._done():
                self._log(window)
                window = _Window()
            self._emit("on_step")
            if self._validation_due():
                started = time.monotonic()
                outcome = self._validate()
                self.elapsed += time.monotonic() - started
                if outcome is not None:
                    return outcome
        if self.validates and self.last_val_step != self.step:
            outcome = self._validate()
            if outcome is not None:
                return outcome
        self.save()
        return self._result("finished")

    def _train_step(self, window: _Window) -> str | None:
        """One update; returns why the run diverged, or None."""
        config = self.config
        batch = self.batches.batch(self.position)
        if batch.reset:
            self.carried = None
        lr = self.schedule(self.step, self._progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        window.lr = lr
        self.model.train()
        with autocast(config.precision, self.device):
            loss, carried = self.objective(batch.to(self.device), self.carried)
        value = loss.item()                      # the step's one host sync for the loss
        (nonfinite,) = distributed.agree([float(not math.isfinite(value))])
        if nonfinite:
            return f"loss {value}" if not math.isfinite(value) else "a non-finite loss on another process"
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if (self.step + 1) % config.log_every == 0:
            self._emit("on_gradients")
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        norm = nn.utils.get_total_norm([p.grad for p in parameters])
        if self.scaler is None and not torch.isfinite(norm):
            return f"gradient norm {norm.item()}"
        if config.clip > 0 and config.clip_mode == "norm":
            nn.utils.clip_grads_with_norm_(parameters, config.clip, norm)
        elif config.clip > 0:
            nn.utils.clip_grad_value_(parameters, config.clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)     # skipped, and the scale lowered, on inf/NaN gradients
            self.scaler.update()
        else:
            self.optimizer.step()
        self.carried = detach_state(carried)
        window.loss += value
        window.steps += 1
        window.items += batch.size
        return None

    def _log(self, window: _Window) -> None:
        mean = window.loss / max(window.steps, 1)
        items = window.items * self.shard.world_size
        row = {"step": self.step, "elapsed_s": round(self.elapsed, 3), "split": "train", "loss": mean,
               **self.task.loss_metrics(mean), "lr": window.lr,
               self.task.throughput_key: round(items / max(window.seconds, 1e-9), 1)}
        self._emit("on_log", row)

    def _validate(self) -> TrainResult | None:
        """Validate, keep the best weights; returns a result when the run must stop here."""
        self.model.eval()
        started = time.monotonic()
        with torch.no_grad(), autocast(self.config.precision, self.device):
            sums = self.task.validation_sums(self.model, self.shard)
        metrics = self.task.metrics(distributed.sum_values(sums))
        self.last_val_seconds = time.monotonic() - started
        self.last_val_elapsed, self.last_val_step = self.elapsed, self.step
        self._emit("on_validation", {"step": self.step, "elapsed_s": round(self.elapsed, 3), "split": "val",
                                     **metrics})
        reason = self.task.diverged(metrics)
        if reason is not None:
            return self._result("diverged", f"{reason} at step {self.step}; {self._kept()} (try a lower --lr)")
        selection = self.task.selection
        value = metrics[selection.metric]
        if selection.better(value, self.best_value):
            self.best_value, self.best_step, self.bad_validations = value, self.step, 0
            if self.is_writer:
                save_weights(self.run_dir / MODEL_FILE, self.model,
                             {"step": str(self.step), selection.metric: repr(value)})
        else:
            self.bad_validations += 1
            if self.config.patience and self.bad_validations >= self.config.patience:
                self.save()
                return self._result("finished", f"stopped early at step {self.step}: no better validation "
                                                f"{selection.metric} in {self.bad_validations} validations")
        return None

    # ----------------------------------------------------------------------------------------------
    # Helpers

    def _progress(self) -> float:
        config = self.config
        if config.steps is not None:
            return self.step / config.steps
        return self.elapsed / config.budget_seconds()

    def _done(self) -> bool:
        return self._progress() >= 1.0

    def _validation_due(self) -> bool:
        config = self.config
        if not self.validates:
            return False
        if config.val_every is not None:
            return self.step % config.val_every == 0
        # Ten per run, but never more than a fifth of the time: a slow validation waits longer
        # (for a step budget, to the next tenth of the steps at least 4 validations' time later).
        if config.steps is not None:
            if self.step % max(1, config.steps // 10):
                return False
            interval = 4 * self.last_val_seconds
        else:
            interval = max(config.budget_seconds() / 10, 4 * self.last_val_seconds)
        (due,) = distributed.agree([float(self.elapsed - self.last_val_elapsed >= interval)])
        return bool(due)

    def _kept(self) -> str:
        """What a stopped run leaves to continue from, in words."""
        path = self.run_dir / TRAINER_FILE
        if path.is_file():
            return f"the last good checkpoint is kept in {self.run_dir}"
        return f"nothing was saved yet: {self.run_dir} holds no checkpoint (start it again)"

    def _result(self, status: str, message: str = "", signum: int | None = None) -> TrainResult:
        return TrainResult(status, self.step, self.best_value, self.task.selection.metric, message, signum)

    def _emit(self, hook: str, *args: object) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW, or SGD with (Nesterov) momentum, over the model's parameters."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def seed_everything(seed: int) -> None:
    """Seed torch (every device), numpy and Python's random."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


class _SignalFlag:
    """SIGINT/SIGTERM handlers that only ask the trainer to stop; it acts at a step boundary.

    Installed only on the main thread (Python allows signal handlers nowhere else) and only when
    the trainer is asked to handle signals; the previous handlers come back afterwards.
    """

    def __init__(self, trainer: Trainer, enabled: bool) -> None:
        self.trainer = trainer
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _SignalFlag:
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
                # Restart interrupted system calls: a native library (gloo's sockets, a data loader)
                # that sees EINTR in the middle of a collective may abort the whole process.
                signal.siginterrupt(sig, False)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.trainer.request_stop(signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
