"""Scoring predictions: classification metrics, the per-row outputs of an evaluation, and how
sure a score or a gain is (bootstrap intervals, McNemar's test). Torch-free: it scores
probabilities, whichever model made them."""
