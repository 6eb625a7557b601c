"""Order-blind text classifiers, the baselines the notes argue against, from scikit-learn.

- ``bow``: a plain bag-of-words counts model, multinomial Naive Bayes on word counts
  (the "NB" bag-of-words line of Socher et al. 2013 reports 81.8% on SST-2);
- ``tfidf+lr``: TF-IDF weighted words (sublinear tf) with L2-regularised logistic regression;
- ``tfidf2+lr``: the same on words and word pairs (bigrams): no longer quite order-blind, since a
  bigram keeps the order of neighbours ("not bad"), and a strong linear model on sentiment (Wang &
  Manning 2012).

Both read whitespace-separated words, as the word-level recurrent models do, and are fitted on
exactly the training split the recurrent model trains on; :func:`fit_baselines` returns their
accuracies on the held-out split and their fitting times.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline, make_pipeline

BASELINES = ("bow", "tfidf+lr", "tfidf2+lr")
_WORDS = r"(?u)\S+"          # every whitespace-separated token is a word, punctuation included


def make_baseline(name: str) -> Pipeline:
    """An unfitted scikit-learn pipeline: text → features → classifier."""
    if name == "bow":
        return make_pipeline(CountVectorizer(token_pattern=_WORDS, lowercase=True), MultinomialNB(alpha=1.0))
    if name in ("tfidf+lr", "tfidf2+lr"):
        ngrams = (1, 2) if name == "tfidf2+lr" else (1, 1)
        return make_pipeline(TfidfVectorizer(token_pattern=_WORDS, lowercase=True, ngram_range=ngrams,
                                             sublinear_tf=True, min_df=1),
                             LogisticRegression(C=4.0, max_iter=2000))
    raise ValueError(f"unknown baseline {name!r}; choose one of: {', '.join(BASELINES)}")


def fit_baselines(train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str],
                  test_labels: Sequence[str], names: Sequence[str] = BASELINES) -> dict[str, dict[str, float]]:
    """``{name: {"accuracy": …, "seconds": …, "predictions": [...]}}`` of each baseline fitted on the
    training split and scored on the test split."""
    if len(set(train_labels)) < 2:
        raise ValueError("the baselines need at least two labels in the training split")
    results = {}
    for name in names:
        start = time.perf_counter()
        model = make_baseline(name).fit(list(train_texts), list(train_labels))
        predictions = list(model.predict(list(test_texts)))
        seconds = time.perf_counter() - start
        correct = sum(p == y for p, y in zip(predictions, test_labels))
        results[name] = {"accuracy": correct / max(len(test_labels), 1), "seconds": seconds,
                         "predictions": predictions}
    return results
