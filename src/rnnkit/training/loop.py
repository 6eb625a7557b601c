"""The training loop: truncated BPTT over stream batches, with a budget, validation, checkpoints.

What it guarantees:

- **Budget.** ``steps`` (the run's total, counted across resumes) or ``minutes`` of training time.
  The learning rate follows :class:`WarmupCosine` over that budget.
- **Exact resume.** Everything that decides the next update is saved at a step boundary and
  restored: weights, optimizer state, RNG states (dropout masks), the step, the data position and
  the carried hidden state. Data order depends only on the position; the schedule only on the
  step and the time spent. A resumed ``steps`` run ends with exactly the uninterrupted run's weights.
- **Nothing lost.** SIGINT (Ctrl-C) and SIGTERM set a flag; at the next step boundary the loop saves
  and returns ``"interrupted"``. The trainer state is also saved every ``save_every`` seconds. A
  non-finite loss or gradient stops the run with ``"diverged"`` and does not overwrite the last good
  checkpoint.
- **Progress.** A tqdm bar on stderr (step, loss, the metric, tokens/s, time left), one JSON row per
  ``log_every`` steps and per validation in ``metrics.jsonl``, and the curves as ``curves.png``.

The loop knows nothing of cells: it needs a model with ``loss(inputs, targets, state)``.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..data import StreamBatches
from .checkpoint import load_trainer_state, save_trainer_state
from .plots import plot_curves
from .schedules import WarmupCosine
from .tbptt import State, train_chunk

TRAINER_FILE = "trainer.safetensors"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train. Exactly one of ``steps`` and ``minutes`` is the budget."""

    steps: int | None = None          # budget: optimizer steps in total (across resumes)
    minutes: float | None = None      # budget: minutes of training (across resumes)
    batch_size: int = 32              # B parallel streams
    seq_len: int = 64                 # k: steps per chunk (truncated BPTT length)
    lr: float = 3e-3                  # peak learning rate of AdamW
    weight_decay: float = 0.01        # AdamW's decoupled weight decay
    warmup_steps: int = 20            # steps of linear learning-rate warm-up
    final_lr_ratio: float = 0.05      # learning rate at the end of the budget, as a fraction of lr
    clip: float | None = 1.0          # gradient clipping by global norm; None turns it off
    val_every: int | None = None      # steps between validations; None: ten per run (for a time
                                      # budget, at most a fifth of the time spent validating)
    val_tokens: int = 100_000         # tokens of the validation text read per validation; 0: all
    save_every: float = 60.0          # seconds between saves of the trainer state
    log_every: int = 10               # steps between training rows of metrics.jsonl
    seed: int = 0                     # seeds torch, numpy and Python's random

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise ValueError(f"give exactly one budget, steps or minutes; got steps={self.steps}, minutes={self.minutes}")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes!r}")
        for name in ("batch_size", "seq_len", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative integer, got {self.warmup_steps!r}")
        if not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ValueError(f"final_lr_ratio must be in [0, 1], got {self.final_lr_ratio!r}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be positive (or None for no clipping), got {self.clip!r}")
        if self.val_every is not None and (not isinstance(self.val_every, int) or self.val_every < 1):
            raise ValueError(f"val_every must be a positive integer or None, got {self.val_every!r}")
        if not isinstance(self.val_tokens, int) or self.val_tokens < 0:
            raise ValueError(f"val_tokens must be a non-negative integer, got {self.val_tokens!r}")
        if not self.save_every > 0:
            raise ValueError(f"save_every must be positive, got {self.save_every!r}")

    def budget_seconds(self) -> float | None:
        return None if self.minutes is None else self.minutes * 60.0


@dataclass(frozen=True)
class Metric:
    """How a loss in nats per token is reported: ``bpc`` (÷ ln 2) or ``perplexity`` (exp)."""

    name: str

    def __call__(self, loss: float) -> float:
        if self.name == "bpc":
            return loss / math.log(2)
        return math.exp(min(loss, 700.0))


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: ``finished``, ``interrupted`` (a signal; saved) or ``diverged`` (not saved)."""

    status: str
    step: int
    best_val_loss: float | None
    message: str = ""
    signal: int | None = None        # the signal that interrupted the run


class _StopFlag:
    """SIGINT/SIGTERM handlers that only record the signal; the loop acts at a step boundary."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    """Trains ``model`` on ``batches`` under ``config``, writing into ``run_dir``.

    Args:
        model: a module with ``loss(inputs (T, B), targets (T, B), state) -> (loss, state)``.
        batches: the training streams.
        config: budget and optimisation settings.
        run_dir: where ``trainer.safetensors``, ``metrics.jsonl`` and ``curves.png`` go.
        evaluate: the validation loss (nats/token) of the current model, or None for no validation.
        on_best: called after a validation that improved on the best loss (e.g. to save the weights),
            with the step and the loss; without validation, at every save.
        metric: how losses are shown (bits per character or perplexity).
        unit: what a token is called in the tokens/s figure ("chars", "words").
    """

    def __init__(
        self,
        model: nn.Module,
        batches: StreamBatches,
        config: TrainConfig,
        run_dir: str | Path,
        evaluate: Callable[[], float] | None,
        on_best: Callable[[int, float | None], None],
        metric: Metric,
        unit: str = "tokens",
    ) -> None:
        self.model = model
        self.batches = batches
        self.config = config
        self.run_dir = Path(run_dir)
        self.evaluate = evaluate
        self.on_best = on_best
        self.metric = metric
        self.unit = unit
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.schedule = WarmupCosine(config.lr, config.warmup_steps, config.final_lr_ratio)
        self.step = 0
        self.position = 0
        self.elapsed = 0.0
        self.best_val_loss: float | None = None
        self.best_step: int | None = None
        self.last_val_elapsed = 0.0
        self.last_val_step: int | None = None
        self.last_val_seconds = 0.0
        self.carried: State = None

    # ----------------------------------------------------------------------------------------------

    def resume(self) -> None:
        """Restore the state saved in ``run_dir`` (after the model was built the same way)."""
        self.carried, info = load_trainer_state(self.run_dir / TRAINER_FILE, self.model, self.optimizer)
        self.step, self.position, self.elapsed = info["step"], info["position"], info["elapsed_s"]
        self.best_val_loss, self.best_step = info["best_val_loss"], info["best_step"]
        self.last_val_elapsed, self.last_val_step = info["last_val_elapsed_s"], info["last_val_step"]
        self._truncate_metrics()

    def save(self) -> None:
        """Write the trainer state (atomically)."""
        info = {
            "step": self.step, "position": self.position, "elapsed_s": self.elapsed,
            "best_val_loss": self.best_val_loss, "best_step": self.best_step,
            "last_val_elapsed_s": self.last_val_elapsed, "last_val_step": self.last_val_step,
        }
        save_trainer_state(self.run_dir / TRAINER_FILE, self.model, self.optimizer, self.carried, info)
        if self.evaluate is None:
            self.on_best(self.step, None)

    def _truncate_metrics(self) -> None:
        """Drop metric rows written after the saved step (a run killed between saves wrote them)."""
        path = self.run_dir / METRICS_FILE
        if path.is_file():
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= self.step]
            path.write_text("".join(line + "\n" for line in kept))

    def _log(self, row: dict) -> None:
        with open(self.run_dir / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(row) + "\n")

    # ----------------------------------------------------------------------------------------------

    def _progress(self) -> float:
        config = self.config
        if config.steps is not None:
            return self.step / config.steps
        return self.elapsed / config.budget_seconds()

    def _done(self) -> bool:
        return self._progress() >= 1.0

    def _validation_due(self) -> bool:
        config = self.config
        if self.evaluate is None:
            return False
        if config.val_every is not None:
            return self.step % config.val_every == 0
        if config.steps is not None:
            return self.step % max(1, config.steps // 10) == 0
        # Ten per run, but never more than a fifth of the time: a slow validation waits longer.
        interval = max(config.budget_seconds() / 10, 4 * self.last_val_seconds)
        return self.elapsed - self.last_val_elapsed >= interval

    def _validate(self) -> float:
        self.model.eval()
        started = time.monotonic()
        with torch.no_grad():
            loss = self.evaluate()
        self.last_val_seconds = time.monotonic() - started
        self.last_val_elapsed, self.last_val_step = self.elapsed, self.step
        self._log({"step": self.step, "elapsed_s": round(self.elapsed, 3), "split": "val", "loss": loss,
                   self.metric.name: self.metric(loss)})
        if self.best_val_loss is None or loss < self.best_val_loss:
            self.best_val_loss, self.best_step = loss, self.step
            self.on_best(self.step, loss)
        return loss

    def run(self) -> TrainResult:
        """Train until the budget is spent, a signal arrives, or the loss diverges."""
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        budget = config.steps if config.steps is not None else round(config.budget_seconds())
        bar = tqdm(total=budget, initial=min(self.step if config.steps else round(self.elapsed), budget),
                   unit=" steps" if config.steps else " s", file=sys.stderr, dynamic_ncols=True,
                   mininterval=0.5, bar_format="{percentage:3.0f}%|{bar:12}| {n_fmt}/{total_fmt}{unit} {desc}")
        result = None
        window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
        last_save = time.monotonic()
        last_val = None
        with _StopFlag() as stop, bar:
            while not self._done():
                if stop.signal is not None:
                    self.save()
                    name = signal.Signals(stop.signal).name
                    result = TrainResult("interrupted", self.step, self.best_val_loss,
                                         f"{name} at step {self.step}: saved; continue with --resume {self.run_dir}",
                                         stop.signal)
                    break
                started = time.monotonic()
                chunk = self.batches.chunk(self.position)
                if chunk.reset:
                    self.carried = None
                lr = self.schedule(self.step, self._progress())
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.model.train()
                loss, carried, norm = train_chunk(self.model, chunk.inputs, chunk.targets, self.carried,
                                                  self.optimizer, config.clip)
                if not torch.isfinite(loss) or (norm is not None and not torch.isfinite(norm)):
                    what = f"loss {loss.item()}" if not torch.isfinite(loss) else f"gradient norm {norm.item()}"
                    result = TrainResult("diverged", self.step, self.best_val_loss,
                                         f"{what} at step {self.step + 1}: stopped without saving this step; the last "
                                         f"good checkpoint is in {self.run_dir} (try a lower --lr or --clip)")
                    break
                self.carried = carried
                self.step += 1
                self.position += 1
                spent = time.monotonic() - started
                self.elapsed += spent
                window_loss += loss.item()
                window_steps += 1
                window_tokens += chunk.inputs.numel()
                window_time += spent
                if self.step % config.log_every == 0 or self._done():
                    mean = window_loss / window_steps
                    speed = window_tokens / max(window_time, 1e-9)
                    self._log({"step": self.step, "elapsed_s": round(self.elapsed, 3), "split": "train",
                               "loss": mean, self.metric.name: self.metric(mean), "lr": lr,
                               "tokens_per_s": round(speed, 1)})
                    bar.set_description_str(self._status(mean, speed, last_val), refresh=False)
                    window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
                if self._validation_due():
                    started = time.monotonic()
                    last_val = self._validate()
                    self.elapsed += time.monotonic() - started
                if time.monotonic() - last_save >= config.save_every:
                    self.save()
                    last_save = time.monotonic()
                bar.update(1 if config.steps else min(round(self.elapsed), budget) - bar.n)
            if result is None:
                if self.evaluate is not None and self.last_val_step != self.step:
                    self._validate()
                self.save()
                result = TrainResult("finished", self.step, self.best_val_loss)
        if (self.run_dir / METRICS_FILE).is_file():
            plot_curves(self.run_dir / METRICS_FILE, self.run_dir / CURVES_FILE, self.metric.name)
        return result

    def _status(self, loss: float, speed: float, val_loss: float | None) -> str:
        config = self.config
        if config.steps is not None:
            seconds_per_step = self.elapsed / max(self.step, 1)
            left = (config.steps - self.step) * seconds_per_step
        else:
            left = config.budget_seconds() - self.elapsed
        text = f"step {self.step} loss {loss:.3f} {self.metric.name} {self.metric(loss):.3f}"
        if val_loss is not None:
            text += f" val {self.metric(val_loss):.3f}"
        minutes, seconds = divmod(max(int(left), 0), 60)
        return text + f" {speed:,.0f} {self.unit}/s left {minutes}:{seconds:02d}"
