"""Sequence tagging: a label for every token, through the one trainer.

Two sources of aligned data ([data] kind):

- ``pytokens`` (the default): Python source, character by character, each character labelled with
  its token type by Python's own ``tokenize`` (:mod:`rnnkit.data.pytokens`); by default the standard
  library's source, as for the language model, or the ``*.py`` files of ``source``.
- ``conll``: the user's own file of ``token<TAB>label`` lines, a blank line between sequences
  (:mod:`rnnkit.data.conll`); the tokens are words.

Validation data is held out by whole files (pytokens: files from the end of a seeded order, until
they hold ``val_fraction`` of the characters) or whole sequences (conll) — never a part of
a file the model trains on — or comes from its own file (``val_source``, conll). Sequences are cut
into chunks of at most ``chunk_length`` tokens, the units that are batched and padded: each CoNLL
sequence on its own, the Python files as one stream (each file is a complete token stream, so a
chunk may hold the end of one file and the start of the next, and all chunks but the last are full). The
loss is the cross-entropy per valid token (:func:`rnnkit.models.tagger.tagging_loss`); validation
reports it with the accuracy per token (which selects the best checkpoint) and the macro-F1.

A run directory holds, beside the trainer's files::

    RUN_DIR/config.json     data, model and train sections
            vocab.json      the tokens (characters or words) of the training data
            labels.json     the labels, in the order of the model's outputs
"""

from __future__ import annotations

import operator
import random
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..data import CharTokenizer, DataError, Tokenizer, WordTokenizer
from ..data.conll import TaggedSequence, check_labels, label_set, read_conll
from ..data.pytokens import LABELS as PYTOKEN_LABELS
from ..data.pytokens import label_files, python_sources
from ..models.tagger import SequenceTagger, TaggerConfig, tagging_loss
from ..settings import SettingsError
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, load_weights, read_json, write_json
from ..training.batches import SampledBatches
from ..training.task import State

VOCAB_FILE = "vocab.json"
LABELS_FILE = "labels.json"
KINDS = ("pytokens", "conll")
DEFAULT_STEPS = 1000            # the budget when neither steps nor minutes is given
OUTLIER = 10                    # pytokens: files over this many times the median length are never held out


@dataclass(frozen=True)
class TagData:
    """Where the aligned data comes from and how it is cut (module docstring)."""

    kind: str = "pytokens"              # "pytokens" (Python source by characters) or "conll" (a file)
    source: str | None = None           # pytokens: a .py file or directory (None: the standard library);
                                        # conll: the token<TAB>label file (required)
    val_source: str | None = None       # conll: a separate validation file; None: hold out val_fraction
    val_fraction: float = 0.1           # files (pytokens) or sequences (conll) held out for validation
    max_chars: int = 3_000_000          # pytokens: read files (in a seeded order) up to this many
                                        # characters; 0: every file
    chunk_length: int = 256             # longer sequences are cut into chunks of at most this many tokens
    eval_context: int | None = None     # validation and eval read each chunk with up to this many tokens
                                        # of its sequence on either side; None: half a chunk
    min_count: int = 1                  # conll: words seen fewer times in training become <unk>
    encoding: str = "utf-8"             # conll: the files' text encoding
    seed: int = 1234                    # the held-out choice and the order files are read in

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.kind == "conll" and self.source is None:
            raise ValueError("conll data needs its file: give --data FILE (token<TAB>label lines)")
        if self.kind == "pytokens" and self.val_source is not None:
            raise ValueError("val_source is for conll data; pytokens holds out whole files (--val-fraction)")
        if not (isinstance(self.val_fraction, (int, float)) and 0.0 <= self.val_fraction < 1.0):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        for name in ("chunk_length", "min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        context = self.eval_context
        if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 0):
            raise ValueError(f"eval_context must be a whole number of tokens ≥ 0, or unset for half a chunk; "
                             f"got {self.eval_context!r}")
        if isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or self.max_chars < 0:
            raise ValueError(f"max_chars must be a positive integer, or 0 for every file; got {self.max_chars!r}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a non-negative whole number, got {self.seed!r}")

    @property
    def read_context(self) -> int:
        """The context validation and evaluation read around each chunk."""
        return self.chunk_length // 2 if self.eval_context is None else self.eval_context


