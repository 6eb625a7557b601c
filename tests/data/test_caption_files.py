"""Caption files: the Flickr token format, Karpathy's split JSON, tokenisation and the vocabulary."""

import json

import pytest

from rnnkit.data import DataError
from rnnkit.data.captions import (
    CaptionCodec, CaptionedImage, assign_splits, check_image_files, fit_vocabulary, read_captions, read_flickr_tokens,
    read_image_list, tokenize,
)


def test_tokens_are_lowercased_without_punctuation():
    assert tokenize("A Dog's ball, red .") == ["a", "dogs", "ball", "red"]
    assert tokenize("  ...  ") == []


def test_a_flickr_token_file_groups_captions_by_image_in_order(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("b.jpg#1\tA cat sits .\nb.jpg#0\tA cat .\na.jpg#0\tTwo dogs run .\n\n", encoding="utf-8")
    images = read_flickr_tokens(path)
    assert [(i.file, i.captions) for i in images] == [("b.jpg", ["A cat sits .", "A cat ."]), ("a.jpg", ["Two dogs run ."])]


@pytest.mark.parametrize("text, message", [("a.jpg#0 no tab here\n", "line 1: expected IMAGE.jpg#N<TAB>caption"),
                                           ("a.jpg#0\tA dog .\na.jpg#1\t . \n", "line 2: the caption of a.jpg is empty"),
                                           ("\n\n", "holds no caption")])
def test_malformed_and_empty_captions_are_named_by_line(tmp_path, text, message):
    path = tmp_path / "tokens.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_flickr_tokens(path)


def test_a_karpathy_file_gives_splits_with_restval_as_training(tmp_path):
    record = {"images": [
        {"filename": "1.jpg", "split": "train", "sentences": [{"raw": "A man .", "tokens": ["a", "man"]}]},
        {"filename": "2.jpg", "filepath": "val2014", "split": "val", "sentences": [{"tokens": ["a", "cat"]}]},
        {"filename": "3.jpg", "split": "restval", "sentences": [{"raw": "Kids play"}]},
        {"filename": "4.jpg", "split": "test", "sentences": [{"raw": "Snow"}]}]}
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    images = read_captions(path)
    assert [(i.file, i.split) for i in images] == [("1.jpg", "train"), ("val2014/2.jpg", "dev"), ("3.jpg", "train"),
                                                   ("4.jpg", "test")]
    assert images[1].captions == ["a cat"]


def test_a_karpathy_file_with_an_unknown_split_or_no_images_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"images": [{"filename": "1.jpg", "split": "holdout", "sentences": [{"raw": "x"}]}]}))
    with pytest.raises(DataError, match="unknown split 'holdout'"):
        read_captions(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="at the top level"):
        read_captions(path)


def test_split_lists_assign_images_and_name_what_has_no_caption(tmp_path):
    images = [CaptionedImage("a.jpg", ["x"]), CaptionedImage("b.jpg", ["y"]), CaptionedImage("c.jpg", ["z"])]
    chosen = assign_splits(images, {"train": ["c.jpg", "a.jpg"], "dev": ["b.jpg"]})
    assert [(i.file, i.split) for i in chosen] == [("c.jpg", "train"), ("a.jpg", "train"), ("b.jpg", "dev")]
    with pytest.raises(DataError, match="the dev list names 1 image.*without captions, e.g. d.jpg"):
        assign_splits(images, {"train": ["a.jpg"], "dev": ["d.jpg"]})
    with pytest.raises(DataError, match="a.jpg is in two splits"):
        assign_splits(images, {"train": ["a.jpg"], "dev": ["a.jpg"]})
    listing = tmp_path / "list.txt"
    listing.write_text("a.jpg\n\nb.jpg\n")
    assert read_image_list(listing) == ["a.jpg", "b.jpg"]


def test_a_caption_naming_a_missing_image_is_reported(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    images = [CaptionedImage("a.jpg", ["x"]), CaptionedImage("gone.jpg", ["y"])]
    with pytest.raises(DataError, match=r"1 image\(s\) named by the captions are not in .*gone.jpg"):
        check_image_files(tmp_path, images)
    assert check_image_files(tmp_path, images[:1]) == [tmp_path / "a.jpg"]


def test_the_vocabulary_keeps_frequent_words_and_round_trips_through_json():
    codec = fit_vocabulary(["A dog runs .", "a dog sits", "A cat ."], min_count=2)
    assert codec.pieces(codec.encode("a dog"))[:2] == ["a", "dog"]
    assert codec.decode(codec.encode("A DOG flies!")) == "a dog <unk>"
    assert CaptionCodec.from_json(json.loads(json.dumps(codec.to_json()))).tokens == codec.tokens
    with pytest.raises(DataError, match="min_count = 9"):
        fit_vocabulary(["a b"], min_count=9)


def test_a_byte_order_mark_and_windows_line_ends_are_read_as_plain_text(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_bytes("\ufeffa.jpg#0\tA dog .\r\na.jpg#1\tA cat .\r\n".encode("utf-8"))
    (image,) = read_flickr_tokens(path)
    assert image.file == "a.jpg" and image.captions == ["A dog .", "A cat ."]
