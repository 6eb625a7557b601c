"""Reading image files: every mode becomes RGB of one size; broken files name themselves."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.data import DataError
from rnnkit.vision import file_digest, read_image, read_images, to_tensor


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (8, 8), 77).save(path)
    pixels = read_image(path, 8)
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    assert (pixels == 77).all()


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    assert (read_image(path, 4) == 255).all()


def test_transparent_pixel_of_rgba_becomes_white(tmp_path):
    path = tmp_path / "alpha.png"
    image = Image.new("RGBA", (4, 4), (200, 10, 10, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    image.save(path)
    pixels = read_image(path, 4)
    assert pixels.shape == (4, 4, 3)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[3, 3].tolist() == [200, 10, 10]


def test_palette_image_gives_its_colours(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.save(path)
    pixels = read_image(path, 4)
    assert pixels.shape == (4, 4, 3) and pixels.dtype == np.uint8
    assert (pixels == [10, 200, 30]).all()


def test_palette_transparency_becomes_white(tmp_path):
    path = tmp_path / "gif.gif"
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.putpixel((2, 1), 0)
    image.save(path, transparency=0)
    pixels = read_image(path, 4)
    assert pixels[1, 2].tolist() == [255, 255, 255]
    assert pixels[0, 0].tolist() == [10, 200, 30]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(path)
    pixels = read_image(path, 8)
    assert pixels.shape == (8, 8, 3)
    assert pixels.min() > 240                       # no ink: white


def test_other_size_is_resized_without_keeping_the_aspect_ratio(tmp_path):
    path = tmp_path / "wide.png"
    source = np.zeros((10, 30, 3), dtype=np.uint8)
    source[:, 15:] = 255                            # left half black, right half white
    Image.fromarray(source).save(path)
    pixels = read_image(path, 16)
    assert pixels.shape == (16, 16, 3)
    # Stretched, not cropped: the boundary lands in the middle column.
    assert (pixels[:, :6] < 10).all() and (pixels[:, 10:] > 245).all()
    reference = np.array(Image.fromarray(source).resize((16, 16), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(pixels, reference)


def test_height_width_pair_gives_that_shape(tmp_path):
    path = tmp_path / "square.png"
    Image.new("RGB", (8, 8), "blue").save(path)
    assert read_image(path, (6, 10)).shape == (6, 10, 3)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "absent.jpg"
    with pytest.raises(DataError, match="absent.jpg: no such image file"):
        read_image(path)


def test_text_file_named_jpg_is_named(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not an image at all\n")
    with pytest.raises(DataError, match="notes.jpg"):
        read_image(path)


def test_truncated_jpeg_fails_when_read(tmp_path):
    whole = tmp_path / "whole.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(whole, quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.jpg.*truncated"):
        read_image(path, 64)


def test_read_images_stacks_in_order(tmp_path):
    paths = []
    for value in (10, 20, 30):
        paths.append(tmp_path / f"{value}.png")
        Image.new("L", (5, 5), value).save(paths[-1])
    images = read_images(paths, 4)
    assert images.shape == (3, 4, 4, 3) and images.dtype == np.uint8
    assert images[:, 0, 0, 0].tolist() == [10, 20, 30]


def test_file_digest_is_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "bytes.bin"
    path.write_bytes(b"abc" * 1000)
    assert file_digest(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


@pytest.mark.parametrize("batched", [False, True])
def test_to_tensor_gives_channels_first_floats_in_unit_range(batched):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    source = pixels if batched else pixels[0]
    tensor = to_tensor(source)
    assert tensor.dtype == torch.float32 and tensor.shape == (len(source) if batched else 1, 3, 4, 5)
    torch.testing.assert_close(tensor, torch.from_numpy(pixels[: tensor.size(0)]).permute(0, 3, 1, 2).float() / 255)
    torch.testing.assert_close(to_tensor(torch.from_numpy(source)), tensor)


def test_to_tensor_refuses_floats():
    with pytest.raises(ValueError, match="uint8"):
        to_tensor(np.zeros((2, 2, 3), dtype=np.float32))
