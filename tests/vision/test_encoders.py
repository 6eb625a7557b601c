"""Image encoders: region grids, the packaged EfficientNet-Lite0, freezing, fine-tuning, fingerprints."""

import socket

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from rnnkit.vision import (
    ENCODERS, EfficientNetLite0Encoder, ImageEncoder, LocalCNN, ModuleEncoder, SmallCNN, build_encoder, read_image,
    register_encoder, registered_encoders, to_tensor,
)


@pytest.fixture(scope="module")
def lite0():
    """One pretrained EfficientNet-Lite0, built while the network is unreachable (proof that nothing downloads)."""
    with pytest.MonkeyPatch.context() as patch:
        def refuse(*args, **kwargs):
            raise AssertionError("the encoder tried to reach the network")
        patch.setattr(socket, "socket", refuse)
        patch.setattr(torch.hub, "load_state_dict_from_url", refuse)
        patch.setattr(torch.hub, "download_url_to_file", refuse)
        return EfficientNetLite0Encoder()


def spiral(side: int = 224) -> np.ndarray:
    """A black-and-white spiral, (side, side, 3) uint8: a picture Lite0 classifies with confidence."""
    y, x = np.mgrid[0:side, 0:side] * (224 / side) - 112
    angle = (np.arctan2(y, x) * 6 + np.hypot(y, x) / 6) % (2 * np.pi)
    return ((angle < np.pi) * 255).astype(np.uint8)[..., None].repeat(3, axis=-1)


def test_lite0_gives_49_regions_of_1280_features(lite0):
    assert lite0.grid(224) == (7, 7) and lite0.feature_size == 1280
    assert lite0(torch.rand(1, 3, 224, 224)).shape == (1, 49, 1280)


def test_lite0_top_class_is_confident_and_stable_across_a_resize(lite0, tmp_path):
    original, enlarged = tmp_path / "spiral.png", tmp_path / "spiral-320.png"
    Image.fromarray(spiral()).save(original)
    Image.fromarray(spiral()).resize((320, 320), Image.Resampling.BICUBIC).save(enlarged)
    images = to_tensor(np.stack([read_image(original), read_image(enlarged)]))     # both back at 224
    with torch.no_grad():
        probabilities = lite0.classify(images).softmax(-1)
    top = probabilities.argmax(-1)
    assert top[0] == top[1]
    # Random weights would spread the probability over the 1000 classes.
    assert probabilities[0, top[0]] > 0.5


def test_lite0_features_of_a_batch_are_those_of_each_image_alone(lite0):
    torch.manual_seed(0)
    images = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        together = lite0(images)
        alone = torch.cat([lite0(images[:1]), lite0(images[1:])])
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


def test_lite0_units_are_its_blocks_then_the_head(lite0):
    assert lite0.frozen and lite0.trainable_blocks == 17
    units = lite0.units()
    assert units[-2] is lite0.network._blocks[-1]
    assert set(units[-1].parameters()) == {*lite0.network._conv_head.parameters(), *lite0.network._bn1.parameters()}


def small(**kwargs) -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(**({"channels": (4, 6, 8)} | kwargs))


def test_frozen_encoder_in_train_mode_gives_its_eval_output():
    encoder = small(downsample=3)
    with torch.no_grad():
        encoder(torch.rand(4, 3, 16, 16))            # move the BatchNorm statistics away from their start
    encoder.fine_tune(0)
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        evaluated = encoder.eval()(images)
        trained = encoder.train()(images)
        again = encoder(images)
    assert encoder.training
    torch.testing.assert_close(trained, evaluated)
    torch.testing.assert_close(again, evaluated)


def test_fine_tune_trains_exactly_the_last_units():
    encoder = small()
    encoder.fine_tune(2)
    trainable = [any(p.requires_grad for p in unit.parameters()) for unit in encoder.units()]
    assert trainable == [False, True, True]
    assert all(p.requires_grad for unit in encoder.units()[1:] for p in unit.parameters())
    encoder.train()
    assert not encoder.units()[0].training and encoder.units()[1].training


