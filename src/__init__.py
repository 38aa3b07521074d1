"""loraflow: a DVC pipeline that adapts a pretrained transformer to text classification with LoRA
(or another peft method, a linear probe, or full fine-tuning) and measures the gain.

The stage scripts (prepare, baseline, classical, train, evaluate, report) are thin entry points
run by `dvc repro` as `python -m src.<stage>`, and predict, export and compare are commands for
users; the work happens in the concern modules beside them: params, paths, data, modeling,
architectures, methods, training, launch, devices, inference, tfidf, metrics, evaluation,
statistics, plots, reporting, outputs.
"""
