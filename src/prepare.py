"""Stage 1, prepare: read the dataset, carve the splits it lacks, sample, and write data/prepared/.

Reads params `data.*` and, to count the texts `model.max_length` cuts, `model.name`,
`model.revision` and `model.max_length`. Writes data/prepared/{train,validation,test}.jsonl, the
label names in data/prepared/labels.json, and per split in metrics/data.json: where its rows came
from (a file, a Hub split, or carved from train), rows, dropped rows by reason, class counts and
how many texts are longer than `model.max_length` tokens (for multi-label data, rows per label and
how many labels the rows carry); and the train/test text overlap.

    python -m src.prepare        # or: dvc repro prepare
"""

import logging
import os
from pathlib import Path

from src.core.cli import run_stage
from src.core.files import write_json
from src.core.params import Params
from src.core.paths import DATA_SUMMARY_FILE, SPLITS, portable_path
from src.data.prepared import text_inputs, write_prepared
from src.data.sources import load_labelled_splits
from src.data.splits import FEW_ROWS, LONG_TEXT_SHARE, rare_classes, stratified_sample, summarize
from src.model.pretrained import count_truncated, load_tokenizer

log = logging.getLogger("prepare")


def prepare() -> None:
    params = Params.load()
    data = params.data
    dataset = load_labelled_splits(data)
    source = dataset.source
    if os.path.isabs(source):
        source = portable_path(Path(source))  # the same on every machine with this layout
    names = dataset.label_names
    shown = ", ".join(names[:20]) + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "")
    log.info("dataset %s from %s, %d labels (%s): %s", data.dataset, source, len(names), dataset.task, shown)

    sampled = {
        split: stratified_sample(dataset.splits[split], data.sample_size[split], data.seed, split) for split in SPLITS
    }
    tokenizer = load_tokenizer(params.model)
    truncated = {
        split: count_truncated(tokenizer, *text_inputs(frame), params.model.max_length)
        for split, frame in sampled.items()
    }
    available = {split: len(dataset.splits[split]) for split in SPLITS}
    summary = summarize(sampled, dataset.label_names, available, dataset.dropped, dataset.origins, truncated)
    summary["max_length"] = params.model.max_length
    write_prepared(sampled, dataset.label_names, source, task=dataset.task)
    write_json(DATA_SUMMARY_FILE, summary)
    for split in SPLITS:
        size, dropped, rows = data.sample_size[split], summary[split]["dropped"], summary[split]["rows"]
        note = f"; sample_size {size} exceeds the split, so all are kept" if size and size > available[split] else ""
        log.info("%-10s %6d rows (of %d) from %s%s", split, rows, available[split], dataset.origins[split], note)
        if any(dropped.values()):
            log.warning(
                "%-10s dropped %d rows with no label, %d unlabelled (negative id) and %d with an empty text",
                split,
                dropped["null_label"],
                dropped["unlabelled"],
                dropped["empty_text"],
            )
        if truncated[split] > LONG_TEXT_SHARE * rows:
            log.warning(
                "%-10s %d of %d texts are longer than model.max_length (%d tokens) and are cut; "
                "raise model.max_length if their ends matter (training slows about in proportion)",
                split,
                truncated[split],
                rows,
                params.model.max_length,
            )
    rare = rare_classes(sampled["train"], dataset.label_names)
    if rare:
        log.warning(
            "few training rows for %s: under %d a class, the model can hardly learn them and their test scores "
            "are noise; add examples, merge or drop those classes, or raise data.sample_size.train",
            ", ".join(f"{name!r} ({count})" for name, count in rare.items()),
            FEW_ROWS,
        )
    leaks = summary["leakage"]
    if any(leaks.values()):
        log.warning(
            "texts also in train: %d in validation, %d in test (counted in metrics/data.json, not removed)",
            leaks["validation_texts_in_train"],
            leaks["test_texts_in_train"],
        )


def main(argv=None) -> None:
    run_stage(prepare, __doc__, argv)


if __name__ == "__main__":
    main()
