"""The classical baseline: TF-IDF features and logistic regression, with scikit-learn.

It is what a careful user would try before any transformer: cheap to fit on CPU, and the bar a
fine-tuned model has to clear to be worth its cost. For multi-label data it is one logistic
regression per label (one-vs-rest) on the same features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline

from src.core.params import ClassicalParams


def fit_tfidf_logreg(texts: Sequence[str], labels, params: ClassicalParams) -> Pipeline:
    """`labels`: one id per text, or (multi-label) a rows x labels 0/1 matrix."""
    labels = np.asarray(labels)
    classifier = LogisticRegression(C=params.C, max_iter=2000)
    model = make_pipeline(
        TfidfVectorizer(
            ngram_range=(1, params.ngram_max),
            max_features=params.max_features,
            sublinear_tf=True,  # a word said three times is not three times the evidence
        ),
        OneVsRestClassifier(classifier) if labels.ndim == 2 else classifier,
    )
    return model.fit(list(texts), labels)


def class_probabilities(model: Pipeline, texts: Sequence[str], n_labels: int) -> np.ndarray:
    """Probabilities for every label id, including ids the training rows never showed (zero);
    for a one-vs-rest model, each label's own probability."""
    seen = model.predict_proba(list(texts))
    if isinstance(model[-1], OneVsRestClassifier):
        return seen.astype(np.float32)
    probabilities = np.zeros((len(texts), n_labels), dtype=np.float32)
    probabilities[:, model.classes_] = seen
    return probabilities
