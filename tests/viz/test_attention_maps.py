"""``rnnkit.viz.attention``: the shared attention pictures check their input and draw what they are given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.viz import plot_attention, plot_image_attention, plot_token_weights


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=float)


def test_a_heat_map_is_drawn_from_a_tensor_and_darker_where_the_weight_is_higher(tmp_path):
    weights = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    path = plot_attention(weights, ["a", "b", "c"], ["x", "y"], tmp_path / "map.png", title="t")
    flipped = plot_attention(weights.flip(1), ["a", "b", "c"], ["x", "y"], tmp_path / "flipped.png")
    assert path.stat().st_size > 2000
    assert np.abs(pixels(path) - pixels(flipped)).sum() > 0    # the picture follows the weights


@pytest.mark.parametrize("weights, match", [
    ([[0.5, 0.5]], "columns"),                  # 2 columns for 3 sources
    ([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]], "rows"),
    ([[1.5, -0.5, 0.0]], r"\[0, 1\]"),
    ([0.2, 0.3, 0.5], "2-dimensional"),
])
def test_weights_that_do_not_fit_the_labels_or_are_not_weights_are_refused(weights, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        plot_attention(weights, ["a", "b", "c"], ["x"], tmp_path / "bad.png")


def test_token_weights_and_image_attention_write_pictures(tmp_path):
    assert plot_token_weights(torch.tensor([0.1, 0.7, 0.2]), ["not", "bad", "!"], tmp_path / "bars.png").is_file()
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    weights = np.eye(4)[:2]                                     # word 0 on region 0, word 1 on region 1
    path = plot_image_attention(image, weights, ["a", "dog"], (2, 2), tmp_path / "regions.png")
    assert path.stat().st_size > 2000
    with pytest.raises(ValueError, match="columns"):
        plot_image_attention(image, weights, ["a", "dog"], (3, 3), tmp_path / "x.png")
    with pytest.raises(ValueError, match="H, W, 3"):
        plot_image_attention(np.zeros((4, 4)), weights, ["a", "dog"], (2, 2), tmp_path / "x.png")
