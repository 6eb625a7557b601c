r"""Image captioning: a :class:`~rnnkit.models.Captioner` on captioned photos, or on generated scenes.

Data (``[data]``): a directory of images and a caption file — the Flickr token format with the
splits as lists of image names (``splits``: the training list, then the dev list; when neither is
given and Flickr8k's ``Flickr_8k.trainImages.txt`` and ``Flickr_8k.devImages.txt`` lie beside the
caption file, those), or Karpathy's split JSON, which carries its splits; without any split the
last ``val_size`` images are the dev split. Or ``source = "shapes"``: generated scenes of one to
four coloured shapes with captions from a small grammar (:mod:`rnnkit.data.shapes`), written once
as PNG files into the cache so that they take the same road as photos.

Images (:mod:`rnnkit.vision`): read as RGB at ``image_size`` (grayscale and RGBA converted, other
sizes resized; :func:`rnnkit.vision.read_image`). A frozen encoder's region features are computed
once per split and cached, memory-mapped, keyed by the encoder's weights and the images' bytes; a
trainable encoder (``small-cnn``, ``local-cnn``, or ``fine_tune`` > 0) runs inside the model on cached pixels.

Training: every (image, caption) pair is an example; the loss is the cross-entropy of every word
and the final ``<eos>`` given the image and the previous words (teacher forcing), plus Show, Attend
and Tell's doubly stochastic term λ Σ_i (1 − Σ_t α_ti)² averaged over images.

Validation: the teacher-forced loss of the dev pairs, and the greedy captions of up to
``val_images`` dev images: corpus BLEU-4 against all their references (sacrebleu on the tokens of
:func:`rnnkit.data.captions.tokenize`, whose statistics are additive over shards) — the metric that
selects the checkpoint; for shapes, the fraction of captions true of their scene (selects) and the
attention mass on the objects named. ``rnnkit eval`` adds BLEU-1…3, CIDEr-D and beam search.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..data.captions import (
    CaptionCodec, CaptionedImage, assign_splits, check_image_files, fit_vocabulary, read_captions, read_image_list,
    tokenize,
)
from ..data.corpora import DataError
from ..data.parallel import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from ..decoding import batched_beam_search
from ..models.captioner import Captioner, CaptionerConfig
from ..settings import SettingsError
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, read_json, write_json
from ..training.batches import LengthBucketedBatches
from ..training.task import State

SOURCES = ("files", "shapes")
ENCODER_NAMES = ("auto", "efficientnet-lite0", "small-cnn", "local-cnn", "cell-cnn")
DEFAULT_TRAIN = {"files": {"minutes": 60.0, "batch_size": 64, "lr": 1e-3},
                 "shapes": {"steps": 10000, "batch_size": 64, "lr": 2e-3}}
# The shapes task needs a small decoder: these replace the [model] defaults there unless given. Its
# captions are 3 to 10 words over 49 regions, and there the doubly stochastic term (which asks every
# region for one unit of attention over the caption) keeps attention uniform: it is off. Additive
# scores also stayed uniform there; general scores and a decoder started from zeros learn to look.
SHAPES_MODEL = {"embedding_size": 64, "hidden_size": 256, "attention_size": 128, "dropout": 0.2,
                "doubly_stochastic": 0.0, "score": "general", "initial_state": "zeros"}
# And the shapes' encoder: local-cnn at 112 px, whose 7 × 7 regions each see about their own 16-pixel
# cell, so that the attention on a shape word can be on its object (EfficientNet's regions each see
# most of the image: with them 99% of the captions were true, but 0.37 of the attention on the object).
SHAPES_DATA = {"image_size": 112}
SHAPES_ENCODER = {"name": "local-cnn"}
VOCAB, IMAGES = "vocab.json", "images.json"
EVAL_BATCH = 100
BUCKET = 50                         # training batches per bucket of captions of similar length
TEST_SEED_OFFSET = 2                # shapes: the test scenes' seed is the data seed + 2 (dev's + 1)
FLICKR8K_SPLITS = ("Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt")


@dataclass(frozen=True)
class CaptionData:
    """Where the captioned images come from (module docstring)."""

    source: str = "files"              # "files" (images and a caption file) or "shapes" (generated)
    images: str | None = None          # directory of the images the caption file names
    captions: str | None = None        # Flickr token file or Karpathy split JSON
    splits: tuple[str, ...] = ()       # the training and dev lists of image names (Flickr token files)
    val_size: int = 500                # dev images held out when no split is given; shapes: dev scenes
    min_count: int = 5                 # caption words seen fewer times become <unk>
    max_length: int = 40               # training captions with more words are left out
    image_size: int = 224              # images are read (resized if needed) at image_size × image_size
    size: int = 6000                   # shapes: training scenes
    max_shapes: int = 4                # shapes: the most shapes in a scene
    seed: int = 1234                   # shapes: the generated scenes' seed
    val_images: int = 1000             # dev images captioned (greedily) at each validation

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        for name in ("val_size", "min_count", "max_length", "image_size", "size", "max_shapes", "val_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be between 32 and 1024 pixels, got {self.image_size}")
        if len(self.splits) not in (0, 2):
            raise ValueError(f"splits names two lists of images, the training and the dev one; got "
                             f"{len(self.splits)}: {list(self.splits)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a non-negative whole number, got {self.seed!r}")


@dataclass(frozen=True)
class EncoderConfig:
    """Which image encoder, and how much of it trains."""

    name: str = "auto"                 # efficientnet-lite0 (pretrained), small-cnn or local-cnn (from
                                       # scratch), or auto: efficientnet-lite0 (shapes: local-cnn)
    fine_tune: int = 0                 # pretrained encoder: train its last N blocks with the decoder (0: frozen)

    def __post_init__(self) -> None:
        if self.name not in ENCODER_NAMES:
            from ..vision.encoders import registered_encoders
            if self.name not in registered_encoders():
                raise ValueError(f"unknown encoder {self.name!r}; choose one of: "
                                 f"{', '.join([*ENCODER_NAMES, *registered_encoders()])}")
        if isinstance(self.fine_tune, bool) or not isinstance(self.fine_tune, int) or self.fine_tune < 0:
            raise ValueError(f"fine_tune must be a whole number of blocks >= 0, got {self.fine_tune!r}")

    @property
    def resolved(self) -> str:
        return "efficientnet-lite0" if self.name == "auto" else self.name


def build_image_encoder(config: EncoderConfig, image_size: int):
    """The encoder of a run: its blocks frozen or trainable as ``config`` says."""
    from ..vision import build_encoder

    name = config.resolved
    kwargs = {"downsample": max(1, round(math.log2(image_size / 7)))} if name == "small-cnn" else {}
    encoder = build_encoder(name, **kwargs)
    if not encoder.from_scratch:
        encoder.fine_tune(config.fine_tune)
    elif config.fine_tune:
        raise ValueError(f"fine_tune counts the pretrained blocks that train; {name} trains whole already")
    return encoder


# ------------------------------------------------------------------------------------------------
# Splits, batches, scores


@dataclass
class Split:
    """The images of one split, their captions as token lists and as ids, and where they are read."""

    name: str
    paths: list[Path]
    references: list[list[list[str]]]   # per image, its captions' tokens
    pairs: list[tuple[int, list[int]]]  # (image index, caption ids) for training and the loss
    scenes: list | None = None          # shapes: each image's Scene

    def __len__(self) -> int:
        return len(self.paths)


def collate(images: Tensor, captions: Sequence[Sequence[int]]) -> Batch:
    """``images`` (B, …) (features or pixels), ``caption_input (T, B)`` = ``<bos> y`` and
    ``caption_output (T, B)`` = ``y <eos>``, padded."""
    def pad(rows: list[list[int]]) -> Tensor:
        return nn.utils.rnn.pad_sequence([torch.tensor(r, dtype=torch.long) for r in rows], padding_value=PAD_ID)
    return Batch({"images": images, "caption_input": pad([[BOS_ID, *c] for c in captions]),
                  "caption_output": pad([[*c, EOS_ID] for c in captions])}, len(captions))


def bleu_sums(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """sacrebleu's additive statistics of corpus BLEU up to 4-grams (hypothesis and closest reference
    lengths, matches and totals per order), summed over the hypotheses; each hypothesis has its own
    references (any number), all on tokenised text."""
    from sacrebleu.metrics import BLEU

    streams = max((len(r) for r in references), default=0)
    padded = [[refs[k] if k < len(refs) else None for refs in references] for k in range(streams)]
    stats = BLEU(tokenize="none")._extract_corpus_statistics(list(hypotheses), padded) if hypotheses else []
    totals = np.array(stats, dtype=np.int64).sum(axis=0) if len(stats) else np.zeros(10, dtype=np.int64)
    return {f"bleu_{i}": float(v) for i, v in enumerate(totals)}


def bleu_scores(sums: dict[str, float]) -> dict[str, float]:
    """Corpus BLEU-1 … BLEU-4 (0–100) from :func:`bleu_sums` (summed over shards)."""
    from sacrebleu.metrics import BLEU

    stats = [int(sums[f"bleu_{i}"]) for i in range(10)]
    hyp_len, ref_len, matches, totals = stats[0], stats[1], stats[2:6], stats[6:10]
    result = {}
    for n in range(1, 5):
        metric = BLEU(tokenize="none", max_ngram_order=n)
        result[f"bleu{n}"] = float(metric._compute_score_from_stats([hyp_len, ref_len, *matches[:n], *totals[:n]]).score)
    return result


def cider_d(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """CIDEr-D (Vedantam et al. 2015) of the captions, by the COCO caption evaluation code
    (pycocoevalcap: n-grams up to 4, TF-IDF with document frequencies from these references, clipped
    counts, the Gaussian length penalty σ = 6, ×10), on tokenised text."""
    try:
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        raise ImportError("CIDEr-D needs pycocoevalcap: pip install 'rnnkit[caption]'") from None
    if not hypotheses:
        return 0.0
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [hypothesis] for i, hypothesis in enumerate(hypotheses)}
    score, _ = Cider().compute_score(gts, res)
    return float(score)


# ------------------------------------------------------------------------------------------------
# Decoding


@torch.no_grad()
def caption_ids(model: Captioner, images: Tensor, beam_size: int = 1, max_length: int = 40,
                length_penalty: float = 0.0, batch_size: int = EVAL_BATCH) -> list[list[int]]:
    """The best caption (word ids, without ``<eos>``) of each image (features or pixels, (N, …)),
    by beam search (``beam_size`` 1: greedy); ``<unk>`` is never generated, nor an empty caption."""
    device = next(model.parameters()).device
    results: list[list[int]] = []
    for start in range(0, images.size(0), batch_size):
        chunk = images[start: start + batch_size].to(device)
        state = model.encode(chunk)
        prompts = torch.full((chunk.size(0), 1), BOS_ID, dtype=torch.long, device=device)
        found = batched_beam_search(model, prompts, beam_size, max_length, state=state, stop_tokens=(EOS_ID,),
                                    banned_tokens=(UNK_ID, PAD_ID, BOS_ID), length_penalty=length_penalty,
                                    min_new_tokens=1)
        for hypotheses in found:
            tokens = hypotheses[0].tokens
            results.append(tokens[:-1] if tokens and tokens[-1] == EOS_ID else tokens)
    return results


@torch.no_grad()
def caption_attention(model: Captioner, images: Tensor, captions: Sequence[Sequence[int]]) -> list[Tensor] | None:
    """For each image, the weights (len(caption) + 1, R) its caption's words and the final ``<eos>``
    give the regions (teacher-forced on the caption: the numbers of decoding it); None without attention."""
    if model.attention is None:
        return None
    device = next(model.parameters()).device
    result = []
    for start in range(0, images.size(0), EVAL_BATCH):
        chosen = list(captions[start: start + EVAL_BATCH])
        batch = collate(images[start: start + EVAL_BATCH], chosen).to(device)
        _, weights = model(batch["images"], batch["caption_input"])                   # (T, B, R)
        result.extend(weights[: len(c) + 1, b].cpu() for b, c in enumerate(chosen))
    return result


def shapes_scores(scenes: Sequence, texts: Sequence[str], weights: Sequence[Tensor] | None,
                  grid: tuple[int, int]) -> dict[str, float]:
    """Additive sums for the shapes task: captions true of their scene, and the attention mass that
    each named object's word puts on that object's regions."""
    from ..data.shapes import attention_on_objects, caption_is_true

    sums = {"true": 0.0, "captions": float(len(texts)), "object_mass": 0.0, "object_words": 0.0}
    for i, (scene, text) in enumerate(zip(scenes, texts)):
        sums["true"] += float(caption_is_true(scene, text))
        if weights is not None:
            masses = attention_on_objects(scene, text, weights[i].numpy(), grid)
            sums["object_mass"] += float(sum(masses))
            sums["object_words"] += float(len(masses))
    return sums


# ------------------------------------------------------------------------------------------------
# The task


class CaptionTask(Task):
    """Show and Tell, or Show, Attend and Tell, on photos or generated scenes (module docstring)."""

    name = "caption"
    unit = "captions"
    throughput_key = "captions_per_s"
    display_metric = "bleu4"
    sections = {"data": CaptionData, "encoder": EncoderConfig, "model": CaptionerConfig, "train": TrainConfig}
    selection = Selection("bleu4", higher_is_better=True)

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        """The sections; the training budget and (for shapes) the model, the encoder and the image size
        take the source's defaults when not given, and file paths are made absolute."""
        data = record.get("data", {})
        source = data.get("source", "files") if isinstance(data, dict) else "files"
        if not derived:
            train = record.get("train", {})
            if isinstance(train, dict):
                defaults = dict(DEFAULT_TRAIN.get(source, {}))
                if "steps" in train or "minutes" in train:
                    defaults.pop("steps", None), defaults.pop("minutes", None)
                record = record | {"train": defaults | train}
            if source == "shapes":
                encoder = record.get("encoder", {})
                if isinstance(encoder, dict) and encoder.get("name") == "auto":       # auto: the shapes' own
                    record = record | {"encoder": {k: v for k, v in encoder.items() if k != "name"}}
                for section, defaults in (("data", SHAPES_DATA), ("encoder", SHAPES_ENCODER), ("model", SHAPES_MODEL)):
                    given = record.get(section, {})
                    if isinstance(given, dict):
                        record = record | {section: defaults | given}

        settings = super().settings_from_record(record, derived)
        data = settings["data"]
        if not derived:
            absolute = lambda p: None if p is None else str(Path(p).expanduser().resolve())
            settings["data"] = replace(data, images=absolute(data.images), captions=absolute(data.captions),
                                       splits=tuple(absolute(p) for p in data.splits))
            data = settings["data"]
        if data.source == "files" and (data.images is None or data.captions is None):
            raise SettingsError("give the photos and their captions with --images DIR --captions FILE, or --task shapes")
        return settings

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        self.data: CaptionData = settings["data"]
        if self.data.source == "shapes":
            self.selection = Selection("true_fraction", higher_is_better=True)
            self.display_metric = "true_fraction"
        train_images, dev_images, self.image_dir, self._scenes = self._read()
        self.codec = fit_vocabulary((c for image in train_images for c in image.captions), self.data.min_count)
        self.train_set = self._split("train", train_images, keep_long=False)
        self.val_set = self._split("dev", dev_images, keep_long=True)
        self.encoder_config: EncoderConfig = settings["encoder"]
        self._encoder = build_image_encoder(self.encoder_config, self.data.image_size)
        self.grid = self._encoder.grid(self.data.image_size)
        self.feature_size = self._encoder.feature_size
        self.trains_encoder = not self._encoder.frozen
        self._inputs: dict[str, np.ndarray] = {}

    # -- reading

    def _read(self) -> tuple[list[CaptionedImage], list[CaptionedImage], Path, dict[str, list]]:
        data = self.data
        if data.source == "shapes":
            from ..data.shapes import generate_shapes

            splits, scenes = [], {}
            for split, count, seed in (("train", data.size, data.seed), ("dev", data.val_size, data.seed + 1)):
                images, scenes[split] = write_shapes(self.cache_dir, count, seed, data.image_size, data.max_shapes)
                splits.append(images)
            return splits[0], splits[1], shapes_dir(self.cache_dir, data.image_size, data.max_shapes), scenes
        images = read_captions(data.captions)
        lists = self._split_lists()
        if lists:
            images = assign_splits(images, lists)
        elif all(image.split is None for image in images):
            if len(images) <= data.val_size:
                raise DataError(f"{data.captions} captions {len(images):,} images: too few to hold out val_size = "
                                f"{data.val_size:,} for dev; give --splits TRAIN,DEV or a smaller --val-size")
            images = [replace(image, split="train") for image in images[: -data.val_size]] + \
                     [replace(image, split="dev") for image in images[-data.val_size:]]
        train = [image for image in images if image.split == "train"]
        dev = [image for image in images if image.split == "dev"]
        for name, chosen in (("train", train), ("dev", dev)):
            if not chosen:
                raise DataError(f"{data.captions}: the {name} split has no image")
        return train, dev, Path(data.images), {}

    def _split_lists(self) -> dict[str, list[str]]:
        data = self.data
        if data.splits:
            return {"train": read_image_list(data.splits[0]), "dev": read_image_list(data.splits[1])}
        beside = [Path(data.captions).parent / name for name in FLICKR8K_SPLITS]
        if Path(data.captions).suffix.lower() != ".json" and all(p.is_file() for p in beside):
            return {"train": read_image_list(beside[0]), "dev": read_image_list(beside[1])}
        return {}

    def _split(self, name: str, images: list[CaptionedImage], keep_long: bool) -> Split:
        paths = check_image_files(self.image_dir, images)
        references = [[tokenize(c) for c in image.captions] for image in images]
        pairs = []
        for index, captions in enumerate(references):
            for tokens in captions:
                if keep_long or len(tokens) <= self.data.max_length:
                    pairs.append((index, self.codec.encode(" ".join(tokens))))
        if not pairs:
            raise DataError(f"no {name} caption has at most max_length = {self.data.max_length} words")
        return Split(name, paths, references, pairs, self._scenes.get(name))

    def inputs(self, split: Split) -> np.ndarray:
        """The split's model inputs, computed once and cached: region features (N, R, D) of a frozen
        encoder, or pixels (N, S, S, 3) for an encoder trained inside the model."""
        if split.name not in self._inputs:
            from ..vision import cached_features, cached_pixels

            size = self.data.image_size
            if self.trains_encoder:
                self._inputs[split.name] = cached_pixels(split.paths, self.cache_dir, size, progress=True)
            else:
                self._inputs[split.name] = cached_features(self._encoder, split.paths, self.cache_dir, size,
                                                           progress=True)
        return self._inputs[split.name]

    def rows(self, split: Split, indices: Sequence[int]) -> Tensor:
        """The model inputs of some images of ``split``, as a tensor (float32 features, uint8 pixels)."""
        array = self.inputs(split)
        order = np.asarray(indices, dtype=np.int64)
        rows = np.asarray(array[np.sort(order)])[np.argsort(np.argsort(order))]
        tensor = torch.from_numpy(np.ascontiguousarray(rows))
        return tensor if self.trains_encoder else tensor.float()

    # -- what the run directory records

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / VOCAB, self.codec.to_json())
        write_json(run_dir / IMAGES, self.image_record())

    def image_record(self) -> dict:
        return {"encoder": self.encoder_config.resolved, "trains_encoder": self.trains_encoder,
                "feature_size": self.feature_size, "grid": list(self.grid), "image_size": self.data.image_size,
                "fingerprint": None if self.trains_encoder else self._encoder.fingerprint()}

    def check_resume(self, run_dir: Path) -> None:
        if read_json(run_dir / VOCAB) != self.codec.to_json():
            raise CheckpointError(f"the captions' vocabulary differs from {run_dir / VOCAB}: the data changed")
        if read_json(run_dir / IMAGES) != self.image_record():
            raise CheckpointError(f"the image encoder differs from the one {run_dir / IMAGES} records")

    # -- model, batches, loss, metrics

    def build_model(self) -> Captioner:
        encoder = build_image_encoder(self.encoder_config, self.data.image_size) if self.trains_encoder else None
        if encoder is not None and not encoder.from_scratch:
            encoder.load_state_dict(self._encoder.state_dict())
        return Captioner(self.settings["model"], len(self.codec), self.feature_size, encoder, pad_id=PAD_ID)

    def train_batches(self, shard: Shard) -> LengthBucketedBatches:
        """Batches of captions of similar length (less padding), from every image."""
        train = self.settings["train"]
        self.inputs(self.train_set)

        def make(indices: Sequence[int], position: int) -> Batch:
            chosen = [self.train_set.pairs[i] for i in indices]
            return collate(self.rows(self.train_set, [image for image, _ in chosen]), [c for _, c in chosen])
        return LengthBucketedBatches([len(c) for _, c in self.train_set.pairs], train.batch_size, BUCKET, train.seed,
                                     make, shard, what="captions")

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        return self._loss(model, batch)[0], None

    def _loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        """The mean word loss plus λ times the mean doubly stochastic term, and the summed word loss."""
        from ..models.captioner import doubly_stochastic_penalty

        logits, weights = model(batch["images"], batch["caption_input"])
        target = batch["caption_output"]
        summed = F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), ignore_index=PAD_ID, reduction="sum")
        loss = summed / (target != PAD_ID).sum().clamp(min=1)
        config: CaptionerConfig = self.settings["model"]
        if weights is not None and config.doubly_stochastic > 0:
            loss = loss + config.doubly_stochastic * doubly_stochastic_penalty(weights, target != PAD_ID).mean()
        return loss, summed

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        device = next(model.parameters()).device
        split = self.val_set
        images = list(range(len(split)))[shard.rank:: shard.world_size][: max(1, self.data.val_images //
                                                                              shard.world_size)]
        chosen = set(images)
        pairs = [pair for pair in split.pairs if pair[0] in chosen]
        loss_sum, words = 0.0, 0
        for start in range(0, len(pairs), EVAL_BATCH):
            part = pairs[start: start + EVAL_BATCH]
            batch = collate(self.rows(split, [i for i, _ in part]), [c for _, c in part]).to(device)
            loss_sum += self._loss(model, batch)[1].item()
            words += int((batch["caption_output"] != PAD_ID).sum())
        inputs = self.rows(split, images)
        outputs = caption_ids(model, inputs, max_length=self.data.max_length)
        texts = [self.codec.decode(ids) for ids in outputs]
        sums = {"loss_sum": loss_sum, "words": float(words)}
        sums |= bleu_sums(texts, [[" ".join(r) for r in split.references[i]] for i in images])
        if split.scenes is not None:
            weights = caption_attention(model, inputs, outputs)
            sums |= shapes_scores([split.scenes[i] for i in images], texts, weights, self.grid)
        return sums

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        loss = sums["loss_sum"] / max(sums["words"], 1.0)
        result = {"loss": loss, "perplexity": math.exp(min(loss, 700.0))} | bleu_scores(sums)
        if "true" in sums:
            result["true_fraction"] = sums["true"] / max(sums["captions"], 1.0)
            if sums["object_words"]:
                result["object_attention"] = sums["object_mass"] / sums["object_words"]
        return result

    def describe(self, model: nn.Module) -> str:
        parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
        config: CaptionerConfig = self.settings["model"]
        encoder = self.encoder_config.resolved + (" (trained)" if self.trains_encoder else " (frozen, cached features)")
        return (f"caption ({self.data.source}): {config.decoder} with a {config.cell} decoder, {parameters:,} trained "
                f"parameters; encoder {encoder}, {self.grid[0]}×{self.grid[1]} regions of {self.feature_size}; "
                f"{len(self.train_set):,} training images ({len(self.train_set.pairs):,} captions), "
                f"{len(self.val_set):,} dev images; vocabulary {len(self.codec):,}")


