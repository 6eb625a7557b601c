"""CoNLL-layout tagging data: token<TAB>label lines, blank lines between sequences, errors by line."""

import pytest

from rnnkit.data import DataError, read_conll
from rnnkit.data.conll import check_labels, label_set


def write(tmp_path, text: str, name: str = "data.conll"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_sequences_are_separated_by_blank_lines_and_remember_their_first_line(tmp_path):
    path = write(tmp_path, "-DOCSTART-\tO\n\nThe\tDET\r\ncat\tNOUN  \n\n\n\nNew York\tPROPN\nsleeps\tVERB")
    sequences = read_conll(path)
    assert [s.tokens for s in sequences] == [("The", "cat"), ("New York", "sleeps")]
    assert [s.labels for s in sequences] == [("DET", "NOUN"), ("PROPN", "VERB")]
    assert [s.line for s in sequences] == [3, 8]


def test_a_line_is_split_at_its_last_tab(tmp_path):
    (sequence,) = read_conll(write(tmp_path, "a\tb\tLABEL\n"))
    assert sequence.tokens == ("a\tb",) and sequence.labels == ("LABEL",)


@pytest.mark.parametrize("text, message", [
    ("The\tDET\ncat NOUN\n", r"data\.conll:2: expected token<TAB>label, got 'cat NOUN' \(no tab\)"),
    ("The\tDET\n\n\ncat\t \n", r"data\.conll:4: the label after the tab is empty"),
    ("\tDET\n", r"data\.conll:1: the token before the tab is empty"),
    ("", r"data\.conll is empty: it holds no token<TAB>label lines"),
    ("\n\n  \n", r"is empty"),
    (b"ok\tA\n\ncaf\xe9\tB\n", r"data\.conll:3: byte 9 \(0xe9\) is not valid utf-8"),
])
def test_malformed_files_get_an_error_naming_the_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path, text))


def test_a_missing_file_or_a_directory_is_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_conll(tmp_path / "missing.conll")
    with pytest.raises(DataError, match="is a directory"):
        read_conll(tmp_path)


def test_another_encoding_is_read_when_named(tmp_path):
    (sequence,) = read_conll(write(tmp_path, "caf\xe9\tNOUN\n".encode("latin-1")), encoding="latin-1")
    assert sequence.tokens == ("café",)


def test_a_single_label_is_refused_and_unknown_labels_are_named_by_line(tmp_path):
    path = write(tmp_path, "a\tX\nb\tX\n")
    with pytest.raises(DataError, match="every token is labelled 'X'; tagging needs at least two labels"):
        label_set(read_conll(path), path)
    known = label_set(read_conll(write(tmp_path, "a\tX\nb\tY\n")), path)
    assert known == ["X", "Y"]
    other = write(tmp_path, "a\tX\n\nb\tY\nc\tZ\n", "dev.conll")
    with pytest.raises(DataError, match=r"dev\.conll:4: label 'Z' was not seen in training; the model knows: X, Y"):
        check_labels(read_conll(other), known, other)
