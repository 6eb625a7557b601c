r"""Translation: a :class:`~rnnkit.models.Seq2Seq` model on parallel text, or on generated dates.

Data (``[data]``): two aligned files (``train_source`` / ``train_target``, plain or gzip, one sentence
per line; validation from ``valid_source`` / ``valid_target``, else the last ``val_size`` training
pairs), or ``source = "dates"``: dates in many languages and formats → ISO (:mod:`rnnkit.data.dates`).
Text becomes token ids through a :class:`~rnnkit.data.parallel.Codec` (char, word with a frequency
cut-off, or sentencepiece subwords; one joint vocabulary or one per side).

Training (``[teacher]``): the loss is the cross-entropy of every target token given the source and the
previous target tokens, optionally label-smoothed (Szegedy et al. 2016): the target distribution is
(1 − ε) one-hot + ε uniform. The previous tokens are the true ones (teacher forcing), or with
scheduled sampling (Bengio et al. 2015) each is replaced, with probability 1 − ε_i at training step i,
by the model's own previous prediction (its argmax), where ε_i, the probability of the true token, falls
on a schedule::

    linear:           ε_i = max(ε_min, 1 − c·i)
    exponential:      ε_i = max(ε_min, k^i)          (k < 1)
    inverse sigmoid:  ε_i = max(ε_min, k / (k + exp(i / k)))   (k ≥ 1)

Batches hold sentences of similar source length (bucketed), addressed by position, as the trainer
needs for exact resume; the position also seeds the scheduled-sampling draws.

Validation: the teacher-forced loss, and the greedy translations of up to ``val_sentences`` validation
sources scored against their references on detokenised text with sacrebleu: BLEU (cased, 13a
tokenisation), chrF, and exact match. The best checkpoint is the one of highest BLEU on text, of
highest exact match on dates. The sacrebleu statistics of each sentence (n-gram matches and totals)
are additive, so shards sum them exactly before the corpus scores are formed.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..data.corpora import DataError
from ..data.dates import LOCALES, generate_dates
from ..data.parallel import BOS_ID, CODEC_KINDS, EOS_ID, PAD_ID, UNK_ID, Codec, fit_codec, read_parallel
from ..decoding import batched_beam_search
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig
from ..settings import SettingsError
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, read_json, write_json
from ..training.task import State
from ..training.batches import LengthBucketedBatches

SOURCES = ("files", "dates")
SCHEDULES = ("none", "linear", "exponential", "inverse_sigmoid")
DEFAULT_K = {"linear": 1e-4, "exponential": 0.9997, "inverse_sigmoid": 500.0}
DEFAULT_BUDGET = {"files": {"minutes": 20.0}, "dates": {"steps": 1500}}
# The dates task needs a small model: these replace the [model] defaults there unless given.
DATES_MODEL = {"embedding_size": 32, "hidden_size": 128, "num_layers": 1, "dropout": 0.0}
SOURCE_VOCAB, TARGET_VOCAB = "source_vocab.json", "target_vocab.json"
EVAL_BATCH = 128
TEST_SEED_OFFSET = 2               # dates: the test sample's seed is the data seed + 2 (validation's + 1)


@dataclass(frozen=True)
class TranslationData:
    """Where the sentence pairs come from and how they become token ids."""

    source: str = "files"              # "files" (parallel text) or "dates" (generated)
    train_source: str | None = None    # training source sentences, one per line (plain or .gz)
    train_target: str | None = None    # their translations, line by line
    valid_source: str | None = None    # validation sources (default: the last val_size training pairs)
    valid_target: str | None = None
    tokens: str = "auto"               # "char", "word", "subword", or "auto": subword for files, char for dates
    subword: int = 8000                # sentencepiece pieces per vocabulary (tokens "subword")
    joint_vocab: bool = False          # one vocabulary for both sides
    min_count: int = 2                 # word and char tokens seen fewer times become <unk>
    max_length: int = 100              # training pairs with more tokens on a side are left out
    val_size: int = 1000               # validation pairs: generated dates, or held out from the training files
    size: int = 40000                  # dates: training pairs
    locales: tuple[str, ...] = LOCALES  # dates: the languages
    seed: int = 1234                   # the generated data's seed
    bucket: int = 50                   # batches per bucket of similar source lengths
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.tokens not in ("auto", *CODEC_KINDS):
            raise ValueError(f"tokens must be auto, {', '.join(CODEC_KINDS)}; got {self.tokens!r}")
        for name in ("subword", "min_count", "max_length", "val_size", "size", "bucket"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.source == "files" and (self.train_source is None) != (self.train_target is None):
            raise ValueError("give both train_source and train_target (--src and --tgt)")
        if (self.valid_source is None) != (self.valid_target is None):
            raise ValueError("give both valid_source and valid_target (--valid-src and --valid-tgt), or neither")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a non-negative whole number, got {self.seed!r}")
        unknown = [name for name in self.locales if name not in LOCALES]
        if unknown or not self.locales:
            raise ValueError(f"locales must be some of {', '.join(LOCALES)}; got {list(self.locales)}")

    @property
    def codec_kind(self) -> str:
        if self.tokens != "auto":
            return self.tokens
        return "char" if self.source == "dates" else "subword"


@dataclass(frozen=True)
class TeacherConfig:
    """What the decoder is fed in training, the loss, and what validation decodes (module docstring)."""

    schedule: str = "none"             # scheduled sampling: none (teacher forcing), linear, exponential or
                                       # inverse_sigmoid
    k: float | None = None             # the schedule's constant c or k (default: 1e-4, 0.9997, 500 respectively)
    min_teacher: float = 0.0           # ε_min, the lowest probability of feeding the true token
    label_smoothing: float = 0.0       # ε of label smoothing, 0 for none
    val_sentences: int = 1000          # validation sentences decoded (greedily) for BLEU, chrF and exact match

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.k is not None and not self.k > 0:
            raise ValueError(f"k, the schedule's constant, must be positive, got {self.k!r}")
        k = self.constant
        if self.schedule == "linear" and not k > 0:
            raise ValueError(f"the linear schedule needs a slope k > 0, got {k!r}")
        if self.schedule == "exponential" and not 0 < k < 1:
            raise ValueError(f"the exponential schedule needs 0 < k < 1, got {k!r}")
        if self.schedule == "inverse_sigmoid" and not k >= 1:
            raise ValueError(f"the inverse sigmoid schedule needs k >= 1, got {k!r}")
        if not 0 <= self.min_teacher <= 1:
            raise ValueError(f"min_teacher must be in [0, 1], got {self.min_teacher!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if isinstance(self.val_sentences, bool) or not isinstance(self.val_sentences, int) or self.val_sentences < 1:
            raise ValueError(f"val_sentences must be a positive integer, got {self.val_sentences!r}")

    @property
    def constant(self) -> float | None:
        return DEFAULT_K.get(self.schedule) if self.k is None else self.k

    def teacher_probability(self, step: int) -> float:
        """ε_i: the probability that the decoder is fed the true previous token at training step ``step``."""
        k, i = self.constant, step
        if self.schedule == "none":
            return 1.0
        if self.schedule == "linear":
            epsilon = 1 - k * i
        elif self.schedule == "exponential":
            epsilon = k ** i
        else:
            epsilon = k / (k + math.exp(min(i / k, 700.0)))
        return max(self.min_teacher, epsilon)


# ------------------------------------------------------------------------------------------------
# Examples, batches and scores


@dataclass
class Pairs:
    """Encoded sentence pairs, with their text (the references are scored on text)."""

    sources: list[list[int]]
    targets: list[list[int]]
    source_texts: list[str]
    target_texts: list[str]
    locales: list[str] | None = None   # dates: each pair's language

    def __len__(self) -> int:
        return len(self.sources)


def collate(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], position: int = 0) -> Batch:
    """Padded ``source (S, B)``, ``source_lengths (B,)``, ``target_input (T, B)`` = ``<bos> y``,
    ``target_output (T, B)`` = ``y <eos>``, and the batch's ``position``."""
    def pad(rows: list[list[int]]) -> Tensor:
        return nn.utils.rnn.pad_sequence([torch.tensor(r, dtype=torch.long) for r in rows], padding_value=PAD_ID)
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    data = {"source": pad([list(s) for s in sources]), "source_lengths": lengths,
            "target_input": pad([[BOS_ID, *t] for t in targets]), "target_output": pad([[*t, EOS_ID] for t in targets]),
            "position": torch.tensor(position)}
    return Batch(data, len(sources))


