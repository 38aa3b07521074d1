"""loraflow: a DVC pipeline that LoRA-tunes a pretrained transformer for text classification.

The stage scripts (prepare, baseline, train, evaluate, report) are thin entry points run by
`dvc repro` as `python -m src.<stage>`; the work happens in the concern modules beside them:
params, paths, data, modeling, inference, metrics, evaluation, plots, reporting.
"""
