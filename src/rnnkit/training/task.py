"""The task contract: all the trainer knows of what it trains.

A task binds a data source, a model, a loss and metrics. The trainer asks it for

- the model (:meth:`Task.build_model`), built from the task's own configuration;
- training batches **addressed by position** (:meth:`Task.train_batches`): batch p is a pure
  function of p (and of the shard), so a run resumed at position p continues exactly;
- the loss of a batch, computed **through the model's forward** (:meth:`Task.loss`), optionally
  from a carried state that the trainer detaches between batches (truncated BPTT);
- additive validation statistics of its shard (:meth:`Task.validation_sums`), which the trainer
  sums across processes before turning them into metrics (:meth:`Task.metrics`);
- the metric that selects the best checkpoint and its direction (:attr:`Task.selection`);
- its artefacts in the run directory (vocabulary, label map, …: :meth:`Task.write_artefacts`).

Under DistributedDataParallel every rank builds the same task and reads its own
:class:`Shard` of the data.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from ..settings import SettingsError, from_record, to_record

State = Tensor | tuple[Tensor, ...] | None   # what a task may carry from one batch to the next
# Top-level keys of a run's config.json beside the settings sections.
RECORD_KEYS = {"task", "rnnkit", "fingerprint"}


@dataclass(frozen=True)
class Shard:
    """Which part of the data a process reads: rank ``rank`` of ``world_size`` (1 process: 0 of 1)."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, world_size) = [0, {self.world_size}), got {self.rank}")

    def split(self, count: int, what: str) -> slice:
        """This rank's contiguous part of ``count`` equal parts (``count`` must divide evenly)."""
        if count % self.world_size:
            raise ValueError(f"{what} = {count} must be divisible by the number of processes ({self.world_size})")
        size = count // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)


@dataclass
class Batch:
    """One training batch: the tensors a task's loss reads, how many items it holds, and whether a
    carried state starts afresh here (``reset``)."""

    data: dict[str, Tensor]
    size: int                      # items, for the throughput figure (tokens, sequences, …)
    reset: bool = False

    def to(self, device: torch.device) -> Batch:
        if all(t.device == device for t in self.data.values()):
            return self
        moved = {name: t.to(device, non_blocking=True) for name, t in self.data.items()}
        return Batch(moved, self.size, self.reset)

    def __getitem__(self, name: str) -> Tensor:
        return self.data[name]


class Batches(Protocol):
    """Training batches addressed by a position that grows without end (passes repeat)."""

    def batch(self, position: int) -> Batch: ...

    def __len__(self) -> int: ...        # positions per pass over the data


@dataclass(frozen=True)
class Selection:
    """The metric that picks the best checkpoint, and whether higher is better."""

    metric: str = "loss"
    higher_is_better: bool = False

    def better(self, value: float, best: float | None) -> bool:
        if not math.isfinite(value):
            return False
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best


class Task(ABC):
    """What a task gives the trainer (module docstring). Subclasses set :attr:`name` and
    :attr:`sections`, and are built as ``Task(settings, cache_dir)`` with the data read and
    checked, ready to train (:mod:`rnnkit.tasks.runs` does this for every task)."""

    # The settings: section name → dataclass, as config.json and a TOML config hold them.
    # "train" (rnnkit.training.TrainConfig) is the trainer's own.
    sections: ClassVar[dict[str, type]] = {}

    name: ClassVar[str]                           # recorded as "task" in config.json
    unit: ClassVar[str] = "items"                 # what Batch.size counts, for the progress bar
    throughput_key: ClassVar[str] = "items_per_s"  # its rate's name in the training rows
    display_metric: ClassVar[str] = "loss"        # the figure the progress bar and curves.png show
    selection: Selection = Selection()
    # DistributedDataParallel must be told when some parameters may get no gradient in a step.
    find_unused_parameters: bool = False

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """The sections of ``record`` (a TOML config, or with ``derived`` a run's config.json),
        checked key by key; absent sections and keys take their defaults."""
        unknown = sorted(set(record) - set(cls.sections) - RECORD_KEYS)
        if unknown:
            raise SettingsError(f"unknown section {unknown[0]!r}; task {cls.name!r} has: {', '.join(cls.sections)}")
        if derived:
            missing = [name for name in cls.sections if name not in record]
            if missing:
                raise SettingsError(f"section [{missing[0]}] is missing")
        return {name: from_record(section, record.get(name, {}), name, complete=derived)
                for name, section in cls.sections.items()}

    @classmethod
    def settings_to_record(cls, settings: dict[str, Any]) -> dict:
        """The sections as JSON/TOML-ready tables (what :meth:`settings_from_record` reads back)."""
        return {name: to_record(settings[name]) for name in cls.sections}

    def config_record(self) -> dict:
        """What config.json records besides the task's name: the settings and anything derived."""
        return self.settings_to_record(self.settings)

    def check_resume(self, run_dir: Path) -> None:
        """Raise if the data changed since the run in ``run_dir`` started (e.g. another vocabulary)."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model (the caller seeds the generators first)."""

    @abstractmethod
    def train_batches(self, shard: Shard) -> Batches:
        """This shard's training batches."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        """The scalar loss of ``batch`` and the state to carry on, computed by calling ``model(...)``."""

    @abstractmethod
    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        """Additive statistics of this shard's validation data (sums and counts), model in eval mode."""

    @abstractmethod
    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """Validation metrics from the statistics summed over every shard."""

    def has_validation(self) -> bool:
        return True

    def loss_metrics(self, loss: float) -> dict[str, float]:
        """Figures shown beside a training loss (e.g. bits per character); none by default."""
        return {}

    def diverged(self, metrics: dict[str, float]) -> str | None:
        """Why these validation metrics mean the model has diverged, or None."""
        bad = [name for name, value in metrics.items() if not math.isfinite(value)]
        return f"validation {', '.join(bad)} not finite" if bad else None

    def write_artefacts(self, run_dir: Path) -> None:
        """Write what the task needs beside the weights (vocabulary, label map, …)."""

    def describe(self, model: nn.Module) -> str:
        """One line saying what is trained on what, for the start of a run."""
        parameters = sum(p.numel() for p in model.parameters())
        return f"{self.name}: {type(model).__name__} with {parameters:,} parameters"
