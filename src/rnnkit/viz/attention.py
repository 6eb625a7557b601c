r"""Attention maps: where a model looked, drawn the one way every model that attends shares.

Attention gives, for each output position j (a generated word, a class decision), weights α_j over
the positions i of what it attends to (source tokens, image regions, input tokens) with Σ_i α_ji = 1
(Bahdanau, Cho & Bengio 2015, figure 3; Xu et al. 2015, figure 1). Three pictures cover the models
of the notes:

- :func:`plot_attention`: a source × target heat map (seq2seq: one row per generated token, one
  column per source token);
- :func:`plot_token_weights` / :func:`plot_token_rows`: weights over input tokens (attention pooling
  of a classifier, one text or several), as bar charts under the tokens;
- :func:`plot_image_attention`: an image once per generated word, with that word's weights over a
  grid of regions upsampled over it (captioning with soft attention).

Each checks that the weights match the labels and lie in [0, 1], and writes a PNG without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _as_array(weights) -> np.ndarray:
    """A tensor (any device, any dtype) or a nested list as a float64 numpy array."""
    if hasattr(weights, "detach"):
        return weights.detach().double().cpu().numpy()
    return np.asarray(weights, dtype=np.float64)


def _weights(weights, rows: int | None, columns: int | None, name: str) -> np.ndarray:
    """``weights`` as a float array, checked against the label counts and the range [0, 1]."""
    array = _as_array(weights)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (targets × sources), got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name} has {array.shape[0]} rows but {rows} target labels were given")
    if columns is not None and array.shape[1] != columns:
        raise ValueError(f"{name} has {array.shape[1]} columns but {columns} source labels were given")
    if not np.isfinite(array).all() or array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ValueError(f"{name} must hold attention weights in [0, 1]; found values in "
                         f"[{np.nanmin(array):.3g}, {np.nanmax(array):.3g}]")
    return array


def _figure(width: float, height: float):
    # Imported here: matplotlib takes half a second to import, and only the pictures need it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def plot_attention(weights, sources: Sequence[str], targets: Sequence[str], path: str | Path,
                   title: str | None = None) -> Path:
    """A heat map of ``weights`` (len(targets), len(sources)): row j is target token j's attention.

    Example:
        >>> plot_attention([[0.9, 0.1], [0.2, 0.8]], ["le", "chat"], ["the", "cat"], "att.png")  # doctest: +SKIP
    """
    array = _weights(weights, len(targets), len(sources), "weights")
    figure = _figure(1.2 + 0.38 * len(sources), 1.0 + 0.32 * len(targets))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(array, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    axes.set_xticks(range(len(sources)), [str(s) for s in sources], rotation=90, fontsize=8)
    axes.set_yticks(range(len(targets)), [str(t) for t in targets], fontsize=8)
    axes.xaxis.tick_top()
    axes.set_xlabel("source")
    axes.set_ylabel("generated")
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def plot_token_weights(weights, tokens: Sequence[str], path: str | Path, title: str | None = None) -> Path:
    """One weight per input token (attention pooling), as bars under the tokens."""
    return plot_token_rows([(tokens, weights, title)], path)


def plot_token_rows(rows: Sequence[tuple[Sequence[str], object, str | None]], path: str | Path) -> Path:
    """Several texts' token weights, one bar chart per (tokens, weights, title) row (at most 12 drawn)."""
    rows = list(rows)[:12]
    if not rows:
        raise ValueError("plot_token_rows needs at least one (tokens, weights, title) row")
    checked = [_weights(_as_array(weights).reshape(1, -1), 1, len(tokens), "weights")[0] if len(tokens) else
               np.zeros(0) for tokens, weights, _ in rows]
    widest = max(len(tokens) for tokens, _, _ in rows)
    figure = _figure(max(3.0, 0.38 * widest + 1.5), 2.3 * len(rows))
    for index, ((tokens, _, title), array) in enumerate(zip(rows, checked)):
        axes = figure.add_subplot(len(rows), 1, index + 1)
        axes.bar(range(len(tokens)), array, color="C3")
        axes.set_xticks(range(len(tokens)), [str(t) for t in tokens], rotation=60, ha="right", fontsize=8)
        axes.set_ylim(0, max(float(array.max()) * 1.1 if len(array) else 0.0, 1e-6))
        axes.set_ylabel("weight", fontsize=8)
        if title:
            axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def plot_image_attention(image, weights, words: Sequence[str], grid: tuple[int, int], path: str | Path,
                         columns: int = 5) -> Path:
    """The image once per word with that word's weights over a ``grid`` (rows, cols) of regions.

    ``image`` is an (H, W, 3) array (uint8 or floats in [0, 1]); ``weights`` (len(words), rows·cols),
    row j the attention of word j over the regions in row-major order, upsampled smoothly over the image.
    """
    picture = np.asarray(image)
    if picture.ndim != 3 or picture.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {picture.shape}")
    array = _weights(weights, len(words), grid[0] * grid[1], "weights")
    rows = -(-len(words) // columns)
    figure = _figure(2.1 * min(columns, len(words)), 2.3 * rows)
    for j, word in enumerate(words):
        axes = figure.add_subplot(rows, min(columns, len(words)), j + 1)
        axes.imshow(picture)
        mask = array[j].reshape(grid)
        axes.imshow(mask, cmap="gray", alpha=0.6, extent=(0, picture.shape[1], picture.shape[0], 0),
                    interpolation="bicubic", vmin=0.0, vmax=max(float(mask.max()), 1e-6))
        axes.set_title(str(word), fontsize=9)
        axes.axis("off")
    figure.tight_layout()
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