class LengthBuckets(LengthBucketedBatches):
    """Training batches of sentences of similar source length, addressed by position (rnnkit.training.batches)."""

    def __init__(self, pairs: Pairs, batch_size: int, bucket: int, seed: int, shard: Shard = Shard()) -> None:
        self.pairs = pairs
        super().__init__([len(s) for s in pairs.sources], batch_size, bucket, seed, self._collate, shard,
                         what="pairs")

    def _collate(self, chosen: list[int], position: int) -> Batch:
        return collate([self.pairs.sources[i] for i in chosen], [self.pairs.targets[i] for i in chosen], position)


def score_sums(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """sacrebleu's additive statistics of BLEU and chrF (summed over sentences), and exact matches."""
    from sacrebleu.metrics import BLEU, CHRF

    sums: dict[str, float] = {"exact": float(sum(h == r for h, r in zip(hypotheses, references))),
                              "sentences": float(len(hypotheses))}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF())):
        stats = np.array(metric._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=np.int64)
        totals = stats.sum(axis=0) if len(stats) else np.zeros(0)
        sums |= {f"{name}_{i}": float(v) for i, v in enumerate(totals)}
    return sums


def scores(sums: dict[str, float]) -> dict[str, float]:
    """Corpus BLEU and chrF (0-100) and exact match (0-1) from :func:`score_sums` summed over shards."""
    from sacrebleu.metrics import BLEU, CHRF

    result = {"exact_match": sums["exact"] / max(sums["sentences"], 1.0)}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF())):
        stats = [int(sums[key]) for key in sorted((k for k in sums if k.startswith(f"{name}_")),
                                                  key=lambda k: int(k.rsplit("_", 1)[1]))]
        result[name] = float(metric._compute_score_from_stats(stats).score) if stats else 0.0
    return result


