"""Sequence classification (many-to-one): a label for a whole text or sequence.

Data sources (``[data] source``):

- ``file``: a CSV/TSV of labelled texts (:mod:`rnnkit.data.tables`), validation from ``val_path``
  or the last ``val_fraction`` of a seeded shuffle; word or character tokens; labels any strings;
- ``negation``: the generated grammar of :mod:`rnnkit.data.negation` (order and negation scope);
- ``sst2``: SST-2 (GLUE), its train split for training and its dev split for validation, read
  from ``../shared/data/sst2`` (or ``data_dir``);
- ``digits``: scikit-learn's bundled 8×8 digits, read row by row (8 steps of 8 values) or pixel by
  pixel (64 steps of 1), 20% held out (stratified): the small cousin of sequential MNIST used for the
  IRNN (Le et al. 2015).

Training batches are **bucketed by length**: each pass shuffles the examples (seeded by the pass),
cuts the order into chunks of ``bucket`` batches, sorts every chunk by length and cuts it into
batches, whose order is shuffled again. So a batch holds sequences of similar length (little
padding), and batch p is still a pure function of p: a resumed run continues exactly. Accuracy
on the validation split selects the best checkpoint.

A run directory holds, beside the trainer's files, ``labels.json`` (the label strings, index =
class id) and, for text, ``vocab.json`` (the tokenizer).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..data.corpora import DataError
from ..data.tables import Table, read_table
from ..data.tokenizers import UNK, CharTokenizer, Tokenizer, WordTokenizer
from ..models.classifier import SequenceClassifier, SequenceClassifierConfig
from ..settings import SettingsError
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, read_json, write_json
from ..training.task import RECORD_KEYS, State
from ..training.batches import LengthBucketedBatches

SOURCES = ("file", "negation", "sst2", "digits")
LABELS_FILE = "labels.json"
VOCAB_FILE = "vocab.json"
DATA_ENV = "RNNKIT_DATA_DIR"
DEFAULT_STEPS = 1000
EVAL_BATCH = 256


@dataclass(frozen=True)
class ClassifyData:
    """Where the labelled sequences come from and how texts become tokens."""

    source: str | None = None           # "file", "negation", "sst2" or "digits"; None: file with a
                                        # train_path, else negation
    train_path: str | None = None       # file: the training CSV/TSV
    val_path: str | None = None         # file: a validation CSV/TSV (default: val_fraction of path)
    text_column: str | None = None      # its name in the header, or a 0-based number (default: found)
    label_column: str | None = None     # likewise (default: found, else the last column)
    delimiter: str | None = None        # default: tab for .tsv, comma for .csv, else sniffed
    encoding: str = "utf-8"             # of the files
    val_fraction: float = 0.1           # file without val_path: held out (seeded shuffle)
    tokens: str = "word"                # "word" (whitespace-separated) or "char"
    lowercase: bool = True              # lower-case texts before tokenising
    min_count: int = 1                  # rarer tokens become <unk>
    max_vocab: int | None = None        # keep the most frequent tokens only
    size: int = 4000                    # negation: training sentences
    val_size: int = 1000                # negation: held-out sentences
    digits: str = "rows"                # digits: "rows" (8 steps × 8 values) or "pixels" (64 × 1)
    data_dir: str | None = None         # sst2: the folder of the shared data sets (holds sst2/)
    bucket: int = 50                    # batches per length bucket; 1: no bucketing
    seed: int = 0                       # the data's own seed (generation, splits)

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "file" and self.train_path is None:
            raise ValueError("source 'file' needs a path: give --data FILE (a CSV or TSV), or a built-in --task")
        if self.source not in (None, "file") and (self.train_path or self.val_path):
            raise ValueError(f"source {self.source!r} is built in: it takes no training or validation file")
        if self.tokens not in ("word", "char"):
            raise ValueError(f"tokens must be 'word' or 'char', got {self.tokens!r}")
        if self.digits not in ("rows", "pixels"):
            raise ValueError(f"digits must be 'rows' or 'pixels', got {self.digits!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        for name in ("min_count", "bucket"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.max_vocab is not None and self.max_vocab < 3:
            raise ValueError(f"max_vocab must be at least 3, got {self.max_vocab!r}")
        for name in ("size", "val_size"):
            value = getattr(self, name)
            if value < 4 or value % 2:
                raise ValueError(f"{name} must be an even number of at least 4 (half of each label), got {value!r}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a non-negative whole number, got {self.seed!r}")

    @property
    def is_text(self) -> bool:
        return self.source != "digits"


# ------------------------------------------------------------------------------------------------
# Reading the data


def shared_data_dir(given: str | None = None) -> Path:
    """The shared data sets' folder: ``given``, $RNNKIT_DATA_DIR, or ``../shared/data`` beside the
    working directory or the source checkout."""
    if given or os.environ.get(DATA_ENV):
        return Path(given or os.environ[DATA_ENV]).expanduser()
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = root.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


def sst2_files(data_dir: str | None = None) -> tuple[Path, Path]:
    """SST-2's train.tsv and dev.tsv, with a clear error when they are not there."""
    folder = shared_data_dir(data_dir) / "sst2"
    train, dev = folder / "train.tsv", folder / "dev.tsv"
    if not (train.is_file() and dev.is_file()):
        raise DataError(f"SST-2 is not in {folder} (train.tsv and dev.tsv): put the GLUE SST-2 files there, or "
                        f"give the folder that holds sst2/ with --data-dir or ${DATA_ENV}")
    return train, dev


