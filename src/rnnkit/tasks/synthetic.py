"""The architecture comparison's synthetic tasks, each a task of the one trainer.

- ``arith`` and ``xml`` (Jozefowicz, Zaremba & Sutskever 2015): next-character prediction over
  :func:`rnnkit.data.synthetic.generate_arith` / :func:`~rnnkit.data.synthetic.generate_xml`, the
  cross-entropy counted only at the scored positions (an Arith answer; the predictable characters of
  XML's closing tags). Arith's accuracy is whole-answer accuracy, XML's the fraction of predictable
  characters right, as the notes' table reports them.
- ``adding`` (Hochreiter & Schmidhuber 1997; Le et al. 2015's form): regression of the sum of the two
  marked values from the last state; mean squared error (always answering 1 scores 1/6 ≈ 0.167).
- ``copy`` (Arjovsky et al. 2016): K symbols to reproduce after a delay; cross-entropy at every step,
  accuracy over the K symbols to copy.

Training data is unlimited, as in those papers: the batch at position p is generated from a seed
derived from (data seed, p, rank), so a run resumes exactly and no two batches repeat. Validation is
one fixed set from the data seed alone, which training never draws.

Every task shares :class:`StepwiseModel` (embedding, or a linear layer for the adding problem's
real-valued pairs → :class:`rnnkit.Recurrent` of any cell → dropout → a linear head at every step)
and :class:`SyntheticModel`, whose ``init_scale``, ``forget_bias`` and ``dropout`` are what the
comparison's random search varies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..data.synthetic import (AddingConfig, ArithConfig, CopyConfig, XMLConfig, answer_counts, arith_tokenizer,
                              generate_adding, generate_arith, generate_copy, generate_xml, xml_tokenizer)
from ..engines import check_cell_and_engine_names
from ..layers import Recurrent
from ..training import Batch, Selection, Shard, Task, TrainConfig
from ..training.task import State

BATCHES_PER_PASS = 10**9      # the data never repeats; a "pass" only numbers the positions


@dataclass(frozen=True)
class SyntheticModel:
    """A recurrent network with a linear head at every step (module docstring)."""

    cell: str = "lstm"            # any name of rnnkit.cell_names(), a user's registered cell included
    hidden_size: int = 64
    num_layers: int = 1
    engine: str = "auto"
    forget_bias: float | None = None   # initial forget-gate bias (LSTM family); None: the cell's own
    init_scale: float = 1.0       # the recurrent layer's initial weights multiplied by this
    dropout: float = 0.0          # dropout on the recurrent output (and between layers)

    def __post_init__(self) -> None:
        check_cell_and_engine_names(self.cell, self.engine)
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {self.init_scale!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.forget_bias is not None and not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be a finite number, got {self.forget_bias!r}")


class StepwiseModel(nn.Module):
    """``inputs (T, B)`` ids (or ``(T, B, F)`` values) → outputs ``(T, B, K)`` at every step."""

    def __init__(self, config: SyntheticModel, outputs: int, vocab_size: int | None = None,
                 features: int | None = None) -> None:
        super().__init__()
        size = config.hidden_size
        self.embedding = nn.Embedding(vocab_size, size) if vocab_size is not None else nn.Linear(features, size)
        self.rnn = Recurrent(config.cell, size, size, config.num_layers, dropout=config.dropout if
                             config.num_layers > 1 else 0.0, engine=config.engine, forget_bias=config.forget_bias)
        if config.init_scale != 1.0:
            with torch.no_grad():
                for name, parameter in self.rnn.named_parameters():
                    if name.startswith("weight"):
                        parameter.mul_(config.init_scale)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(size, outputs)

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        output, _ = self.rnn(self.embedding(inputs), lengths=lengths)
        return self.head(self.drop(output))


def _seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (numpy's SeedSequence mixes them)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class GeneratedBatches:
    """Batch p of this shard: ``generate(count, seed(data seed, p, rank))`` collated by the task."""

    def __init__(self, make, batch_size: int, seed: int, shard: Shard) -> None:
        if batch_size % shard.world_size:
            raise ValueError(f"batch_size = {batch_size} must be divisible by the number of processes "
                             f"({shard.world_size})")
        self.make, self.count, self.seed, self.shard = make, batch_size // shard.world_size, seed, shard

    def batch(self, position: int) -> Batch:
        return self.make(self.count, _seed(self.seed, 0, position, self.shard.rank))

    def __len__(self) -> int:
        return BATCHES_PER_PASS


class _SyntheticTask(Task):
    """What the four tasks share: the model section, generated batches, a fixed validation set."""

    unit = "sequences"
    throughput_key = "sequences_per_s"
    display_metric = "accuracy"
    selection = Selection("accuracy", higher_is_better=True)
    data_class: ClassVar[type]

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        data = settings["data"]
        self.validation = self.make(data.val_size, _seed(data.seed, 1))

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        train = record.get("train", {})
        if isinstance(train, dict) and "steps" not in train and "minutes" not in train:
            record = record | {"train": train | {"steps": 1000}}
        return super().settings_from_record(record, derived)

    def generator_config(self):
        data = self.settings["data"]
        config_class = self.generator_class
        return config_class(**{f.name: getattr(data, f.name) for f in fields(config_class)})

    def train_batches(self, shard: Shard) -> GeneratedBatches:
        train = self.settings["train"]
        # The stream depends on the data seed and the run seed: another seed trains on other batches.
        return GeneratedBatches(self.make, train.batch_size, _seed(self.settings["data"].seed, train.seed), shard)

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        device = next(model.parameters()).device
        size = max(self.settings["train"].batch_size, 64)
        totals: dict[str, float] = {}
        count = self.validation.size
        mine = range(shard.rank * count // shard.world_size, (shard.rank + 1) * count // shard.world_size)
        for start in range(mine.start, mine.stop, size):
            part = self.slice(self.validation, start, min(start + size, mine.stop)).to(device)
            for name, value in self.sums(model, part).items():
                totals[name] = totals.get(name, 0.0) + value
        return totals

    @staticmethod
    def slice(batch: Batch, start: int, stop: int) -> Batch:
        """Examples start … stop − 1 of a batch whose tensors are time-major (examples on dim 1; dim 0
        for per-example vectors such as targets of shape (N,))."""
        data = {name: (t[start:stop] if t.dim() == 1 else t[:, start:stop]) for name, t in batch.data.items()}
        return Batch(data, stop - start)


@dataclass(frozen=True)
class ArithData:
    """Arith (rnnkit.data.synthetic.ArithConfig) and the validation set's size and the data's seed."""

    max_digits: int = 8
    max_distractors: int = 0
    problems: int = 1
    val_size: int = 1000
    seed: int = 1234

    def __post_init__(self) -> None:
        ArithConfig(self.max_digits, self.max_distractors, self.problems)
        _check_common(self)


@dataclass(frozen=True)
class XMLData:
    """XML (rnnkit.data.synthetic.XMLConfig), the validation set's size and the data's seed."""

    num_tags: int = 16
    min_name_length: int = 2
    max_name_length: int = 10
    close_probability: float = 0.5
    val_size: int = 500
    seed: int = 1234

    def __post_init__(self) -> None:
        XMLConfig(self.num_tags, self.min_name_length, self.max_name_length, self.close_probability)
        _check_common(self)


def _check_common(data) -> None:
    if data.val_size < 1:
        raise ValueError(f"val_size must be a positive integer, got {data.val_size!r}")
    if not 0 <= data.seed < 2**63:
        raise ValueError(f"seed must be a non-negative whole number, got {data.seed!r}")


class _NextCharacterTask(_SyntheticTask):
    """Arith and XML: next-character prediction scored on the masked positions."""

    vocab_size: ClassVar[int]

    def make(self, count: int, seed: int) -> Batch:
        batch = self.generate(count, seed, self.generator_config())
        inputs, targets, mask = batch.next_character()
        return Batch({"inputs": inputs, "targets": targets, "mask": mask, "lengths": batch.lengths - 1}, count)

    def build_model(self) -> nn.Module:
        return StepwiseModel(self.settings["model"], self.vocab_size, vocab_size=self.vocab_size)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        logits = model(batch["inputs"], batch["lengths"])
        mask = batch["mask"]
        return F.cross_entropy(logits[mask].float(), batch["targets"][mask]), None

    def sums(self, model: nn.Module, batch: Batch) -> dict[str, float]:
        logits = model(batch["inputs"], batch["lengths"])
        mask, targets = batch["mask"], batch["targets"]
        right = (logits.argmax(-1) == targets) | ~mask
        answers_right, answers = answer_counts(right, mask)       # runs of scored positions
        return {"loss_sum": F.cross_entropy(logits[mask].float(), targets[mask], reduction="sum").item(),
                "scored": int(mask.sum()), "chars_right": int((right & mask).sum()),
                "all_right": int(right.all(0).sum()), "count": batch.size,
                "answers_right": answers_right, "answers": answers}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        # An answer: a run of scored positions (an Arith result, an XML closing tag's name).
        return {"loss": sums["loss_sum"] / sums["scored"], "char_accuracy": sums["chars_right"] / sums["scored"],
                "answer_accuracy": sums["answers_right"] / sums["answers"],
                "sequence_accuracy": sums["all_right"] / sums["count"]} | {"accuracy": self.accuracy(sums)}


class ArithTask(_NextCharacterTask):
    """Jozefowicz et al.'s Arith: ``3123-423=2700.``; accuracy is whole-answer accuracy, over every
    answer of a sequence when it holds several problems."""

    name = "arith"
    sections = {"data": ArithData, "model": SyntheticModel, "train": TrainConfig}
    generator_class = ArithConfig
    generate = staticmethod(generate_arith)
    vocab_size = len(arith_tokenizer())

    @staticmethod
    def accuracy(sums: dict[str, float]) -> float:
        return sums["answers_right"] / sums["answers"]


class XMLTask(_NextCharacterTask):
    """Jozefowicz et al.'s XML: accuracy over the predictable characters of the closing tags."""

    name = "xml"
    sections = {"data": XMLData, "model": SyntheticModel, "train": TrainConfig}
    generator_class = XMLConfig
    generate = staticmethod(generate_xml)
    vocab_size = len(xml_tokenizer())

    @staticmethod
    def accuracy(sums: dict[str, float]) -> float:
        return sums["chars_right"] / sums["scored"]