# ------------------------------------------------------------------------------------------------
# Decoding


@torch.no_grad()
def translate_ids(model: Seq2Seq, sources: Sequence[Sequence[int]], beam_size: int = 1, length_penalty: float = 1.0,
                  max_length: int | None = None, batch_size: int = EVAL_BATCH) -> list[list[int]]:
    """The best translation (token ids, without ``<eos>``) of each source, by beam search (``beam_size``
    1: greedy), batched over sources of similar length; ``max_length`` defaults to 2·S + 10."""
    device = next(model.parameters()).device
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[list[int]] = [[] for _ in sources]
    for start in range(0, len(order), batch_size):
        chosen = order[start: start + batch_size]
        batch = collate([sources[i] for i in chosen], [[] for _ in chosen]).to(device)
        state = model.encode(batch["source"], batch["source_lengths"])
        longest = max_length or 2 * batch["source"].size(0) + 10
        prompts = torch.full((len(chosen), 1), BOS_ID, dtype=torch.long, device=device)
        found = batched_beam_search(model, prompts, beam_size, longest, state=state, stop_tokens=(EOS_ID,),
                                    length_penalty=length_penalty if beam_size > 1 else 0.0)
        for i, hypotheses in zip(chosen, found):
            tokens = hypotheses[0].tokens
            results[i] = tokens[:-1] if tokens and tokens[-1] == EOS_ID else tokens
    return results


@torch.no_grad()
def attention_weights(model: Seq2Seq, source: Sequence[int], output: Sequence[int]) -> Tensor | None:
    """The weights (len(output) + 1, len(source)) the model gives to every source token while writing
    each token of ``output`` and the final ``<eos>`` (teacher-forced on ``output``: the same numbers as
    while decoding it); None for a model without attention."""
    device = next(model.parameters()).device
    batch = collate([source], [list(output)]).to(device)
    _, weights = model(batch["source"], batch["source_lengths"], batch["target_input"])
    return None if weights is None else weights[:, 0]


# ------------------------------------------------------------------------------------------------
# The task


