"""Error analysis of the fine-tuned model on test: which classes it confuses, and the texts it
gets wrong most confidently, from data/predictions/finetuned.csv."""

from __future__ import annotations

import pandas as pd


def error_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Every wrongly predicted test row: its text(s), true and predicted class, the probability of
    each and how often that (true, predicted) pair occurs. The most frequent confusions come
    first, and within each the most confident mistakes."""
    wrong = predictions[predictions["actual"] != predictions["predicted"]]
    texts = [column for column in ("text", "text_pair") if column in wrong.columns]
    table = wrong[[*texts, "actual", "predicted"]].copy()
    # A diverged model writes empty probabilities (NaN); they read back as text, and stay NaN here.
    table["probability"] = pd.to_numeric(wrong["confidence"], errors="coerce")
    table["probability_of_actual"] = pd.to_numeric(
        pd.Series([row[f"p_{row['actual']}"] for _, row in wrong.iterrows()], index=wrong.index), errors="coerce"
    )
    table["pair_errors"] = table.groupby(["actual", "predicted"])["actual"].transform("size")
    table.insert(0, "row", wrong.index)  # the row of the prepared test split
    return table.sort_values(
        ["pair_errors", "actual", "predicted", "probability"], ascending=[False, True, True, False], kind="stable"
    ).reset_index(drop=True)


def confused_pairs(errors: pd.DataFrame, pairs: int, examples: int) -> list[dict]:
    """The `pairs` most frequent (true, predicted) confusions, each with its `examples` most
    confident mistakes."""
    found = []
    for (actual, predicted), group in errors.groupby(["actual", "predicted"], sort=False):
        found.append({"actual": actual, "predicted": predicted, "rows": len(group), "examples": group.head(examples)})
        if len(found) == pairs:
            break
    return found