def test_fine_tune_of_lite0_trains_its_head_and_last_block(lite0):
    lite0.fine_tune(2)
    try:
        trainable = {name.split(".")[1] for name, p in lite0.named_parameters() if p.requires_grad}
        assert trainable == {"_blocks", "_conv_head", "_bn1"}
        assert all(p.requires_grad for p in lite0.network._blocks[15].parameters())
        assert not any(p.requires_grad for p in lite0.network._blocks[14].parameters())
    finally:
        lite0.fine_tune(0)


def test_fine_tune_beyond_the_units_names_the_maximum():
    with pytest.raises(ValueError, match="from 0 to 3"):
        small().fine_tune(4)


def test_fingerprint_changes_with_one_weight_and_not_between_equal_encoders():
    first, second = small(), small()
    assert first.fingerprint() == second.fingerprint()
    with torch.no_grad():
        second.blocks[1][0].weight[0, 0, 0, 0] += 1e-3
    assert first.fingerprint() != second.fingerprint()


def test_fingerprint_depends_on_the_strides():
    assert small(downsample=2).fingerprint() != small(downsample=3).fingerprint()


@pytest.mark.parametrize("size, downsample", [(224, 5), (112, 4)])
def test_small_cnn_grid_is_seven_by_seven(size, downsample):
    encoder = SmallCNN(downsample=downsample)
    assert encoder.grid(size) == (7, 7)
    assert encoder.feature_size == 256
    assert sum(p.numel() for p in encoder.parameters()) <= 1_500_000


def test_small_cnn_trains_from_scratch():
    encoder = small(downsample=3)
    assert not encoder.frozen
    encoder(torch.rand(2, 3, 16, 16)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


@pytest.mark.parametrize("norm", ["none", "layer", "batch", "group"])
def test_a_local_cnn_region_sees_only_its_own_cell_and_the_pixels_just_beyond_it(norm):
    torch.manual_seed(0)
    encoder = LocalCNN(channels=(16, 16, 32), grid=7, norm=norm)         # receptive field 15 px; cells 16 px
    assert encoder.grid(112) == (7, 7) and encoder.feature_size == 32 and encoder.from_scratch
    if norm == "batch":                                  # running statistics that are not the identity
        encoder(torch.rand(8, 3, 112, 112))
    encoder.eval()
    image = torch.rand(1, 3, 112, 112)
    for y, x in [(5, 5), (40, 100), (111, 0)]:
        touched = image.clone()
        touched[..., y, x] += 1.0
        change = (encoder(touched) - encoder(image)).abs().sum(-1)[0]                # (49,)
        # The regions whose cell lies within 7 px of the pixel (the receptive field's reach).
        near = [r * 7 + c for r in range(7) for c in range(7)
                if 16 * r - 7 <= y < 16 * (r + 1) + 7 and 16 * c - 7 <= x < 16 * (c + 1) + 7]
        own = y // 16 * 7 + x // 16
        assert change[own] > 0
        far = change[[i for i in range(49) if i not in near]]
        if norm == "group":           # beyond its reach a pixel moves only the map's mean and variance
            assert far.max() < 0.05 * change[own]
        else:
            assert (far == 0).all()


@pytest.mark.parametrize("norm", ["none", "layer", "batch", "group"])
def test_a_cell_cnn_region_is_a_function_of_its_own_cell_alone(norm):
    torch.manual_seed(0)
    encoder = build_encoder("cell-cnn", channels=(8, 8, 16), norm=norm)           # 7 × 7 cells of 16 px
    assert encoder.name == "cell-cnn" and encoder.grid(112) == (7, 7) and encoder.settings()["within_cells"]
    if norm == "batch":
        encoder(torch.rand(8, 3, 112, 112))
    encoder.eval()
    image = torch.rand(2, 3, 112, 112)
    # A cell's corner pixels and one on a border between two cells, where local-cnn reads across.
    for y, x in [(0, 0), (15, 16), (47, 63), (111, 111)]:
        touched = image.clone()
        touched[1, :, y, x] += 1.0
        change = (encoder(touched) - encoder(image)).abs().sum(-1)                   # (2, 49)
        own = y // 16 * 7 + x // 16
        others = torch.cat([change[1, :own], change[1, own + 1:]])
        assert change[1, own] > 0 and (change[0] == 0).all()                        # the other image: untouched
        if norm == "group":           # other cells move only through the image's mean and variance
            assert others.max() < 0.05 * change[1, own]
        else:
            assert (others == 0).all()
    with pytest.raises(ValueError, match="multiples of 7, got 100 × 100"):
        encoder(torch.rand(1, 3, 100, 100))


def test_a_local_cnn_knows_where_each_region_is():
    torch.manual_seed(0)
    encoder = LocalCNN(channels=(4, 6), grid=4).eval()
    regions = encoder(torch.full((1, 3, 32, 32), 0.5))[0]                # a blank image: only the places differ
    assert len({tuple(row.tolist()) for row in regions}) == 16
    encoder.train()
    encoder(torch.rand(2, 3, 32, 32)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    with pytest.raises(ValueError, match="grid must be a positive integer"):
        LocalCNN(grid=0)
    with pytest.raises(ValueError, match="norm must be one of group, none, batch, layer, got 'instance'"):
        LocalCNN(norm="instance")


def network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.ReLU()),
        nn.Conv2d(5, 2, 1), nn.Flatten(),
    )


