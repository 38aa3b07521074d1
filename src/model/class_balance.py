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
