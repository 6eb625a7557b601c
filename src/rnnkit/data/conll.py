"""Aligned tagging data in the CoNLL layout: one ``token<TAB>label`` per line, a blank line between
sequences::

    The     DET
    cat     NOUN
    sat     VERB

    It      PRON
    purred  VERB

Lines are split at their last tab, so a token may hold spaces (never a tab); trailing spaces and
``\\r`` are ignored, as are lines of ``-DOCSTART-`` (the CoNLL-2003 document marker). Several blank
lines count as one. Errors name the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .corpora import DataError

DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class TaggedSequence:
    """One sequence: its tokens, their labels, and the line of the file where it starts."""

    tokens: tuple[str, ...]
    labels: tuple[str, ...]
    line: int


def read_conll(path: str | Path, encoding: str = "utf-8") -> list[TaggedSequence]:
    """The sequences of a CoNLL-layout file (module docstring).

    Raises :class:`DataError` for a missing, empty or undecodable file, or a line without a tab,
    with an empty token or an empty label.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"tagging data {path} does not exist" if not path.exists() else
                        f"tagging data {path} is a directory; give one file of token<TAB>label lines")
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: byte {error.start} (0x{raw[error.start]:02x}) is not valid {encoding}; "
                        f"the file must be {encoding} text") from None
    sequences: list[TaggedSequence] = []
    tokens: list[str] = []
    labels: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r ")
        if not line.strip() or line.startswith(DOCSTART):
            if tokens:
                sequences.append(TaggedSequence(tuple(tokens), tuple(labels), start))
                tokens, labels = [], []
            continue
        token, tab, label = line.rpartition("\t")
        if not tab:
            raise DataError(f"{path}:{number}: expected token<TAB>label, got {_shown(line)} (no tab)")
        if not token.strip():
            raise DataError(f"{path}:{number}: the token before the tab is empty in {_shown(line)}")
        if not label.strip():
            raise DataError(f"{path}:{number}: the label after the tab is empty in {_shown(line)}")
        if not tokens:
            start = number
        tokens.append(token.strip())
        labels.append(label.strip())
    if tokens:
        sequences.append(TaggedSequence(tuple(tokens), tuple(labels), start))
    if not sequences:
        raise DataError(f"tagging data {path} is empty: it holds no token<TAB>label lines")
    return sequences


def _shown(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "…")


def label_set(sequences: list[TaggedSequence], path: str | Path) -> list[str]:
    """The labels of the training sequences, sorted; at least two (one label leaves nothing to learn)."""
    labels = sorted({label for sequence in sequences for label in sequence.labels})
    if len(labels) < 2:
        raise DataError(f"{path}: every token is labelled {labels[0]!r}; tagging needs at least two labels")
    return labels


def check_labels(sequences: list[TaggedSequence], known: list[str], path: str | Path) -> None:
    """Raise naming the line of the first label outside ``known`` (the labels a model was trained on)."""
    index = set(known)
    for sequence in sequences:
        for offset, label in enumerate(sequence.labels):
            if label not in index:
                raise DataError(f"{path}:{sequence.line + offset}: label {label!r} was not seen in training; "
                                f"the model knows: {', '.join(known)}")
