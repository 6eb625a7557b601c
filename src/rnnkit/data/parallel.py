r"""Parallel text for translation: aligned files, and text ↔ token ids at three granularities.

``read_parallel(source, target)`` reads two files (plain or gzip) in which line i of one translates
line i of the other. Files of different line counts are refused (naming both counts: the usual
sign of a misaligned or truncated file); pairs with an empty side are left out with a warning
that says how many and where the first is (an empty sentence has nothing to translate or learn).

A :class:`Codec` maps a sentence to token ids and back, with four special tokens at fixed ids:
``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3. Three kinds:

- ``char``: one token per character (the dates task); decoding is exact;
- ``word``: words and punctuation marks (``\w+|[^\w\s]``), those seen fewer than ``min_count`` times
  in training becoming ``<unk>``; decoding (*detokenisation*, for BLEU on plain text) joins them
  with spaces and removes the spaces before closing punctuation, after opening brackets and around
  hyphens and apostrophes: close to, not always exactly, the original spacing;
- ``subword``: a sentencepiece unigram model (Kudo 2018) of N pieces trained on the training text;
  decoding is exact (sentencepiece keeps the spaces as the piece ``▁``) and nothing is unknown
  except characters never seen in training.

A codec serialises to JSON (a sentencepiece model as base64 inside it), so a run directory holds
no pickled objects.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from .corpora import DataError, read_pieces

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
CODEC_KINDS = ("char", "word", "subword")
_WORD = re.compile(r"\w+|[^\w\s]")
# Detokenisation of the word codec: spaces removed before, after, and on both sides of these.
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")
_JOINERS = re.compile(r" ?([-'’]) ?")


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file (plain or gzip), without their line ends."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    text = "".join(read_pieces(path, encoding))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_parallel(source: str | Path, target: str | Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """The (source, target) sentence pairs of two aligned files (module docstring).

    Raises:
        DataError: a file is missing, undecodable, empty, or the two differ in line count.
    """
    sources, targets = read_lines(source, encoding), read_lines(target, encoding)
    if len(sources) != len(targets):
        raise DataError(f"{source} has {len(sources):,} lines but {target} has {len(targets):,}: parallel files "
                        f"must have one sentence per line, line i of one translating line i of the other")
    pairs, empty = [], []
    for number, (src, tgt) in enumerate(zip(sources, targets), start=1):
        if src.strip() and tgt.strip():
            pairs.append((src.strip(), tgt.strip()))
        else:
            empty.append(number)
    if empty:
        warnings.warn(f"{source} / {target}: left out {len(empty):,} pair(s) with an empty side (first at line "
                      f"{empty[0]})", stacklevel=2)
    if not pairs:
        raise DataError(f"{source} / {target}: no sentence pair with text on both sides")
    return pairs


class Codec(ABC):
    """Text ↔ token ids with the four specials first (module docstring). Subclasses: one per kind."""

    kind: str = ""

    @abstractmethod
    def __len__(self) -> int:
        """The vocabulary size, the four specials included."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of one sentence, without ``<bos>``/``<eos>``."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """The plain (detokenised) text of token ids; specials are dropped."""

    @abstractmethod
    def pieces(self, ids: Iterable[int]) -> list[str]:
        """The token strings of ids (for the axes of an attention map)."""

    @abstractmethod
    def unknown(self, text: str) -> list[str]:
        """The distinct parts of ``text`` that encode to ``<unk>``, in order of appearance."""

    @abstractmethod
    def to_json(self) -> dict:
        """Everything :meth:`from_json` needs to rebuild the codec."""

    @staticmethod
    def from_json(record: dict) -> Codec:
        """The codec written by :meth:`to_json`."""
        if not isinstance(record, dict) or record.get("kind") not in CODEC_KINDS:
            raise ValueError(f"a codec record needs 'kind' in {CODEC_KINDS}, got {str(record)[:80]!r}")
        if record["kind"] == "subword":
            return SubwordCodec(base64.b64decode(record["model"]))
        if not isinstance(record.get("tokens"), list):
            raise ValueError("a char or word codec record needs a 'tokens' list")
        return (CharCodec if record["kind"] == "char" else WordCodec)(record["tokens"])