class TranslationTask(Task):
    """Sequence to sequence with attention on parallel text or dates (module docstring)."""

    name = "translate"
    unit = "sentences"
    throughput_key = "sentences_per_s"
    display_metric = "bleu"
    sections = {"data": TranslationData, "model": Seq2SeqConfig, "teacher": TeacherConfig, "train": TrainConfig}
    selection = Selection("bleu", higher_is_better=True)

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """The sections; the budget and (for dates) the model take the source's defaults when not
        given, and file paths are made absolute."""
        data = record.get("data", {})
        source = data.get("source", "files") if isinstance(data, dict) else "files"
        if not derived:
            train = record.get("train", {})
            if isinstance(train, dict) and "steps" not in train and "minutes" not in train:
                record = record | {"train": train | DEFAULT_BUDGET.get(source, {})}
            model = record.get("model", {})
            if source == "dates" and isinstance(model, dict):
                record = record | {"model": DATES_MODEL | model}
        settings = super().settings_from_record(record, derived)
        data = settings["data"]
        if not derived:
            absolute = lambda p: None if p is None else str(Path(p).expanduser().resolve())
            settings["data"] = replace(data, **{name: absolute(getattr(data, name)) for name in
                                                ("train_source", "train_target", "valid_source", "valid_target")})
        if data.source == "files" and data.train_source is None:
            raise SettingsError("give the parallel training files with --src FILE --tgt FILE, or --task dates")
        return settings

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        data: TranslationData = settings["data"]
        self.data = data
        if data.source == "dates":
            self.selection = Selection("exact_match", higher_is_better=True)
            self.display_metric = "exact_match"
        train_pairs, val_pairs, val_locales = self._read()
        kind = data.codec_kind
        sources, targets = [s for s, _ in train_pairs], [t for _, t in train_pairs]
        if data.joint_vocab:
            self.source_codec = self.target_codec = fit_codec(kind, sources + targets, data.min_count, data.subword)
        else:
            self.source_codec = fit_codec(kind, sources, data.min_count, data.subword)
            self.target_codec = fit_codec(kind, targets, data.min_count, data.subword)
        self.train_set = self._encode(train_pairs, keep_long=False)
        self.val_set = self._encode(val_pairs, keep_long=True)
        self.val_set.locales = val_locales

    def _read(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str] | None]:
        data = self.data
        if data.source == "dates":
            train = generate_dates(data.size, data.seed, held_out=False, locales=data.locales)
            val = generate_dates(data.val_size, data.seed + 1, held_out=True, locales=data.locales)
            return [(p.text, p.iso) for p in train], [(p.text, p.iso) for p in val], [p.locale for p in val]
        train = read_parallel(data.train_source, data.train_target, data.encoding)
        if data.valid_source is not None:
            return train, read_parallel(data.valid_source, data.valid_target, data.encoding), None
        if len(train) <= data.val_size:
            raise DataError(f"{data.train_source} has {len(train):,} pairs: too few to hold out val_size = "
                            f"{data.val_size:,} for validation; give --valid-src/--valid-tgt or a smaller --val-size")
        return train[: -data.val_size], train[-data.val_size:], None

    def _encode(self, pairs: list[tuple[str, str]], keep_long: bool) -> Pairs:
        encoded = Pairs([], [], [], [])
        limit = self.data.max_length
        for source, target in pairs:
            s, t = self.source_codec.encode(source), self.target_codec.encode(target)
            if not s:
                continue
            if not keep_long and (len(s) > limit or len(t) > limit):
                continue
            encoded.sources.append(s)
            encoded.targets.append(t)
            encoded.source_texts.append(source)
            encoded.target_texts.append(target)
        if not encoded.sources:
            raise DataError(f"no sentence pair has at most max_length = {limit} tokens on both sides")
        return encoded

    # -- what the run directory records

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / SOURCE_VOCAB, self.source_codec.to_json())
        write_json(run_dir / TARGET_VOCAB, self.target_codec.to_json())

    def check_resume(self, run_dir: Path) -> None:
        for name, codec in ((SOURCE_VOCAB, self.source_codec), (TARGET_VOCAB, self.target_codec)):
            if read_json(run_dir / name) != codec.to_json():
                raise CheckpointError(f"the data's vocabulary differs from {run_dir / name}: the data changed")

    # -- model, batches, loss, metrics

    def build_model(self) -> Seq2Seq:
        return Seq2Seq(self.settings["model"], len(self.source_codec), len(self.target_codec), pad_id=PAD_ID)

    def train_batches(self, shard: Shard) -> LengthBuckets:
        train = self.settings["train"]
        return LengthBuckets(self.train_set, train.batch_size, self.data.bucket, train.seed, shard)

    def sampled_mask(self, batch: Batch) -> Tensor | None:
        """Where scheduled sampling feeds the model's own prediction in this batch (T, B), or None."""
        teacher: TeacherConfig = self.settings["teacher"]
        position = int(batch["position"])
        epsilon = teacher.teacher_probability(position)
        if epsilon >= 1.0:
            return None
        generator = torch.Generator().manual_seed(self.settings["train"].seed * 1_000_003 + position)
        shape = tuple(batch["target_input"].shape)
        return (torch.rand(shape, generator=generator) >= epsilon).to(batch["target_input"].device)

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        logits, _ = model(batch["source"], batch["source_lengths"], batch["target_input"], self.sampled_mask(batch))
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch["target_output"].flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.settings["teacher"].label_smoothing)
        return loss, None

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        device = next(model.parameters()).device
        mine = list(range(len(self.val_set)))[shard.rank:: shard.world_size]
        loss_sum, tokens = 0.0, 0
        for start in range(0, len(mine), EVAL_BATCH):
            chosen = mine[start: start + EVAL_BATCH]
            batch = collate([self.val_set.sources[i] for i in chosen], [self.val_set.targets[i] for i in chosen])
            batch = batch.to(device)
            logits, _ = model(batch["source"], batch["source_lengths"], batch["target_input"])
            loss_sum += F.cross_entropy(logits.flatten(0, 1).float(), batch["target_output"].flatten(),
                                        ignore_index=PAD_ID, reduction="sum").item()
            tokens += int((batch["target_output"] != PAD_ID).sum())
        decoded = mine[: max(1, self.settings["teacher"].val_sentences // shard.world_size)]
        outputs = translate_ids(model, [self.val_set.sources[i] for i in decoded])
        hypotheses = [self.target_codec.decode(ids) for ids in outputs]
        return {"loss_sum": loss_sum, "tokens": tokens} | score_sums(hypotheses, [self.val_set.target_texts[i]
                                                                                   for i in decoded])

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        loss = sums["loss_sum"] / max(sums["tokens"], 1.0)
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0))} | scores(sums)

    def describe(self, model: nn.Module) -> str:
        parameters = sum(p.numel() for p in model.parameters())
        config: Seq2SeqConfig = self.settings["model"]
        return (f"translate ({self.data.source}): {config.cell} encoder-decoder, attention {config.attention}, "
                f"{parameters:,} parameters; {len(self.train_set):,} training and {len(self.val_set):,} validation "
                f"pairs; vocabularies {len(self.source_codec):,} / {len(self.target_codec):,} "
                f"({self.data.codec_kind}{', joint' if self.data.joint_vocab else ''})")


