"""`rnnkit train caption`, `rnnkit caption` and `rnnkit eval` of a caption run, in-process, on a handful
of generated images written as files in the Flickr token format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnnkit.cli.main import main
from rnnkit.data.shapes import generate_shapes

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "flickr8k"
TINY = ["--hidden", "32", "--embedding-size", "16", "--attention-size", "16", "--dropout", "0"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """40 generated scenes as 48×48 PNG files, their captions as a Flickr token file, and split lists."""
    folder = tmp_path_factory.mktemp("photos")
    shapes = generate_shapes(40, seed=3, image_size=48, max_shapes=2)
    lines = []
    for i, (pixels, captions) in enumerate(zip(shapes.images, shapes.captions)):
        Image.fromarray(pixels).save(folder / f"{i}.png")
        lines += [f"{i}.png#{n}\t{caption.text.capitalize()} ." for n, caption in enumerate(captions)]
    (folder / "tokens.txt").write_text("\n".join(lines) + "\n")
    (folder / "train.txt").write_text("\n".join(f"{i}.png" for i in range(32)) + "\n")
    (folder / "dev.txt").write_text("\n".join(f"{i}.png" for i in range(32, 40)) + "\n")
    return folder


def train_args(photos: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "caption", "--images", str(photos), "--captions", str(photos / "tokens.txt"), "--splits",
            f"{photos / 'train.txt'},{photos / 'dev.txt'}", "--encoder", "small-cnn", "--image-size", "48",
            "--min-count", "1", "--steps", "3", "--batch", "8", *TINY, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def run_dir(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "photos"
    assert main(train_args(photos, out)) == 0
    return out


def test_train_records_the_splits_vocabulary_and_model(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "caption" and config["encoder"]["name"] == "small-cnn"
    vocabulary = json.loads((run_dir / "vocab.json").read_text())
    assert vocabulary["kind"] == "caption" and "circle" in vocabulary["tokens"]
    assert (run_dir / "model.safetensors").is_file()


def test_caption_prints_a_line_per_image_and_a_batch_equals_each_image_alone(run_dir, photos, capsys):
    images = [str(photos / f"{i}.png") for i in (32, 33, 34)]
    assert main(["caption", str(run_dir), *images, "--beam-size", "3"]) == 0
    together = capsys.readouterr().out.splitlines()
    alone = []
    for image in images:
        assert main(["caption", str(run_dir), image, "--beam-size", "3"]) == 0
        alone += capsys.readouterr().out.splitlines()
    assert together == alone and [line.split("\t")[0] for line in together] == images


def test_show_attention_draws_one_picture_per_image(run_dir, photos, tmp_path, capsys):
    target = tmp_path / "words.png"
    images = [str(photos / "32.png"), str(photos / "33.png")]
    assert main(["caption", str(run_dir), *images, "--show-attention", str(target)]) == 0
    for name in ("words-1.png", "words-2.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grayscale_rgba_and_other_sizes_are_converted_as_documented(run_dir, photos, tmp_path, capsys):
    source = Image.open(photos / "32.png")
    source.convert("L").save(tmp_path / "gray.png")
    source.convert("RGBA").save(tmp_path / "rgba.png")
    source.resize((96, 64)).save(tmp_path / "big.jpg")
    paths = [str(tmp_path / name) for name in ("gray.png", "rgba.png", "big.jpg")]
    assert main(["caption", str(run_dir), *paths, "--beam-size", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.split("\t")[1] for line in lines)


def test_a_file_that_is_not_an_image_is_an_error_naming_it(run_dir, tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    assert main(["caption", str(run_dir), str(bad)]) == 2
    assert f"{bad}: not a readable image" in capsys.readouterr().err
    assert main(["caption", str(run_dir), str(tmp_path / "absent.png")]) == 2
    assert "no such image file" in capsys.readouterr().err


def test_eval_prints_bleu_and_cider_against_all_references(run_dir, capsys):
    assert main(["eval", str(run_dir), "--beam-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "BLEU-4" in out and "CIDEr-D" in out and "(8 dev images, beam 2" in out
    assert main(["eval", str(run_dir), "--json", "--beam-size", "3", "--length-penalty", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 8 and len(result["examples"]) == 5


def test_a_caption_naming_a_missing_image_stops_training_with_its_name(photos, tmp_path, capsys):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text((photos / "tokens.txt").read_text() + "ghost.png#0\tA ghost .\n")
    listing = tmp_path / "train.txt"
    listing.write_text((photos / "train.txt").read_text() + "ghost.png\n")
    args = train_args(photos, tmp_path / "run")
    args[args.index("--captions") + 1] = str(tokens)
    args[args.index("--splits") + 1] = f"{listing},{photos / 'dev.txt'}"
    assert main(args) == 2
    assert "ghost.png" in capsys.readouterr().err


def test_an_empty_caption_stops_training_with_its_line(photos, tmp_path, capsys):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text((photos / "tokens.txt").read_text() + "0.png#9\t . \n")
    args = train_args(photos, tmp_path / "run")
    args[args.index("--captions") + 1] = str(tokens)
    assert main(args) == 2
    assert "line 201: the caption of 0.png is empty" in capsys.readouterr().err


def test_caption_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["train", "caption", "--help"])
    text = capsys.readouterr().out
    assert "--task shapes" in text and "--fine-tune-encoder" in text and "examples:" in text


@pytest.mark.skipif(not (SHARED / "Flickr8k.token.txt").is_file(), reason="../shared/data/flickr8k is absent")
def test_flickr8k_photos_train_on_pretrained_features_and_caption(tmp_path, capsys):
    """A handful of the shared photos, the pretrained encoder's features cached, as the README runs it."""
    lines = (SHARED / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines()[:60]
    (tmp_path / "tokens.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    names = list(dict.fromkeys(line.split("#")[0] for line in lines))
    out = tmp_path / "run"
    assert main(["train", "caption", "--images", str(SHARED / "images"), "--captions", str(tmp_path / "tokens.txt"),
                 "--val-size", "3", "--min-count", "1", "--steps", "2", "--batch", "8", *TINY, "--out", str(out)]) == 0
    assert json.loads((out / "images.json").read_text())["grid"] == [7, 7]
    assert main(["caption", str(out), str(SHARED / "images" / names[0])]) == 0
    assert capsys.readouterr().out.split("\t")[1].strip()
    cached = list((tmp_path / ".cache" / "features").glob("*.npy"))
    assert len(cached) == 2 and np.load(cached[0], mmap_mode="r").shape[1:] == (49, 1280)