@dataclass
class Encoded:
    """Sequences as one array of token ids and one of label ids, the (start, end) of each chunk, and
    the (start, end) of the sequence (or stream) each chunk lies in, which bounds its context."""

    tokens: np.ndarray                  # (N,) int64
    labels: np.ndarray                  # (N,) int64
    spans: list[tuple[int, int]]        # chunks, each at most chunk_length long
    limits: list[tuple[int, int]]       # per chunk: the sequence it belongs to

    @classmethod
    def join(cls, sequences: list[tuple[np.ndarray, np.ndarray]], chunk_length: int, stream: bool = False) -> Encoded:
        """Sequences cut into chunks each on its own, or with ``stream`` cut as one concatenated stream."""
        ends = np.cumsum([len(tokens) for tokens, _ in sequences]).tolist()
        bounds = [(0, ends[-1])] if stream and ends else list(zip([0, *ends[:-1]], ends))
        pairs = [((s, min(s + chunk_length, end)), (start, end))
                 for start, end in bounds for s in range(start, end, chunk_length)]
        empty = np.zeros(0, dtype=np.int64)
        return cls(np.concatenate([t for t, _ in sequences] or [empty]).astype(np.int64),
                   np.concatenate([y for _, y in sequences] or [empty]).astype(np.int64),
                   [span for span, _ in pairs], [limit for _, limit in pairs])

    @property
    def size(self) -> int:
        return len(self.tokens)

    def window(self, chunk: int, context: int) -> tuple[int, int]:
        """The chunk widened by up to ``context`` tokens on either side, inside its own sequence."""
        (start, end), (low, high) = self.spans[chunk], self.limits[chunk]
        return max(low, start - context), min(high, end + context)

    def batch(self, chunks: list[int], context: int = 0) -> Batch:
        """Chunks padded into ``tokens (T, B)``, ``labels (T, B)`` and ``lengths (B,)`` (time-major).
        With ``context``, each chunk is read inside its window (:meth:`window`), and ``core (T, B)``
        marks the chunk's own steps: the only ones to score, each token counted once over all chunks."""
        windows = [self.window(i, context) for i in chunks]
        lengths = [end - start for start, end in windows]
        tokens = np.zeros((max(lengths), len(windows)), dtype=np.int64)
        labels = np.zeros_like(tokens)
        core = np.zeros(tokens.shape, dtype=bool)
        for b, ((start, end), (first, last)) in enumerate(zip(windows, (self.spans[i] for i in chunks))):
            tokens[: end - start, b] = self.tokens[start:end]
            labels[: end - start, b] = self.labels[start:end]
            core[first - start: last - start, b] = True
        return Batch({"tokens": torch.from_numpy(tokens), "labels": torch.from_numpy(labels),
                      "lengths": torch.tensor(lengths), "core": torch.from_numpy(core)}, sum(lengths))


