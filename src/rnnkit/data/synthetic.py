"""Synthetic tasks of the architecture comparison: Arith, XML, the adding problem and the copy problem.

Each task is a frozen config dataclass (every field checked, the error naming it) and a function
``generate_TASK(count, seed, config=None)`` (None: the config's defaults) that returns a batch of
``count`` examples, a pure function of ``seed`` (``numpy.random.default_rng(seed)``): the same seed
gives the same data. Tensors are time-major, as rnnkit's layers and ``torch.nn`` take them:
``(L, N)`` for L steps of N examples.

- **Arith** and **XML** (Jozefowicz, Zaremba & Sutskever 2015, "An Empirical Exploration of
  Recurrent Network Architectures") are next-character tasks over a fixed alphabet
  (:data:`ARITH_TOKENS`, :data:`XML_TOKENS`; :func:`arith_tokenizer` and :func:`xml_tokenizer` are
  the matching :class:`~rnnkit.data.CharTokenizer`). A :class:`CharBatch` holds the strings, their
  token ids and a mask of the positions that count; its :meth:`~CharBatch.next_character` gives
  the shifted inputs and targets::

      text     3 1 + 4 2 = 7 3 .        mask marks 7, 3 and '.'
      inputs   3 1 + 4 2 = 7 3          the model reads tokens 0 … L−2
      targets  1 + 4 2 = 7 3 .          and predicts tokens 1 … L−1, scored where mask[1:] is set

- **Adding** (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", experiment 4, in the form
  of Le et al. 2015 and Arjovsky et al. 2016): real-valued pairs, one regression target.
- **Copy** (Arjovsky, Shah & Bengio 2016, "Unitary Evolution Recurrent Neural Networks"): symbol ids,
  a target at every step, of which only the last K carry information.

Nothing here knows about models or the trainer.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .tokenizers import UNK, CharTokenizer

# Padding takes id 0, the tokenizer's <unk>, which no generated character ever is.
PAD_ID = 0
ARITH_TOKENS: tuple[str, ...] = (UNK, *string.digits, "+", "-", "=", ".", *string.ascii_lowercase)
XML_TOKENS: tuple[str, ...] = (UNK, "<", "/", ">", *string.ascii_lowercase)
ANSWER_END = "."
# Answers must fit int64: two 18-digit operands sum to less than 2·10^18 < 2^63.
MAX_DIGITS_LIMIT = 18


def arith_tokenizer() -> CharTokenizer:
    """The fixed vocabulary of Arith: ``<unk>`` (padding), 0–9, ``+ - = .``, then a–z (distractors)."""
    return CharTokenizer(list(ARITH_TOKENS))


def xml_tokenizer() -> CharTokenizer:
    """The fixed vocabulary of XML: ``<unk>`` (padding), ``< / >``, then a–z (tag names)."""
    return CharTokenizer(list(XML_TOKENS))


# ---------------------------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class CharBatch:
    """N strings as token ids, with the positions that are scored.

    ``tokens (L, N)`` int64, padded with :data:`PAD_ID` after each string; ``mask (L, N)`` bool,
    set at the characters a model is scored on; ``lengths (N,)`` int64; ``texts``: the N strings.
    """

    texts: list[str]
    tokens: Tensor
    mask: Tensor
    lengths: Tensor

    def next_character(self) -> tuple[Tensor, Tensor, Tensor]:
        """``inputs (L−1, N)``, ``targets (L−1, N)``: the next token of each input, and their
        ``mask (L−1, N)``: output t (having read tokens 0 … t) is scored where it is set."""
        return self.tokens[:-1], self.tokens[1:], self.mask[1:]

    def all_targets_correct(self, predicted: Tensor) -> Tensor:
        """``(N,)`` bool: whether ``predicted (L−1, N)`` (aligned with :meth:`next_character`'s
        targets) is right at every scored position of each example; unscored positions are ignored."""
        _, targets, mask = self.next_character()
        return ((predicted == targets) | ~mask).all(dim=0)

    def answers_correct(self, predicted: Tensor) -> tuple[int, int]:
        """(answers right, answers): an answer is a run of scored positions, right when all of its
        positions are (one per example for plain Arith, ``problems`` per example otherwise)."""
        _, targets, mask = self.next_character()
        return answer_counts(predicted == targets, mask)


@dataclass(frozen=True)
class ArithBatch(CharBatch):
    """A :class:`CharBatch` of Arith; ``answers`` int64: the exact result of each question, ``(N,)``,
    or ``(N, problems)`` in reading order when a sequence holds several problems."""

    answers: Tensor


@dataclass(frozen=True)
class XMLBatch(CharBatch):
    """A :class:`CharBatch` of XML; ``depth (L, N)`` int64: the nesting depth of the element whose
    tag each character belongs to (1 at the top level, 0 at padding)."""

    depth: Tensor


def answer_counts(right: Tensor, mask: Tensor) -> tuple[int, int]:
    """(answers with every position right, answers) where an answer is a maximal run of set
    ``mask (L, N)`` positions down one column and ``right (L, N)`` says which predictions are right."""
    starts = mask.clone()
    starts[1:] &= ~mask[:-1]
    answer = torch.cumsum(starts.long(), dim=0) - 1                   # each position's answer, per column
    total = int(starts.sum())
    if total == 0:
        return 0, 0
    offsets = torch.cumsum(starts.sum(0), dim=0) - starts.sum(0)      # the column's first answer's number
    wrong = mask & ~right
    ids = (answer + offsets)[wrong]
    return total - int(torch.unique(ids).numel()), total


def _char_batch_arrays(texts: list[str], marks: list[list[bool]], tokenizer: CharTokenizer) -> tuple[Tensor, ...]:
    """Token ids, mask and lengths, time-major and padded, of strings with a mark per character."""
    lengths = np.array([len(text) for text in texts], dtype=np.int64)
    tokens = np.full((int(lengths.max()), len(texts)), PAD_ID, dtype=np.int64)
    mask = np.zeros(tokens.shape, dtype=bool)
    for n, (text, marked) in enumerate(zip(texts, marks)):
        tokens[: len(text), n] = tokenizer.encode(text)
        mask[: len(text), n] = marked
    return torch.from_numpy(tokens), torch.from_numpy(mask), torch.from_numpy(lengths)


# ---------------------------------------------------------------------------------------------- Arith


@dataclass(frozen=True)
class ArithConfig:
    """Arith: read ``a+b=`` or ``a-b=``, then write the result.

    Jozefowicz et al. 2015 (section "Arithmetic"): the network reads the two arguments and then
    emits the result of their sum or difference one character at a time, trained as next-character
    prediction; the numbers have up to 8 digits, the digit counts of both arguments distributed
    uniformly. Their example writes the result most significant digit first, with a leading minus
    for a negative difference, and their harder form interleaves random distractor characters
    with the input. The definition here, with the choices the paper leaves open marked (*):

    - the digit count of each argument is uniform in 1 … ``max_digits``, independently; a d-digit
      number is uniform over the d-digit numbers (no leading zero; 0 is a 1-digit number) (*);
    - the operation is ``+`` or ``-`` with equal probability (*);
    - the string is ``a op b =`` then the result in decimal, most significant digit first, a leading
      ``-`` when negative, then the end marker ``.`` (*: the end marker is ours, so that a model
      also has to say where the answer stops), e.g. ``3123-423=2700.``, ``5-17=-12.``;
    - with ``max_distractors`` = k > 0, each gap between two successive input characters (up to
      ``=``) holds a uniform number in 0 … k of letters drawn uniformly from a–z (*: the letters and
      the count distribution are ours); the answer follows ``=`` directly;
    - the scored positions are the result's characters and the end marker; an answer counts as
      correct only when all of them are predicted (whole-answer accuracy,
      :meth:`CharBatch.answers_correct`) (*: the strictest reading of the Arith accuracy that the
      notes' table reports; a per-character accuracy over the same mask is the lenient one);
    - with ``problems`` = k > 1, each example is k independent problems written one after the
      other, ``12+5=17.3-40=-37.…``, read in one pass with no reset of the state between them; every
      answer is scored (**ours**, not the paper's: the continual form of Gers, Schmidhuber & Cummins
      2000, "Learning to Forget", who showed that an LSTM without forget gates, whose cell state can
      only grow, fails once its state is never reset; with one problem per sequence it need not).
    """

    max_digits: int = 8             # the most digits an argument has (the paper: 8)
    max_distractors: int = 0        # the most distractor letters per input gap; 0: the plain task
    problems: int = 1               # problems per sequence, with no state reset between them (ours)

    def __post_init__(self) -> None:
        _check_int("max_digits", self.max_digits, 1)
        if self.max_digits > MAX_DIGITS_LIMIT:
            raise ValueError(
                f"max_digits must be at most {MAX_DIGITS_LIMIT} (answers are int64), got {self.max_digits}"
            )
        _check_int("max_distractors", self.max_distractors, 0)
        _check_int("problems", self.problems, 1)


def generate_arith(count: int, seed: int, config: ArithConfig | None = None) -> ArithBatch:
    """``count`` Arith examples from ``seed`` (definition: :class:`ArithConfig`).

    Example:
        >>> batch = generate_arith(2, seed=0, config=ArithConfig(max_digits=3))
        >>> batch.tokens.shape == (max(len(t) for t in batch.texts), 2)
        True
    """
    config = ArithConfig() if config is None else config
    rng = _rng(count, seed)
    texts, marks, answers = [], [], []
    for _ in range(count):
        text, marked, results = "", [], []
        for _ in range(config.problems):
            a, b = (_random_number(rng, config.max_digits) for _ in range(2))
            op = "+" if rng.random() < 0.5 else "-"
            answer = a + b if op == "+" else a - b
            question = _with_distractors(rng, f"{a}{op}{b}=", config.max_distractors)
            result = f"{answer}{ANSWER_END}"
            text += question + result
            marked += [False] * len(question) + [True] * len(result)
            results.append(answer)
        texts.append(text)
        marks.append(marked)
        answers.append(results if config.problems > 1 else results[0])
    tokens, mask, lengths = _char_batch_arrays(texts, marks, arith_tokenizer())
    return ArithBatch(texts, tokens, mask, lengths, torch.tensor(answers, dtype=torch.int64))


def _random_number(rng: np.random.Generator, max_digits: int) -> int:
    """A number of a uniform digit count in 1 … max_digits, uniform among numbers of that many digits."""
    digits = int(rng.integers(1, max_digits + 1))
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return int(rng.integers(low, 10**digits))


def _with_distractors(rng: np.random.Generator, question: str, max_distractors: int) -> str:
    """``question`` with 0 … max_distractors random letters in each gap between its characters."""
    if max_distractors == 0:
        return question
    pieces = [question[0]]
    for char in question[1:]:
        letters = rng.integers(0, 26, size=int(rng.integers(0, max_distractors + 1)))
        pieces.append("".join(string.ascii_lowercase[i] for i in letters) + char)
    return "".join(pieces)


# ---------------------------------------------------------------------------------------------- XML


@dataclass(frozen=True)
class XMLConfig:
    """XML: predict the next character of randomly nested tags; closing tags need memory.

    Jozefowicz et al. 2015 (section "XML modeling"): a synthetic XML stream whose tags are random
    strings of lowercase letters (between 2 and 10 of them), where at each step the generator
    either closes the most recently opened tag or opens a new one, with probability 50% each; the
    closing tags are what a model can predict, and only if it remembers the open tags. Choices
    the paper leaves open (*):

    - an example is a finite document of exactly ``num_tags`` elements (*): at each step, with no
      tag open it opens one; with all ``num_tags`` opened it closes the innermost; otherwise it
      closes the innermost with probability ``close_probability`` and else opens a new one;
    - a tag name has a uniform length in ``min_name_length`` … ``max_name_length`` and uniform
      letters a–z (names may repeat);
    - tags follow one another with no text or whitespace between them (*), e.g.
      ``<ab><cde></cde></ab>``;
    - the scored (predictable) positions are exactly the characters of each closing tag after
      ``</``: its name and its ``>``. The ``/`` itself is not predictable (open or close is a coin
      flip), nor is any opening-tag character. The paper reports accuracy on the predictable
      characters: the fraction of scored positions predicted right.
    """

    num_tags: int = 16              # elements per example (each an opening and a closing tag)
    min_name_length: int = 2        # shortest tag name (the paper: 2)
    max_name_length: int = 10       # longest tag name (the paper: 10)
    close_probability: float = 0.5  # chance to close the innermost tag when both moves are open

    def __post_init__(self) -> None:
        _check_int("num_tags", self.num_tags, 1)
        _check_int("min_name_length", self.min_name_length, 1)
        _check_int("max_name_length", self.max_name_length, 1)
        if self.max_name_length < self.min_name_length:
            raise ValueError(f"max_name_length ({self.max_name_length}) must be at least "
                             f"min_name_length ({self.min_name_length})")
        if isinstance(self.close_probability, bool) or not 0.0 <= self.close_probability <= 1.0:
            raise ValueError(f"close_probability must be a probability in [0, 1], got {self.close_probability!r}")


def generate_xml(count: int, seed: int, config: XMLConfig | None = None) -> XMLBatch:
    """``count`` XML documents from ``seed`` (definition: :class:`XMLConfig`).

    Example:
        >>> batch = generate_xml(1, seed=0, config=XMLConfig(num_tags=2))
        >>> batch.texts[0].count("</")
        2
    """
    config = XMLConfig() if config is None else config
    rng = _rng(count, seed)
    texts, marks, depths = [], [], []
    for _ in range(count):
        text, marked, depth = _xml_document(rng, config)
        texts.append(text)
        marks.append(marked)
        depths.append(depth)
    tokens, mask, lengths = _char_batch_arrays(texts, marks, xml_tokenizer())
    depth = np.zeros(tokens.shape, dtype=np.int64)
    for n, per_char in enumerate(depths):
        depth[: len(per_char), n] = per_char
    return XMLBatch(texts, tokens, mask, lengths, torch.from_numpy(depth))


def _xml_document(rng: np.random.Generator, config: XMLConfig) -> tuple[str, list[bool], list[int]]:
    """One document: its text, the predictable mark and the nesting depth of each character."""
    pieces: list[str] = []
    marked: list[bool] = []
    depth: list[int] = []
    open_names: list[str] = []
    opened = 0
    while opened < config.num_tags or open_names:
        close = opened == config.num_tags or (bool(open_names) and rng.random() < config.close_probability)
        if close:
            level = len(open_names)
            tag = f"</{open_names.pop()}>"
            marked += [False, False] + [True] * (len(tag) - 2)      # not '<' and '/'; the name and '>'
        else:
            length = int(rng.integers(config.min_name_length, config.max_name_length + 1))
            name = "".join(string.ascii_lowercase[i] for i in rng.integers(0, 26, size=length))
            open_names.append(name)
            opened += 1
            level = len(open_names)
            tag = f"<{name}>"
            marked += [False] * len(tag)
        pieces.append(tag)
        depth += [level] * len(tag)
    return "".join(pieces), marked, depth


# ---------------------------------------------------------------------------------------------- adding


@dataclass(frozen=True)
class AddingConfig:
    """The adding problem: T pairs (value, marker); the target is the sum of the two marked values.

    Hochreiter & Schmidhuber 1997 (experiment 4) define it with values uniform in [−1, 1], markers
    in {−1, 0, 1}, a length drawn from T … T + T/10, the first mark among the first ten pairs and
    the second among the first T/2 − 1, and the scaled target 0.5 + (X₁ + X₂)/4. The form used
    here is the later common one (Le et al. 2015; Arjovsky et al. 2016), which most results since
    are reported on:

    - every sequence has exactly ``length`` = T steps; each step is a pair (value, marker);
    - values are uniform in [0, 1); markers are 0 except at exactly two steps, where they are 1:
      one step uniform in the first half, 0 … ⌊T/2⌋ − 1, the other uniform in the second half,
      ⌊T/2⌋ … T − 1 (for odd T the second half is the longer one);
    - the target, read after the last step, is the sum of the two marked values, in [0, 2), scored
      by mean squared error. Always answering 1 scores the variance of the sum, 1/6 ≈ 0.167: the
      baseline a model must beat.
    """

    length: int = 100               # T, steps per sequence

    def __post_init__(self) -> None:
        _check_int("length", self.length, 2)


@dataclass(frozen=True)
class AddingBatch:
    """``inputs (T, N, 2)`` float32: (value, marker) per step; ``targets (N,)`` float32: the sums;
    ``positions (N, 2)`` int64: the two marked steps (first half, second half)."""

    inputs: Tensor
    targets: Tensor
    positions: Tensor


def generate_adding(count: int, seed: int, config: AddingConfig | None = None) -> AddingBatch:
    """``count`` adding-problem sequences from ``seed`` (definition: :class:`AddingConfig`).

    Example:
        >>> batch = generate_adding(4, seed=0, config=AddingConfig(length=10))
        >>> batch.inputs.shape, batch.targets.shape
        (torch.Size([10, 4, 2]), torch.Size([4]))
    """
    config = AddingConfig() if config is None else config
    rng = _rng(count, seed)
    length, half = config.length, config.length // 2
    values = rng.random((length, count))                                    # (T, N)
    positions = np.stack([rng.integers(0, half, size=count), rng.integers(half, length, size=count)], axis=1)
    markers = np.zeros((length, count))
    columns = np.arange(count)
    markers[positions[:, 0], columns] = 1.0
    markers[positions[:, 1], columns] = 1.0
    targets = values[positions[:, 0], columns] + values[positions[:, 1], columns]
    inputs = np.stack([values, markers], axis=-1).astype(np.float32)        # (T, N, 2)
    return AddingBatch(torch.from_numpy(inputs), torch.from_numpy(targets.astype(np.float32)),
                       torch.from_numpy(positions.astype(np.int64)))


# ---------------------------------------------------------------------------------------------- copy


@dataclass(frozen=True)
class CopyConfig:
    """The copy (memory) problem: remember K symbols across a delay, then write them out.

    Arjovsky et al. 2016 ("copying memory problem", which they trace to Hochreiter & Schmidhuber
    1997) use 10 categories: 8 data symbols a₀ … a₇, the blank a₈ and the delimiter a₉; the input
    is 10 data symbols drawn uniformly with replacement, T − 1 blanks, the delimiter, then 10
    blanks; the target is blank for T + 10 steps, then the 10 data symbols in order. Here, with
    A = ``alphabet_size``, K = ``length`` and D = ``delay`` (Arjovsky's T is D + 1):

    - ids 0 … A − 1 are data symbols, A is the blank, A + 1 the delimiter (Arjovsky's numbering);
    - input, K + D + 1 + K steps: K symbols uniform over 0 … A − 1 with replacement, D blanks, the
      delimiter, K blanks;
    - target at every step: the blank, except the last K steps, which hold the K input symbols in
      order; ``mask`` marks those last K steps. Arjovsky et al. score the cross-entropy over every
      step; a model that learns only the blanks and then guesses scores K·log(A) / (2K + D + 1)
      nats per step, the baseline to beat.
    """

    length: int = 10                # K, the symbols to copy
    delay: int = 100                # D, blanks between the symbols and the delimiter
    alphabet_size: int = 8          # A, distinct data symbols

    def __post_init__(self) -> None:
        _check_int("length", self.length, 1)
        _check_int("delay", self.delay, 0)
        _check_int("alphabet_size", self.alphabet_size, 1)

    @property
    def blank(self) -> int:
        return self.alphabet_size

    @property
    def delimiter(self) -> int:
        return self.alphabet_size + 1

    @property
    def vocab_size(self) -> int:
        return self.alphabet_size + 2


@dataclass(frozen=True)
class CopyBatch:
    """``inputs (L, N)``, ``targets (L, N)`` int64 ids, ``mask (L, N)`` bool (the last K steps),
    for L = 2K + D + 1."""

    inputs: Tensor
    targets: Tensor
    mask: Tensor


def generate_copy(count: int, seed: int, config: CopyConfig | None = None) -> CopyBatch:
    """``count`` copy-problem sequences from ``seed`` (definition: :class:`CopyConfig`).

    Example:
        >>> batch = generate_copy(3, seed=0, config=CopyConfig(length=4, delay=5))
        >>> batch.inputs.shape
        torch.Size([14, 3])
    """
    config = CopyConfig() if config is None else config
    rng = _rng(count, seed)
    k, d = config.length, config.delay
    total = 2 * k + d + 1
    symbols = rng.integers(0, config.alphabet_size, size=(k, count))       # (K, N)
    inputs = np.full((total, count), config.blank, dtype=np.int64)
    inputs[:k] = symbols
    inputs[k + d] = config.delimiter
    targets = np.full((total, count), config.blank, dtype=np.int64)
    targets[-k:] = symbols
    mask = np.zeros((total, count), dtype=bool)
    mask[-k:] = True
    return CopyBatch(torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask))


# ---------------------------------------------------------------------------------------------- checks


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _rng(count: int, seed: int) -> np.random.Generator:
    """The generator of one batch, after checking ``count`` and ``seed``."""
    _check_int("count", count, 1)
    _check_int("seed", seed, 0)
    return np.random.default_rng(seed)
