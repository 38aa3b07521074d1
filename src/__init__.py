"""loraflow: a DVC pipeline that LoRA-tunes a pretrained transformer for text classification.

The stage scripts (prepare, baseline, classical, train, evaluate, report) are thin entry points
run by `dvc repro` as `python -m src.<stage>`; the work happens in the concern modules beside
them: params, paths, data, modeling, training, devices, inference, tfidf, metrics, evaluation,
statistics, plots, reporting, outputs.
"""