class _VocabularyCodec(Codec):
    """A codec over an explicit list of tokens (char and word)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a {self.kind} vocabulary must start with {list(SPECIALS)}, got {list(tokens[:4])}")
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"the {self.kind} vocabulary lists a token twice")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    @abstractmethod
    def split(cls, text: str) -> list[str]:
        """The text's tokens, in order."""

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1) -> _VocabularyCodec:
        """The tokens of ``texts`` seen at least ``min_count`` times, most frequent first."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        counts = Counter(token for text in texts for token in cls.split(text))
        kept = [token for token, n in counts.most_common() if n >= min_count and token not in SPECIALS]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(token, UNK_ID) for token in self.split(text)]

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def unknown(self, text: str) -> list[str]:
        return list(dict.fromkeys(token for token in self.split(text) if token not in self.index))

    def _text_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids if int(i) >= len(SPECIALS) or int(i) == UNK_ID]

    def to_json(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens}


class CharCodec(_VocabularyCodec):
    """One token per character.

    Example:
        >>> codec = CharCodec.fit(["21.11.2026"])
        >>> codec.decode(codec.encode("2026-11-21"))
        '2026<unk>11<unk>21'
    """

    kind = "char"

    @classmethod
    def split(cls, text: str) -> list[str]:
        return list(text)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self._text_tokens(ids))


class WordCodec(_VocabularyCodec):
    """Words and punctuation marks; detokenised by rules (module docstring).

    Example:
        >>> codec = WordCodec.fit(["A man (in red) sits."])
        >>> codec.decode(codec.encode("A man (in red) sits."))
        'A man (in red) sits.'
    """

    kind = "word"

    @classmethod
    def split(cls, text: str) -> list[str]:
        return _WORD.findall(text)

    def decode(self, ids: Iterable[int]) -> str:
        return detokenize(self._text_tokens(ids))


def detokenize(tokens: Sequence[str]) -> str:
    """Words and punctuation joined as plain text (the word codec's rules, module docstring)."""
    text = " ".join(tokens)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    text = _NO_SPACE_AFTER.sub(r"\1", text)
    return _JOINERS.sub(r"\1", text)


class SubwordCodec(Codec):
    """A sentencepiece model (module docstring); built by :meth:`fit` or from its serialised bytes."""

    kind = "subword"

    def __init__(self, model: bytes) -> None:
        import sentencepiece

        self.model = bytes(model)
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=self.model)
        found = tuple(self.processor.id_to_piece(i) for i in range(len(SPECIALS)))
        if found != SPECIALS:
            raise ValueError(f"a subword model must have the pieces {list(SPECIALS)} at ids 0-3, got {list(found)}")

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int, seed_sentences: int = 200_000) -> SubwordCodec:
        """A unigram model of at most ``vocab_size`` pieces trained on ``texts`` (in memory)."""
        import sentencepiece

        if vocab_size <= len(SPECIALS):
            raise ValueError(f"the subword vocabulary size must exceed the {len(SPECIALS)} special tokens, "
                             f"got {vocab_size}")
        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(list(texts)), model_writer=model, vocab_size=vocab_size, model_type="unigram",
            character_coverage=1.0, hard_vocab_limit=False, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID,
            eos_id=EOS_ID, pad_piece=SPECIALS[0], unk_piece=SPECIALS[1], bos_piece=SPECIALS[2],
            eos_piece=SPECIALS[3], input_sentence_size=seed_sentences, shuffle_input_sentence=False,
            num_threads=1, minloglevel=2,
        )
        return cls(model.getvalue())

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return list(self.processor.encode(text))

    def decode(self, ids: Iterable[int]) -> str:
        return self.processor.decode([int(i) for i in ids if int(i) >= len(SPECIALS) or int(i) == UNK_ID])

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return [self.processor.id_to_piece(int(i)) for i in ids]

    def unknown(self, text: str) -> list[str]:
        pieces = self.processor.encode(text, return_type="proto").pieces
        return list(dict.fromkeys(piece.surface for piece in pieces if piece.id == UNK_ID))

    def to_json(self) -> dict:
        return {"kind": self.kind, "model": base64.b64encode(self.model).decode("ascii")}


def fit_codec(kind: str, texts: Sequence[str], min_count: int = 1, subword_size: int = 8000) -> Codec:
    """A codec of ``kind`` fitted to ``texts`` (the training side, or both sides for a joint vocabulary)."""
    if kind == "char":
        return CharCodec.fit(texts, min_count)
    if kind == "word":
        return WordCodec.fit(texts, min_count)
    if kind == "subword":
        return SubwordCodec.fit(texts, subword_size)
    raise ValueError(f"unknown tokens {kind!r}; choose one of: {', '.join(CODEC_KINDS)}")
