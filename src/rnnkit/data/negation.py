"""A generated sentiment task where the label depends on word order and the scope of negation.

The lecture notes' argument for recurrent networks against bag-of-words models::

    "the food was good , not bad at all"   → positive
    "the food was bad , not good at all"   → negative

Both sentences hold the same words; only their order tells them apart. This grammar generates
such sentences: every one holds one positive and one negative adjective and one ``not``, whose
scope (the adjective it negates) decides the label — the sentence means the polarity of the
adjective *outside* the negation. The templates (A, B: adjectives of opposite polarity)::

    the N was A , not B at all             → polarity(A)
    the N was not A , it was B             → polarity(B)
    the N was not A but B                  → polarity(B)
    the N was A but not B                  → polarity(A)
    i expected the N to be A , but it was not : it was B     → polarity(B)
    the N was not A , if anything it was B                   → polarity(B)

with optional openers ("honestly ,", "to be fair ,", …), intensifiers ("really", "very", …) and
closers. Which adjective comes first is a fair coin, so each bag of words is as likely to come
with either label: no model of word counts, however rich, can do better than chance on average
(half-and-half is the Bayes rate), while a model that reads the order can reach 100%.

The sentences are a pure function of the seed; :func:`generate` returns ``(texts, labels)``
with labels ``"positive"``/``"negative"``, exactly balanced (an even count, half of each).
"""

from __future__ import annotations

import random

NOTES_PAIR = ("the food was good , not bad at all", "the food was bad , not good at all")
LABELS = ("negative", "positive")

POSITIVE = ("good", "great", "tasty", "delicious", "fresh", "excellent", "lovely", "pleasant", "superb", "fine")
NEGATIVE = ("bad", "awful", "bland", "stale", "terrible", "cold", "poor", "greasy", "horrible", "dull")
NOUNS = ("food", "soup", "pasta", "service", "coffee", "dessert", "pizza", "wine", "bread", "salad", "meal",
         "staff", "curry", "steak", "music", "room")
OPENERS = ("", "", "", "honestly ,", "to be fair ,", "overall ,", "well ,", "i must say")
INTENSIFIERS = ("", "", "", "", "really", "very", "quite", "truly", "rather")
CLOSERS = ("", "", "", "tonight", "today", "as usual", "this time")

# (template, which adjective decides): {n} noun, {a} first adjective, {b} second.
TEMPLATES = (
    ("the {n} was {a} , not {b} at all", "a"),
    ("the {n} was not {a} , it was {b}", "b"),
    ("the {n} was not {a} but {b}", "b"),
    ("the {n} was {a} but not {b}", "a"),
    ("i expected the {n} to be {a} , but it was not : it was {b}", "b"),
    ("the {n} was not {a} , if anything it was {b}", "b"),
)


def _polarity(word: str) -> str:
    return "positive" if word in POSITIVE else "negative"


def sentence(template: int, noun: str, first: str, second: str, opener: str = "", intensifier: str = "",
             closer: str = "") -> tuple[str, str]:
    """One sentence of template ``template`` and its label (the polarity of the un-negated adjective)."""
    if (first in POSITIVE) == (second in POSITIVE):
        raise ValueError(f"the two adjectives must have opposite polarity, got {first!r} and {second!r}")
    pattern, decides = TEMPLATES[template]
    qualified = f"{intensifier} {second}".strip() if intensifier else second
    text = pattern.format(n=noun, a=first, b=qualified)
    text = " ".join(part for part in (opener, text, closer) if part)
    return text, _polarity(first if decides == "a" else second)


def generate(count: int, seed: int = 0,
             exclude: set[str] | frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """``count`` distinct sentences (none in ``exclude``) and their labels, half of each label
    (``count`` must be even), in a random order fixed by ``seed``."""
    if count < 2 or count % 2:
        raise ValueError(f"count must be a positive even number (half of each label), got {count}")
    rng = random.Random(seed)
    wanted = {"positive": count // 2, "negative": count // 2}
    seen = set(exclude)
    texts, labels = [], []
    attempts = 0
    while len(texts) < count:
        attempts += 1
        if attempts > 50 * count + 10_000:
            raise ValueError(f"the grammar cannot give {count} distinct sentences outside the {len(exclude)} excluded")
        positive, negative = rng.choice(POSITIVE), rng.choice(NEGATIVE)
        first, second = (positive, negative) if rng.random() < 0.5 else (negative, positive)
        text, label = sentence(rng.randrange(len(TEMPLATES)), rng.choice(NOUNS), first, second, rng.choice(OPENERS),
                               rng.choice(INTENSIFIERS), rng.choice(CLOSERS))
        if text in seen or not wanted[label]:
            continue
        seen.add(text)
        wanted[label] -= 1
        texts.append(text)
        labels.append(label)
    return texts, labels


def splits(size: int, val_size: int, seed: int = 0) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """A training set and a disjoint held-out set: ``(texts, labels)`` each; the held-out
    sentences never occur in training, and the notes' pair is always among them."""
    train = generate(size, seed)
    held = set(NOTES_PAIR)
    val_texts, val_labels = generate(val_size - 2, seed + 1, exclude=set(train[0]) | held) if val_size > 2 else ([], [])
    train_texts, train_labels = zip(*[(t, y) for t, y in zip(*train) if t not in held]) if size else ((), ())
    return ((list(train_texts), list(train_labels)),
            ([*NOTES_PAIR, *val_texts], ["positive", "negative", *val_labels]))
