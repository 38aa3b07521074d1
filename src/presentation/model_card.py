"""The README.md model card `python -m src.export` writes beside the weights, in the Hugging Face
Hub's format: YAML metadata (base_model, library_name, datasets, a model-index of the test
scores) built with huggingface_hub's `ModelCardData`, then the card's sections in markdown."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from src.model.methods import METHODS
from src.presentation.markdown import markdown_table
from src.scoring.tasks import METRIC_TITLES, TASKS


def model_card(manifest: dict, kind: str, repo_id: str | None, evidence: dict, onnx: dict | None = None) -> ModelCard:
    """The card of an exported result.

    `kind` is "merged" (a plain transformers model), "adapter" (a peft adapter that loads on its
    base model) or "onnx" (ONNX Runtime models, whose export.json is `onnx`); `evidence` holds this project's metric files as far as they exist: finetuned,
    baseline, classical, significance, data, train (metrics/<name>.json)."""
    method = METHODS[manifest["method"]]
    base = manifest["model"]["name"]
    training = manifest.get("training", {})
    dataset = training.get("dataset")
    hub_dataset = dataset if dataset and is_hub_id(dataset) else None
    dataset_name = hub_dataset or (Path(dataset).name if dataset else None)
    tuned = evidence.get("finetuned")
    name = repo_id or f"{base.split('/')[-1]}-{manifest['method']}"
    task = TASKS[manifest.get("task", "single_label")]
    results = []
    if tuned and dataset:
        common = {"task_type": "text-classification", "dataset_type": dataset_name, "dataset_name": dataset_name}
        results = [
            EvalResult(**common, dataset_split="test", metric_type="accuracy", metric_value=round(tuned[key], 4))
            if key == "accuracy"
            else EvalResult(
                **common,
                dataset_split="test",
                metric_type="f1",
                metric_name=_title(key),
                metric_config=key.removesuffix("_f1"),
                metric_value=round(tuned[key], 4),
            )
            for key in task.headline
        ]
    data = ModelCardData(
        model_name=name,
        base_model=base,
        library_name={"adapter": "peft", "onnx": "onnxruntime"}.get(kind, "transformers"),
        pipeline_tag="text-classification",
        datasets=[hub_dataset] if hub_dataset else None,  # the Hub links only its own dataset ids
        tags=["text-classification", manifest["method"], "loraflow"],
        eval_results=results or None,
    )
    sections = [
        f"# {name}",
        f"`{base}` fine-tuned for text classification with {method.title}"
        + (f" on `{dataset_name}`" if dataset_name else "")
        + (f", into {len(manifest['label_names'])} classes: " if not task.thresholded else ", ")
        + (f"{len(manifest['label_names'])} labels, any number of them per text: " if task.thresholded else "")
        + ", ".join(f"`{label}`" for label in manifest["label_names"])
        + ".",
        "## Intended use",
        "Classifying short English texts like those it was trained on into the classes above. It is not "
        "meant for texts of other domains or languages, and its scores are measured only on the test split "
        "below; check it on your own data before relying on it.",
        *_how_to_load(kind, base, manifest),
        *_thresholds(manifest),
        *_results(evidence, task.headline),
        *(_onnx_variants(onnx, task.headline) if onnx else []),
        *_training(manifest, evidence),
        "## Limitations",
        "- The scores are from one run with one seed on one test split; the intervals above say how much "
        "they could move on other rows drawn the same way, not on other data.",
        f"- Texts are cut at {manifest['model']['max_length']} tokens: the model never sees the rest.",
        "- It always answers one of its classes, also for texts that belong to none of them."
        if not task.thresholded
        else "- Labels with few training rows are predicted poorly; their thresholds are the least certain.",
        "- Biases of the base model and of the training texts carry over.",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")


def _title(key: str) -> str:
    """`macro_f1` -> `Macro-F1`."""
    title = METRIC_TITLES[key]
    return title[0].upper() + title[1:]


def is_hub_id(dataset: str) -> bool:
    """Whether `dataset` names a Hub dataset (owner/name), not a local folder."""
    return (
        bool(re.fullmatch(r"[\w.-]+/[\w.-]+", dataset)) and not dataset.startswith(".") and not Path(dataset).exists()
    )


def _how_to_load(kind: str, base: str, manifest: dict) -> list[str]:
    if kind == "onnx":
        code = (
            'python -m src.predict --backend onnx-int8 "i feel wonderful today"   # or --backend onnx\n'
            "python -m src.serve --backend onnx-int8                              # HTTP, docs/SERVING.md"
        )
        note = (
            "`model.onnx` is the merged model for ONNX Runtime (fp32); `model_int8.onnx`, where present, its "
            "dynamically quantised copy. The calibration temperature is folded into the output layer, so "
            "softmax (sigmoid, multi-label) of the `logits` output gives calibrated probabilities. The tokenizer "
            "beside them cuts texts where training did. In the loraflow project:"
        )
        return ["## How to load", note, f"```bash\n{code}\n```"]
    if kind == "adapter":
        code = (
            "from peft import AutoPeftModelForSequenceClassification\n"
            "from transformers import AutoTokenizer\n\n"
            f"labels = {manifest['label_names']!r}\n"
            "model = AutoPeftModelForSequenceClassification.from_pretrained(\n"
            '    "<this folder or repo>", num_labels=len(labels), id2label=dict(enumerate(labels))\n'
            ")\n"
            'tokenizer = AutoTokenizer.from_pretrained("<this folder or repo>")\n'
            'logits = model(**tokenizer(["i feel wonderful today"], return_tensors="pt")).logits\n'
            f"probabilities = (logits / {manifest.get('temperature', 1.0):.4f})"
            + (".sigmoid()  # calibrated, one per label" if "thresholds" in manifest else ".softmax(-1)  # calibrated")
        )
        note = f"The adapter loads on its base model, `{base}`, which peft fetches by name."
    else:
        code = (
            "from transformers import pipeline\n\n"
            'classify = pipeline("text-classification", model="<this folder or repo>", top_k=None)\n'
            'classify("i feel wonderful today")'
        )
        note = (
            "The weights are merged into the base model, so the folder needs neither peft nor the base model. "
            "The calibration temperature is folded into the output layer: the pipeline's scores are calibrated."
        )
        if "thresholds" in manifest:
            code = code.replace("top_k=None)", 'top_k=None, function_to_apply="sigmoid")')
            note += " Each label is predicted where its score reaches its threshold (thresholds.json, below)."
    return ["## How to load", note, f"```python\n{code}\n```"]


def _onnx_variants(onnx: dict, headline: tuple[str, str]) -> list[str]:
    """Each ONNX variant's test scores beside the PyTorch result it was exported from."""
    scores, limit = onnx["scores"], onnx["max_accuracy_drop"]
    rows = [["PyTorch (unmerged)", *(f"{scores['pytorch'][key]:.4f}" for key in headline), "–", "–", "–"]]
    flagged = []
    for name in ("onnx", "onnx-int8"):
        if name not in scores:
            continue
        entry = scores[name]
        title = "ONNX fp32" if name == "onnx" else f"ONNX int8 ({onnx['int8_target']})"
        rows.append(
            [
                title,
                *(f"{entry[key]:.4f}" for key in headline),
                f"{-entry['drop_points']:+.2f}",
                f"{100 * entry['changed_share']:.2f}%",
                f"{entry['max_probability_difference']:.1e}",
            ]
        )
        if entry["drop_points"] > limit:
            flagged.append(title)
    lines = [
        "## ONNX variants",
        f"Scored on the same {onnx['test_rows']:,} test rows as the PyTorch result they were exported from:",
        markdown_table(
            [
                "Model",
                *(_title(key) for key in headline),
                "Change (points)",
                "Predictions changed",
                "Largest probability difference",
            ],
            rows,
        ),
    ]
    if flagged:
        lines.append(
            f"**Warning:** {', '.join(flagged)} lost more than the {limit:.2f} points the export allows "
            "(`export.onnx.max_accuracy_drop`)."
        )
    return lines