def test_module_encoder_reads_the_named_layer_as_regions():
    module = network()
    encoder = ModuleEncoder(module, "2.0", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    images = torch.rand(2, 3, 8, 6)
    expected = module[2][0](module[1](module[0]((images - 0.5) / 0.25)))          # (B, 5, 4, 3)
    regions = encoder(images)
    assert regions.shape == (2, 12, 5)
    torch.testing.assert_close(regions, expected.permute(0, 2, 3, 1).reshape(2, 12, 5))
    assert encoder.grid(8) == (4, 4) and encoder.name == "module:Sequential"
    assert module(images).shape == (2, 2 * 4 * 3)    # the module still runs whole on its own


def test_module_encoder_takes_region_sequences_as_they_are():
    class Tokens(nn.Module):
        def forward(self, x):
            return x.flatten(2).transpose(1, 2)      # (B, H·W, 3)
    encoder = ModuleEncoder(nn.Sequential(Tokens()), "0", mean=(0, 0, 0), std=(1, 1, 1))
    images = torch.rand(1, 3, 2, 2)
    torch.testing.assert_close(encoder(images), images.flatten(2).transpose(1, 2))


def test_module_encoder_refuses_a_flat_output():
    with pytest.raises(ValueError, match="'4'.*\\(2, 24\\)"):
        ModuleEncoder(network(), "4")(torch.rand(2, 3, 8, 6))


def test_module_encoder_names_an_unknown_layer_and_some_that_exist():
    with pytest.raises(ValueError, match="'conv9'.* 0, 1, 2"):
        ModuleEncoder(network(), "conv9")


def test_module_encoder_units_are_the_module_children():
    module = network()
    encoder = ModuleEncoder(module, "2.0")
    encoder.fine_tune(3)
    assert [any(p.requires_grad for p in child.parameters()) for child in module.children()] == [
        False, False, True, True, False,
    ]


def test_build_encoder_knows_each_name_and_refuses_others():
    assert isinstance(build_encoder("small-cnn", channels=(4,), downsample=1), SmallCNN)
    assert all(isinstance(build_encoder(name, **({"pretrained": False} if "lite" in name else {})), ImageEncoder)
               for name in ENCODERS)
    with pytest.raises(ValueError, match="'resnet'.*efficientnet-lite0, small-cnn, local-cnn, cell-cnn"):
        build_encoder("resnet")


def test_registered_encoder_is_built_by_name(monkeypatch):
    monkeypatch.setattr("rnnkit.vision.encoders._REGISTERED", {})
    register_encoder("tiny", lambda **kwargs: ModuleEncoder(network(), "2.0", name="tiny", **kwargs))
    assert registered_encoders() == ("tiny",)
    encoder = build_encoder("tiny", mean=(0, 0, 0), std=(1, 1, 1))
    assert encoder.name == "tiny" and encoder(torch.rand(1, 3, 4, 4)).shape == (1, 4, 5)
    with pytest.raises(ValueError, match="cell-cnn, tiny"):
        build_encoder("resnet")
    with pytest.raises(ValueError, match="built-in"):
        register_encoder("small-cnn", SmallCNN)