def split_text(text: str, tokens: str, lowercase: bool) -> list[str]:
    """The token strings of one text: whitespace-separated words or characters."""
    text = text.lower() if lowercase else text
    return text.split() if tokens == "word" else list(text)


def _sorted_labels(labels: Sequence[str]) -> list[str]:
    """Distinct labels, numerically ordered when they are all integers, else alphabetically."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


def digits_arrays(mode: str, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` of scikit-learn's digits, x (N, T, F) in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)                      # (N, 8, 8)
    x = images.reshape(len(images), 8, 8) if mode == "rows" else images.reshape(len(images), 64, 1)
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, stratify=digits.target,
                                                        random_state=seed)
    return (x_train, y_train), (x_test, y_test)


@dataclass
class Examples:
    """Encoded examples: one tensor per sequence ((T,) ids or (T, F) values) and class ids."""

    sequences: list[Tensor]
    labels: Tensor                      # (N,) int64
    texts: list[str] | None = None      # the raw texts (text tasks), for the baselines
    label_strings: list[str] | None = None

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> list[int]:
        return [len(s) for s in self.sequences]


def encode_texts(texts: Sequence[str], tokenizer: Tokenizer, data: ClassifyData) -> list[Tensor]:
    """Token ids of each text; an empty text becomes the single token <unk> (a sequence needs a step)."""
    index, unk = tokenizer.index, tokenizer.unk_id
    encoded = []
    for text in texts:
        ids = [index.get(token, unk) for token in split_text(text, data.tokens, data.lowercase)] or [unk]
        encoded.append(torch.tensor(ids, dtype=torch.long))
    return encoded


def fit_tokenizer(texts: Sequence[str], data: ClassifyData) -> Tokenizer:
    kind = CharTokenizer if data.tokens == "char" else WordTokenizer
    pieces = (" ".join(split_text(t, data.tokens, data.lowercase)) if data.tokens == "word"
              else "".join(split_text(t, "char", data.lowercase)) for t in texts)
    # fit() splits words at whitespace (and adds <eos>, unused here); chars one by one.
    return kind.fit(pieces, min_count=data.min_count, max_size=data.max_vocab)


def label_ids(labels: Sequence[str], known: list[str], table: Table | None, what: str) -> Tensor:
    """Class ids of ``labels``; a label the training split never had is an error naming its line."""
    index = {label: i for i, label in enumerate(known)}
    ids = []
    for position, label in enumerate(labels):
        if label not in index:
            where = f"{table.path}:{table.lines[position]}" if table is not None else what
            raise DataError(f"{where}: label {label!r} does not occur in the training data, whose labels are: "
                            f"{', '.join(known)}")
        ids.append(index[label])
    return torch.tensor(ids, dtype=torch.long)


Split = tuple[list[str], list[str], Table | None]      # texts, labels, the table they came from (for lines)


def read_texts(data: ClassifyData) -> tuple[Split, Split]:
    """The training and validation ``(texts, labels, table)`` of a text source."""
    if data.source == "negation":
        from ..data import negation
        (train_texts, train_labels), (val_texts, val_labels) = negation.splits(data.size, data.val_size, data.seed)
        return (train_texts, train_labels, None), (val_texts, val_labels, None)
    if data.source == "sst2":
        train_path, val_path = sst2_files(data.data_dir)
        columns = {"text_column": "sentence", "label_column": "label"}
        train, val = read_table(train_path, **columns), read_table(val_path, **columns)
        return (train.texts, train.labels, train), (val.texts, val.labels, val)
    columns = {"text_column": data.text_column, "label_column": data.label_column, "delimiter": data.delimiter,
               "encoding": data.encoding}
    train = read_table(data.train_path, **columns)
    if data.val_path is not None:
        val = read_table(data.val_path, **columns)
        return (train.texts, train.labels, train), (val.texts, val.labels, val)
    order = np.random.default_rng(data.seed).permutation(len(train))
    held = max(1, int(round(len(train) * data.val_fraction)))
    if len(train) - held < 2:
        raise DataError(f"{train.path} has {len(train)} examples: too few to hold out a validation split; "
                        f"give more, or a separate --val-data file")
    val_rows, train_rows = sorted(order[:held]), sorted(order[held:])
    pick = lambda rows: Table(train.path, [train.texts[i] for i in rows], [train.labels[i] for i in rows],
                              [train.lines[i] for i in rows])
    train_part, val_part = pick(train_rows), pick(val_rows)
    return (train_part.texts, train_part.labels, train_part), (val_part.texts, val_part.labels, val_part)


def check_labels(labels: list[str], where: str) -> None:
    if len(labels) < 2:
        only = labels[0] if labels else "none"
        raise DataError(f"{where}: every training example has the same label ({only!r}): a classifier needs at "
                        f"least two classes")


# ------------------------------------------------------------------------------------------------
# Batches


def collate(sequences: Sequence[Tensor], labels: Tensor) -> Batch:
    """Padded ``inputs`` ((T, B) ids or (T, B, F) values), ``lengths (B,)``, ``labels (B,)``."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    inputs = nn.utils.rnn.pad_sequence(list(sequences))                        # zero padding (masked)
    return Batch({"inputs": inputs, "lengths": lengths, "labels": labels}, len(sequences))