# ------------------------------------------------------------------------------------------------
# Generated scenes as files


def shapes_dir(cache_dir: Path, image_size: int, max_shapes: int) -> Path:
    return Path(cache_dir) / f"shapes-{image_size}px-{max_shapes}"


def write_shapes(cache_dir: Path, count: int, seed: int, image_size: int, max_shapes: int,
                 ) -> tuple[list[CaptionedImage], list]:
    """Generate ``count`` scenes and write their images as PNG files (once: kept files are reused),
    named by seed and number; their captions and scenes."""
    from PIL import Image

    from ..data.shapes import generate_shapes

    shapes = generate_shapes(count, seed, image_size, max_shapes)
    directory = shapes_dir(cache_dir, image_size, max_shapes)
    directory.mkdir(parents=True, exist_ok=True)
    images = []
    for number, (pixels, captions) in enumerate(zip(shapes.images, shapes.captions)):
        name = f"{seed}-{number:06d}.png"
        path = directory / name
        if not path.is_file():
            partial = path.with_suffix(".partial.png")
            Image.fromarray(pixels).save(partial)
            partial.replace(path)
        images.append(CaptionedImage(name, [c.text for c in captions]))
    return images, list(shapes.scenes)


# ------------------------------------------------------------------------------------------------
# A trained run


