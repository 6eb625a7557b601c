"""The negation grammar: balanced, order-dependent, holds the notes' pair, defeats bags of words."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from rnnkit.baselines.text import fit_baselines
from rnnkit.data import negation


def test_generation_is_balanced_distinct_and_seeded():
    texts, labels = negation.generate(2000, seed=3)
    assert Counter(labels) == {"positive": 1000, "negative": 1000}
    assert len(set(texts)) == 2000
    assert negation.generate(2000, seed=3) == (texts, labels)
    assert negation.generate(2000, seed=4)[0] != texts


def test_the_notes_pair_is_held_out_and_labelled_by_order():
    (train_texts, _), (val_texts, val_labels) = negation.splits(1000, 200, seed=0)
    good_first, bad_first = negation.NOTES_PAIR
    assert sorted(good_first.split()) == sorted(bad_first.split())       # the same bag of words
    labelled = dict(zip(val_texts, val_labels))
    assert labelled[good_first] == "positive" and labelled[bad_first] == "negative"
    assert not set(train_texts) & set(val_texts)
    assert Counter(val_labels) == {"positive": 100, "negative": 100}


@pytest.mark.parametrize("template", range(len(negation.TEMPLATES)))
def test_swapping_the_adjectives_keeps_the_words_and_flips_the_label(template):
    a, label_a = negation.sentence(template, "soup", "tasty", "cold", "honestly ,", "very")
    b, label_b = negation.sentence(template, "soup", "cold", "tasty", "honestly ,", "very")
    assert Counter(a.split()) == Counter(b.split())
    assert {label_a, label_b} == {"positive", "negative"}


def test_the_label_is_the_polarity_of_the_adjective_outside_the_negation():
    assert negation.sentence(0, "food", "good", "bad") == (negation.NOTES_PAIR[0], "positive")
    assert negation.sentence(2, "wine", "good", "bad")[1] == "negative"       # not good but bad
    with pytest.raises(ValueError, match="opposite polarity"):
        negation.sentence(0, "food", "good", "great")


def test_bags_of_words_come_with_both_labels():
    texts, labels = negation.generate(20000, seed=1)
    by_bag = defaultdict(Counter)
    for text, label in zip(texts, labels):
        by_bag[frozenset(Counter(text.split()).items())][label] += 1
    repeated = [counts for counts in by_bag.values() if sum(counts.values()) >= 2]
    # Where a bag recurs, it is about as often positive as negative: the bag does not tell the label.
    mixed = sum(1 for counts in repeated if len(counts) == 2)
    assert repeated and mixed / len(repeated) > 0.35


def test_bag_of_words_models_stay_near_chance():
    (train_texts, train_labels), (val_texts, val_labels) = negation.splits(3000, 1000, seed=0)
    results = fit_baselines(train_texts, train_labels, val_texts, val_labels, names=("bow", "tfidf+lr"))
    for name, result in results.items():
        assert result["accuracy"] < 0.58, name


def test_bad_counts():
    with pytest.raises(ValueError, match="even"):
        negation.generate(3)
