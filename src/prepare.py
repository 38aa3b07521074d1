"""Stage 1, prepare: sample the dataset's splits and write them to data/prepared/.

Reads params `data.*`. Writes data/prepared/{train,validation,test}.jsonl, the label names in
data/prepared/labels.json, and rows and class counts per split in metrics/data.json.

    python -m src.prepare        # or: dvc repro prepare
"""

import logging
import os
from pathlib import Path

from src.core.cli import run_stage
from src.core.files import write_json
from src.core.params import Params
from src.core.paths import DATA_SUMMARY_FILE, SPLITS, portable_path
from src.data.prepared import write_prepared
from src.data.sources import load_labelled_splits
from src.data.splits import stratified_sample, summarize

log = logging.getLogger("prepare")


def prepare() -> None:
    data = Params.load().data
    dataset = load_labelled_splits(data.dataset, data.mirrors, data.text_column, data.label_column)
    source = dataset.source
    if os.path.isabs(source):
        source = portable_path(Path(source))  # the same on every machine with this layout
    log.info("dataset %s from %s, labels: %s", data.dataset, source, ", ".join(dataset.label_names))

    sampled = {
        split: stratified_sample(dataset.splits[split], data.sample_size[split], data.seed, split) for split in SPLITS
    }
    available = {split: len(dataset.splits[split]) for split in SPLITS}
    summary = summarize(sampled, dataset.label_names, available, dataset.dropped)
    write_prepared(sampled, dataset.label_names, source)
    write_json(DATA_SUMMARY_FILE, summary)
    for split in SPLITS:
        size, dropped = data.sample_size[split], summary[split]["dropped"]
        note = f"; sample_size {size} exceeds the split, so all are kept" if size and size > available[split] else ""
        log.info("%-10s %6d rows (of %d)%s", split, summary[split]["rows"], available[split], note)
        if any(dropped.values()):
            log.warning(
                "%-10s dropped %d rows with no label and %d with an empty text",
                split,
                dropped["null_label"],
                dropped["empty_text"],
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
