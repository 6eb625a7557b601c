"""The fixed-window language model (:mod:`rnnkit.baselines.window`) as a task of the one trainer.

It reads its text exactly as ``rnnkit train lm`` does — the same ``[corpus]`` and ``[split]``
sections, read and split by :class:`~rnnkit.tasks.language_modeling.LanguageModelingTask` itself —
so its bits per character stand beside the recurrent model's on the same held-out text. Training
examples are (k preceding tokens, next token) pairs drawn from the training part only, shuffled,
``batch_size`` per step; validation predicts every token of the validation part but its first
(the count the recurrent model predicts), each from the k tokens before it within that part.

The run directory holds config.json (corpus, split, model, train), vocab.json and the trainer's files.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..baselines.window import WindowConfig, WindowLanguageModel, windows
from ..data import DataError, Tokenizer
from ..models import LanguageModelConfig
from ..settings import SettingsError, from_record, to_record
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, TrainResult, load_weights
from ..training import read_json, write_json
from ..training.batches import SampledBatches
from ..training.task import RECORD_KEYS, State
from . import language_modeling, runs

VOCAB_FILE = language_modeling.VOCAB_FILE
DEFAULT_BATCH = 256               # windows per step when [train] batch_size is not given
EVAL_BATCH = 4096                 # windows per forward pass in evaluation


class WindowTask(Task):
    """A fixed-window feed-forward language model on the lm task's text and split (module docstring)."""

    name = "window"
    sections = {"corpus": language_modeling.CorpusConfig, "split": language_modeling.SplitConfig,
                "model": WindowConfig, "train": TrainConfig}
    selection = Selection("loss", higher_is_better=False)
    throughput_key = "tokens_per_s"

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """As the lm task reads ``corpus``, ``split`` and ``train`` (paths made absolute, a time
        budget by default), plus ``model`` (:class:`WindowConfig`); ``batch_size`` defaults to
        DEFAULT_BATCH windows."""
        unknown = sorted(set(record) - set(cls.sections) - RECORD_KEYS)
        if unknown:
            raise SettingsError(f"unknown section {unknown[0]!r}; task 'window' has: {', '.join(cls.sections)}")
        missing = [name for name in cls.sections if name not in record] if derived else []
        if missing:
            raise SettingsError(f"section [{missing[0]}] is missing")
        train = record.get("train", {})
        if isinstance(train, dict) and "batch_size" not in train:
            train = train | {"batch_size": DEFAULT_BATCH}
        shared = {name: record[name] for name in ("corpus", "split") if name in record} | {"train": train}
        lm = language_modeling.LanguageModelingTask.settings_from_record(shared)
        model = from_record(WindowConfig, record.get("model", {}), "model", complete=derived)
        return {"corpus": lm["corpus"], "split": lm["split"], "model": model, "train": lm["train"]}

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        reader = read_split(settings["corpus"], settings["split"], cache_dir)
        self.tokenizer = reader.tokenizer
        self.fingerprint = reader.fingerprint
        self.files = reader.files
        self.train_tokens = reader.train_tokens
        self.full_val_tokens = reader.val_tokens
        limit = settings["train"].val_tokens
        self.val_tokens = self.full_val_tokens if limit == 0 else self.full_val_tokens[:limit]
        if len(self.train_tokens) < 2:
            raise DataError(f"the training text has {len(self.train_tokens)} tokens; the window model needs at least 2")
        self.unit = "chars" if self.tokenizer.kind == "char" else "words"
        self.display_metric = "bpc" if self.tokenizer.kind == "char" else "perplexity"

    def config_record(self) -> dict:
        return self.settings_to_record(self.settings) | {"fingerprint": self.fingerprint}

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / VOCAB_FILE, self.tokenizer.to_json())

    def check_resume(self, run_dir: Path) -> None:
        saved = Tokenizer.from_json(read_json(run_dir / VOCAB_FILE))
        recorded = read_json(run_dir / runs.CONFIG_FILE).get("fingerprint")
        if saved.tokens != self.tokenizer.tokens or (recorded is not None and recorded != self.fingerprint):
            raise DataError(f"the text of {self.settings['corpus'].path or 'the standard library'} is not the text "
                            f"the run in {run_dir} started on; resume on the same text, or start a new run")

    def build_model(self) -> nn.Module:
        return WindowLanguageModel(self.settings["model"], len(self.tokenizer))

    def train_batches(self, shard: Shard) -> SampledBatches:
        train = self.settings["train"]
        # Example i predicts training token i + 1 from the k tokens before it.
        return SampledBatches(len(self.train_tokens) - 1, train.batch_size, lambda indices: self._batch(
            self.train_tokens, np.asarray(indices) + 1), train.seed, shard)

    def _batch(self, tokens: np.ndarray, positions: np.ndarray) -> Batch:
        context, pad = self.settings["model"].context, len(self.tokenizer)
        inputs = torch.from_numpy(windows(tokens, positions, context, pad))
        targets = torch.from_numpy(np.asarray(tokens)[positions].astype(np.int64))
        return Batch({"windows": inputs, "targets": targets}, len(positions))

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        return F.cross_entropy(model(batch["windows"]), batch["targets"]), None

    def has_validation(self) -> bool:
        return len(self.val_tokens) >= 2

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        total, count = self.evaluate(model, self.val_tokens, shard)
        return {"loss_sum": total, "count": count}

    def evaluate(self, model: nn.Module, tokens: np.ndarray, shard: Shard = Shard()) -> tuple[float, int]:
        """Summed loss (nats) and count over tokens 1 … T − 1 of ``tokens`` (this shard's share)."""
        device = next(model.parameters()).device
        positions = np.arange(1, len(tokens))[shard.rank::shard.world_size]
        total = 0.0
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for start in range(0, len(positions), EVAL_BATCH):
                batch = self._batch(tokens, positions[start: start + EVAL_BATCH]).to(device)
                logits = model(batch["windows"]).float()
                total += F.cross_entropy(logits, batch["targets"], reduction="sum").item()
        model.train(was_training)
        return total, len(positions)

    # The language model's own figures: loss in nats, bits per character or perplexity.
    metrics = language_modeling.LanguageModelingTask.metrics
    loss_metrics = language_modeling.LanguageModelingTask.loss_metrics

    def describe(self, model: nn.Module) -> str:
        parameters = sum(p.numel() for p in model.parameters())
        return (f"window language model (the last {self.settings['model'].context} tokens; {parameters:,} "
                f"parameters, {len(self.tokenizer)} {self.tokenizer.kind} tokens) on {len(self.train_tokens):,} "
                f"tokens, validating on {len(self.val_tokens):,}")


