"""Image files: read one safely into RGB pixels of a fixed size.

Every image becomes ``(size, size, 3)`` uint8 RGB (or ``(height, width, 3)`` for a ``(height, width)``
size), whatever was stored:

- a missing file raises :class:`~rnnkit.data.DataError` ``"PATH: no such image file"``;
- a file that is not an image, cannot be read, or is truncated raises :class:`~rnnkit.data.DataError`
  naming the file and Pillow's reason (the pixels are decoded in full here, so a truncated JPEG fails
  when it is read, not later inside a batch);
- grayscale (``1``, ``L``, ``I``, ``I;16``, ``F``), palette (``P``), CMYK and the other modes are converted to
  RGB: 16-bit grayscale is scaled to 8 bits (÷257), a 32-bit integer image is read as 16-bit when a
  value exceeds 255, a float image is scaled by 255 when its values lie in [0, 1] and clipped to
  0 … 255 otherwise;
- an image with transparency (``RGBA``, ``LA``, ``PA``, a palette or grayscale with a transparent
  colour) is composited onto a white background, then RGB;
- an image of another size is resized to the size asked for, bicubic, **without keeping the aspect
  ratio** (stretched, not cropped): the way the shared Flickr8k copy was made, so features computed
  here match it;
- EXIF orientation tags are ignored: the pixels are read as stored.

:func:`to_tensor` turns such pixels into the float ``(N, 3, H, W)`` in [0, 1] that the encoders read;
:func:`file_digest` is the SHA-256 that keys the caches of :mod:`rnnkit.vision.cache`.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from ..data.corpora import DataError

IMAGE_SIZE = 224
DIGEST_CHUNK = 1 << 20
# Modes with an alpha channel; other modes may still carry one transparent colour in ``info``.
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
WHITE = (255, 255, 255, 255)

Size = int | tuple[int, int]   # a square side, or (height, width)


def read_image(path: str | Path, size: Size = IMAGE_SIZE) -> np.ndarray:
    """The pixels of the image at ``path``, (size, size, 3) uint8 RGB (the module docstring says how).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "gray.png"
        >>> Image.new("L", (40, 30), 128).save(path)
        >>> read_image(path, 16).shape
        (16, 16, 3)
    """
    height, width = _height_width(size)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            image.load()                 # decode everything now, so a truncated file fails here
            rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BICUBIC)
    return np.array(rgb, dtype=np.uint8)


def read_images(paths: Sequence[str | Path], size: Size = IMAGE_SIZE, progress: bool = False) -> np.ndarray:
    """The pixels of every image in ``paths``, in order: (N, size, size, 3) uint8."""
    height, width = _height_width(size)
    images = np.empty((len(paths), height, width, 3), dtype=np.uint8)
    for index, path in enumerate(tqdm(paths, desc="images", unit="image", file=sys.stderr, disable=not progress)):
        images[index] = read_image(path, (height, width))
    return images


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of the bytes of the file at ``path``."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while data := handle.read(DIGEST_CHUNK):
                digest.update(data)
    except FileNotFoundError:
        raise DataError(f"{path}: no such image file") from None
    return digest.hexdigest()


def to_tensor(images: np.ndarray | Tensor) -> Tensor:
    """uint8 pixels (N, H, W, 3) or (H, W, 3) as float32 (N, 3, H, W) in [0, 1].

    Example:
        >>> to_tensor(np.full((2, 4, 5, 3), 255, dtype=np.uint8)).shape
        torch.Size([2, 3, 4, 5])
    """
    if images.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"images must be uint8 pixels, got dtype {images.dtype}")
    if images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) or (H, W, 3), got shape {tuple(images.shape)}")
    if isinstance(images, Tensor):
        pixels = images.float()
    else:
        pixels = torch.from_numpy(np.asarray(images, dtype=np.float32))   # a new array, even from a memmap
    if pixels.dim() == 3:
        pixels = pixels.unsqueeze(0)
    return (pixels / 255.0).permute(0, 3, 1, 2).contiguous()


def _height_width(size: Size) -> tuple[int, int]:
    """``size`` as (height, width), checked."""
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        raise ValueError(f"size must be a positive int or a (height, width) pair of them, got {size!r}")
    return height, width


def _to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as RGB: transparency composited onto white, high bit depths scaled to 8 bits."""
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    if image.mode.startswith("I") or image.mode == "F":
        return Image.fromarray(_eight_bit(image)).convert("RGB")
    return image.convert("RGB")


def _eight_bit(image: Image.Image) -> np.ndarray:
    """The values of a 16-bit, 32-bit integer or float grayscale image as uint8 (rules in the module docstring)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0
    elif image.mode.startswith("I;16") or (values.size and values.max() > 255):
        values = values / 257.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
