"""Language modelling: binds a corpus, a :class:`LanguageModel`, the cross-entropy loss and its
metric (bits per character, or perplexity for words) into a :class:`~rnnkit.training.Task`.

Training is truncated BPTT over B contiguous streams (:class:`~rnnkit.data.StreamBatches`), the
state carried from chunk to chunk; under data-parallel training rank r of W reads its own
contiguous columns B·r/W … B·(r+1)/W of the same streams, so each carried state keeps meaning.

The run directory (:mod:`rnnkit.tasks.runs`) holds, besides the trainer's files::

    RUN_DIR/config.json          corpus, split, model and train sections (rebuilds the model)
            vocab.json           the tokenizer

Encoded corpora are cached beside the run directories, in ``RUN_DIR/../.cache`` (or
``--cache-dir``, or $RNNKIT_CACHE_DIR).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..data import CorpusConfig, DataError, StreamBatches, Tokenizer, encode_corpus, split_tokens
from ..models import LanguageModel, LanguageModelConfig
from ..settings import SettingsError, from_record, to_record
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, TrainResult, load_weights, read_json, write_json
from ..training.task import RECORD_KEYS, State
from . import runs

VOCAB_FILE = "vocab.json"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = runs.CONFIG_FILE
# Above this vocabulary size "auto" switches to an adaptive softmax; its clusters start at these ids.
ADAPTIVE_FROM = 10_000
ADAPTIVE_CUTOFFS = (2_000, 10_000, 50_000)
ADAPTIVE_CHOICES = ("auto", "on", "off")
DEFAULT_MINUTES = 3.0            # the budget when neither steps nor minutes is given
# The model's settings are LanguageModelConfig's fields but these, which the data decides.
DERIVED = ("vocab_size", "adaptive_cutoffs")


@dataclass(frozen=True)
class SplitConfig:
    """Which text validates."""

    val_fraction: float = 0.1        # the last fraction of the text held out; 0: no validation
    val_data: str | None = None      # a separate validation text instead (a file or directory)

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")


def new_run_dir(root: str | Path = "runs") -> Path:
    """A fresh directory name under ``root``: ``lm-YYYYmmdd-HHMMSS`` (with a suffix if taken)."""
    return runs.new_run_dir("lm", root)


def cache_dir(run_dir: Path) -> Path:
    """Where encoded corpora are cached (see :func:`rnnkit.tasks.runs.cache_dir`)."""
    return runs.cache_dir(run_dir)


def adaptive_cutoffs(vocab_size: int, adaptive: str) -> tuple[int, ...]:
    """Cluster bounds for ``adaptive`` = "on", "off" or "auto" (on from ADAPTIVE_FROM tokens)."""
    if adaptive not in ADAPTIVE_CHOICES:
        raise ValueError(f"adaptive must be 'auto', 'on' or 'off', got {adaptive!r}")
    if adaptive == "off" or (adaptive == "auto" and vocab_size < ADAPTIVE_FROM):
        return ()
    cutoffs = tuple(c for c in ADAPTIVE_CUTOFFS if c < vocab_size - 1)
    if not cutoffs:
        raise ValueError(f"an adaptive softmax needs a vocabulary over {ADAPTIVE_CUTOFFS[0] + 1} tokens; "
                         f"this one has {vocab_size}")
    return cutoffs


def evaluate_sums(model: LanguageModel, tokens: np.ndarray, batch_size: int, seq_len: int,
                  shard: Shard = Shard(), progress: bool = False) -> tuple[float, int]:
    """Summed loss (nats) and count of predicted tokens over this shard's streams of ``tokens``.

    ``tokens`` is read as at most ``batch_size`` contiguous streams (at least two tokens each, so
    short texts are read by fewer), each carrying its state from chunk to chunk; rank r of W reads
    streams r, r + W, … of them. ``progress`` shows a bar on stderr.
    """
    if len(tokens) < 2:
        raise DataError(f"evaluation needs at least 2 tokens, the text has {len(tokens)}")
    batches = StreamBatches(tokens, max(1, min(batch_size, len(tokens) // 2)), seq_len)
    columns = slice(shard.rank, None, shard.world_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for chunk in tqdm(batches, total=len(batches), disable=not progress, file=sys.stderr, leave=False,
                          unit=" chunks", dynamic_ncols=True, desc="evaluating"):
            inputs, targets = chunk.inputs[:, columns], chunk.targets[:, columns]
            if targets.numel() == 0:
                break
            loss, state = model.loss(inputs.to(device), targets.to(device), state)
            total += loss.item() * targets.numel()
            count += targets.numel()
    model.train(was_training)
    return total, count


def evaluate_tokens(model: LanguageModel, tokens: np.ndarray, batch_size: int, seq_len: int,
                    progress: bool = False) -> tuple[float, int]:
    """Mean loss in nats per predicted token over ``tokens`` read as contiguous streams, and the count."""
    total, count = evaluate_sums(model, tokens, batch_size, seq_len, progress=progress)
    return total / count, count


class _ShardStreams:
    """This rank's columns of the training streams, as trainer batches."""

    def __init__(self, streams: StreamBatches, shard: Shard) -> None:
        self.streams = streams
        self.columns = shard.split(streams.batch_size, "batch_size")

    def __len__(self) -> int:
        return len(self.streams)

    def batch(self, position: int) -> Batch:
        chunk = self.streams.chunk(position)
        inputs, targets = chunk.inputs[:, self.columns], chunk.targets[:, self.columns]
        return Batch({"inputs": inputs, "targets": targets}, inputs.numel(), chunk.reset)


