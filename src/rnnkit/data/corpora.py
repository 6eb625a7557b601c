"""Text corpora: find the text, read it safely, and encode it once into a memory-mapped token file.

A corpus is a text file, a directory of text files (every non-hidden file that holds no NUL byte,
in sorted order of relative path), or by default the Python standard library's own source: the
running interpreter's ``*.py`` files (tests and ``site-packages`` left out), so training works
offline on any machine.

Encoding never holds the whole text: files are read in pieces of about a megabyte that end at a
line end, once to count the vocabulary, once to write token ids to disk. The ids land in a cache
directory keyed by a hash of the source's bytes and the tokenizer's settings::

    CACHE/char-3f2a…/tokens.bin    token ids, uint16 (uint32 for a vocabulary over 65 535)
                     meta.json     dtype, token count, files, bytes
                     vocab.json    the tokenizer

and are read back with ``np.memmap``, so a corpus larger than memory trains.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .tokenizers import TOKENIZERS, Tokenizer

PIECE_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
# Directories of the standard library left out of the default corpus: tests (some are deliberately
# in other encodings or invalid Python) and third-party packages (which differ between machines).
STDLIB_EXCLUDED = {"site-packages", "dist-packages", "test", "tests", "idle_test"}


class DataError(ValueError):
    """Text that cannot be used as a corpus; the message names the file and what to do."""


@dataclass(frozen=True)
class CorpusConfig:
    """Where the text comes from and how it becomes tokens."""

    path: str | None = None        # a text file or a directory of them; None: the Python standard library
    tokens: str = "char"           # tokenizer: "char" or "word"
    encoding: str = "utf-8"        # text encoding of the files
    errors: str | None = None      # undecodable bytes: "strict" (an error), "replace" or "ignore";
                                   # None: strict for your files, replace for the standard library
    min_count: int = 1             # tokens seen fewer times become <unk>
    max_vocab: int | None = None   # keep at most this many tokens (specials included); None: all

    def __post_init__(self) -> None:
        if self.tokens not in TOKENIZERS:
            raise ValueError(f"tokens must be one of {sorted(TOKENIZERS)}, got {self.tokens!r}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"encoding {self.encoding!r} is not a known text encoding") from None
        if self.errors is not None and self.errors not in ("strict", "replace", "ignore"):
            raise ValueError(f"errors must be 'strict', 'replace' or 'ignore', got {self.errors!r}")
        if not isinstance(self.min_count, int) or self.min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {self.min_count!r}")
        if self.max_vocab is not None and (not isinstance(self.max_vocab, int) or self.max_vocab < 3):
            raise ValueError(f"max_vocab must be an integer of at least 3, got {self.max_vocab!r}")

    @property
    def error_handler(self) -> str:
        """The codec error handler actually used."""
        if self.errors is not None:
            return self.errors
        return "replace" if self.path is None else "strict"


@dataclass
class EncodedCorpus:
    """Token ids of a whole corpus, memory-mapped, with the tokenizer that made them."""

    tokens: np.ndarray             # (N,) uint16 or uint32, read-only memmap
    tokenizer: Tokenizer
    files: int                     # how many files the text came from
    directory: Path                # the cache entry


def stdlib_sources() -> list[Path]:
    """The standard library's ``*.py`` files of the running interpreter, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [
        path for path in root.rglob("*.py")
        if not STDLIB_EXCLUDED & set(path.relative_to(root).parts[:-1]) and path.is_file()
    ]
    if not files:
        raise DataError(f"no Python source found under the standard library directory {root}; give --data")
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def _looks_binary(path: Path) -> bool:
    """Whether a file holds a NUL byte near its start (a gzip-compressed text is read, not skipped)."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
    return not head.startswith(GZIP_MAGIC) and b"\0" in head


def find_sources(path: str | None) -> list[Path]:
    """The files of a corpus: one file, a directory's text files, or the standard library (``None``)."""
    if path is None:
        return stdlib_sources()
    root = Path(path)
    if root.is_file():
        if root.stat().st_size == 0:
            raise DataError(f"data file {root} is empty; give a file with some text")
        return [root]
    if root.is_dir():
        candidates = sorted(
            (p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        files = [p for p in candidates if p.stat().st_size > 0 and not _looks_binary(p)]
        if not files:
            raise DataError(
                f"directory {root} holds no text files ({len(candidates)} files, all empty, hidden or binary); "
                f"give a directory with non-empty text files"
            )
        return files
    raise DataError(f"data path {root} does not exist")


def read_pieces(path: Path, encoding: str = "utf-8", errors: str = "strict") -> Iterator[str]:
    """The text of ``path`` in pieces of about a megabyte, each ending at a line end (but the last).

    A gzip-compressed file (``.gz``, recognised by its magic bytes) is read decompressed. Raises
    :class:`DataError` naming the file and the byte offset (of the text) of the first undecodable byte.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    carry = ""
    offset = 0
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    with (gzip.open(path, "rb") if compressed else open(path, "rb")) as handle:
        while True:
            try:
                data = handle.read(PIECE_BYTES)
            except (OSError, EOFError) as error:           # gzip.BadGzipFile is an OSError
                raise DataError(f"{path}: not a valid gzip file ({error})") from None
            final = not data
            pending = len(decoder.getstate()[0])
            try:
                text = carry + decoder.decode(data, final=final)
            except UnicodeDecodeError as error:
                position = offset - pending + error.start
                raise DataError(
                    f"{path}: byte {position} (0x{error.object[error.start]:02x}) is not valid {encoding}; "
                    f"give the file's encoding with --encoding, or --errors replace to substitute such bytes"
                ) from None
            offset += len(data)
            if final:
                if text:
                    yield text
                return
            cut = text.rfind("\n") + 1
            if cut:
                yield text[:cut]
            carry = text[cut:]


def corpus_text(sources: list[Path], encoding: str, errors: str) -> Iterator[str]:
    """The text of every source in order; a file that does not end a line gets a newline."""
    for path in sources:
        last = ""
        for piece in read_pieces(path, encoding, errors):
            last = piece
            yield piece
        if last and not last.endswith("\n"):
            yield "\n"


def fingerprint(sources: list[Path], settings: dict) -> str:
    """SHA-256 of every source's bytes (length-prefixed, in order) and of ``settings``."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in sources:
        digest.update(path.stat().st_size.to_bytes(8, "little"))
        with open(path, "rb") as handle:
            while data := handle.read(PIECE_BYTES):
                digest.update(data)
    return digest.hexdigest()


def encode_corpus(
    config: CorpusConfig, cache_dir: str | Path, tokenizer: Tokenizer | None = None, progress: bool = True
) -> EncodedCorpus:
    """Encode the corpus of ``config`` (with ``tokenizer``, or one fitted to it), cached in ``cache_dir``."""
    sources = find_sources(config.path)
    settings = asdict(config) | {"path": None, "errors": config.error_handler}
    if tokenizer is not None:
        settings["vocab"] = hashlib.sha256(json.dumps(tokenizer.to_json()).encode()).hexdigest()
    key = fingerprint(sources, settings)
    entry = Path(cache_dir) / f"{config.tokens}-{key[:20]}"
    if not (entry / "meta.json").is_file():
        if progress:
            print(f"encoding {len(sources)} file(s) into {entry}", file=sys.stderr, flush=True)
        _build_entry(sources, config, tokenizer, entry)
    meta = json.loads((entry / "meta.json").read_text())
    stored = Tokenizer.from_json(json.loads((entry / "vocab.json").read_text()))
    if meta["count"] == 0:
        raise DataError(f"the text of {config.path or 'the standard library'} holds no {config.tokens} tokens")
    tokens = np.memmap(entry / "tokens.bin", dtype=meta["dtype"], mode="r", shape=(meta["count"],))
    return EncodedCorpus(tokens, stored, meta["files"], entry)


def _build_entry(sources: list[Path], config: CorpusConfig, tokenizer: Tokenizer | None, entry: Path) -> None:
    """Write the cache entry into a temporary sibling directory, then rename it into place."""
    errors = config.error_handler
    if tokenizer is None:
        tokenizer = TOKENIZERS[config.tokens].fit(
            corpus_text(sources, config.encoding, errors), config.min_count, config.max_vocab
        )
    dtype = np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max else np.uint32
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        count = 0
        with open(staging / "tokens.bin", "wb") as out:
            for piece in corpus_text(sources, config.encoding, errors):
                ids = tokenizer.encode(piece).astype(dtype)
                out.write(ids.tobytes())
                count += ids.size
        (staging / "vocab.json").write_text(json.dumps(tokenizer.to_json(), ensure_ascii=False))
        meta = {"dtype": np.dtype(dtype).name, "count": count, "files": len(sources),
                "bytes": sum(p.stat().st_size for p in sources)}
        (staging / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(staging, entry)
        except OSError:
            if not (entry / "meta.json").is_file():  # not another process's finished entry: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def split_tokens(tokens: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """First ``1 − val_fraction`` of the tokens for training, the rest for validation (views)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    count = len(tokens)
    val_count = int(round(count * val_fraction))
    if val_fraction > 0 and val_count < 2:
        raise DataError(
            f"the corpus has {count} tokens, too few for a validation split of {val_fraction:g} "
            f"(it would get {val_count}); give more text or --val-fraction 0"
        )
    return tokens[: count - val_count], tokens[count - val_count:]