def _thresholds(manifest: dict) -> list[str]:
    """A multi-label model's thresholds, tuned on validation: without them its scores are not its decisions."""
    if "thresholds" not in manifest:
        return []
    return [
        "## Thresholds",
        "A label is predicted where its calibrated probability reaches its threshold, tuned on the validation "
        "split to that label's best F1 (`thresholds.json` in this folder):",
        markdown_table(
            ["Label", "Threshold"], [[label, f"{value:.4f}"] for label, value in manifest["thresholds"].items()]
        ),
    ]


def _results(evidence: dict, headline: tuple[str, str] = ("accuracy", "macro_f1")) -> list[str]:
    tuned = evidence.get("finetuned")
    if not tuned:
        return ["## Results", "No test scores were found beside this model (run `dvc repro` first)."]
    intervals = evidence.get("significance", {}).get("intervals", {})
    titles = {"baseline": "Untuned base model", "classical": "TF-IDF + logistic regression", "finetuned": "This model"}
    rows = []
    for key, title in titles.items():
        metrics = evidence.get(key)
        if not metrics:
            continue
        ranges = intervals.get(key, {})
        rows.append(
            [title, *(cell for key in headline for cell in (f"{metrics[key]:.4f}", _interval(ranges.get(key))))]
        )
    test_rows = evidence.get("data", {}).get("test", {}).get("rows")
    calibration = tuned.get("calibration", {})
    lines = [
        "## Results",
        "On the held-out test split"
        + (f" ({test_rows:,} rows)" if test_rows else "")
        + ", with 95% bootstrap intervals over the test rows:",
        markdown_table(["Model", *(h for key in headline for h in (_title(key), "Interval"))], rows),
    ]
    if calibration:
        lines += [
            "### Calibration",
            f"Expected calibration error {calibration['ece']:.4f} and Brier score {calibration['brier']:.4f} "
            f"on test ({calibration['bins']} bins), after dividing the logits by the temperature "
            f"{calibration.get('temperature', 1.0):.4f} fitted on the validation split"
            + (f" (before: ECE {calibration['ece_unscaled']:.4f})." if "ece_unscaled" in calibration else "."),
        ]
    return lines


def _interval(bounds: dict | None) -> str:
    return f"{bounds['low']:.4f} – {bounds['high']:.4f}" if bounds else "–"


def _training(manifest: dict, evidence: dict) -> list[str]:
    training = manifest.get("training", {})
    lines = ["## Training data and procedure"]
    data = evidence.get("data")
    if data:
        lines.append(
            markdown_table(
                ["Split", "Rows", "From"],
                [
                    [split, f"{data[split]['rows']:,}", str(data[split]["origin"])]
                    for split in ("train", "validation", "test")
                ],
                align="lrl",
            )
        )
    record = evidence.get("train")
    if record:
        lines.append(
            f"{record['parameters']['trainable']:,} of {record['parameters']['total']:,} parameters trained "
            f"({record['parameters']['trainable_percent']:.2f}%) for {record['epochs_run']} epoch(s), "
            f"{record['optimizer_steps']:,} optimizer steps; epoch {record['kept']['epoch']} kept "
            f"(best validation {record['kept']['metric']}). Training took {record['train_time_s']:.0f} s."
        )
    if training.get("params"):
        lines.append("```yaml\n" + yaml.safe_dump(training["params"], sort_keys=False).rstrip() + "\n```")
    return lines