def read_split(corpus: language_modeling.CorpusConfig, split: language_modeling.SplitConfig,
               cache_dir: Path) -> language_modeling.LanguageModelingTask:
    """The lm task with ``corpus`` read and split as ``rnnkit train lm`` reads it: its ``tokenizer``,
    ``train_tokens`` and (all of the) ``val_tokens``, ``fingerprint`` and ``files``."""
    # The smallest stream settings the lm task accepts; its model is never built.
    return language_modeling.LanguageModelingTask(
        {"corpus": corpus, "split": split, "model": LanguageModelConfig(vocab_size=2), "adaptive": "off",
         "train": TrainConfig(steps=1, batch_size=1, seq_len=1, val_tokens=0)}, cache_dir)


def train(run_dir: str | Path, corpus: language_modeling.CorpusConfig, split: language_modeling.SplitConfig,
          model: WindowConfig = WindowConfig(), train_config: TrainConfig | None = None,
          **options: Any) -> TrainResult:
    """Train a window model into ``run_dir``; ``options`` go to :func:`rnnkit.tasks.runs.train`."""
    record = {"corpus": to_record(corpus), "split": to_record(split), "model": to_record(model)}
    if train_config is not None:
        record["train"] = to_record(train_config)
    return runs.train("window", WindowTask.settings_from_record(record), run_dir, **options)


def load_run(run_dir: str | Path, cache: str | Path | None = None) -> tuple[WindowTask, WindowLanguageModel]:
    """The task (its data read, encoded into ``cache`` or the default cache) and the best model (eval
    mode) of a window run directory."""
    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    if config["task"] != "window":
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run, not a window model")
    try:
        settings = WindowTask.settings_from_record(config, derived=True)
    except SettingsError as error:
        raise CheckpointError(f"{run_dir / runs.CONFIG_FILE}: {error}") from None
    task = WindowTask(settings | {"train": replace(settings["train"], val_tokens=0)}, runs.cache_dir(run_dir, cache))
    task.check_resume(run_dir)
    model = task.build_model()
    load_weights(run_dir / language_modeling.MODEL_FILE, model)
    return task, model.eval()


def evaluate_run(run_dir: str | Path, cache: str | Path | None = None) -> dict[str, Any]:
    """Loss, bits per token, perplexity and parameter count of a window run's best model on its whole
    validation part."""
    task, model = load_run(run_dir, cache)
    if len(task.full_val_tokens) < 2:
        raise DataError(f"the run in {run_dir} has no validation text (val_fraction 0)")
    total, count = task.evaluate(model, task.full_val_tokens)
    loss = total / count
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": math.exp(min(loss, 700.0)), "tokens": count,
            "tokenizer": task.tokenizer.kind, "parameters": sum(p.numel() for p in model.parameters())}
