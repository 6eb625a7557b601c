"""Language modelling: binds a corpus, a :class:`LanguageModel`, the cross-entropy loss and its
metric (bits per character, or perplexity for words) into train / evaluate / load.

A run directory holds everything, as JSON and safetensors::

    RUN_DIR/config.json          model, corpus and training settings (rebuilds the model)
            vocab.json           the tokenizer
            model.safetensors    the weights with the best validation loss
            trainer.safetensors  the latest weights, optimizer, RNG states, data position (resume)
            metrics.jsonl        one row per log interval and per validation
            curves.png           training and validation curves

Encoded corpora are cached beside the run directories, in ``RUN_DIR/../.cache``.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..data import CorpusConfig, DataError, StreamBatches, Tokenizer, encode_corpus, split_tokens
from ..models import LanguageModel, LanguageModelConfig
from ..training import CheckpointError, Metric, Trainer, TrainConfig, TrainResult, load_weights, read_json, save_weights, write_json
from ..training.loop import TRAINER_FILE

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
MODEL_FILE = "model.safetensors"
# Above this vocabulary size "auto" switches to an adaptive softmax; its clusters start at these ids.
ADAPTIVE_FROM = 10_000
ADAPTIVE_CUTOFFS = (2_000, 10_000, 50_000)


def cache_dir(run_dir: Path) -> Path:
    """Where encoded corpora are cached: beside the run directories."""
    return run_dir.resolve().parent / ".cache"


def new_run_dir(root: str | Path = "runs") -> Path:
    """A fresh directory name under ``root``: ``lm-YYYYmmdd-HHMMSS`` (with a suffix if taken)."""
    base = Path(root) / time.strftime("lm-%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def adaptive_cutoffs(vocab_size: int, adaptive: str) -> tuple[int, ...]:
    """Cluster bounds for ``adaptive`` = "on", "off" or "auto" (on from ADAPTIVE_FROM tokens)."""
    if adaptive not in ("auto", "on", "off"):
        raise ValueError(f"adaptive must be 'auto', 'on' or 'off', got {adaptive!r}")
    if adaptive == "off" or (adaptive == "auto" and vocab_size < ADAPTIVE_FROM):
        return ()
    cutoffs = tuple(c for c in ADAPTIVE_CUTOFFS if c < vocab_size - 1)
    if not cutoffs:
        raise ValueError(f"an adaptive softmax needs a vocabulary over {ADAPTIVE_CUTOFFS[0] + 1} tokens; "
                         f"this one has {vocab_size}")
    return cutoffs


def metric_for(tokenizer: Tokenizer) -> tuple[Metric, str]:
    """The metric and the name of a token: bits per character, or perplexity per word."""
    return (Metric("bpc"), "chars") if tokenizer.kind == "char" else (Metric("perplexity"), "words")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def evaluate_tokens(model: LanguageModel, tokens: np.ndarray, batch_size: int, seq_len: int) -> tuple[float, int]:
    """Mean loss in nats per predicted token over ``tokens`` read as contiguous streams, and the count.

    Each stream carries its state from chunk to chunk; streams are at most ``batch_size`` and at
    least two tokens long, so short texts are read by fewer streams.
    """
    if len(tokens) < 2:
        raise DataError(f"evaluation needs at least 2 tokens, the text has {len(tokens)}")
    batches = StreamBatches(tokens, max(1, min(batch_size, len(tokens) // 2)), seq_len)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for chunk in batches:
            loss, state = model.loss(chunk.inputs, chunk.targets, state)
            total += loss.item() * chunk.targets.numel()
            count += chunk.targets.numel()
    model.train(was_training)
    return total / count, count


def check_model_options(options: dict) -> None:
    """Raise the model config's own error for bad options before any data is read."""
    LanguageModelConfig(vocab_size=ADAPTIVE_CUTOFFS[-1] + 2, **options)