class LanguageModelingTask(Task):
    """A recurrent language model on a text (characters or words), trained by truncated BPTT."""

    name = "lm"
    sections = {"corpus": CorpusConfig, "split": SplitConfig, "model": LanguageModelConfig, "train": TrainConfig}
    selection = Selection("loss", higher_is_better=False)
    throughput_key = "tokens_per_s"

    # ----------------------------------------------------------------------------------------------
    # Settings

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """Sections ``corpus``, ``split``, ``model`` (plus ``adaptive``: auto/on/off) and ``train``.

        ``model`` holds LanguageModelConfig's fields except vocab_size and adaptive_cutoffs, which
        the data decides; a run's config.json (``derived``) has them too. A ``train`` without a
        budget gets ``minutes = DEFAULT_MINUTES``.
        """
        legacy = derived and "split" not in record and "val_fraction" in record
        if legacy:
            record = _upgrade(record)
        unknown = sorted(set(record) - set(cls.sections) - RECORD_KEYS)
        if unknown:
            raise SettingsError(f"unknown section {unknown[0]!r}; task 'lm' has: {', '.join(cls.sections)}")
        missing = [name for name in cls.sections if name not in record] if derived else []
        if missing:
            raise SettingsError(f"section [{missing[0]}] is missing")
        corpus = from_record(CorpusConfig, record.get("corpus", {}), "corpus", complete=derived)
        split = from_record(SplitConfig, record.get("split", {}), "split", complete=derived)
        if not derived:      # found again from any working directory
            corpus = replace(corpus, path=_absolute(corpus.path))
            split = replace(split, val_data=_absolute(split.val_data))
        model_record = dict(_table(record.get("model", {}), "model"))
        adaptive = model_record.pop("adaptive", "auto")
        if adaptive not in ADAPTIVE_CHOICES:
            raise SettingsError(f"[model] adaptive must be one of {', '.join(ADAPTIVE_CHOICES)}, got {adaptive!r}")
        if derived:
            model = from_record(LanguageModelConfig, model_record, "model", complete=True)
        else:
            # Checked as the model will be built, with a vocabulary large enough for any cutoffs.
            model = from_record(LanguageModelConfig, model_record, "model", exclude=DERIVED,
                                vocab_size=ADAPTIVE_CUTOFFS[-1] + 2)
        train_record = _table(record.get("train", {}), "train")
        if "steps" not in train_record and "minutes" not in train_record:
            train_record = train_record | {"minutes": DEFAULT_MINUTES}
        # A run from before the trainer had optimizers and devices lacks those keys: their defaults.
        train = from_record(TrainConfig, train_record, "train", complete=derived and not legacy)
        return {"corpus": corpus, "split": split, "model": model, "adaptive": adaptive, "train": train}

    @classmethod
    def settings_to_record(cls, settings: dict[str, Any]) -> dict:
        return {
            "corpus": to_record(settings["corpus"]), "split": to_record(settings["split"]),
            "model": to_record(settings["model"], exclude=DERIVED) | {"adaptive": settings["adaptive"]},
            "train": to_record(settings["train"]),
        }

    # ----------------------------------------------------------------------------------------------
    # Data and model

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        corpus, split, train = settings["corpus"], settings["split"], settings["train"]
        encoded = encode_corpus(corpus, cache_dir)
        self.tokenizer = encoded.tokenizer
        self.files = encoded.files
        # The cache entry's name hashes the text's bytes and the tokenizer settings.
        self.fingerprint = encoded.directory.name
        if split.val_data is None:
            self.train_tokens, val_tokens = split_tokens(encoded.tokens, split.val_fraction)
        else:
            self.train_tokens = encoded.tokens
            val_tokens = encode_corpus(replace(corpus, path=split.val_data), cache_dir, self.tokenizer).tokens
        self.val_tokens = val_tokens if train.val_tokens == 0 else val_tokens[: train.val_tokens]
        self.streams = StreamBatches(self.train_tokens, train.batch_size, train.seq_len, min_steps=train.seq_len)
        model = settings["model"]
        self.model_config = replace(model, vocab_size=len(self.tokenizer),
                                    adaptive_cutoffs=adaptive_cutoffs(len(self.tokenizer), settings["adaptive"]))
        # A tail cluster of the adaptive softmax may see no target in a batch: no gradient there.
        self.find_unused_parameters = bool(self.model_config.adaptive_cutoffs)
        self.unit = "chars" if self.tokenizer.kind == "char" else "words"
        self.display_metric = "bpc" if self.tokenizer.kind == "char" else "perplexity"

    def config_record(self) -> dict:
        record = self.settings_to_record(self.settings)
        record["model"] = self.model_config.to_json() | {"adaptive": self.settings["adaptive"]}
        return record | {"fingerprint": self.fingerprint}

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / VOCAB_FILE, self.tokenizer.to_json())

    def check_resume(self, run_dir: Path) -> None:
        corpus = self.settings["corpus"]
        text = corpus.path or "the standard library"
        saved = Tokenizer.from_json(read_json(run_dir / VOCAB_FILE))
        if self.settings["model"].vocab_size != len(saved):
            raise CheckpointError(f"{run_dir / CONFIG_FILE}: [model] vocab_size is {self.settings['model'].vocab_size} "
                                  f"but {run_dir / VOCAB_FILE} holds {len(saved)} tokens")
        if saved.tokens != self.tokenizer.tokens:
            raise DataError(f"the text of {text} changed since the run in {run_dir} started: its vocabulary differs "
                            f"from {run_dir / VOCAB_FILE}")
        recorded = read_json(run_dir / CONFIG_FILE).get("fingerprint")
        if recorded is not None and recorded != self.fingerprint:
            raise DataError(f"the text of {text} is not the text the run in {run_dir} started on (its content "
                            f"differs); resume on the same text, or start a new run")

    def build_model(self) -> nn.Module:
        return LanguageModel(self.model_config)

    def train_batches(self, shard: Shard) -> _ShardStreams:
        return _ShardStreams(self.streams, shard)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        return model.loss(batch["inputs"], batch["targets"], state)

    # ----------------------------------------------------------------------------------------------
    # Validation

    def has_validation(self) -> bool:
        return len(self.val_tokens) >= 2

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        train = self.settings["train"]
        total, count = evaluate_sums(model, self.val_tokens, train.batch_size, train.seq_len, shard)
        return {"loss_sum": total, "count": count}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        loss = sums["loss_sum"] / sums["count"]
        return {"loss": loss, **self.loss_metrics(loss)}

    def loss_metrics(self, loss: float) -> dict[str, float]:
        if self.tokenizer.kind == "char":
            return {"bpc": loss / math.log(2)}
        return {"perplexity": math.exp(min(loss, 700.0))}

    def diverged(self, metrics: dict[str, float]) -> str | None:
        reason = super().diverged(metrics)
        # Twice the loss of a uniform guess, plus a nat: no model that is learning gets there.
        ceiling = 2 * math.log(len(self.tokenizer)) + 1
        if reason is None and metrics["loss"] > ceiling:
            reason = (f"validation loss {metrics['loss']:.4g} nats/token, far above a uniform guess "
                      f"(ln {len(self.tokenizer)} = {math.log(len(self.tokenizer)):.2f})")
        return reason

    def describe(self, model: nn.Module) -> str:
        corpus = self.settings["corpus"]
        parameters = sum(p.numel() for p in model.parameters())
        files = f"{self.files} file{'s' if self.files != 1 else ''}"
        return (f"{self.model_config.cell} language model ({parameters:,} parameters, {len(self.tokenizer)} "
                f"{self.tokenizer.kind} tokens) on {len(self.train_tokens):,} tokens of "
                f"{corpus.path or 'the Python standard library'} ({files}), validating on {len(self.val_tokens):,}")