@dataclass
class CaptionRun:
    """The best model of a caption run, in eval mode, with its vocabulary, encoder and settings."""

    model: Captioner
    codec: CaptionCodec
    record: dict                      # images.json: encoder, grid, image size
    settings: dict[str, Any]
    encoder: nn.Module | None         # the frozen encoder that gives the model its features (None: inside)

    def inputs(self, pictures: np.ndarray) -> Tensor:
        """Model inputs of uint8 images (N, S, S, 3): the frozen encoder's features, or the pixels."""
        pixels = torch.from_numpy(np.ascontiguousarray(pictures))
        if self.encoder is None:
            return pixels
        device = next(self.model.parameters()).device
        with torch.no_grad():
            return torch.cat([self.encoder(pixels[i: i + 32].to(device).permute(0, 3, 1, 2).float() / 255.0)
                              for i in range(0, len(pixels), 32)])

    def read(self, paths: Sequence[str | Path]) -> np.ndarray:
        from ..vision import read_images

        return read_images(paths, self.record["image_size"])

    def caption(self, pictures: np.ndarray, beam_size: int = 5, length_penalty: float = 0.0,
                max_length: int | None = None) -> list[list[int]]:
        return caption_ids(self.model, self.inputs(pictures), beam_size,
                           max_length or self.settings["data"].max_length, length_penalty)


