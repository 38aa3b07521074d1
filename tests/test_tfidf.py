import numpy as np

from src.core.params import ClassicalParams
from src.model.tfidf import class_probabilities, fit_tfidf_logreg
from tests.conftest import EMOTION_LABELS

PARAMS = ClassicalParams(max_features=5000, ngram_max=1, C=10.0)


def test_learns_the_emotion_data_well_above_chance(emotion_dir):
    import pandas as pd

    train = pd.read_json(emotion_dir / "train.jsonl", lines=True).head(3000)
    test = pd.read_json(emotion_dir / "test.jsonl", lines=True).head(500)
    model = fit_tfidf_logreg(train["text"], train["label"], PARAMS)
    probabilities = class_probabilities(model, test["text"].tolist(), len(EMOTION_LABELS))
    assert probabilities.shape == (500, 6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = np.mean(probabilities.argmax(axis=1) == test["label"].to_numpy())
    assert accuracy > 0.6  # the majority class alone scores about 0.35


def test_labels_missing_from_training_get_zero_probability():
    model = fit_tfidf_logreg(["happy day", "so sad", "great fun", "awful news"], [0, 2, 0, 2], PARAMS)
    probabilities = class_probabilities(model, ["happy news"], n_labels=4)
    assert probabilities.shape == (1, 4)
    assert probabilities[0, 1] == probabilities[0, 3] == 0.0
    assert probabilities[0, 0] + probabilities[0, 2] == np.float32(1.0)