class BucketedBatches(LengthBucketedBatches):
    """Batches of examples of similar length, addressed by position (rnnkit.training.batches)."""

    def __init__(self, examples: Examples, batch_size: int, bucket: int, seed: int, shard: Shard = Shard()) -> None:
        self.examples = examples
        super().__init__(examples.lengths, batch_size, bucket, seed, self._collate, shard, what="examples")

    def _collate(self, chosen: list[int], position: int) -> Batch:
        return collate([self.examples.sequences[i] for i in chosen], self.examples.labels[chosen])


def eval_batches(examples: Examples, shard: Shard = Shard(), size: int = EVAL_BATCH):
    """This shard's examples in batches sorted by length: ``(indices, batch)`` pairs."""
    mine = np.arange(len(examples))[shard.rank:: shard.world_size]
    mine = mine[np.argsort(np.array(examples.lengths)[mine], kind="stable")]
    for start in range(0, len(mine), size):
        chosen = [int(i) for i in mine[start: start + size]]
        yield chosen, collate([examples.sequences[i] for i in chosen], examples.labels[chosen])


# ------------------------------------------------------------------------------------------------
# The task


class ClassificationTask(Task):
    """Many-to-one classification of texts or real-valued sequences (module docstring)."""

    name = "classify"
    unit = "sequences"
    throughput_key = "sequences_per_s"
    display_metric = "accuracy"
    sections = {"data": ClassifyData, "model": SequenceClassifierConfig, "train": TrainConfig}
    selection = Selection("accuracy", higher_is_better=True)

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """The sections; a ``train`` without a budget gets ``steps = DEFAULT_STEPS``, paths are
        made absolute (found again from any working directory), and an unset source is ``file``
        when a training file is given, else ``negation``."""
        unknown = sorted(set(record) - set(cls.sections) - RECORD_KEYS)
        if unknown:
            raise SettingsError(f"unknown section {unknown[0]!r}; task 'classify' has: {', '.join(cls.sections)}")
        train = record.get("train", {})
        if isinstance(train, dict) and "steps" not in train and "minutes" not in train:
            record = record | {"train": train | {"steps": DEFAULT_STEPS}}
        settings = super().settings_from_record(record, derived)
        if not derived:
            data = settings["data"]
            absolute = lambda p: None if p is None else str(Path(p).expanduser().resolve())
            source = data.source or ("file" if data.train_path is not None else "negation")
            settings["data"] = replace(data, source=source, train_path=absolute(data.train_path),
                                       val_path=absolute(data.val_path), data_dir=absolute(data.data_dir))
            if settings["data"].is_text and not settings["model"].input_layer:
                # Said here, before a run directory is named, rather than when the model is built.
                raise SettingsError(f"input_layer = false (--no-input-layer) is for real-valued inputs (--task "
                                    f"digits); text ({source!r}) is always read through an embedding")
        return settings

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        data: ClassifyData = settings["data"]
        self.data = data
        self.tokenizer: Tokenizer | None = None
        if data.is_text:
            (train_texts, train_labels, train_table), (val_texts, val_labels, val_table) = read_texts(data)
            self.labels = _sorted_labels(train_labels)
            check_labels(self.labels, train_table.path if train_table is not None else "the training split")
            self.tokenizer = fit_tokenizer(train_texts, data)
            self.train_set = Examples(encode_texts(train_texts, self.tokenizer, data),
                                      label_ids(train_labels, self.labels, train_table, "training"),
                                      list(train_texts), list(train_labels))
            self.val_set = Examples(encode_texts(val_texts, self.tokenizer, data),
                                    label_ids(val_labels, self.labels, val_table, "validation"),
                                    list(val_texts), list(val_labels))
        else:
            (x_train, y_train), (x_test, y_test) = digits_arrays(data.digits, data.seed)
            self.labels = [str(d) for d in range(10)]
            self.train_set = Examples([torch.from_numpy(x) for x in x_train], torch.from_numpy(y_train).long())
            self.val_set = Examples([torch.from_numpy(x) for x in x_test], torch.from_numpy(y_test).long())

    # -- what the run directory records

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / LABELS_FILE, {"labels": self.labels})
        if self.tokenizer is not None:
            write_json(run_dir / VOCAB_FILE, self.tokenizer.to_json())

    def check_resume(self, run_dir: Path) -> None:
        saved = read_json(run_dir / LABELS_FILE).get("labels")
        if saved != self.labels:
            raise CheckpointError(f"the labels of the data ({self.labels}) are not those the run in {run_dir} "
                                  f"started with ({saved}): the data changed")
        if self.tokenizer is not None and read_json(run_dir / VOCAB_FILE).get("tokens") != self.tokenizer.tokens:
            raise CheckpointError(f"the data's vocabulary differs from {run_dir / VOCAB_FILE}: the data changed")

    # -- model, batches, loss, metrics

    def build_model(self) -> SequenceClassifier:
        return build_classifier(self.settings["model"], self.data, len(self.labels),
                                len(self.tokenizer) if self.tokenizer is not None else None)

    def train_batches(self, shard: Shard) -> BucketedBatches:
        train = self.settings["train"]
        return BucketedBatches(self.train_set, train.batch_size, self.data.bucket, train.seed, shard)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        logits = model(batch["inputs"], batch["lengths"])
        return F.cross_entropy(logits.float(), batch["labels"]), None

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        device = next(model.parameters()).device
        loss_sum, correct, count = 0.0, 0, 0
        for _, batch in eval_batches(self.val_set, shard):
            batch = batch.to(device)
            logits = model(batch["inputs"], batch["lengths"]).float()
            loss_sum += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
            correct += int((logits.argmax(-1) == batch["labels"]).sum())
            count += batch.size
        return {"loss_sum": loss_sum, "correct": correct, "count": count}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        count = max(sums["count"], 1)
        return {"loss": sums["loss_sum"] / count, "accuracy": sums["correct"] / count}

    def describe(self, model: nn.Module) -> str:
        parameters = sum(p.numel() for p in model.parameters())
        what = {"file": Path(self.data.train_path or "").name, "negation": "the negation grammar", "sst2": "SST-2",
                "digits": f"digits ({self.data.digits})"}[self.data.source]
        vocab = f", {len(self.tokenizer):,} {self.data.tokens} tokens" if self.tokenizer is not None else ""
        return (f"classify: {type(model).__name__} ({self.settings['model'].cell}, {self.settings['model'].pooling} "
                f"pooling) with {parameters:,} parameters on {what}: {len(self.train_set):,} training / "
                f"{len(self.val_set):,} validation sequences, {len(self.labels)} labels{vocab}")


