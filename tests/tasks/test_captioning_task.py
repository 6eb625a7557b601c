"""The caption task: splits, cached inputs, training through the trainer, scores, and a trained run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.data import DataError
from rnnkit.data.shapes import caption_is_true
from rnnkit.tasks import captioning, runs
from rnnkit.tasks.captioning import CaptionTask, bleu_scores, bleu_sums, cider_d
from rnnkit.vision import ModuleEncoder, register_encoder

CALLS = {"forward": 0}


class CountingConv(nn.Module):
    """A fixed random convolution (the same weights every time it is built), counting its calls."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.features = nn.Conv2d(3, 6, kernel_size=8, stride=8)
        with torch.no_grad():
            self.features.weight.copy_(torch.randn(self.features.weight.shape, generator=generator) * 0.3)
            self.features.bias.zero_()

    def forward(self, x):
        CALLS["forward"] += 1
        return torch.relu(self.features(x))


register_encoder("test-conv", lambda: ModuleEncoder(CountingConv(), "", name="test-conv", mean=(0.5,) * 3,
                                                    std=(0.5,) * 3))

TINY_MODEL = {"embedding_size": 16, "hidden_size": 32, "attention_size": 16, "region_size": 16, "dropout": 0.0}


def shapes_settings(**train) -> dict:
    record = {"data": {"source": "shapes", "size": 120, "val_size": 24, "image_size": 48, "max_shapes": 2},
              "encoder": {"name": "test-conv"}, "model": TINY_MODEL,
              "train": {"steps": 4, "batch_size": 16, "device": "cpu"} | train}
    return CaptionTask.settings_from_record(record)


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("caption")
    run_dir = root / "shapes"
    runs.train("caption", shapes_settings(), run_dir, handle_signals=False, cache=root / "cache")
    return run_dir, root / "cache"


def test_a_run_records_its_vocabulary_and_encoder_and_its_checkpoint_captions_identically(shapes_run):
    run_dir, _ = shapes_run
    record = json.loads((run_dir / "images.json").read_text())
    assert record["encoder"] == "test-conv" and record["grid"] == [6, 6] and record["trains_encoder"] is False
    first, second = captioning.load_run(run_dir), captioning.load_run(run_dir)
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
    pictures = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    assert first.caption(pictures, beam_size=3) == second.caption(pictures, beam_size=3)
    assert all(ids for ids in first.caption(pictures, beam_size=3))          # never an empty caption


def test_features_are_cached_once_and_reused_by_a_new_task(shapes_run):
    _, cache = shapes_run
    task = CaptionTask(shapes_settings(), cache)
    CALLS["forward"] = 0
    features = task.inputs(task.val_set)
    assert CALLS["forward"] == 0                                             # read from the cache
    assert features.shape == (24, 36, 6)


def test_a_changed_encoder_is_refused_when_the_run_is_loaded(shapes_run, monkeypatch):
    run_dir, _ = shapes_run
    record = json.loads((run_dir / "images.json").read_text())
    record["fingerprint"] = "0" * 64
    monkeypatch.setattr(captioning, "read_json", lambda path: record if path.name == "images.json" else
                        json.loads(path.read_text()))
    with pytest.raises(Exception, match="fingerprint differs"):
        captioning.load_run(run_dir)


def test_evaluation_scores_bleu_cider_truth_and_attention(shapes_run):
    run_dir, cache = shapes_run
    result = captioning.evaluate_run(run_dir, "dev", beam_size=2, cache=cache)
    assert result["images"] == 24 and 0 <= result["true_fraction"] <= 1
    mass = result["object_attention"]            # None when no generated caption parses (4 training steps)
    assert mass is None or 0 <= mass <= 1
    assert {f"bleu{n}" for n in range(1, 5)} <= set(result) and result["cider_d"] >= 0


def test_validation_counts_true_captions_as_the_checker_does(shapes_run):
    _, cache = shapes_run
    task = CaptionTask(shapes_settings(), cache)
    scenes = task.val_set.scenes[:3]
    texts = [task.val_set.references[0][0], ["a", "red"], task.val_set.references[2][1]]
    sums = captioning.shapes_scores(scenes, [" ".join(t) for t in texts], None, task.grid)
    assert sums["true"] == sum(caption_is_true(s, " ".join(t)) for s, t in zip(scenes, texts))
    # Attention spread evenly puts on each named object the share of the cells it covers.
    from rnnkit.data.shapes import referents, region_mask

    cells = task.grid[0] * task.grid[1]
    even = [torch.full((len(t) + 1, cells), 1.0 / cells) for t in texts]
    sums = captioning.shapes_scores(scenes[:1], [" ".join(texts[0])], even[:1], task.grid)
    named = referents(scenes[0], " ".join(texts[0]))
    expected = [np.any([region_mask(scenes[0].shapes[k], 48, task.grid) for k in objects], axis=0).sum() / cells
                for _, objects in named]
    assert sums["object_words"] == len(named)
    assert sums["object_mass"] == pytest.approx(sum(expected))


def test_bleu_from_summed_statistics_equals_sacrebleu_on_the_whole_corpus():
    from sacrebleu.metrics import BLEU

    hypotheses = ["a dog runs on the grass", "a man rides a bike", "two kids play"]
    references = [["a dog is running on grass", "the dog runs"], ["a man on a bike", "a person rides a bicycle"],
                  ["children play in the park", "two kids are playing", "kids"]]
    sums = [bleu_sums(hypotheses[:2], references[:2]), bleu_sums(hypotheses[2:], references[2:])]
    scores = bleu_scores({key: sums[0][key] + sums[1][key] for key in sums[0]})
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(3)]
    for n in range(1, 5):
        expected = BLEU(tokenize="none", max_ngram_order=n).corpus_score(hypotheses, streams).score
        assert scores[f"bleu{n}"] == pytest.approx(expected)


