r"""Image captions: the Flickr8k/Flickr30k token file, Karpathy's split JSON, tokenisation, vocabulary.

Two formats are read:

- the Flickr token file (Flickr8k.token.txt, Flickr30k's results_20130124.token): one caption a
  line, ``IMAGE.jpg#N<TAB>caption`` with N = 0, 1, …; the splits come from lists of image names,
  one a line (Flickr_8k.trainImages.txt, Flickr_8k.devImages.txt);
- Karpathy's split JSON (dataset_flickr8k.json, dataset_flickr30k.json, dataset_coco.json):
  ``{"images": [{"filename": …, "filepath": …, "split": "train"|"val"|"test"|"restval",
  "sentences": [{"raw": …, "tokens": […]}, …]}, …]}``; ``restval`` counts as training and ``val``
  is called ``dev`` here, as in Flickr8k's own split files.

Captions are lowercased and split on white space after every character of Python's
``string.punctuation`` is removed (Karpathy's preprocessing for NeuralTalk, which most published
Flickr8k/COCO figures use): "A dog's ball." → ``a dogs ball``. Training and scoring both read these
tokens; BLEU and CIDEr-D are computed on them joined by spaces.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .corpora import DataError
from .parallel import SPECIALS, UNK_ID, _VocabularyCodec

SPLITS = ("train", "dev", "test")
_KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "dev", "dev": "dev", "test": "test"}
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def tokenize(caption: str) -> list[str]:
    """The caption's tokens: lowercased, punctuation removed, split on white space (module docstring).

    Example:
        >>> tokenize("A black dog's running, on the grass .")
        ['a', 'black', 'dogs', 'running', 'on', 'the', 'grass']
    """
    return caption.lower().translate(_PUNCTUATION).split()


class CaptionCodec(_VocabularyCodec):
    """Caption words (:func:`tokenize`) ↔ ids; ``<pad> <unk> <bos> <eos>`` first; decoded text is
    the tokens joined by single spaces.

    Example:
        >>> codec = CaptionCodec.fit(["A dog runs.", "a dog sits"], min_count=2)
        >>> codec.decode(codec.encode("a dog jumps"))
        'a dog <unk>'
    """

    kind = "caption"

    @classmethod
    def split(cls, text: str) -> list[str]:
        return tokenize(text)

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self._text_tokens(ids))

    @classmethod
    def from_json(cls, record: dict) -> CaptionCodec:
        if not isinstance(record, dict) or record.get("kind") != cls.kind or not isinstance(record.get("tokens"), list):
            raise ValueError("a caption vocabulary record needs kind 'caption' and a 'tokens' list")
        return cls(record["tokens"])


@dataclass
class CaptionedImage:
    """One image: its file name (relative to the image directory), its captions as written, its split."""

    file: str
    captions: list[str] = field(default_factory=list)
    split: str | None = None


def read_flickr_tokens(path: str | Path) -> list[CaptionedImage]:
    """The images of a Flickr token file, in order of first appearance, each with its captions in the
    order of their numbers N. Raises DataError naming the line of a malformed or empty caption."""
    path = Path(path)
    images: dict[str, CaptionedImage] = {}
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        name, tab, caption = line.partition("\t")
        if not tab:
            raise DataError(f"{path}, line {number}: expected IMAGE.jpg#N<TAB>caption, found no tab: {line[:80]!r}")
        file = name.rsplit("#", 1)[0].strip()
        if not file:
            raise DataError(f"{path}, line {number}: no image name before the tab")
        if not tokenize(caption):
            raise DataError(f"{path}, line {number}: the caption of {file} is empty (no word once punctuation is "
                            f"removed)")
        images.setdefault(file, CaptionedImage(file)).captions.append(caption.strip())
    if not images:
        raise DataError(f"{path} holds no caption")
    return list(images.values())


def read_karpathy_json(path: str | Path) -> list[CaptionedImage]:
    """The images of a Karpathy split JSON with their splits (module docstring); raw captions are
    used where given, else the tokens joined by spaces."""
    path = Path(path)
    try:
        record = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON: {error}") from None
    entries = record.get("images") if isinstance(record, dict) else None
    if not isinstance(entries, list):
        raise DataError(f"{path}: a Karpathy split file holds {{\"images\": [...]}} at the top level")
    images = []
    for number, entry in enumerate(entries):
        where = f"{path}, images[{number}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise DataError(f"{where}: each image needs a 'filename'")
        split = _KARPATHY_SPLITS.get(entry.get("split", "train"))
        if split is None:
            raise DataError(f"{where}: unknown split {entry.get('split')!r}; expected one of "
                            f"{', '.join(_KARPATHY_SPLITS)}")
        file = str(Path(entry.get("filepath") or "") / entry["filename"])
        captions = []
        for sentence in entry.get("sentences", []):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            if not isinstance(raw, str):
                raw = " ".join(sentence.get("tokens", [])) if isinstance(sentence, dict) else ""
            if not tokenize(raw):
                raise DataError(f"{where} ({file}): a caption is empty")
            captions.append(raw.strip())
        if not captions:
            raise DataError(f"{where} ({file}) has no caption")
        images.append(CaptionedImage(file, captions, split))
    if not images:
        raise DataError(f"{path} lists no image")
    return images


def read_captions(path: str | Path) -> list[CaptionedImage]:
    """A caption file in either format: Karpathy's JSON if it ends in .json, else a Flickr token file."""
    path = Path(path)
    return read_karpathy_json(path) if path.suffix.lower() == ".json" else read_flickr_tokens(path)


