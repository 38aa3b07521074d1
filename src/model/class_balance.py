"""`train.class_weights`: a loss that counts each class as much as the others.

With `balanced`, a row of class c weighs n / (k * n_c) (scikit-learn's "balanced" weights, for n
training rows, k classes and n_c rows of class c), so the rare `surprise` tweets pull as hard on
the weights as the common `joy` ones. The weights average 1 over the training rows, so the loss
keeps its scale and the learning rate chosen without weights still fits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight


def class_weights(labels: Sequence[int], classes: int, mode: str) -> np.ndarray | None:
    """One weight per class for `mode`, or None for an unweighted loss.

    A class missing from the training rows gets weight 1: nothing is learnt from it either way,
    and scikit-learn refuses to weigh a class it never sees."""
    if mode == "none":
        return None
    labels = np.asarray(labels)
    present = np.unique(labels)
    weights = np.ones(classes)
    weights[present] = compute_class_weight(mode, classes=present, y=labels)
    return weights


class WeightedCrossEntropy:
    """The Trainer's `compute_loss_func`: cross-entropy with a weight per class.

    Summed and divided by the number of rows in the step (the Trainer's `num_items_in_batch`, over
    all processes), not by the sum of the batch's weights, so a batch full of rare rows moves the
    weights more, as the weighting intends, and the loss adds up correctly across processes."""

    def __init__(self, weights: Sequence[float]):
        self.weights = torch.as_tensor(weights, dtype=torch.float32)

    def __call__(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        weights = self.weights.to(logits.device)
        loss = F.cross_entropy(logits.float(), labels, weight=weights, reduction="sum")
        rows = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        return loss / rows


# --------------------------------------------------------------------------- several labels per text


def positive_weights(targets: np.ndarray, mode: str) -> np.ndarray | None:
    """`train.class_weights` for multi-label rows (`targets`, rows x labels, 0/1): one `pos_weight`
    per label for binary cross-entropy, or None for an unweighted loss.

    With `balanced`, each label's positives count as much as its negatives: pos_weight = negatives
    / positives, the ratio of scikit-learn's balanced weights for that label's two classes. A
    label no training row has gets 1."""
    if mode == "none":
        return None
    positives = targets.sum(axis=0)
    negatives = len(targets) - positives
    return np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)


class WeightedBinaryCrossEntropy:
    """The Trainer's `compute_loss_func` for multi-label heads: binary cross-entropy with a
    `pos_weight` per label, as a weighted mean over the step's label cells (a positive cell
    weighs its label's pos_weight, a negative one 1).

    Not divided by the cell count as the single-label loss is by rows: a rare label's pos_weight
    runs into the hundreds (GoEmotions' grief: 563), and a batch holding one such positive would
    then be a gradient a hundred times the usual, which fills Adam's second moments and stalls
    every other direction. On 6,000 GoEmotions rows the weighted mean reached validation macro-F1
    0.412 after four epochs against 0.395 (docs/MULTILABEL.md). Under several processes each
    divides by its own cells' weights."""

    def __init__(self, pos_weight: Sequence[float]):
        self.pos_weight = torch.as_tensor(pos_weight, dtype=torch.float32)

    def __call__(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        pos_weight = self.pos_weight.to(logits.device)
        labels = labels.float()
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels, pos_weight=pos_weight, reduction="sum")
        weights = labels * pos_weight + (1 - labels)
        return loss / weights.sum()
