"""Python source, every character labelled with its token type by Python's own ``tokenize``.

A character-level tagging task with exact labels on real text: the default corpus is the standard
library's source (:func:`rnnkit.data.stdlib_sources`, as for the language model). The label of a
character is the type of the token that covers it:

==============  =====================================================================================
``whitespace``  every character no token covers (spaces and tabs between tokens, indentation, the
                ``\\`` of a line continuation) and the NEWLINE / NL / INDENT tokens (line ends, blank
                lines, indentation); everything else is inside exactly one of the tokens below
``name``        NAME tokens that are not keywords (soft keywords ``match``, ``case``, ``type``, ``_``
                are names: they are keywords only in context)
``keyword``     NAME tokens for which ``keyword.iskeyword`` holds (``True``, ``None``, ``def``, …)
``number``      NUMBER tokens (``0x1f``, ``1_000``, ``2.5e-3j``)
``string``      STRING tokens, prefix and quotes included, across lines for triple-quoted strings;
                an f-string as a whole, replacement fields included: Python 3.12 tokenizes it as
                FSTRING_START, FSTRING_MIDDLE, the field's own tokens, FSTRING_END (PEP 701), and
                3.11 as one STRING, and both give the same labels here
``comment``     COMMENT tokens, from ``#`` to the line end (the line end itself is whitespace)
``operator``    OP tokens: operators, brackets and delimiters
==============  =====================================================================================

Many labels depend on what follows: whether ``f`` starts a name or an f-string, ``r`` a name or a
raw string, whether ``1`` continues as ``1.5`` or ``1 .real``; a unidirectional model must guess
where a bidirectional one sees. A file that ``tokenize`` rejects (a syntax error in tokens, an
ERRORTOKEN, undecodable bytes) is skipped and counted.
"""

from __future__ import annotations

import io
import keyword
import random
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpora import DataError

LABELS = ("whitespace", "name", "keyword", "number", "string", "comment", "operator")
WHITESPACE, NAME, KEYWORD, NUMBER, STRING, COMMENT, OPERATOR = range(len(LABELS))
_BY_TYPE = {tokenize.NUMBER: NUMBER, tokenize.STRING: STRING, tokenize.COMMENT: COMMENT, tokenize.OP: OPERATOR}
# Python 3.12+ splits f-strings (PEP 701); on 3.11 these names do not exist.
FSTRING_START = getattr(tokenize, "FSTRING_START", None)
FSTRING_END = getattr(tokenize, "FSTRING_END", None)


class TokenizeFailure(ValueError):
    """Source that Python's ``tokenize`` rejects."""


def label_source(text: str) -> np.ndarray:
    """The label id (an index of :data:`LABELS`) of every character of ``text``, (len(text),) uint8.

    Raises :class:`TokenizeFailure` where ``tokenize`` raises or yields an ERRORTOKEN.

    Example:
        >>> [LABELS[i] for i in label_source("x=1#\\n")]
        ['name', 'operator', 'number', 'comment', 'whitespace']
    """
    # Offsets of each line's first character: tokenize counts rows from 1 and columns in characters.
    starts = [0]
    for line in io.StringIO(text):
        starts.append(starts[-1] + len(line))
    labels = np.full(len(text), WHITESPACE, dtype=np.uint8)

    def offset(position: tuple[int, int]) -> int:
        row, column = position
        return min(starts[min(row - 1, len(starts) - 1)] + column, len(text))

    fstring_depth, fstring_start = 0, 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.ERRORTOKEN:
                raise TokenizeFailure(f"line {token.start[0]}: tokenize cannot read {token.string!r}")
            if FSTRING_START is not None and token.type == FSTRING_START:
                if fstring_depth == 0:
                    fstring_start = offset(token.start)
                fstring_depth += 1
            elif FSTRING_END is not None and token.type == FSTRING_END:
                fstring_depth -= 1
                if fstring_depth == 0:
                    labels[fstring_start: offset(token.end)] = STRING
            elif fstring_depth == 0:
                label = _label(token)
                if label != WHITESPACE:
                    labels[offset(token.start): offset(token.end)] = label
    except (tokenize.TokenError, SyntaxError) as error:
        raise TokenizeFailure(str(error)) from None
    return labels


def _label(token: tokenize.TokenInfo) -> int:
    if token.type == tokenize.NAME:
        return KEYWORD if keyword.iskeyword(token.string) else NAME
    return _BY_TYPE.get(token.type, WHITESPACE)


@dataclass
class LabelledSource:
    """Python files read and labelled: their texts, each character's label id, and what was skipped."""

    texts: list[str] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)       # (len(text),) uint8 each
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)

    @property
    def characters(self) -> int:
        return sum(len(text) for text in self.texts)


def python_sources(path: str | None) -> list[Path]:
    """The ``*.py`` files of ``path`` (one file, or a directory searched recursively), or of the
    standard library when ``path`` is None, in a fixed order."""
    from .corpora import stdlib_sources

    if path is None:
        return stdlib_sources()
    root = Path(path)
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted((p for p in root.rglob("*.py") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
        if not files:
            raise DataError(f"directory {root} holds no *.py files to tag")
        return files
    raise DataError(f"data path {root} does not exist")


def label_files(files: Sequence[Path], max_chars: int | None = None, seed: int = 0,
                progress: bool = False) -> LabelledSource:
    """Read and label ``files`` in an order shuffled by ``seed``, until ``max_chars`` characters
    (None: all); a file that cannot be read or tokenized is skipped and recorded in ``skipped``."""
    order = list(files)
    random.Random(seed).shuffle(order)
    result = LabelledSource()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max_chars or None, unit="char", unit_scale=True, desc="tokenizing Python source",
                   leave=False, disable=None)
    for path in order:
        if max_chars is not None and result.characters >= max_chars:
            break
        try:
            with tokenize.open(path) as handle:              # honours a coding cookie; universal newlines
                text = handle.read()
            labels = label_source(text)
        except (OSError, UnicodeDecodeError, SyntaxError, TokenizeFailure) as error:
            result.skipped.append((path, str(error)))
            continue
        if not text:
            continue
        result.texts.append(text)
        result.labels.append(labels)
        result.files.append(path)
        if bar is not None:
            bar.update(len(text))
    if bar is not None:
        bar.close()
    if not result.texts:
        why = f" ({len(result.skipped)} could not be tokenized, e.g. {result.skipped[0][0]}: {result.skipped[0][1]})" \
            if result.skipped else ""
        raise DataError(f"none of the {len(order)} Python files could be labelled{why}")
    return result
