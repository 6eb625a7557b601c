"""CSV/TSV reading for classification: quoting, headers, columns, and clear errors naming the line."""

from __future__ import annotations

import pytest

from rnnkit.data import DataError, read_table


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_quoted_fields_with_commas_quotes_and_line_breaks(tmp_path):
    path = write(tmp_path, "r.csv", 'text,label\n"good, really",pos\n"she said ""no""",neg\n"two\nlines",pos\n')
    table = read_table(path)
    assert table.texts == ["good, really", 'she said "no"', "two\nlines"]
    assert table.labels == ["pos", "neg", "pos"]
    assert table.lines == [2, 3, 4]


def test_header_detected_and_named_columns_in_any_order(tmp_path):
    path = write(tmp_path, "r.tsv", "id\tstars\treview\n1\t5\tgreat food\n2\t1\tcold soup\n")
    table = read_table(path, text_column="review", label_column="stars")
    assert table.texts == ["great food", "cold soup"] and table.labels == ["5", "1"]


def test_without_header_columns_are_positional(tmp_path):
    path = write(tmp_path, "r.tsv", "great food\tpos\ncold soup\tneg\n")
    table = read_table(path)
    assert table.texts == ["great food", "cold soup"] and table.lines == [1, 2]
    numbered = read_table(write(tmp_path, "n.tsv", "pos\tgreat food\nneg\tcold\n"), text_column="1", label_column="0")
    assert numbered.labels == ["pos", "neg"]


def test_sniffed_delimiter_for_other_suffixes(tmp_path):
    table = read_table(write(tmp_path, "r.txt", "text;label\na b;x\nc d;y\n"))
    assert table.texts == ["a b", "c d"] and table.labels == ["x", "y"]


@pytest.mark.parametrize("content, message", [
    ("text,label\ngood,pos\n,neg\n", r"r.csv:3: the text is missing"),
    ("text,label\ngood,pos\nbad,\n", r"r.csv:3: the label is missing"),
    ("text,label\ngood,pos\nbad,neg,extra\n", r"r.csv:3: 3 fields where the header has 2"),
    ("text,label\n", "a header row and no examples"),
    ("", "is empty"),
    ("\n  \n", "is empty"),
])
def test_bad_rows_name_the_file_and_line(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_table(write(tmp_path, "r.csv", content))


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    path = write(tmp_path, "r.csv", b"text,label\ngood,pos\ncaf\xe9 au lait,neg\n")
    with pytest.raises(DataError, match=r"r.csv:3: not valid utf-8"):
        read_table(path)
    assert read_table(path, encoding="latin-1").texts[1] == "café au lait"


def test_a_label_column_that_does_not_exist(tmp_path):
    path = write(tmp_path, "r.csv", "text,label\ngood,pos\n")
    with pytest.raises(DataError, match="no label column 'stars'; the header has: text, label"):
        read_table(path, label_column="stars")
    headerless = write(tmp_path, "h.csv", "good,pos\nbad,neg\n")
    with pytest.raises(DataError, match="no label column 'stars': the file has no header row"):
        read_table(headerless, label_column="stars")
    with pytest.raises(DataError, match="no label column 5"):
        read_table(headerless, label_column="5")


def test_one_column_needs_labels_unless_predicting(tmp_path):
    path = write(tmp_path, "t.tsv", "text\nhello there\nbye\n")
    with pytest.raises(DataError, match="every row has one field"):
        read_table(path)
    assert read_table(path, require_labels=False).texts == ["hello there", "bye"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