def _upgrade(record: dict) -> dict:
    """A config.json of rnnkit 0.1.0's first layout (val_fraction and val_data at the top, no
    ``adaptive`` key) in today's sections, so runs written before the generic trainer still load."""
    record = dict(record)
    record["split"] = {"val_fraction": record.pop("val_fraction"), "val_data": record.pop("val_data", None)}
    train = record.get("train")
    if isinstance(train, dict) and train.get("clip", 0) is None:       # then: None for no clipping
        record["train"] = train | {"clip": 0.0}
    model = record.get("model")
    if isinstance(model, dict) and "adaptive" not in model:
        record["model"] = model | {"adaptive": "on" if model.get("adaptive_cutoffs") else "off"}
    return record


def _table(value: Any, section: str) -> dict:
    if not isinstance(value, dict):
        raise SettingsError(f"[{section}] must be a table of settings, got {type(value).__name__}")
    return value


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


# --------------------------------------------------------------------------------------------------
# The library's entry points


def train(
    run_dir: Path,
    corpus: CorpusConfig | None = None,
    model_options: dict | None = None,
    adaptive: str = "auto",
    train_config: TrainConfig | None = None,
    val_fraction: float = 0.1,
    val_data: str | None = None,
    resume: bool = False,
    **options: Any,
) -> TrainResult:
    """Train a language model into ``run_dir`` (or, with ``resume``, continue the run there).

    With ``resume`` the settings come from ``run_dir/config.json``; ``train_config`` may only
    change the budget (``steps`` / ``minutes``), the rest of it is ignored. ``options`` go to
    :func:`rnnkit.tasks.runs.train` (callbacks, handle_signals, tensorboard, cache, device).
    """
    if resume:
        return runs.train("lm", None, run_dir, resume=True, budget=train_config, **options)
    record = {
        "corpus": to_record(corpus or CorpusConfig()),
        "split": {"val_fraction": val_fraction, "val_data": val_data},
        "model": dict(model_options or {}) | {"adaptive": adaptive},
        "train": to_record(train_config or TrainConfig(minutes=DEFAULT_MINUTES)),
    }
    return runs.train("lm", LanguageModelingTask.settings_from_record(record), run_dir, **options)