def build_classifier(config: SequenceClassifierConfig, data: ClassifyData, classes: int,
                     vocab_size: int | None) -> SequenceClassifier:
    if data.is_text:
        return SequenceClassifier(config, classes, vocab_size=vocab_size)
    return SequenceClassifier(config, classes, input_size=8 if data.digits == "rows" else 1)


# ------------------------------------------------------------------------------------------------
# A trained run: loading, predicting, evaluating


@dataclass
class ClassifierRun:
    """A trained classify run: its best model, labels, tokenizer (text) and settings."""

    model: SequenceClassifier
    labels: list[str]
    tokenizer: Tokenizer | None
    settings: dict[str, Any]

    @property
    def data(self) -> ClassifyData:
        return self.settings["data"]

    def encode(self, texts: Sequence[str]) -> list[Tensor]:
        if self.tokenizer is None:
            raise ValueError("this run classifies digit images, not texts")
        return encode_texts(texts, self.tokenizer, self.data)

    def tokens(self, text: str) -> list[str]:
        """The tokens the model reads for ``text`` (unknown ones shown as <unk>); empty text: [<unk>]."""
        pieces = split_text(text, self.data.tokens, self.data.lowercase)
        return [p if p in self.tokenizer.index else UNK for p in pieces] or [UNK]

    @torch.no_grad()
    def probabilities(self, sequences: Sequence[Tensor]) -> Tensor:
        """Class probabilities (N, C) of encoded sequences, in their order."""
        examples = Examples(list(sequences), torch.zeros(len(sequences), dtype=torch.long))
        device = next(self.model.parameters()).device
        out = torch.empty(len(sequences), len(self.labels))
        for chosen, batch in eval_batches(examples):
            batch = batch.to(device)
            out[chosen] = torch.softmax(self.model(batch["inputs"], batch["lengths"]).float(), -1).cpu()
        return out

    @torch.no_grad()
    def explain(self, sequence: Tensor) -> tuple[Tensor, Tensor]:
        """Probabilities (C,) and each step's importance (T,) for one encoded sequence."""
        device = next(self.model.parameters()).device
        batch = collate([sequence], torch.zeros(1, dtype=torch.long)).to(device)
        logits, weights = self.model.explain(batch["inputs"], batch["lengths"])
        return torch.softmax(logits.float(), -1)[0].cpu(), weights[:, 0].cpu()