class TaggingTask(Task):
    """Sequence tagging of Python source characters or of a CoNLL file (module docstring)."""

    name = "tag"
    unit = "tokens"
    throughput_key = "tokens_per_s"
    display_metric = "accuracy"
    sections = {"data": TagData, "model": TaggerConfig, "train": TrainConfig}
    selection = Selection("accuracy", higher_is_better=True)

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """As :meth:`Task.settings_from_record`; a [data] source without a kind is a CoNLL file, a
        budget neither of steps nor minutes is DEFAULT_STEPS steps, a run's config written before
        ``eval_context`` existed reads as its default, and paths become absolute."""
        data, train = record.get("data", {}), record.get("train", {})
        if not derived and isinstance(data, dict) and data.get("source") is not None and "kind" not in data:
            record = record | {"data": data | {"kind": "conll"}}
        if derived and isinstance(data, dict) and "eval_context" not in data:
            record = record | {"data": data | {"eval_context": None}}     # a run from before the setting
        if isinstance(train, dict) and "steps" not in train and "minutes" not in train:
            record = record | {"train": train | {"steps": DEFAULT_STEPS}}
        settings = super().settings_from_record(record, derived)
        data = settings["data"]
        paths = {name: str(Path(getattr(data, name)).expanduser().resolve())
                 for name in ("source", "val_source") if getattr(data, name) is not None}
        return settings | {"data": replace(data, **paths)}

    def __init__(self, settings: dict[str, Any], cache_dir: Path, progress: bool = True) -> None:
        super().__init__(settings, cache_dir)
        data = settings["data"]
        if data.kind == "pytokens":
            self.tokenizer, self.labels, train, val, self.held_out = _pytokens(data, progress)
            self.unit = "chars"
        else:
            self.tokenizer, self.labels, train, val, self.held_out = _conll(data)
            self.unit = "words"
        # Python files are complete token streams, so one may follow another inside a chunk: every
        # chunk but the last is full, which keeps the fused kernels off their slow packed path.
        stream = data.kind == "pytokens"
        self.train_set = Encoded.join(train, data.chunk_length, stream)
        self.val_set = Encoded.join(val, data.chunk_length, stream)
        self.sources = len(train), len(val)

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / VOCAB_FILE, self.tokenizer.to_json())
        write_json(run_dir / LABELS_FILE, {"kind": self.settings["data"].kind, "labels": self.labels})

    def check_resume(self, run_dir: Path) -> None:
        tokenizer, labels = read_artefacts(run_dir)
        source = self.settings["data"].source or "the standard library"
        if tokenizer.tokens != self.tokenizer.tokens or labels != self.labels:
            raise DataError(f"the data of {source} changed since the run in {run_dir} started: its "
                            f"{'vocabulary' if labels == self.labels else 'label set'} differs from the run's "
                            f"{VOCAB_FILE if labels == self.labels else LABELS_FILE}")

    def build_model(self) -> nn.Module:
        return SequenceTagger(self.settings["model"], len(self.tokenizer), len(self.labels))

    def train_batches(self, shard: Shard) -> SampledBatches:
        train = self.settings["train"]
        return SampledBatches(len(self.train_set.spans), train.batch_size, self.train_set.batch, train.seed, shard)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        return tagging_loss(model(batch["tokens"], batch["lengths"]), batch["labels"], batch["lengths"]), None

    def has_validation(self) -> bool:
        return self.val_set.size > 0

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        true, predicted, loss_sum = predict_encoded(model, self.val_set, self.settings["train"].batch_size * 4, shard,
                                                    self.settings["data"].read_context)
        return label_counts(true, predicted, len(self.labels)) | {"loss_sum": loss_sum}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        count = max(sums["count"], 1)
        f1 = [2 * sums[f"hit_{i}"] / (sums[f"true_{i}"] + sums[f"pred_{i}"]) for i in range(len(self.labels))
              if sums[f"true_{i}"] + sums[f"pred_{i}"] > 0]
        return {"loss": sums["loss_sum"] / count, "accuracy": sums["correct"] / count,
                "macro_f1": sum(f1) / max(len(f1), 1)}

    def describe(self, model: nn.Module) -> str:
        train_files, val_files = self.sources
        what = "files" if self.settings["data"].kind == "pytokens" else "sequences"
        return (f"{super().describe(model)}, {len(self.labels)} labels, on {self.train_set.size:,} {self.unit} "
                f"({train_files:,} {what}; {self.val_set.size:,} {self.unit} of {val_files:,} held out)")


# --------------------------------------------------------------------------------------------------
# The data


def _pytokens(data: TagData, progress: bool) -> tuple[Tokenizer, list[str], list, list, list]:
    """Labelled Python files, held out by whole files (the last item: those files); characters as tokens."""
    labelled = label_files(python_sources(data.source), data.max_chars or None, data.seed, progress)
    count, texts = len(labelled.texts), labelled.texts
    # From the end of the seeded order, the files that fit, until they hold val_fraction of the
    # characters: a file that would overshoot that by half stays in training, and so does one more
    # than OUTLIER times the median file's length (pydoc_data/topics.py, 757k characters of generated
    # string literals, would otherwise be half of the held-out characters and decide the figure).
    target, held, held_chars = data.val_fraction * labelled.characters, [], 0
    longest = OUTLIER * float(np.median([len(text) for text in texts])) if texts else 0.0
    for i in reversed(range(count)):
        if held_chars >= target or len(held) == count - 1:
            break
        if held_chars + len(texts[i]) <= 1.5 * target and len(texts[i]) <= longest:
            held.append(i)
            held_chars += len(texts[i])
    if data.val_fraction > 0 and not held:
        if count < 2:
            limit = f", up to --max-chars {data.max_chars:,}" if data.max_chars else ""
            raise DataError(f"only one Python file was read (from {data.source or 'the standard library'}{limit}): "
                            f"validation holds out whole files, so give more files, a larger --max-chars, or "
                            f"--val-fraction 0")
        held = [min(range(count), key=lambda i: len(texts[i]))]
    pairs = list(zip(texts, labelled.labels))
    train = [pair for i, pair in enumerate(pairs) if i not in held]
    val = [pairs[i] for i in sorted(held)]
    tokenizer = CharTokenizer.fit(text for text, _ in train)
    if labelled.skipped and progress:
        print(f"pytokens: skipped {len(labelled.skipped)} of {len(labelled.skipped) + count} files that tokenize "
              f"rejects (e.g. {labelled.skipped[0][0]}: {labelled.skipped[0][1]})", file=sys.stderr)
    return (tokenizer, list(PYTOKEN_LABELS), [(tokenizer.encode(text), labels) for text, labels in train],
            [(tokenizer.encode(text), labels) for text, labels in val], [labelled.files[i] for i in sorted(held)])