def load_run(run_dir: str | Path) -> tuple[LanguageModel, Tokenizer, dict]:
    """The model (best weights, eval mode), tokenizer and config of a language-model run directory."""
    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    if config["task"] != "lm":
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run, not a language model")
    try:
        settings = LanguageModelingTask.settings_from_record(config, derived=True)
    except SettingsError as error:
        raise CheckpointError(f"{run_dir / CONFIG_FILE}: {error}") from None
    tokenizer = Tokenizer.from_json(read_json(run_dir / VOCAB_FILE))
    # Checked before the model is built: a damaged vocab_size must not become a huge allocation.
    if settings["model"].vocab_size != len(tokenizer):
        raise CheckpointError(f"{run_dir / CONFIG_FILE}: [model] vocab_size is {settings['model'].vocab_size} but "
                              f"vocab.json holds {len(tokenizer)} tokens")
    model = LanguageModel(settings["model"])
    load_weights(run_dir / MODEL_FILE, model)
    return model.eval(), tokenizer, config


def evaluate_file(run_dir: str | Path, data: str, encoding: str = "utf-8", errors: str | None = None,
                  batch_size: int = 16, seq_len: int = 256) -> dict:
    """Loss (nats/token), bits per token and perplexity of a run's best model on a text."""
    run_dir = Path(run_dir)
    model, tokenizer, _ = load_run(run_dir)
    corpus = CorpusConfig(path=data, tokens=tokenizer.kind, encoding=encoding, errors=errors)
    tokens = encode_corpus(corpus, cache_dir(run_dir), tokenizer).tokens
    loss, count = evaluate_tokens(model, tokens, batch_size, seq_len, progress=True)
    unknown = int(np.count_nonzero(np.asarray(tokens) == tokenizer.unk_id))
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": math.exp(min(loss, 700.0)),
            "tokens": count, "unknown_tokens": unknown, "tokenizer": tokenizer.kind}