@dataclass(frozen=True)
class AddingData:
    length: int = 100             # T, steps per sequence (the delay the gradient must cross)
    val_size: int = 1000
    seed: int = 1234

    def __post_init__(self) -> None:
        AddingConfig(self.length)
        _check_common(self)


class AddingTask(_SyntheticTask):
    """The adding problem: mean squared error of the sum read from the last state (lower is better)."""

    name = "adding"
    sections = {"data": AddingData, "model": SyntheticModel, "train": TrainConfig}
    display_metric = "mse"
    selection = Selection("mse", higher_is_better=False)
    generator_class = AddingConfig

    def make(self, count: int, seed: int) -> Batch:
        batch = generate_adding(count, seed, self.generator_config())
        return Batch({"inputs": batch.inputs, "targets": batch.targets}, count)

    def build_model(self) -> nn.Module:
        return StepwiseModel(self.settings["model"], 1, features=2)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        return F.mse_loss(model(batch["inputs"])[-1, :, 0].float(), batch["targets"]), None

    def sums(self, model: nn.Module, batch: Batch) -> dict[str, float]:
        error = model(batch["inputs"])[-1, :, 0].float() - batch["targets"]
        return {"squared_error": float((error ** 2).sum()), "solved": int((error.abs() < 0.04).sum()),
                "count": batch.size}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        # "solved": within 0.04 of the target, the tolerance Hochreiter & Schmidhuber 1997 counted as right.
        return {"mse": sums["squared_error"] / sums["count"], "solved": sums["solved"] / sums["count"]}