def load_run(run_dir: str | Path) -> CaptionRun:
    """The best model of a caption run, with its vocabulary and (for a frozen encoder) the encoder,
    checked to be the one whose features it was trained on."""
    from ..training import load_weights
    from . import runs

    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    if config["task"] != CaptionTask.name:
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run, not a caption run")
    settings = CaptionTask.settings_from_record(config, derived=True)
    for name in (VOCAB, IMAGES, "model.safetensors"):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"{run_dir / name} does not exist: the run has not saved a model yet")
    try:
        codec = CaptionCodec.from_json(read_json(run_dir / VOCAB))
    except ValueError as error:
        raise CheckpointError(f"{run_dir / VOCAB} is not valid: {error}") from None
    record = read_json(run_dir / IMAGES)
    encoder = build_image_encoder(settings["encoder"], record["image_size"])
    if record["trains_encoder"]:
        model = Captioner(settings["model"], len(codec), record["feature_size"], encoder, pad_id=PAD_ID)
        encoder = None
    else:
        if encoder.fingerprint() != record["fingerprint"]:
            raise CheckpointError(f"the {record['encoder']} encoder here has other weights than the one {run_dir} "
                                  f"was trained on (its fingerprint differs): the installed weights changed")
        model = Captioner(settings["model"], len(codec), record["feature_size"], None, pad_id=PAD_ID)
        encoder.eval()
    load_weights(run_dir / "model.safetensors", model)
    return CaptionRun(model.eval(), codec, record, settings, encoder)


