"""pytokens: every character labelled with the token type that Python's own tokenize gives it."""

import io
import keyword
import tokenize

import numpy as np
import pytest

from rnnkit.data import DataError
from rnnkit.data.pytokens import LABELS, TokenizeFailure, label_files, label_source, python_sources

SNIPPETS = {
    "plain": "def f(x, y=1.5e-3):\n    return x + y  # sum\n",
    "f-string": 'name = "w"\nmsg = f"{name!r:>{10}} and {{braces}}" + rf\'\\d{name}\'\n',
    "nested f-string": "x = f'{f\"{1 + 2}\"}'\n",
    "multi-line string": 'doc = """first line\n    second \'line\'\n"""\nafter = 0x1F\n',
    "continuation and soft keywords": "match = case = _ = 1\nif match and \\\n   not None:\n\tpass\n",
    "no final newline": "class A: pass",
}
FSTRING_START, FSTRING_END = getattr(tokenize, "FSTRING_START", -1), getattr(tokenize, "FSTRING_END", -1)


def reference_labels(text: str) -> list[str]:
    """The labels read directly off tokenize's tokens: each token's characters get its type; an
    f-string (3.12+: FSTRING_START … FSTRING_END) is a string as a whole."""
    lines = text.splitlines(keepends=True)

    def offset(row, column):
        return min(sum(len(line) for line in lines[: row - 1]) + column, len(text))

    labels = ["whitespace"] * len(text)
    depth, start = 0, 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == FSTRING_START:
            if depth == 0:
                start = offset(*token.start)
            depth += 1
        elif token.type == FSTRING_END:
            depth -= 1
            if depth == 0:
                labels[start: offset(*token.end)] = ["string"] * (offset(*token.end) - start)
        elif depth == 0:
            kind = {tokenize.STRING: "string", tokenize.NUMBER: "number", tokenize.COMMENT: "comment",
                    tokenize.OP: "operator"}.get(token.type)
            if token.type == tokenize.NAME:
                kind = "keyword" if keyword.iskeyword(token.string) else "name"
            if kind:
                first, last = offset(*token.start), offset(*token.end)
                assert text[first:last] == token.string            # the offsets are the token's characters
                labels[first:last] = [kind] * (last - first)
    return labels


def labelled(text: str) -> list[str]:
    return [LABELS[i] for i in label_source(text)]


@pytest.mark.parametrize("name", SNIPPETS)
def test_labels_agree_with_tokenize(name):
    text = SNIPPETS[name]
    assert labelled(text) == reference_labels(text)


def spans(text: str, labels: list[str]) -> list[tuple[str, str]]:
    """Runs of equal labels as (text, label), whitespace left out."""
    runs, start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or labels[i] != labels[start]:
            if labels[start] != "whitespace":
                runs.append((text[start:i], labels[start]))
            start = i
    return runs


def test_an_f_string_is_one_string_replacement_fields_included():
    text = SNIPPETS["f-string"]
    runs = spans(text, labelled(text))
    assert ('f"{name!r:>{10}} and {{braces}}"', "string") in runs
    assert ("rf'\\d{name}'", "string") in runs
    assert ("name", "name") in runs and ("+", "operator") in runs


def test_a_triple_quoted_string_is_a_string_across_its_lines_and_its_line_end_inside():
    text = SNIPPETS["multi-line string"]
    runs = spans(text, labelled(text))
    assert ('"""first line\n    second \'line\'\n"""', "string") in runs
    assert ("0x1F", "number") in runs


def test_keywords_comments_and_whitespace():
    text = SNIPPETS["continuation and soft keywords"]
    labels = labelled(text)
    runs = spans(text, labels)
    assert ("match", "name") in runs and ("_", "name") in runs             # soft keywords are names
    assert ("if", "keyword") in runs and ("None", "keyword") in runs
    assert labels[text.index("\\")] == "whitespace" and labels[text.index("\t")] == "whitespace"
    plain = SNIPPETS["plain"]
    plain_labels = labelled(plain)
    assert spans(plain, plain_labels)[-1] == ("# sum", "comment")
    assert plain_labels[-1] == "whitespace"                                 # a comment's line end is not comment


@pytest.mark.parametrize("text", ['s = """never closed\n', "x = (1,\n", "price = 5 $\n"])
def test_source_that_tokenize_rejects_raises(text):
    with pytest.raises(TokenizeFailure):
        label_source(text)


def test_label_files_skips_what_cannot_be_labelled_and_stops_at_max_chars(tmp_path):
    for i in range(6):
        (tmp_path / f"ok{i}.py").write_text(f"x{i} = {i}\n" * 20)
    (tmp_path / "broken.py").write_text('s = """never closed\n')
    (tmp_path / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    everything = label_files(python_sources(str(tmp_path)))
    assert len(everything.files) == 6 and len(everything.skipped) == 2
    assert {path.name for path, _ in everything.skipped} == {"broken.py", "latin1.py"}
    assert all(len(text) == len(labels) for text, labels in zip(everything.texts, everything.labels))
    some = label_files(python_sources(str(tmp_path)), max_chars=250, seed=3)
    assert len(some.files) == 2                                             # 140 characters a file
    assert label_files(python_sources(str(tmp_path)), seed=3).files[:2] == some.files


def test_python_sources_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        python_sources(str(tmp_path / "missing"))
    (tmp_path / "notes.txt").write_text("no python here")
    with pytest.raises(DataError, match=r"holds no \*\.py files"):
        python_sources(str(tmp_path))
    (tmp_path / "bad.py").write_text('"""\n')
    with pytest.raises(DataError, match="none of the 1 Python files could be labelled"):
        label_files(python_sources(str(tmp_path)))


def test_the_default_source_is_the_standard_library():
    files = python_sources(None)
    assert any(path.name == "tokenize.py" for path in files)
    labels = label_source(next(path for path in files if path.name == "tokenize.py").read_text())
    assert set(np.unique(labels).tolist()) == set(range(len(LABELS)))