def read_image_list(path: str | Path) -> list[str]:
    """Image names, one a line (blank lines skipped)."""
    names = [line.strip() for line in _read_text(Path(path)).splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path} names no image")
    return names


def assign_splits(images: Sequence[CaptionedImage], lists: dict[str, Sequence[str]]) -> list[CaptionedImage]:
    """The images named in ``lists`` (split → image names), each given its split, in the lists' order.
    An image named in a list without captions raises DataError; images in no list are left out."""
    by_name = {image.file: image for image in images}
    chosen, seen = [], set()
    for split, names in lists.items():
        missing = [name for name in names if name not in by_name]
        if missing:
            raise DataError(f"the {split} list names {len(missing):,} image(s) without captions, e.g. "
                            f"{', '.join(missing[:3])}")
        for name in names:
            if name in seen:
                raise DataError(f"image {name} is in two splits")
            seen.add(name)
            chosen.append(CaptionedImage(name, by_name[name].captions, split))
    return chosen


def check_image_files(image_dir: str | Path, images: Sequence[CaptionedImage]) -> list[Path]:
    """The paths of the images' files, or DataError naming the missing ones (the first few and a count)."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"{image_dir} is not a directory of images")
    paths = [image_dir / image.file for image in images]
    missing = [str(p.relative_to(image_dir)) for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{len(missing):,} image(s) named by the captions are not in {image_dir}, e.g. "
                        f"{', '.join(missing[:3])}")
    return paths


def fit_vocabulary(captions: Iterable[str], min_count: int) -> CaptionCodec:
    """The words seen at least ``min_count`` times in ``captions`` (the others become <unk>)."""
    codec = CaptionCodec.fit(captions, min_count)
    if len(codec) == len(SPECIALS):
        raise DataError(f"no caption word is seen at least min_count = {min_count} times")
    return codec


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8-sig")        # a byte-order mark (Windows editors) is dropped
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text: {error}") from None


__all__ = ["SPLITS", "UNK_ID", "CaptionCodec", "CaptionedImage", "assign_splits", "check_image_files",
           "fit_vocabulary", "read_captions", "read_flickr_tokens", "read_image_list", "read_karpathy_json",
           "tokenize"]
