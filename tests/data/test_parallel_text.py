"""Parallel files and codecs of rnnkit.data.parallel: alignment errors, empty lines, unknown tokens, round trips."""

from __future__ import annotations

import gzip

import pytest

from rnnkit.data import DataError
from rnnkit.data.parallel import (
    BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, CharCodec, Codec, SubwordCodec, WordCodec, detokenize, read_parallel,
)

ENGLISH = ["A man is riding a bike.", "Two dogs (brown) play in the snow.", "A woman's hat is red."]
GERMAN = ["Ein Mann fährt Fahrrad.", "Zwei Hunde (braun) spielen im Schnee.", "Der Hut einer Frau ist rot."]


def _write(path, lines, compressed=False):
    text = "".join(f"{line}\n" for line in lines).encode()
    path.write_bytes(gzip.compress(text) if compressed else text)
    return path


def test_pairs_are_read_line_by_line_from_plain_and_gzip_files(tmp_path):
    source = _write(tmp_path / "a.en.gz", ENGLISH, compressed=True)
    target = _write(tmp_path / "a.de", GERMAN)
    assert read_parallel(source, target) == list(zip(ENGLISH, GERMAN))


def test_files_of_different_line_counts_are_refused_with_both_counts(tmp_path):
    source = _write(tmp_path / "a.en", ENGLISH)
    target = _write(tmp_path / "a.de", GERMAN[:2])
    with pytest.raises(DataError, match=r"a\.en has 3 lines but .*a\.de has 2"):
        read_parallel(source, target)


def test_pairs_with_an_empty_side_are_left_out_with_a_warning_naming_the_first(tmp_path):
    source = _write(tmp_path / "a.en", [ENGLISH[0], "", ENGLISH[2]])
    target = _write(tmp_path / "a.de", GERMAN)
    with pytest.warns(UserWarning, match=r"left out 1 pair\(s\) with an empty side \(first at line 2\)"):
        pairs = read_parallel(source, target)
    assert pairs == [(ENGLISH[0], GERMAN[0]), (ENGLISH[2], GERMAN[2])]


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.en: no such file"):
        read_parallel(tmp_path / "nope.en", tmp_path / "nope.de")


def test_files_with_only_empty_lines_are_refused(tmp_path):
    source, target = _write(tmp_path / "a.en", ["", ""]), _write(tmp_path / "a.de", ["", ""])
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no sentence pair with text on both sides"):
        read_parallel(source, target)


def test_the_specials_have_fixed_ids_in_every_codec():
    assert SPECIALS[PAD_ID] == "<pad>" and SPECIALS[UNK_ID] == "<unk>"
    assert SPECIALS[BOS_ID] == "<bos>" and SPECIALS[EOS_ID] == "<eos>"
    for codec in (CharCodec.fit(ENGLISH), WordCodec.fit(ENGLISH), SubwordCodec.fit(ENGLISH * 5, 60)):
        assert codec.pieces(range(4)) == list(SPECIALS)


def test_word_codec_maps_rare_and_unseen_words_to_unk_and_names_them():
    codec = WordCodec.fit(ENGLISH + ["A man is here."], min_count=2)     # "a" is seen once: rare
    ids = codec.encode("A man rides a unicorn.")
    assert codec.pieces(ids) == ["A", "man", "<unk>", "<unk>", "<unk>", "."]
    assert codec.unknown("A man rides a unicorn.") == ["rides", "a", "unicorn"]


def test_word_codec_detokenises_back_to_the_sentence():
    codec = WordCodec.fit(ENGLISH)
    for sentence in ENGLISH:
        assert codec.decode(codec.encode(sentence)) == sentence
    assert detokenize(["a", "T", "-", "shirt", ",", "(", "red", ")", "!"]) == "a T-shirt, (red)!"


def test_subword_codec_decodes_exactly_and_survives_json():
    codec = SubwordCodec.fit(ENGLISH * 10 + GERMAN * 10, 80)
    again = Codec.from_json(codec.to_json())
    for sentence in ENGLISH + GERMAN:
        ids = codec.encode(sentence)
        assert UNK_ID not in ids
        assert codec.decode(ids) == sentence
        assert again.encode(sentence) == ids
    assert codec.unknown("ein ☃") == ["☃"]


def test_char_codec_round_trip_and_specials_are_dropped_on_decoding():
    codec = CharCodec.fit(["2026-11-21"])
    ids = [BOS_ID, *codec.encode("2026-11-21"), EOS_ID, PAD_ID]
    assert codec.decode(ids) == "2026-11-21"
    assert Codec.from_json(codec.to_json()).tokens == codec.tokens


def test_a_foreign_codec_record_is_refused():
    with pytest.raises(ValueError, match="a codec record needs 'kind'"):
        Codec.from_json({"kind": "bpe"})


def test_multi30k_validation_files_are_read_as_aligned_pairs():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "shared" / "data" / "multi30k"
    if not (folder / "val.en.gz").is_file():
        pytest.skip(f"the Multi30k data is not in {folder} (see the project's DESIGN.md, section Data)")
    pairs = read_parallel(folder / "val.en.gz", folder / "val.de.gz")
    assert len(pairs) == 1014 and all(src and tgt for src, tgt in pairs)
