"""Stage 1, prepare: sample the dataset's splits and write them to data/prepared/.

Reads params `data.*`. Writes data/prepared/{train,validation,test}.jsonl, the label names in
data/prepared/labels.json, and rows and class counts per split in metrics/data.json.

    python -m src.prepare        # or: dvc repro prepare
"""

import logging
import os
from pathlib import Path

from src.cli import run_stage
from src.data import load_labelled_splits, stratified_sample, summarize, write_prepared
from src.outputs import write_json
from src.params import Params
from src.paths import DATA_SUMMARY_FILE, SPLITS, portable_path

log = logging.getLogger("prepare")


def prepare() -> None:
    data = Params.load().data
    dataset = load_labelled_splits(data.dataset, data.mirrors, data.text_column, data.label_column)
    source = dataset.source
    if os.path.isabs(source):
        source = portable_path(Path(source))  # the same on every machine with this layout
    log.info("dataset %s from %s, labels: %s", data.dataset, source, ", ".join(dataset.label_names))

    sampled = {
        split: stratified_sample(dataset.splits[split], data.sample_size[split], data.seed) for split in SPLITS
    }
    write_prepared(sampled, dataset.label_names, source)
    summary = summarize(sampled, dataset.label_names)
    write_json(DATA_SUMMARY_FILE, summary)
    for split in SPLITS:
        log.info("%-10s %6d rows (of %d)", split, summary[split]["rows"], len(dataset.splits[split]))


def main(argv=None) -> None:
    run_stage(prepare, __doc__, argv)


if __name__ == "__main__":
    main()