def load_run(run_dir: str | Path) -> ClassifierRun:
    """The best model of a classify run, in eval mode, with its labels and tokenizer."""
    from ..training import load_weights
    from . import runs

    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    if config["task"] != ClassificationTask.name:
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run, not a classify run")
    settings = ClassificationTask.settings_from_record(config, derived=True)
    for name in (LABELS_FILE, "model.safetensors"):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"{run_dir / name} does not exist: the run has not saved a model yet")
    labels = read_json(run_dir / LABELS_FILE).get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"{run_dir / LABELS_FILE} must hold {{\"labels\": [two or more strings]}}")
    tokenizer = None
    if settings["data"].is_text:
        try:
            tokenizer = Tokenizer.from_json(read_json(run_dir / VOCAB_FILE))
        except ValueError as error:
            raise CheckpointError(f"{run_dir / VOCAB_FILE}: {error}") from None
    model = build_classifier(settings["model"], settings["data"], len(labels),
                             len(tokenizer) if tokenizer is not None else None)
    load_weights(run_dir / "model.safetensors", model)
    return ClassifierRun(model.eval(), labels, tokenizer, settings)


def held_out(run: ClassifierRun, data_file: str | None = None) -> tuple[Examples, Examples | None]:
    """The examples to evaluate on (``data_file``, else the run's validation split) and, for text,
    the training split (for the baselines). A label the run does not know is an error naming the line."""
    data = run.data
    if data_file is not None:
        if not data.is_text:
            raise ValueError("a digits run is evaluated on its own held-out 20%; --data is for text runs")
        columns = ({"text_column": "sentence", "label_column": "label"} if data.source == "sst2" else
                   {"text_column": data.text_column, "label_column": data.label_column,
                    "delimiter": data.delimiter, "encoding": data.encoding})
        table = read_table(data_file, **columns)
        test = Examples(run.encode(table.texts), label_ids(table.labels, run.labels, table, data_file),
                        table.texts, table.labels)
    else:
        test = None
    if data.is_text:
        (train_texts, train_labels, _), (val_texts, val_labels, val_table) = read_texts(data)
        train = Examples(run.encode(train_texts), label_ids(train_labels, run.labels, None, "training"),
                         list(train_texts), list(train_labels))
        if test is None:
            test = Examples(run.encode(val_texts), label_ids(val_labels, run.labels, val_table, "validation"),
                            list(val_texts), list(val_labels))
        return test, train
    _, (x_test, y_test) = digits_arrays(data.digits, data.seed)
    return Examples([torch.from_numpy(x) for x in x_test], torch.from_numpy(y_test).long()), None


def classification_report(labels: list[str], truth: Sequence[int], predicted: Sequence[int]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=ids, average="macro", zero_division=0)),
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support)},
        "confusion": confusion_matrix(truth, predicted, labels=ids).tolist(),
        "labels": labels,
        "count": len(truth),
    }


def evaluate_run(run_dir: str | Path, data_file: str | None = None, baselines: bool = True) -> dict[str, Any]:
    """The report of :func:`classification_report` for a run's best model on ``data_file`` (else its
    validation split), with the text baselines fitted on the run's training split."""
    run = load_run(run_dir)
    test, train = held_out(run, data_file)
    probabilities = run.probabilities(test.sequences)
    report = classification_report(run.labels, test.labels.tolist(), probabilities.argmax(-1).tolist())
    report["data"] = data_file or "validation split"
    if baselines and train is not None:
        from ..baselines.text import fit_baselines

        fitted = fit_baselines(train.texts, train.label_strings, test.texts, test.label_strings)
        report["baselines"] = {name: {"accuracy": result["accuracy"], "seconds": result["seconds"]}
                               for name, result in fitted.items()}
    return report
