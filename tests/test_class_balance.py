"""`train.class_weights` (src/model/class_balance.py): the weights and the weighted loss."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from src.model.class_balance import WeightedCrossEntropy, class_weights


def test_balanced_weights_are_n_over_k_times_class_count_and_average_one_per_row():
    labels = [0] * 6 + [1] * 3 + [2] * 1  # 10 rows, 3 classes
    weights = class_weights(labels, classes=3, mode="balanced")
    assert weights == pytest.approx([10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)])
    assert weights[labels].mean() == pytest.approx(1.0)  # the loss keeps its scale
    assert class_weights(labels, classes=3, mode="none") is None


def test_a_class_missing_from_training_weighs_one():
    weights = class_weights([0, 0, 1], classes=3, mode="balanced")
    assert weights[2] == 1.0 and weights[0] == pytest.approx(3 / 4)


def test_weighted_loss_sums_weighted_rows_over_the_rows_of_the_step():
    torch.manual_seed(0)
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, 1, 2, 2])
    weights = [0.5, 1.0, 2.0]
    loss = WeightedCrossEntropy(weights)({"logits": logits}, labels)
    per_row = F.cross_entropy(logits, labels, reduction="none")
    expected = (per_row * torch.tensor([0.5, 1.0, 2.0, 2.0])).sum() / 4
    assert loss.item() == pytest.approx(expected.item())
    # Across processes the Trainer passes the rows of the whole step.
    assert WeightedCrossEntropy(weights)({"logits": logits}, labels, num_items_in_batch=8).item() == pytest.approx(
        expected.item() / 2
    )
    # Equal weights are plain cross-entropy.
    plain = WeightedCrossEntropy(np.ones(3))({"logits": logits}, labels)
    assert plain.item() == pytest.approx(F.cross_entropy(logits, labels).item())
