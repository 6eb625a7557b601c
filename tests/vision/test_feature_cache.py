"""The feature and pixel caches: computed once, rebuilt when an image or a weight changes, written atomically."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.vision import SmallCNN, cached_features, cached_pixels, read_images, to_tensor

SIZE = 16


class Counting(SmallCNN):
    """A frozen SmallCNN that counts the images it encodes, and can fail after some batches."""

    def __init__(self, fail_after: int | None = None) -> None:
        torch.manual_seed(0)
        super().__init__(channels=(4, 6), downsample=2)
        self.fine_tune(0)
        self.images, self.batches, self.fail_after = 0, 0, fail_after

    def forward(self, images):
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise KeyboardInterrupt("interrupted mid-extraction")
        self.images += images.size(0)
        self.batches += 1
        return super().forward(images)


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for index in range(5):
        paths.append(tmp_path / "images" / f"{index}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def features(encoder, paths, tmp_path, **kwargs):
    encoder.images = 0
    return cached_features(encoder, paths, tmp_path / "cache", size=SIZE, batch_size=2, **kwargs)


def test_features_are_the_encoder_output_in_path_order(images, tmp_path):
    encoder = Counting()
    cached = features(encoder, images, tmp_path, dtype=np.float32)
    with torch.no_grad():
        expected = encoder.eval()(to_tensor(read_images(images, SIZE))).numpy()
    assert cached.shape == (5, 16, 6) and cached.dtype == np.float32
    np.testing.assert_allclose(cached, expected, rtol=1e-5, atol=1e-6)
    assert not cached.flags.writeable


def test_second_call_reads_the_cache_without_encoding(images, tmp_path):
    encoder = Counting()
    first = np.array(features(encoder, images, tmp_path))
    assert encoder.images == 5
    second = features(encoder, images, tmp_path)
    assert encoder.images == 0
    assert isinstance(second, np.memmap) and second.dtype == np.float16
    np.testing.assert_array_equal(second, first)


def test_changed_image_bytes_rebuild_the_cache(images, tmp_path):
    encoder = Counting()
    before = np.array(features(encoder, images, tmp_path))
    Image.fromarray(np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)).save(images[3])
    after = features(encoder, images, tmp_path)
    assert encoder.images == 5
    assert not np.array_equal(after[3], before[3])
    np.testing.assert_array_equal(after[:3], before[:3])


def test_changed_weight_rebuilds_the_cache(images, tmp_path):
    encoder = Counting()
    before = np.array(features(encoder, images, tmp_path))
    with torch.no_grad():
        encoder.blocks[1][0].weight.mul_(2)
    after = features(encoder, images, tmp_path)
    assert encoder.images == 5
    assert not np.array_equal(after, before)


def test_interrupted_extraction_leaves_no_entry_and_a_later_call_succeeds(images, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        features(Counting(fail_after=1), images, tmp_path)
    entries = tmp_path / "cache" / "features"
    assert not list(entries.glob("*.npy"))          # neither a final nor a temporary array is left
    encoder = Counting()
    result = features(encoder, images, tmp_path)
    assert encoder.images == 5 and result.shape == (5, 16, 6)


def test_entry_records_what_made_it(images, tmp_path):
    features(Counting(), images, tmp_path)
    [meta_file] = (tmp_path / "cache" / "features").glob("*.json")
    meta = json.loads(meta_file.read_text())
    assert meta == {"encoder": "small-cnn", "N": 5, "R": 16, "D": 6, "dtype": "float16", "size": SIZE,
                    "files": [path.name for path in images]}


def test_trainable_encoder_is_refused(images, tmp_path):
    with pytest.raises(ValueError, match="changes? while it trains"):
        cached_features(SmallCNN(channels=(4,), downsample=1), images, tmp_path, size=SIZE)


def test_encoder_mode_is_restored(images, tmp_path):
    encoder = Counting().train()
    features(encoder, images, tmp_path)
    assert encoder.training


def test_pixels_are_cached_and_keyed_by_the_bytes(images, tmp_path):
    pixels = cached_pixels(images, tmp_path / "cache", size=8)
    np.testing.assert_array_equal(pixels, read_images(images, 8))
    assert pixels.dtype == np.uint8 and not pixels.flags.writeable
    Image.fromarray(np.zeros((SIZE, SIZE, 3), dtype=np.uint8)).save(images[0])
    assert (cached_pixels(images, tmp_path / "cache", size=8)[0] == 0).all()
    assert len(list((tmp_path / "cache" / "pixels").glob("*.npy"))) == 2