def train(
    run_dir: Path,
    corpus: CorpusConfig | None = None,
    model_options: dict | None = None,
    adaptive: str = "auto",
    train_config: TrainConfig | None = None,
    val_fraction: float = 0.1,
    val_data: str | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train a language model into ``run_dir`` (or, with ``resume``, continue the run there).

    With ``resume`` the settings come from ``run_dir/config.json``; ``train_config`` may only
    change the budget (``steps`` / ``minutes``), the rest of it is ignored.
    """
    run_dir = Path(run_dir)
    if resume:
        saved = read_json(run_dir / CONFIG_FILE)
        corpus = CorpusConfig(**saved["corpus"])
        model_config = LanguageModelConfig.from_json(saved["model"])
        stored = TrainConfig(**saved["train"])
        train_config = stored if train_config is None else replace(stored, steps=train_config.steps,
                                                                     minutes=train_config.minutes)
        val_fraction, val_data = saved["val_fraction"], saved["val_data"]
        if not (run_dir / TRAINER_FILE).is_file():
            raise CheckpointError(f"{run_dir / TRAINER_FILE} does not exist: the run never saved, nothing to resume")
    else:
        if (run_dir / CONFIG_FILE).exists():
            raise ValueError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
        corpus = corpus or CorpusConfig()
        model_options = model_options or {}
        train_config = train_config or TrainConfig(minutes=3.0)
        check_model_options(model_options)
    encoded = encode_corpus(corpus, cache_dir(run_dir))
    tokenizer = encoded.tokenizer
    if val_data is None:
        train_tokens, val_tokens = split_tokens(encoded.tokens, val_fraction)
    else:
        train_tokens = encoded.tokens
        val_tokens = encode_corpus(replace(corpus, path=val_data), cache_dir(run_dir), tokenizer).tokens
    if resume:
        if Tokenizer.from_json(read_json(run_dir / VOCAB_FILE)).tokens != tokenizer.tokens:
            raise DataError(f"the text of {corpus.path or 'the standard library'} changed since the run in {run_dir} "
                            f"started: its vocabulary differs from {run_dir / VOCAB_FILE}")
    else:
        model_config = LanguageModelConfig(vocab_size=len(tokenizer),
                                           adaptive_cutoffs=adaptive_cutoffs(len(tokenizer), adaptive), **model_options)
    batches = StreamBatches(train_tokens, train_config.batch_size, train_config.seq_len,
                            min_steps=train_config.seq_len)
    val_slice = val_tokens if train_config.val_tokens == 0 else val_tokens[: train_config.val_tokens]

    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, {
        "task": "lm", "rnnkit": __version__, "model": model_config.to_json(), "corpus": asdict(corpus),
        "val_fraction": val_fraction, "val_data": val_data, "train": asdict(train_config),
    })
    write_json(run_dir / VOCAB_FILE, tokenizer.to_json())

    seed_everything(train_config.seed)
    model = LanguageModel(model_config)
    metric, unit = metric_for(tokenizer)

    def evaluate() -> float:
        return evaluate_tokens(model, val_slice, train_config.batch_size, train_config.seq_len)[0]

    def on_best(step: int, loss: float | None) -> None:
        metadata = {"step": str(step)} | ({} if loss is None else {"val_loss": repr(loss)})
        save_weights(run_dir / MODEL_FILE, model, metadata)

    trainer = Trainer(model, batches, train_config, run_dir, evaluate if len(val_slice) >= 2 else None,
                      on_best, metric, unit)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{'resuming' if resume else 'training'} {model_config.cell} language model ({parameters:,} parameters, "
          f"{len(tokenizer)} {tokenizer.kind} tokens) on {len(train_tokens):,} tokens of "
          f"{corpus.path or 'the Python standard library'} ({encoded.files} files), "
          f"validating on {len(val_slice):,}", file=sys.stderr, flush=True)
    if resume:
        trainer.resume()
    return trainer.run()


def load_run(run_dir: str | Path) -> tuple[LanguageModel, Tokenizer, dict]:
    """The model (best weights, eval mode), tokenizer and config of a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist")
    config = read_json(run_dir / CONFIG_FILE)
    if config.get("task") != "lm" or "model" not in config:
        raise CheckpointError(f"{run_dir / CONFIG_FILE} is not the config of a language-model run")
    tokenizer = Tokenizer.from_json(read_json(run_dir / VOCAB_FILE))
    model = LanguageModel(LanguageModelConfig.from_json(config["model"]))
    if model.config.vocab_size != len(tokenizer):
        raise CheckpointError(f"{run_dir}: the model has {model.config.vocab_size} tokens but vocab.json {len(tokenizer)}")
    load_weights(run_dir / MODEL_FILE, model)
    return model.eval(), tokenizer, config


def evaluate_file(run_dir: str | Path, data: str, encoding: str = "utf-8", errors: str | None = None,
                  batch_size: int = 16, seq_len: int = 256) -> dict:
    """Loss (nats/token), bits per token and perplexity of a run's best model on a text."""
    run_dir = Path(run_dir)
    model, tokenizer, _ = load_run(run_dir)
    corpus = CorpusConfig(path=data, tokens=tokenizer.kind, encoding=encoding, errors=errors)
    tokens = encode_corpus(corpus, cache_dir(run_dir), tokenizer).tokens
    loss, count = evaluate_tokens(model, tokens, batch_size, seq_len)
    unknown = int(np.count_nonzero(np.asarray(tokens) == tokenizer.unk_id))
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": math.exp(min(loss, 700.0)),
            "tokens": count, "unknown_tokens": unknown, "tokenizer": tokenizer.kind}
