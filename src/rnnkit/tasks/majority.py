"""A small sequence-classification task on generated data: is a random binary sequence mostly ones?

Each example is a sequence of 0s and 1s of odd length L (drawn from [min_length, max_length]),
its label 1 when it holds more 1s than 0s. The answer needs the whole sequence and a count, not a
fixed window, and it is exactly known, so the task trains through the generic trainer in seconds
and shows many-to-one classification with padded batches (``lengths``). Metrics: accuracy (which
selects the best checkpoint: higher is better) and the cross-entropy loss.

The data is a pure function of the seed: ``size`` training and ``val_size`` validation sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..engines import check_cell_and_engine_names
from ..layers import Recurrent
from ..training import Batch, Selection, Shard, Task, TrainConfig
from ..training.batches import SampledBatches
from ..training.task import State


@dataclass(frozen=True)
class MajorityData:
    """The generated sequences."""

    size: int = 2000            # training sequences
    val_size: int = 500         # validation sequences
    min_length: int = 5         # shortest sequence (odd lengths only, so there is no tie)
    max_length: int = 21        # longest sequence
    seed: int = 1234            # the data's own seed (the model's is [train] seed)

    def __post_init__(self) -> None:
        for name in ("size", "val_size", "min_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a non-negative whole number, got {self.seed!r}")
        if self.max_length < self.min_length:
            raise ValueError(f"max_length ({self.max_length}) must be at least min_length ({self.min_length})")


@dataclass(frozen=True)
class ClassifierConfig:
    """A recurrent many-to-one classifier: embedding → Recurrent → the last state → linear."""

    cell: str = "gru"               # any name of rnnkit.cell_names()
    hidden_size: int = 32           # H
    num_layers: int = 1
    engine: str = "auto"

    def __post_init__(self) -> None:
        check_cell_and_engine_names(self.cell, self.engine)
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


class LastStateClassifier(nn.Module):
    """``tokens (T, B)``, ``lengths (B,)`` → class scores (B, C) from each sequence's last state."""

    def __init__(self, config: ClassifierConfig, vocab_size: int, classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, config.hidden_size)
        self.rnn = Recurrent(config.cell, config.hidden_size, config.hidden_size, config.num_layers,
                             engine=config.engine)
        self.head = nn.Linear(config.hidden_size, classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        _, state = self.rnn(self.embedding(tokens), lengths=lengths)
        h_n = state[0] if isinstance(state, tuple) else state              # (L, B, H)
        return self.head(h_n[-1])


def generate(count: int, min_length: int, max_length: int, generator: torch.Generator) -> list[Tensor]:
    """``count`` random binary sequences of odd lengths in [min_length, max_length]."""
    odd = [n for n in range(min_length, max_length + 1) if n % 2]
    if not odd:
        raise ValueError(f"no odd length in [{min_length}, {max_length}]")
    picks = torch.randint(len(odd), (count,), generator=generator)
    return [torch.randint(2, (odd[int(i)],), generator=generator) for i in picks]


def collate(sequences: Sequence[Tensor]) -> Batch:
    """Padded ``tokens (T, B)``, ``lengths (B,)`` and ``labels (B,)`` (1: more ones than zeros)."""
    lengths = torch.tensor([len(s) for s in sequences])
    tokens = nn.utils.rnn.pad_sequence(list(sequences))                     # (T, B), zero-padded
    labels = torch.stack([(2 * s.sum() > len(s)).long() for s in sequences])
    return Batch({"tokens": tokens, "lengths": lengths, "labels": labels}, len(sequences))


class MajorityTask(Task):
    """Many-to-one classification of generated binary sequences (module docstring)."""

    name = "majority"
    unit = "sequences"
    throughput_key = "sequences_per_s"
    display_metric = "accuracy"
    sections = {"data": MajorityData, "model": ClassifierConfig, "train": TrainConfig}
    selection = Selection("accuracy", higher_is_better=True)

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        train = record.get("train", {})
        if isinstance(train, dict) and "steps" not in train and "minutes" not in train:
            record = record | {"train": train | {"steps": 300}}
        return super().settings_from_record(record, derived)

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        data = settings["data"]
        generator = torch.Generator().manual_seed(data.seed)
        self.train_set = generate(data.size, data.min_length, data.max_length, generator)
        self.val_set = generate(data.val_size, data.min_length, data.max_length, generator)

    def build_model(self) -> nn.Module:
        return LastStateClassifier(self.settings["model"], vocab_size=2, classes=2)

    def train_batches(self, shard: Shard) -> SampledBatches:
        train = self.settings["train"]
        return SampledBatches(len(self.train_set), train.batch_size,
                              lambda indices: collate([self.train_set[i] for i in indices]), train.seed, shard)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        return F.cross_entropy(model(batch["tokens"], batch["lengths"]), batch["labels"]), None

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        device = next(model.parameters()).device
        mine = self.val_set[shard.rank::shard.world_size]
        loss_sum, correct = 0.0, 0
        size = self.settings["train"].batch_size
        for start in range(0, len(mine), size):
            batch = collate(mine[start: start + size]).to(device)
            logits = model(batch["tokens"], batch["lengths"])
            loss_sum += F.cross_entropy(logits.float(), batch["labels"], reduction="sum").item()
            correct += int((logits.argmax(-1) == batch["labels"]).sum())
        return {"loss_sum": loss_sum, "correct": correct, "count": len(mine)}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"loss": sums["loss_sum"] / sums["count"], "accuracy": sums["correct"] / sums["count"]}


def evaluate_run(run_dir: str | Path) -> dict[str, float]:
    """Accuracy and loss of a majority run's best weights on its validation sequences."""
    from ..training import load_weights
    from . import runs

    config = runs.read_config(run_dir)
    settings = MajorityTask.settings_from_record(config, derived=True)
    task = MajorityTask(settings, Path(run_dir))
    model = task.build_model()
    load_weights(Path(run_dir) / "model.safetensors", model)
    model.eval()
    with torch.no_grad():
        sums = task.validation_sums(model, Shard())
    return task.metrics(sums) | {"count": int(sums["count"])}