def evaluate_run(run_dir: str | Path, split: str = "dev", beam_size: int = 5, length_penalty: float = 0.0,
                 cache: str | Path | None = None) -> dict[str, Any]:
    """BLEU-1…4 and CIDEr-D of a run's captions of a split's images against all their references (by
    beam search), and for shapes the fraction of true captions and the attention mass on the objects
    named. ``split`` is dev or train (any split of a Karpathy file; test for shapes: new scenes)."""
    from . import runs

    run_dir = Path(run_dir)
    loaded = load_run(run_dir)
    settings = loaded.settings
    data: CaptionData = settings["data"]
    task_settings, named = dict(settings), split
    if data.source == "shapes" and split == "test":
        # New scenes: the dev split of seed + 1 is drawn with seed + 2 (its small training split is unused).
        task_settings["data"] = replace(data, seed=data.seed + TEST_SEED_OFFSET - 1, size=data.val_size)
        split = "dev"
    if split not in ("train", "dev"):
        raise ValueError(f"split must be train or dev{' or test' if data.source == 'shapes' else ''}, got {split!r}")
    task = CaptionTask(task_settings, runs.cache_dir(run_dir, cache))
    chosen = task.train_set if split == "train" else task.val_set
    print(f"captioning {len(chosen):,} {named} images (beam {beam_size}) …", file=sys.stderr, flush=True)
    inputs = task.rows(chosen, range(len(chosen)))
    outputs = caption_ids(loaded.model, inputs, beam_size, data.max_length, length_penalty)
    texts = [loaded.codec.decode(ids) for ids in outputs]
    references = [[" ".join(r) for r in refs] for refs in chosen.references]
    result: dict[str, Any] = bleu_scores(bleu_sums(texts, references))
    result |= {"cider_d": cider_d(texts, references), "images": len(chosen), "split": named, "beam_size": beam_size,
               "examples": [{"image": str(p), "caption": t} for p, t in list(zip(chosen.paths, texts))[:5]]}
    if chosen.scenes is not None:
        weights = caption_attention(loaded.model, inputs, outputs)
        sums = shapes_scores(chosen.scenes, texts, weights, task.grid)
        result["true_fraction"] = sums["true"] / max(sums["captions"], 1.0)
        result["object_attention"] = sums["object_mass"] / sums["object_words"] if sums["object_words"] else None
    return result
