"""`train.epochs: auto`: train while validation keeps paying, then cool the rate down and stop.

A rate that decays over a planned number of epochs cannot follow validation: stopped early, the
model has not been annealed; planned long, every epoch runs at a high rate. So the rate here is
warm-up, then flat, then a linear cool-down to 0 that starts when validation stops gaining
(warmup-stable-decay, as in Hägele et al. 2024, "Scaling laws and compute-optimal training beyond
fixed training durations", where a cool-down of 20% of the steps matched a planned cosine decay).

- After each validation pass `PaceByValidation` compares the score with the best so far. A gain
  counts only if it is larger than `min_delta` and than the score's own sampling noise on the
  validation rows (one standard error, sqrt(s (1 - s) / n) at the best score s): on 300 rows
  that is 1.3 points at 0.95, on 1,000 rows 0.9 points at 0.90, so a small validation split does
  not keep a run going on luck. When `train.early_stopping.patience` passes in a row brought no
  gain, and at least `train.min_steps` steps have run, the cool-down starts: `train.cooldown`
  times the steps run so far, then a last validation pass, a checkpoint and the end.
- `train.max_epochs` caps the run: the cool-down starts in time to end there.

The Trainer's progress bar counts to the cap until the cool-down starts, then to where it ends.

Everything the decision needs lives in `PacedRate`, which `LambdaLR` saves with each checkpoint
(it saves the `__dict__` of a callable object), so a resumed run makes the same decisions.
"""

from __future__ import annotations

import logging
import math

from transformers import TrainerCallback

log = logging.getLogger(__name__)


class PacedRate:
    """The learning-rate factor at an optimizer step, and the pacing state behind it."""

    def __init__(self, warmup_steps: int):
        self.warmup_steps = warmup_steps
        self.best: float | None = None  # best validation score so far
        self.stale = 0  # passes in a row without a gain of min_delta
        self.cooldown_from: int | None = None  # the step the cool-down started at
        self.stop_at: int | None = None  # the step training ends at
        self.why: str | None = None  # why the cool-down started

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / max(1, self.warmup_steps)  # as transformers' linear warm-up
        if self.cooldown_from is None:
            return 1.0
        return max(0.0, (self.stop_at - step) / max(1, self.stop_at - self.cooldown_from))

    def cool_down(self, step: int, fraction: float, why: str, last_step: int | None = None) -> None:
        self.cooldown_from = step
        self.stop_at = min(step + max(1, math.ceil(fraction * step)), last_step or math.inf)
        self.why = why


class PaceByValidation(TrainerCallback):
    """Starts `PacedRate`'s cool-down when validation stops gaining (or the cap nears), and ends
    training, with a validation pass and a checkpoint, when it is over."""

    def __init__(
        self,
        rate: PacedRate,
        *,
        metric: str,
        patience: int,
        min_delta: float,
        min_steps: int,
        cooldown: float,
        max_steps: int,
        validation_rows: int | None = None,
    ):
        self.rate, self.metric, self.patience, self.min_delta = rate, metric, patience, min_delta
        self.validation_rows = validation_rows
        self.min_steps, self.cooldown, self.max_steps = min_steps, cooldown, max_steps
        self.progress = None  # the Trainer's ProgressCallback, whose bar shows where the run ends
        # The cool-down that ends exactly at the cap starts here.
        self.cap_start = max(1, math.floor(max_steps / (1 + cooldown)))

    def on_train_begin(self, args, state, control, **kwargs):
        self._show_end()  # after the ProgressCallback's own on_train_begin, which makes the bar

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        rate = self.rate
        value = (metrics or {}).get(f"eval_{self.metric}")
        if value is None or rate.cooldown_from is not None:
            return
        sign = -1.0 if self.metric == "loss" else 1.0
        if rate.best is None or sign * (value - rate.best) > self.least_gain(rate.best):
            rate.best, rate.stale = value, 0
        else:
            # A pass a hair better still counts as the best (it is kept), but not as a gain.
            rate.best = value if sign * (value - rate.best) > 0 else rate.best
            rate.stale += 1
        if rate.stale >= self.patience and state.global_step >= self.min_steps:
            why = (
                f"validation {self.metric} did not beat its best by more than {self.least_gain(rate.best):.4g} "
                f"in {self.patience} pass(es) (best {rate.best:.4f})"
            )
            self._start(state, why)

    def least_gain(self, best: float) -> float:
        """min_delta, or the score's standard error on the validation rows where that is larger
        (for a score in [0, 1]; the loss has no such bound and keeps min_delta)."""
        if self.metric == "loss" or not self.validation_rows:
            return self.min_delta
        best = min(max(best, 0.0), 1.0)
        return max(self.min_delta, math.sqrt(best * (1 - best) / self.validation_rows))

    def on_step_end(self, args, state, control, **kwargs):
        rate = self.rate
        if rate.cooldown_from is None and state.global_step >= self.cap_start:
            self._start(state, f"train.max_epochs: the cool-down that ends at the cap, step {self.max_steps}")
        if rate.stop_at is not None and state.global_step >= rate.stop_at:
            control.should_evaluate = control.should_save = control.should_training_stop = True
        return control

    def _start(self, state, why: str) -> None:
        self.rate.cool_down(state.global_step, self.cooldown, why, last_step=self.max_steps)
        log.info(
            "%s at step %d: the rate cools down to 0 over %d steps, to step %d",
            why,
            state.global_step,
            self.rate.stop_at - state.global_step,
            self.rate.stop_at,
        )
        self._show_end()

    def _show_end(self) -> None:
        """The bar's total is the cap (5,000 steps for emotion, with an hour's estimate) until the
        run knows where it ends; from then on, that step."""
        bar = getattr(self.progress, "training_bar", None)
        if bar is None:
            return
        if self.rate.stop_at is None:
            bar.set_description("steps (at most)")
        else:
            bar.total = self.rate.stop_at
            bar.set_description("steps (cooling down)")
            bar.refresh()

    def record(self, steps_per_epoch: int) -> str:
        rate = self.rate
        if rate.cooldown_from is None:
            return "ran to the cap without cooling down"
        return (
            f"{rate.why} at step {rate.cooldown_from} (epoch {rate.cooldown_from / steps_per_epoch:.2f}); "
            f"cooled down to step {rate.stop_at} (epoch {rate.stop_at / steps_per_epoch:.2f})"
        )