def test_cider_d_prefers_the_captions_the_references_agree_with():
    references = [["a dog runs on the grass", "a brown dog runs", "dog running on grass"],
                  ["a man rides a bike", "a man on a bicycle", "a cyclist rides"]]
    good = cider_d(["a dog runs on grass", "a man rides a bike"], references)
    bad = cider_d(["a man rides a bike", "a dog runs on grass"], references)
    assert good > 1.0 > bad >= 0.0


def test_a_small_cnn_trains_inside_the_model_on_cached_pixels(tmp_path):
    settings = shapes_settings(steps=2)
    settings["encoder"] = captioning.EncoderConfig("small-cnn")
    result = runs.train("caption", settings, tmp_path / "cnn", handle_signals=False, cache=tmp_path / "cache")
    assert result.step == 2
    loaded = captioning.load_run(tmp_path / "cnn")
    assert loaded.encoder is None and loaded.model.encoder is not None
    assert any(name.startswith("encoder.") for name in loaded.model.state_dict())


def test_a_flickr_style_directory_without_split_lists_holds_out_the_last_images(tmp_path):
    from PIL import Image

    lines = []
    for i in range(8):
        Image.new("RGB", (20, 20), (30 * i, 0, 0)).save(tmp_path / f"{i}.jpg")
        lines += [f"{i}.jpg#0\tA red square .", f"{i}.jpg#1\tA dark red square ."]
    (tmp_path / "tokens.txt").write_text("\n".join(lines) + "\n")
    record = {"data": {"images": str(tmp_path), "captions": str(tmp_path / "tokens.txt"), "val_size": 3,
                       "min_count": 1, "image_size": 48}, "encoder": {"name": "test-conv"}, "model": TINY_MODEL,
              "train": {"steps": 1, "batch_size": 4}}
    task = CaptionTask(CaptionTask.settings_from_record(record), tmp_path / "cache")
    assert len(task.train_set) == 5 and len(task.val_set) == 3
    assert task.val_set.paths[-1].name == "7.jpg"
    with pytest.raises(DataError, match="too few to hold out val_size = 8"):
        CaptionTask(CaptionTask.settings_from_record(record | {"data": record["data"] | {"val_size": 8}}),
                    tmp_path / "cache")


@pytest.mark.parametrize("data, message", [({"source": "files"}, "--images DIR --captions FILE"),
                                           ({"source": "shapes", "splits": ["a"]}, "two lists"),
                                           ({"source": "shapes", "image_size": 8}, "image_size"),
                                           ({"source": "pictures"}, "source must be one of")])
def test_bad_data_settings_are_refused_by_name(data, message):
    with pytest.raises(Exception, match=message):
        CaptionTask.settings_from_record({"data": data})


def test_shapes_default_to_the_local_encoder_at_112_pixels_unless_told_otherwise():
    default = CaptionTask.settings_from_record({"data": {"source": "shapes"}})
    assert default["encoder"].resolved == "local-cnn" and default["data"].image_size == 112
    assert default["train"].steps == 10000 and default["model"].score == "general"
    auto = CaptionTask.settings_from_record({"data": {"source": "shapes"}, "encoder": {"name": "auto"}})
    assert auto["encoder"].resolved == "local-cnn"
    given = CaptionTask.settings_from_record({"data": {"source": "shapes", "image_size": 224},
                                              "encoder": {"name": "efficientnet-lite0"}, "train": {"minutes": 5}})
    assert given["encoder"].resolved == "efficientnet-lite0" and given["data"].image_size == 224
    assert given["train"].steps is None and given["train"].minutes == 5
    photos = CaptionTask.settings_from_record({"data": {"images": "photos", "captions": "captions.txt"}})
    assert photos["encoder"].resolved == "efficientnet-lite0" and photos["data"].image_size == 224


def test_the_shapes_test_split_is_new_scenes(shapes_run):
    run_dir, cache = shapes_run
    dev = captioning.evaluate_run(run_dir, "dev", beam_size=1, cache=cache)
    test = captioning.evaluate_run(run_dir, "test", beam_size=1, cache=cache)
    assert test["images"] == dev["images"] == 24 and test["split"] == "test"
    assert [e["image"] for e in test["examples"]] != [e["image"] for e in dev["examples"]]
    with pytest.raises(ValueError, match="split must be train or dev or test"):
        captioning.evaluate_run(run_dir, "holdout", cache=cache)


def test_fine_tuning_starts_from_the_pretrained_weights_and_trains_them(tmp_path):
    settings = shapes_settings(steps=2)
    settings["encoder"] = captioning.EncoderConfig("test-conv", fine_tune=1)
    task = CaptionTask(settings, tmp_path / "cache")
    assert task.trains_encoder
    model = task.build_model()
    pretrained = CountingConv().features.weight
    torch.testing.assert_close(model.encoder.module.features.weight, pretrained)
    runs.train("caption", settings, tmp_path / "tuned", handle_signals=False, cache=tmp_path / "cache")
    loaded = captioning.load_run(tmp_path / "tuned")
    assert not torch.equal(loaded.model.encoder.module.features.weight, pretrained)   # it trained
