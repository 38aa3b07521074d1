"""`train.epochs: auto` (src/model/pacing.py): the rate's shape, when the cool-down starts, and
that the decision survives a checkpoint."""

import io
from types import SimpleNamespace

import torch
from tqdm.auto import tqdm
from transformers import TrainerControl, TrainerState

from src.model.pacing import PaceByValidation, PacedRate


def pacer(rate, **overrides):
    settings = dict(metric="macro_f1", patience=2, min_delta=0.005, min_steps=100, cooldown=0.2, max_steps=5000)
    return PaceByValidation(rate, **{**settings, **overrides})


def passes(pace, scores, every=50):
    """Validation passes every `every` steps with these scores; the steps the callback ended at."""
    state, control = TrainerState(), TrainerControl()
    for score in scores:
        for _ in range(every):
            state.global_step += 1
            pace.on_step_end(None, state, control)
            if control.should_training_stop:
                return state.global_step
        pace.on_evaluate(None, state, control, metrics={"eval_macro_f1": score})
    while not control.should_training_stop:
        state.global_step += 1
        pace.on_step_end(None, state, control)
    return state.global_step


def test_the_rate_warms_up_stays_flat_then_cools_down_to_zero():
    rate = PacedRate(warmup_steps=10)
    assert [rate(s) for s in (0, 5, 10, 400)] == [0.0, 0.5, 1.0, 1.0]
    rate.cool_down(500, 0.2, "why")
    assert (rate.cooldown_from, rate.stop_at) == (500, 600)
    assert [rate(s) for s in (500, 550, 600, 700)] == [1.0, 0.5, 0.0, 0.0]


def test_the_cool_down_starts_after_patience_passes_without_a_gain_of_min_delta():
    rate = PacedRate(warmup_steps=0)
    # gains of 10, 5, 1 points, then 0.4 and 0.3 (under min_delta 0.5 points): two stale passes
    end = passes(pacer(rate), [0.50, 0.60, 0.65, 0.66, 0.664, 0.667, 0.9])
    assert rate.cooldown_from == 300 and rate.stop_at == 360 and end == 360
    assert rate.best == 0.667 and "did not beat its best by more than 0.005 in 2 pass(es)" in rate.why


def test_a_stale_pass_before_min_steps_does_not_start_it():
    rate = PacedRate(warmup_steps=0)
    passes(pacer(rate, min_steps=300, patience=1), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert rate.cooldown_from == 300


def test_the_cap_starts_the_cool_down_that_ends_there():
    rate = PacedRate(warmup_steps=0)
    end = passes(pacer(rate, max_steps=600), [0.1 * i for i in range(1, 20)])
    assert (rate.cooldown_from, rate.stop_at, end) == (500, 600, 600) and "max_epochs" in rate.why


def test_a_resumed_scheduler_restores_the_decision():
    weight = torch.nn.Parameter(torch.zeros(1))
    rate = PacedRate(warmup_steps=0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([weight], lr=1.0), rate)
    rate.best, rate.stale = 0.8, 1
    rate.cool_down(400, 0.2, "validation stopped gaining")
    saved = scheduler.state_dict()

    fresh = PacedRate(warmup_steps=0)
    resumed = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([weight], lr=1.0), fresh)
    resumed.load_state_dict(saved)
    assert (fresh.best, fresh.stale, fresh.cooldown_from, fresh.stop_at, fresh.why) == (
        0.8,
        1,
        400,
        480,
        "validation stopped gaining",
    )


def test_a_gain_must_clear_the_validation_scores_own_noise():
    """300 validation rows at 0.95 - 0.97: one standard error is 1.0 to 1.3 points, so gains of
    one point do not count; on 10,000 rows (0.2 points) they do."""
    small, large = PacedRate(warmup_steps=0), PacedRate(warmup_steps=0)
    passes(pacer(small, validation_rows=300, min_steps=0), [0.95, 0.96, 0.97])
    passes(pacer(large, validation_rows=10_000, min_steps=0, max_steps=300), [0.95, 0.96, 0.97])
    assert small.cooldown_from == 150 and "more than 0.009849" in small.why  # at the best, 0.97
    assert large.cooldown_from == 250 and "max_epochs" in large.why


def test_the_progress_bar_counts_to_the_cap_then_to_where_the_cool_down_ends():
    bar = tqdm(total=5000, file=io.StringIO())
    rate = PacedRate(warmup_steps=0)
    pace = pacer(rate)
    pace.progress = SimpleNamespace(training_bar=bar)
    pace.on_train_begin(None, TrainerState(), TrainerControl())
    assert bar.total == 5000 and bar.desc.startswith("steps (at most)")
    passes(pace, [0.50, 0.60, 0.65, 0.66, 0.664, 0.667])
    assert bar.total == rate.stop_at == 360 and bar.desc.startswith("steps (cooling down)")