def _conll(data: TagData) -> tuple[Tokenizer, list[str], list, list, list]:
    """A CoNLL file's sequences, with a validation file or sequences held out (the last item: the
    lines where the held-out sequences start); words as tokens."""
    sequences = read_conll(data.source, data.encoding)
    if data.val_source is not None:
        train, val = sequences, read_conll(data.val_source, data.encoding)
    else:
        order = list(range(len(sequences)))
        random.Random(data.seed).shuffle(order)
        held = round(len(order) * data.val_fraction)
        if data.val_fraction > 0 and held == 0 and len(order) >= 2:
            held = 1
        val = [sequences[i] for i in sorted(order[:held])]
        train = [sequences[i] for i in sorted(order[held:])]
    if not train:
        raise DataError(f"{data.source} holds {len(sequences)} sequence(s): none is left for training after holding "
                        f"out --val-fraction {data.val_fraction:g}")
    labels = label_set(train, data.source)
    check_labels(val, labels, data.val_source or data.source)
    counts = Counter(token for sequence in train for token in sequence.tokens)
    kept = [token for token, count in counts.most_common() if count >= data.min_count and token not in
            WordTokenizer.specials]
    tokenizer = WordTokenizer([*WordTokenizer.specials, *kept])
    return (tokenizer, labels, encode_sequences(train, tokenizer, labels), encode_sequences(val, tokenizer, labels),
            [sequence.line for sequence in val])


def encode_sequences(sequences: list[TaggedSequence], tokenizer: Tokenizer,
                     labels: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Token and label ids of CoNLL sequences (unknown words: <unk>; the labels must be known)."""
    label_index = {label: i for i, label in enumerate(labels)}
    return [(np.array([tokenizer.index.get(token, tokenizer.unk_id) for token in sequence.tokens], dtype=np.int64),
             np.array([label_index[label] for label in sequence.labels], dtype=np.int64))
            for sequence in sequences]


# --------------------------------------------------------------------------------------------------
# Prediction and counts


@torch.no_grad()
def predict_encoded(model: nn.Module, encoded: Encoded, batch_size: int, shard: Shard = Shard(),
                    context: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """True and predicted label ids of this shard's chunks (concatenated), and the summed loss; each
    chunk read with ``context`` tokens of its sequence on either side (:meth:`Encoded.batch`), so
    that a token near a chunk's edge is tagged knowing what surrounds it."""
    device = next(model.parameters()).device
    chunks = list(range(shard.rank, len(encoded.spans), shard.world_size))
    # Longest first, so a batch pads little.
    chunks.sort(key=lambda i: operator.sub(*encoded.window(i, context)))
    true, predicted, loss_sum = [], [], 0.0
    for start in range(0, len(chunks), batch_size):
        batch = encoded.batch(chunks[start: start + batch_size], context).to(device)
        scores = model(batch["tokens"], batch["lengths"])
        mask = batch["core"]
        loss_sum += F.cross_entropy(scores[mask].float(), batch["labels"][mask], reduction="sum").item()
        true.append(batch["labels"][mask].cpu().numpy())
        predicted.append(scores.argmax(-1)[mask].cpu().numpy())
    empty = np.zeros(0, dtype=np.int64)
    return np.concatenate(true or [empty]), np.concatenate(predicted or [empty]), loss_sum


def label_counts(true: np.ndarray, predicted: np.ndarray, num_labels: int) -> dict[str, float]:
    """Additive counts: tokens, correct ones, and per label i its true, predicted and correct tokens."""
    counts = {"count": len(true), "correct": int((true == predicted).sum())}
    for name, values in (("true", true), ("pred", predicted), ("hit", true[true == predicted])):
        for i, n in enumerate(np.bincount(values, minlength=num_labels)[:num_labels]):
            counts[f"{name}_{i}"] = int(n)
    return counts


# --------------------------------------------------------------------------------------------------
# A trained run


def read_artefacts(run_dir: str | Path) -> tuple[Tokenizer, list[str]]:
    """The vocabulary and the labels a tag run was trained with."""
    run_dir = Path(run_dir)
    for name in (VOCAB_FILE, LABELS_FILE):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"{run_dir / name} is missing: {run_dir} is not a complete tag run")
    record = read_json(run_dir / LABELS_FILE)
    if not (isinstance(record, dict) and isinstance(record.get("labels"), list) and len(record["labels"]) >= 2
            and all(isinstance(label, str) for label in record["labels"])):
        raise CheckpointError(f"{run_dir / LABELS_FILE} must hold an object with a 'labels' list of strings")
    try:
        tokenizer = Tokenizer.from_json(read_json(run_dir / VOCAB_FILE))
    except ValueError as error:
        raise CheckpointError(f"{run_dir / VOCAB_FILE}: {error}") from None
    return tokenizer, record["labels"]