@dataclass(frozen=True)
class CopyData:
    length: int = 10              # K, symbols to copy
    delay: int = 100              # D, blanks between the symbols and the delimiter
    alphabet_size: int = 8
    val_size: int = 500
    seed: int = 1234

    def __post_init__(self) -> None:
        CopyConfig(self.length, self.delay, self.alphabet_size)
        _check_common(self)


class CopyTask(_SyntheticTask):
    """The copy problem: cross-entropy at every step; accuracy over the K symbols to reproduce."""

    name = "copy"
    sections = {"data": CopyData, "model": SyntheticModel, "train": TrainConfig}
    generator_class = CopyConfig

    def make(self, count: int, seed: int) -> Batch:
        batch = generate_copy(count, seed, self.generator_config())
        return Batch({"inputs": batch.inputs, "targets": batch.targets, "mask": batch.mask}, count)

    def build_model(self) -> nn.Module:
        vocab = self.generator_config().vocab_size
        return StepwiseModel(self.settings["model"], vocab, vocab_size=vocab)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        logits = model(batch["inputs"])
        return F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten()), None

    def sums(self, model: nn.Module, batch: Batch) -> dict[str, float]:
        logits = model(batch["inputs"])
        mask, targets = batch["mask"], batch["targets"]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="sum").item()
        right = (logits.argmax(-1) == targets) & mask
        return {"loss_sum": loss, "steps": targets.numel(), "copied": int(right.sum()), "scored": int(mask.sum())}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"loss": sums["loss_sum"] / sums["steps"], "accuracy": sums["copied"] / sums["scored"]}


def evaluate_run(run_dir: str | Path) -> dict[str, float]:
    """The validation metrics of a synthetic-task run's best weights (its fixed validation set)."""
    from ..training import load_weights
    from . import runs
    from .registry import get_task_class

    config = runs.read_config(run_dir)
    task_class = get_task_class(config["task"])
    task = task_class(task_class.settings_from_record(config, derived=True), Path(run_dir))
    model = task.build_model()
    load_weights(Path(run_dir) / "model.safetensors", model)
    model.eval()
    with torch.no_grad():
        return task.metrics(task.validation_sums(model, Shard())) | {"count": task.validation.size}
