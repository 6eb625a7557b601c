"""Tokenizers: text ↔ token ids, at the level of characters or of words.

Both keep their vocabulary as a list of strings, special tokens first, then the rest by falling
frequency (ties in first-seen order), so that frequent tokens have small ids: the adaptive softmax
relies on that order. Both serialise to JSON (``vocab.json`` of a run) and back.

- ``char``: every character is a token; ``<unk>`` stands for characters outside the vocabulary.
- ``word``: every line is split on whitespace and ends with ``<eos>``; words outside the vocabulary
  (too rare, or beyond its maximum size) become ``<unk>``. ``<eos>`` decodes back to a newline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable

import numpy as np

UNK = "<unk>"
EOS = "<eos>"


class Tokenizer(ABC):
    """Base class: a vocabulary (list of token strings) and the maps both ways."""

    kind: str = ""
    specials: tuple[str, ...] = (UNK,)

    def __init__(self, tokens: list[str]) -> None:
        if list(tokens[: len(self.specials)]) != list(self.specials):
            raise ValueError(f"a {self.kind} vocabulary must start with {list(self.specials)}, got {tokens[:3]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"the {self.kind} vocabulary lists a token twice")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}
        self.unk_id = self.index[UNK]

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    @classmethod
    @abstractmethod
    def split(cls, text: str) -> list[str]:
        """The token strings of ``text``."""
        ...

    @classmethod
    def counts(cls, pieces: Iterable[str]) -> Counter:
        """How often each token occurs in ``pieces`` (text, split at line ends)."""
        counts: Counter = Counter()
        for piece in pieces:
            counts.update(cls.split(piece))
        return counts

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(token for token in self.split(text) if token not in self.index))

    @classmethod
    def fit(cls, pieces: Iterable[str], min_count: int = 1, max_size: int | None = None) -> Tokenizer:
        """Build the vocabulary of ``pieces``: tokens seen at least ``min_count`` times, the
        ``max_size`` most frequent (specials included) when given."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        if max_size is not None and max_size <= len(cls.specials):
            raise ValueError(f"max_size must exceed the {len(cls.specials)} special tokens, got {max_size}")
        counts = cls.counts(pieces)
        for special in cls.specials:
            counts.pop(special, None)
        # most_common sorts by count and keeps first-seen order among ties: deterministic.
        kept = [token for token, count in counts.most_common() if count >= min_count]
        if max_size is not None:
            kept = kept[: max_size - len(cls.specials)]
        return cls([*cls.specials, *kept])

    @abstractmethod
    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text`` (int64)."""
        ...

    @abstractmethod
    def piece(self, token_id: int, previous_id: int | None = None) -> str:
        """The text that token ``token_id`` adds after token ``previous_id`` (None: at the start)."""
        ...

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of token ids."""
        text, previous = [], None
        for token_id in ids:
            text.append(self.piece(int(token_id), previous))
            previous = int(token_id)
        return "".join(text)

    def to_json(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens}

    @staticmethod
    def from_json(record: dict) -> Tokenizer:
        """The tokenizer written by :meth:`to_json`."""
        kinds = {cls.kind: cls for cls in (CharTokenizer, WordTokenizer)}
        if not isinstance(record, dict) or record.get("kind") not in kinds or not isinstance(record.get("tokens"), list):
            raise ValueError("vocabulary JSON must be an object with 'kind' ('char' or 'word') and a 'tokens' list")
        return kinds[record["kind"]](record["tokens"])


class CharTokenizer(Tokenizer):
    """One token per character; ``<unk>`` for characters outside the vocabulary.

    Example:
        >>> tok = CharTokenizer.fit(["hello"])
        >>> tok.decode(tok.encode("hole"))
        'hole'
    """

    kind = "char"

    def __init__(self, tokens: list[str]) -> None:
        super().__init__(tokens)
        if any(len(token) != 1 for token in self.tokens[len(self.specials):]):
            raise ValueError("a char vocabulary holds single characters after its special tokens")
        # A lookup table by code point: encoding a megabyte is one numpy gather, not a Python loop.
        codepoints = [ord(token) for token in self.tokens[len(self.specials):]]
        self._table = np.full(max(codepoints, default=0) + 1, self.unk_id, dtype=np.int64)
        self._table[codepoints] = np.arange(len(self.specials), len(self.tokens))

    @classmethod
    def split(cls, text: str) -> list[str]:
        return list(text)

    def encode(self, text: str) -> np.ndarray:
        codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        inside = codepoints < len(self._table)
        return np.where(inside, self._table[np.where(inside, codepoints, 0)], self.unk_id)

    def piece(self, token_id: int, previous_id: int | None = None) -> str:
        return self.tokens[token_id]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.tokens[int(i)] for i in ids)


class WordTokenizer(Tokenizer):
    """Whitespace-separated words, ``<eos>`` at the end of every line, ``<unk>`` for the rest.

    Example:
        >>> tok = WordTokenizer.fit(["the cat sat\\n"])
        >>> tok.decode(tok.encode("the dog sat\\n"))
        'the <unk> sat\\n'
    """

    kind = "word"
    specials = (UNK, EOS)

    @classmethod
    def split(cls, text: str) -> list[str]:
        """The tokens of ``text``: each line's words, then ``<eos>`` (a final unterminated line too)."""
        tokens: list[str] = []
        for line in text.splitlines():
            tokens.extend(line.split())
            tokens.append(EOS)
        return tokens

    def encode(self, text: str) -> np.ndarray:
        index, unk = self.index, self.unk_id
        return np.array([index.get(word, unk) for word in self.split(text)], dtype=np.int64)

    def piece(self, token_id: int, previous_id: int | None = None) -> str:
        token = self.tokens[token_id]
        if token == EOS:
            return "\n"
        starts_line = previous_id is None or self.tokens[previous_id] == EOS
        return token if starts_line else " " + token


TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer}