@dataclass
class TagRun:
    """A trained tagger (best weights, eval mode) with its vocabulary, labels and settings."""

    model: SequenceTagger
    tokenizer: Tokenizer
    labels: list[str]
    settings: dict[str, Any]

    def tag(self, text: str) -> list[tuple[str, str, float]]:
        """Each token of ``text`` (characters for pytokens, whitespace-separated words for conll) with
        its most probable label and that label's probability."""
        pieces = list(text) if self.tokenizer.kind == "char" else text.split()
        if not pieces:
            return []
        ids = torch.tensor([self.tokenizer.index.get(p, self.tokenizer.unk_id) for p in pieces])
        device = next(self.model.parameters()).device
        with torch.no_grad():
            probabilities = self.model(ids.unsqueeze(1).to(device)).squeeze(1).softmax(-1)   # (T, C)
        best, index = probabilities.max(-1)
        return [(piece, self.labels[int(i)], float(p)) for piece, i, p in zip(pieces, index, best)]


def load_run(run_dir: str | Path) -> TagRun:
    """The tagger of a tag run directory."""
    from . import runs
    from ..training import MODEL_FILE

    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    if config["task"] != TaggingTask.name:
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run, not a tagger")
    try:
        settings = TaggingTask.settings_from_record(config, derived=True)
    except SettingsError as error:
        raise CheckpointError(f"{run_dir / runs.CONFIG_FILE}: {error}") from None
    tokenizer, labels = read_artefacts(run_dir)
    model = SequenceTagger(settings["model"], len(tokenizer), len(labels))
    if not (run_dir / MODEL_FILE).is_file():
        raise CheckpointError(f"{run_dir / MODEL_FILE} does not exist: the run has not saved a best model yet")
    load_weights(run_dir / MODEL_FILE, model)
    return TagRun(model.eval(), tokenizer, labels, settings)


def evaluate_run(run_dir: str | Path, data: str | None = None,
                 context: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """True and predicted label ids of a tag run's best model, and its labels, on ``data`` (a CoNLL
    file for a conll run; a Python file or directory for pytokens, every file read) or, without it,
    on the run's own validation data; the last item says what was evaluated. Each chunk is read
    with ``context`` tokens around it (None: the run's own ``eval_context`` setting)."""
    run = load_run(run_dir)
    settings = run.settings
    chunk_length = settings["data"].chunk_length
    if data is None:
        task = TaggingTask(settings, Path(run_dir), progress=True)
        task.check_resume(Path(run_dir))
        encoded, what = task.val_set, "its validation data"
    elif settings["data"].kind == "conll":
        sequences = read_conll(data, settings["data"].encoding)
        check_labels(sequences, run.labels, data)
        encoded = Encoded.join(encode_sequences(sequences, run.tokenizer, run.labels), chunk_length)
        what = data
    else:
        labelled = label_files(python_sources(data), None, 0, progress=True)
        encoded = Encoded.join([(run.tokenizer.encode(text), labels.astype(np.int64))
                                for text, labels in zip(labelled.texts, labelled.labels)], chunk_length, stream=True)
        what = f"{data} ({len(labelled.texts)} files" + (f", {len(labelled.skipped)} skipped)" if labelled.skipped
                                                          else ")")
    if encoded.size == 0:
        raise DataError(f"{run_dir} has no validation data to evaluate on (--val-fraction 0); give --data")
    true, predicted, _ = predict_encoded(run.model, encoded, settings["train"].batch_size * 4,
                                         context=settings["data"].read_context if context is None else context)
    return true, predicted, run.labels, what
