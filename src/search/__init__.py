"""Hyperparameter search: an Optuna study whose every trial is a dvc experiment.

    space.py     params.yaml `search.space` as Optuna distributions, and a value as `-S key=value`
    study.py     the storage, sampler and pruner; the worker loop (ask, run, tell, heartbeat)
    trial.py     one trial: `dvc exp run --temp -n <study>-<number>`, read back from its git ref
    pruning.py   the Trainer callback that reports each epoch's validation score and prunes
    report.py    what the study found: trials table, best params, importances, history (md + PNG)
    queue.py     drive DVC's own queue to the end, restarting a worker that left a task queued

`python -m src.search` runs it (__main__.py); docs/SEARCH.md is the guide.
"""
