"""Labelled texts from a CSV or TSV file: one example a row, a text column and a label column.

- The delimiter is a tab for ``*.tsv``/``*.tab``, a comma for ``*.csv``, and otherwise the one
  Python's ``csv.Sniffer`` finds in the first lines (tab, comma, semicolon or bar).
- Fields may be quoted as in RFC 4180 (``"a, b"``, ``""`` for a quote inside, line breaks inside).
- A header row is detected: the first row is a header when it names the columns asked for, or when
  it holds one of the usual names (``text``, ``sentence``, ``label``, …). Without a header, columns
  are picked by position: the text is the first column and the label the last, or the 0-based
  numbers given.
- Every row must have the header's number of fields and a non-empty text and label: anything else
  is a :class:`DataError` naming the file and line. So is a file that is empty or not UTF-8.

Example:
    >>> table = read_table("reviews.csv", text_column="review", label_column="stars")  # doctest: +SKIP
    >>> table.texts[0], table.labels[0], table.lines[0]                              # doctest: +SKIP
    ('great food', '5', 2)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .corpora import DataError

TEXT_NAMES = ("text", "sentence", "review", "content", "document", "tweet", "comment", "body", "utterance")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "y", "polarity")
DELIMITERS = "\t,;|"


@dataclass(frozen=True)
class Table:
    """Texts, their labels (strings), and the line each row starts on (for messages)."""

    path: str
    texts: list[str]
    labels: list[str]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def _delimiter(path: Path, sample: str, given: str | None) -> str:
    if given is not None:
        if len(given) != 1:
            raise ValueError(f"the delimiter must be one character, got {given!r}")
        return given
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return "\t" if "\t" in sample else ","


def _column(name: str | None, header: list[str] | None, default: int, role: str, path: Path,
            names: tuple[str, ...], first_row: list[str]) -> int:
    """The index of the ``role`` column: by name in the header, by 0-based number, or by default."""
    if header is not None:
        lowered = [cell.strip().lower() for cell in header]
        if name is None:
            for candidate in names:
                if candidate in lowered:
                    return lowered.index(candidate)
            if len(header) == 2:
                return default
            raise DataError(f"{path}: cannot tell which column is the {role}: its header has {header}; name it "
                            f"with --{role}-column")
        if name.strip().lower() in lowered:
            return lowered.index(name.strip().lower())
        if not name.isdigit():
            raise DataError(f"{path}: there is no {role} column {name!r}; the header has: {', '.join(header)}")
    elif name is not None and not name.isdigit():
        shown = ", ".join(repr(cell.strip()[:40]) for cell in first_row)
        raise DataError(f"{path}: there is no {role} column {name!r}: the file has no header row (its first line, "
                        f"{shown}, names none of the columns asked for); if that line is the header, give one of "
                        f"its names, else the column's 0-based number")
    return int(name) if name is not None else default


def _is_header(row: list[str], text_column: str | None, label_column: str | None) -> bool:
    cells = {cell.strip().lower() for cell in row}
    asked = {c.strip().lower() for c in (text_column, label_column) if c is not None and not c.isdigit()}
    return bool(asked & cells) or bool(cells & set(TEXT_NAMES)) or bool(cells & set(LABEL_NAMES))


def read_table(path: str | Path, text_column: str | None = None, label_column: str | None = None,
               delimiter: str | None = None, encoding: str = "utf-8", require_labels: bool = True) -> Table:
    """The labelled texts of a CSV/TSV file (module docstring); ``require_labels=False`` lets the
    label column be absent (texts to predict), labels then empty strings."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid {encoding} (byte {raw[error.start]:#04x} at offset "
                        f"{error.start}); convert the file to UTF-8 or give its encoding") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise DataError(f"{path} is empty: it holds no rows")
    separator = _delimiter(path, text[:8192], delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, quotechar='"', doublequote=True,
                        strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: malformed {'TSV' if separator == chr(9) else 'CSV'} row "
                        f"({error})") from None
    if not rows:
        raise DataError(f"{path} is empty: it holds no rows")
    header = rows[0][1] if _is_header(rows[0][1], text_column, label_column) else None
    body = rows[1:] if header is not None else rows
    if not body:
        raise DataError(f"{path} holds a header row and no examples")
    width = len(header) if header is not None else len(body[0][1])
    if require_labels and width < 2:
        raise DataError(f"{path}: every row has one field; a labelled file needs a text and a label column "
                        f"separated by {'a tab' if separator == chr(9) else repr(separator)}")
    text_index = _column(text_column, header, 0, "text", path, TEXT_NAMES, rows[0][1])
    label_index = (_column(label_column, header, width - 1, "label", path, LABEL_NAMES, rows[0][1])
                   if require_labels or label_column is not None else None)
    for index, role in ((text_index, "text"), (label_index, "label")):
        if index is not None and index >= width:
            raise DataError(f"{path}: there is no {role} column {index}: rows have {width} fields (0-based)")
    if label_index == text_index:
        raise DataError(f"{path}: the text and label columns are the same column ({text_index})")
    texts, labels, lines = [], [], []
    for line, row in body:
        if len(row) != width:
            raise DataError(f"{path}:{line}: {len(row)} fields where the {'header' if header else 'first row'} "
                            f"has {width}")
        content = row[text_index].strip()
        if not content:
            raise DataError(f"{path}:{line}: the text is missing (empty field {text_index})")
        label = row[label_index].strip() if label_index is not None else ""
        if label_index is not None and not label:
            raise DataError(f"{path}:{line}: the label is missing (empty field {label_index})")
        texts.append(content)
        labels.append(label)
        lines.append(line)
    return Table(str(path), texts, labels, lines)
