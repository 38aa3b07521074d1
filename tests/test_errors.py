"""Error analysis (src/scoring/errors.py) on a hand-made predictions table."""

import pandas as pd

from src.scoring.errors import confused_pairs, error_table


def predictions() -> pd.DataFrame:
    rows = [
        # text, actual, predicted, p_a, p_b, p_c
        ("right", "a", "a", 0.9, 0.05, 0.05),
        ("b as a, unsure", "b", "a", 0.5, 0.4, 0.1),
        ("b as a, sure", "b", "a", 0.8, 0.1, 0.1),
        ("c as a", "c", "a", 0.6, 0.1, 0.3),
        ("b as a, middling", "b", "a", 0.7, 0.2, 0.1),
    ]
    frame = pd.DataFrame(rows, columns=["text", "actual", "predicted", "p_a", "p_b", "p_c"])
    frame["confidence"] = frame[["p_a", "p_b", "p_c"]].max(axis=1)
    return frame


def test_errors_sorted_by_pair_frequency_then_confidence():
    errors = error_table(predictions())
    assert errors["text"].tolist() == ["b as a, sure", "b as a, middling", "b as a, unsure", "c as a"]
    assert errors["row"].tolist() == [2, 4, 1, 3]  # rows of the test split, to find them again
    assert errors["pair_errors"].tolist() == [3, 3, 3, 1]
    assert errors["probability_of_actual"].tolist() == [0.1, 0.2, 0.4, 0.3]


def test_confused_pairs_keep_the_surest_examples():
    pairs = confused_pairs(error_table(predictions()), pairs=5, examples=2)
    assert [(p["actual"], p["predicted"], p["rows"]) for p in pairs] == [("b", "a", 3), ("c", "a", 1)]
    assert pairs[0]["examples"]["text"].tolist() == ["b as a, sure", "b as a, middling"]
    assert len(confused_pairs(error_table(predictions()), pairs=1, examples=2)) == 1


def test_no_errors_no_rows():
    right = predictions().iloc[:1]
    assert error_table(right).empty and confused_pairs(error_table(right), 5, 3) == []
