"""How training runs: `Schedule.plan` from params.yaml's train section and the row count, the order
of training batches (length buckets) and of validation (longest first)."""

import pytest
import yaml

from src.core.params import Params
from src.core.paths import PARAMS_FILE
from src.model.trainer import Schedule


def train_section(**overrides):
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    raw["train"].update(overrides)
    return Params.from_dict(raw).train


def test_a_large_set_keeps_its_epochs_and_warms_up_by_ratio():
    # Emotion's 16,000 rows, batch 32, 2 epochs, 6% warm-up.
    schedule = Schedule.plan(train_section(epochs=2, min_steps=600, warmup_ratio=0.06, min_warmup_steps=50), 16000)
    assert (schedule.epochs, schedule.steps_per_epoch, schedule.steps, schedule.warmup_steps) == (2, 500, 1000, 60)


def test_a_small_set_trains_more_epochs_to_reach_min_steps():
    schedule = Schedule.plan(train_section(epochs=2, min_steps=600, batch_size=32), 2000)
    assert schedule.steps_per_epoch == 63
    assert schedule.epochs == 10 and schedule.steps == 630  # whole epochs: the first to pass 600


def test_warm_up_has_a_floor_but_never_more_than_half_the_run():
    section = train_section(epochs=1, min_steps=0, batch_size=32, warmup_ratio=0.06, min_warmup_steps=50)
    assert Schedule.plan(section, 3200).warmup_steps == 50  # 6% of 100 steps would be 6
    assert Schedule.plan(section, 640).warmup_steps == 10  # 20 steps: half of them


def test_validation_runs_once_an_epoch_or_every_250_steps_or_fewer_on_auto():
    auto = train_section(epochs=1, min_steps=0, batch_size=32, evals_per_epoch="auto")
    assert (Schedule.plan(auto, 3200).eval_steps, Schedule.plan(auto, 3200).evals_per_epoch) == (100, 1)
    assert (Schedule.plan(auto, 16000).eval_steps, Schedule.plan(auto, 16000).evals_per_epoch) == (250, 2)
    # 15,000 rows: 469 steps, 2 passes of 235 steps (the second ends the epoch a step early, at 470)
    assert Schedule.plan(auto, 15000).eval_steps == 235
    fixed = train_section(epochs=1, min_steps=0, batch_size=32, evals_per_epoch=4)
    assert Schedule.plan(fixed, 3200).eval_steps == 25
    assert Schedule.plan(fixed, 64).eval_steps == 1  # 2 steps an epoch: a pass after each


def test_processes_share_the_rows():
    section = train_section(epochs=1, min_steps=0, batch_size=32)
    assert Schedule.plan(section, 6400, processes=2).steps_per_epoch == 100


def test_length_buckets_pad_like_the_trainers_grouping_but_come_in_random_order():
    from src.model.trainer import LengthBucketSampler

    # Long rows are one class and short rows the other, as spam and ham are.
    lengths = [40 + i % 7 if i % 5 == 0 else 10 + i % 7 for i in range(2000)]
    sampler = LengthBucketSampler(lengths, batch_size=32, seed=42)
    order = list(sampler)
    assert sorted(order) == list(range(2000))  # every row once an epoch
    batches = [order[i : i + 32] for i in range(0, 2000, 32)]
    long_batch = [any(lengths[i] >= 40 for i in batch) for batch in batches]
    # Within a batch, lengths are alike: a batch holding a long row holds no short one, mostly.
    mixed = sum(any(lengths[i] >= 40 for i in b) and any(lengths[i] < 40 for i in b) for b in batches)
    assert mixed <= len(batches) // 10
    # The long batches are spread through the epoch, not bunched as the Trainer's windows put them.
    positions = [i for i, is_long in enumerate(long_batch) if is_long]
    longest_run = max(len(run) for run in "".join("L" if x else "." for x in long_batch).split("."))
    assert longest_run <= 4 and positions[0] < len(batches) // 2 < positions[-1]
    # Another epoch, another order; the same seed, the same orders.
    assert list(sampler) != order
    assert list(LengthBucketSampler(lengths, batch_size=32, seed=42)) == order


def test_validation_runs_longest_first_and_scores_as_in_dataset_order(tmp_path, tiny_bert_dir, emotion_dir):
    """The eval sampler reorders the rows; labels must come back in the same order as logits."""
    import numpy as np
    import pandas as pd
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from src.model.trainer import LengthBucketTrainer, tokenize
    from src.scoring.metrics import trainer_metrics
    from src.scoring.tasks import TASKS

    frame = pd.read_json(emotion_dir / "validation.jsonl", lines=True).head(96)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    rows = tokenize(frame, tokenizer, max_length=64, task=TASKS["single_label"], n_labels=6)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=6)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=16, report_to="none")
    common = dict(
        model=model, args=args, data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=trainer_metrics
    )
    by_length = LengthBucketTrainer(group_by_length=True, **common)
    in_order = Trainer(**common)

    order = list(by_length._get_eval_sampler(rows))
    lengths = [len(rows[i]["input_ids"]) for i in order]
    assert sorted(order) == list(range(96)) and lengths == sorted(lengths, reverse=True)
    assert lengths[0] > lengths[-1]  # the test rows differ in length, so the order is a real change
    sorted_run, plain_run = by_length.predict(rows), in_order.predict(rows)
    np.testing.assert_array_equal(sorted_run.label_ids, frame["label"].to_numpy()[order])
    np.testing.assert_allclose(sorted_run.predictions, plain_run.predictions[order], atol=1e-5)
    assert sorted_run.metrics["test_accuracy"] == plain_run.metrics["test_accuracy"]
    assert sorted_run.metrics["test_loss"] == pytest.approx(plain_run.metrics["test_loss"], abs=1e-5)


def test_auto_epochs_plan_the_cap_and_warm_up_as_the_shortest_run_would():
    stopping = {"metric": "macro_f1", "patience": 2, "min_delta": 0.005}
    auto = train_section(
        epochs="auto",
        max_epochs=10,
        min_steps=100,
        batch_size=32,
        warmup_ratio=0.06,
        min_warmup_steps=20,
        early_stopping=stopping,
    )
    emotion = Schedule.plan(auto, 16000)  # 500 steps an epoch
    assert (emotion.follows_validation, emotion.epochs, emotion.min_epochs, emotion.warmup_steps) == (True, 10, 1, 30)
    small = Schedule.plan(auto, 2000)  # 63 steps an epoch: min_steps asks for 2
    assert (small.epochs, small.min_epochs, small.warmup_steps) == (10, 2, 20)
    fixed = Schedule.plan(train_section(epochs=1, min_steps=100, batch_size=32), 16000)
    assert (fixed.follows_validation, fixed.epochs, fixed.min_epochs) == (False, 1, 1)


def test_auto_epochs_need_a_patience():
    from src.core.errors import ParamsError

    raw = yaml.safe_load(PARAMS_FILE.read_text())
    raw["train"].update(epochs="auto")
    raw["train"]["early_stopping"]["patience"] = None
    with pytest.raises(ParamsError, match="train.epochs is auto.*patience is null"):
        Params.from_dict(raw)
