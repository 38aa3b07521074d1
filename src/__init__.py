"""loraflow: a DVC pipeline that adapts a pretrained transformer to text classification with LoRA
(or another peft method, a linear probe, or full fine-tuning) and measures the gain.

On top, what runs: the stage scripts dvc.yaml calls (`python -m src.<stage>`: prepare, baseline,
classical, train, evaluate, report) and the user commands (predict, export, compare). Beneath,
the library they share, one package per concern: core (params, paths, files, errors, CLI),
data, model, scoring, presentation. docs/ARCHITECTURE.md draws the map.
"""