# ------------------------------------------------------------------------------------------------
# A trained run


@dataclass
class Translator:
    """The best model of a translate run, in eval mode, with its codecs and settings."""

    model: Seq2Seq
    source_codec: Codec
    target_codec: Codec
    settings: dict[str, Any]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Source token ids; a warning names the parts of the text outside the vocabulary (<unk>)."""
        encoded = []
        for number, text in enumerate(texts, start=1):
            unknown = self.source_codec.unknown(text)
            if unknown:
                shown = ", ".join(repr(u) for u in unknown[:5]) + (" …" if len(unknown) > 5 else "")
                warnings.warn(f"sentence {number}: {len(unknown)} token(s) outside the vocabulary become <unk>: "
                              f"{shown}", stacklevel=2)
            encoded.append(self.source_codec.encode(text) or [UNK_ID])
        return encoded

    def translate(self, texts: Sequence[str], beam_size: int = 5, length_penalty: float = 1.0) -> list[str]:
        """The detokenised translation of each text (an empty text translates to an empty one)."""
        return [self.target_codec.decode(pair[1]) if pair else "" for pair in self.ids(texts, beam_size, length_penalty)]

    def ids(self, texts: Sequence[str], beam_size: int = 5, length_penalty: float = 1.0,
            ) -> list[tuple[list[int], list[int]] | None]:
        """Per text, (source ids, translation ids), or None for an empty text."""
        filled = [i for i, text in enumerate(texts) if text.strip()]
        sources = self.encode([texts[i] for i in filled])
        result: list[tuple[list[int], list[int]] | None] = [None] * len(texts)
        for i, source, output in zip(filled, sources, translate_ids(self.model, sources, beam_size, length_penalty)):
            result[i] = (source, output)
        return result

    def attention(self, text: str, beam_size: int = 5) -> tuple[Tensor | None, list[str], list[str]]:
        """The attention map of ``text``'s translation: weights (targets, sources) and both axes' labels."""
        (source,) = self.encode([text])
        (output,) = translate_ids(self.model, [source], beam_size)
        weights = attention_weights(self.model, source, output)
        return weights, self.source_codec.pieces(source), [*self.target_codec.pieces(output), "<eos>"]


ATTENTION_SAMPLE = 100       # sentences whose attention evaluate_run inspects
COLLAPSED = 0.8              # attention_on_last above this: the attention has collapsed


def attention_on_last(maps: Iterable[Tensor | None]) -> float | None:
    """The mean share of attention on the source's last token, over attention maps (targets, sources)
    of translations (:func:`attention_weights`); None for a model without attention (or no maps). A
    model that attends along the sentence puts about 1 / (source length) there, a bit more for a final
    full stop; one near 1 has collapsed onto the encoder's summary of the sentence and translates
    without attention."""
    shares = []
    for weights in maps:
        if weights is None:
            return None
        shares.append(float(weights[:, -1].mean()))
    return sum(shares) / len(shares) if shares else None


def load_run(run_dir: str | Path) -> Translator:
    """The best model of a translate run, with its vocabularies."""
    from ..training import load_weights
    from . import runs

    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    if config["task"] != TranslationTask.name:
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run, not a translate run")
    settings = TranslationTask.settings_from_record(config, derived=True)
    for name in (SOURCE_VOCAB, TARGET_VOCAB, "model.safetensors"):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"{run_dir / name} does not exist: the run has not saved a model yet")
    try:
        source_codec = Codec.from_json(read_json(run_dir / SOURCE_VOCAB))
        target_codec = Codec.from_json(read_json(run_dir / TARGET_VOCAB))
    except ValueError as error:
        raise CheckpointError(f"{run_dir}: a vocabulary file is not valid: {error}") from None
    model = Seq2Seq(settings["model"], len(source_codec), len(target_codec), pad_id=PAD_ID)
    load_weights(run_dir / "model.safetensors", model)
    return Translator(model.eval(), source_codec, target_codec, settings)


def evaluate_run(run_dir: str | Path, source: str | None = None, target: str | None = None, beam_size: int = 5,
                 length_penalty: float = 1.0) -> dict[str, Any]:
    """BLEU, chrF and exact match of a run's translations of ``source`` against ``target`` (files),
    or for a dates run without files, of a test sample of held-out dates (with exact match per
    language): ``val_size`` dates drawn from the validation days with another seed than validation's,
    so the test is not the sample that selected the checkpoint."""
    translator = load_run(run_dir)
    data: TranslationData = translator.settings["data"]
    locales = None
    if source is not None or target is not None:
        if source is None or target is None:
            raise ValueError("give both --src and --tgt")
        pairs = read_parallel(source, target, data.encoding)
    elif data.source == "dates":
        held = generate_dates(data.val_size, data.seed + TEST_SEED_OFFSET, held_out=True, locales=data.locales)
        pairs, locales = [(p.text, p.iso) for p in held], [p.locale for p in held]
    else:
        raise ValueError(f"{run_dir} was trained on files: give the test files with --src FILE --tgt FILE")
    print(f"translating {len(pairs):,} sentences (beam {beam_size}) …", file=sys.stderr, flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # unknown tokens are expected on a test set
        translated = translator.ids([s for s, _ in pairs], beam_size, length_penalty)
    hypotheses = [translator.target_codec.decode(pair[1]) if pair else "" for pair in translated]
    references = [t for _, t in pairs]
    result: dict[str, Any] = scores(score_sums(hypotheses, references)) | {"sentences": len(pairs),
                                                                          "beam_size": beam_size}
    sample = [pair for pair in translated if pair][:ATTENTION_SAMPLE]
    last = attention_on_last(attention_weights(translator.model, *pair) for pair in sample)
    if last is not None:
        result["attention_on_last"] = last
    if locales is not None:
        by_locale: dict[str, list[bool]] = {}
        for locale, h, r in zip(locales, hypotheses, references):
            by_locale.setdefault(locale, []).append(h == r)
        result["exact_match_by_locale"] = {k: sum(v) / len(v) for k, v in sorted(by_locale.items())}
    return result
