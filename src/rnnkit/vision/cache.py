"""Encode a set of images once: region features (or pixels) stored on disk, read back memory-mapped.

A frozen encoder gives the same features every epoch, so they are computed once and kept::

    CACHE/features/<key>.npy     (N, R, D) features, float16 by default
                   <key>.json    encoder name, N, R, D, dtype, size, the image file names
    CACHE/pixels/<key>.npy       (N, size, size, 3) uint8, for an encoder trained inside the model
                 <key>.json

The key is the SHA-256 of the encoder's :meth:`~rnnkit.vision.ImageEncoder.fingerprint` (its weights),
the image size, the dtype, and the bytes of every image in order: an entry is reused while nothing
changed and rebuilt when an image's bytes or a weight change. An entry is written into a temporary
file beside it and renamed into place when complete, so an interrupted extraction leaves no partial
``<key>.npy`` that a later run would take for finished. Images are read batch by batch, never all at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .encoders import ImageEncoder
from .images import IMAGE_SIZE, file_digest, read_images, to_tensor

PIXEL_BATCH = 64

Fill = Callable[[np.ndarray], None]   # writes every row of a (N, …) array


def cached_features(
    encoder: ImageEncoder, paths: Sequence[str | Path], cache_dir: str | Path, size: int = IMAGE_SIZE,
    batch_size: int = 32, dtype: np.dtype | type = np.float16, progress: bool = False,
) -> np.ndarray:
    """The region features (N, R, D) of the images in ``paths``, in order, as a read-only memmap.

    Computed by ``encoder`` (frozen; in eval mode, without gradients, on the encoder's device) on the
    first call and read back from ``cache_dir/features`` afterwards.

    Raises:
        ValueError: the encoder is trainable: its features change while it trains, so it belongs
            inside the model, reading :func:`cached_pixels`.
    """
    paths = list(paths)
    if not encoder.frozen:
        raise ValueError(
            f"the {encoder.name} encoder has trainable parameters, so its features cannot be cached: "
            f"its features change while it trains; it runs inside the model instead"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size!r}")
    dtype = np.dtype(dtype)
    rows, cols = encoder.grid(size)
    shape = (len(paths), rows * cols, encoder.feature_size)
    settings = {"encoder": encoder.fingerprint(), "size": size, "dtype": dtype.name}
    meta = {"encoder": encoder.name, "N": shape[0], "R": shape[1], "D": shape[2], "dtype": dtype.name, "size": size}

    def fill(features: np.ndarray) -> None:
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad(), _bar(len(paths), "image features", progress) as bar:
                for start, pixels in _batches(paths, size, batch_size):
                    output = encoder(to_tensor(pixels).to(encoder.device))
                    if tuple(output.shape[1:]) != shape[1:]:
                        raise RuntimeError(f"the {encoder.name} encoder gave {tuple(output.shape)} for {size}×{size} "
                                           f"images; its grid and feature_size say (B, {shape[1]}, {shape[2]})")
                    features[start:start + len(pixels)] = output.float().cpu().numpy()
                    bar.update(len(pixels))
        finally:
            encoder.train(was_training)

    return _cached_array(Path(cache_dir) / "features", paths, settings, shape, dtype, meta, fill)


def cached_pixels(
    paths: Sequence[str | Path], cache_dir: str | Path, size: int = IMAGE_SIZE, progress: bool = False
) -> np.ndarray:
    """The pixels (N, size, size, 3) uint8 of the images in ``paths``, in order, as a read-only memmap
    (read with :func:`~rnnkit.vision.read_image` once, then from ``cache_dir/pixels``)."""
    paths = list(paths)
    shape = (len(paths), size, size, 3)
    meta = {"N": shape[0], "dtype": "uint8", "size": size}

    def fill(pixels: np.ndarray) -> None:
        with _bar(len(paths), "images", progress) as bar:
            for start, batch in _batches(paths, size, PIXEL_BATCH):
                pixels[start:start + len(batch)] = batch
                bar.update(len(batch))

    return _cached_array(Path(cache_dir) / "pixels", paths, {"size": size}, shape, np.dtype(np.uint8), meta, fill)


def _cached_array(directory: Path, paths: Sequence[str | Path], settings: dict, shape: tuple[int, ...],
                  dtype: np.dtype, meta: dict, fill: Fill) -> np.ndarray:
    """The entry of ``directory`` keyed by ``settings`` and the images' bytes, built by ``fill`` if absent."""
    key = cache_key(settings, paths)
    target = directory / f"{key}.npy"
    if not shape[0]:
        empty = np.zeros(shape, dtype=dtype)       # nothing to store (a memmap cannot be empty)
        empty.flags.writeable = False
        return empty
    if not target.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        meta = meta | {"files": [Path(path).name for path in paths]}
        _write_atomic(directory / f"{key}.json", lambda name: Path(name).write_text(json.dumps(meta)))
        _write_atomic(target, lambda name: _write_array(name, shape, dtype, fill))
    return np.load(target, mmap_mode="r")


def cache_key(settings: dict, paths: Sequence[str | Path]) -> str:
    """SHA-256 of ``settings`` and of the SHA-256 of every file in ``paths``, in order."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in paths:
        digest.update(bytes.fromhex(file_digest(path)))
    return digest.hexdigest()


def _write_atomic(target: Path, write: Callable[[str], None]) -> None:
    """``write`` into a temporary file beside ``target``, then rename it there; removed if ``write`` fails."""
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    try:
        write(name)
        os.replace(name, target)
    except BaseException:
        os.unlink(name)
        raise


def _write_array(name: str, shape: tuple[int, ...], dtype: np.dtype, fill: Fill) -> None:
    """A ``.npy`` file of ``shape`` at ``name``, filled row by row without holding it all in memory."""
    array = np.lib.format.open_memmap(name, mode="w+", dtype=dtype, shape=shape)
    try:
        fill(array)
        array.flush()
    finally:
        del array


def _batches(paths: Sequence[str | Path], size: int, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, pixels (B, size, size, 3)) of consecutive batches of ``paths``."""
    for start in range(0, len(paths), batch_size):
        yield start, read_images(paths[start:start + batch_size], size)


def _bar(total: int, description: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=description, unit="image", file=sys.stderr, disable=not progress)
