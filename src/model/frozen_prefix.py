"""Training the top layers on stored outputs of the frozen layers beneath them.

With `lora.top_layers` N, nothing below the top N layers trains: the embeddings and the lower
layers are frozen and carry no adapter. Run without dropout, their output for a text is the same
in every epoch, so it is computed once per text before training (sorted by length, no autograd)
and each training step runs only the top N layers, forward and backward.

This is a training-time shortcut only: the saved adapter is an ordinary peft adapter on the top N
layers, and the model that predicts runs every layer. `PrefixCache.attach` checks on real rows
that the shortcut gives the same logits as the whole model before training uses it, and declines
(training then runs every layer) for an architecture where it does not.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
from datasets import Dataset
from torch.nn.utils.rnn import pad_sequence
from tqdm.auto import tqdm

from src.model.families import head_modules

log = logging.getLogger(__name__)

ROW_COLUMN = "prefix_row"  # which stored output belongs to a dataset row
PREFIX_KEY = "prefix_hidden"  # the batch's stored outputs, padded like its input_ids


class _StopForward(Exception):
    pass


def layer_stack(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The encoder's list of transformer layers: the module list as long as the layer count."""
    count = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    return None


def frozen_layers(model: torch.nn.Module) -> int:
    """How many layers at the bottom of the stack could be skipped: those below the lowest layer
    with a trainable weight, provided every trainable weight is in the layers above them or in
    the head (nothing trains in the embeddings, a prompt encoder or the like). 0 where none."""
    layers = layer_stack(model)
    if layers is None:
        return 0
    trains = [any(p.requires_grad for p in layer.parameters()) for layer in layers]
    split = trains.index(True) if True in trains else len(layers)
    above = {id(p) for layer in layers[split:] for p in layer.parameters()}
    heads = set(head_modules(_base_classifier(model)))
    for name, parameter in model.named_parameters():
        if parameter.requires_grad and id(parameter) not in above and not heads & set(name.split(".")):
            return 0
    return split


def _base_classifier(model: torch.nn.Module) -> torch.nn.Module:
    get_base = getattr(model, "get_base_model", None)  # a peft model
    return get_base() if get_base else model


class _Skipped(torch.nn.Module):
    """A frozen layer whose work the stored output already holds: passes its input on, as a
    tensor or a one-item tuple, as the layer it stands in for returned it."""

    def __init__(self, as_tuple: bool):
        super().__init__()
        self.as_tuple = as_tuple

    def output(self, hidden_states):
        return (hidden_states,) if self.as_tuple else hidden_states

    def forward(self, hidden_states, *args, **kwargs):
        return self.output(hidden_states)


class _Stored(_Skipped):
    """The last frozen layer: returns the batch's stored output in place of computing it."""

    def __init__(self, as_tuple: bool, slot: dict):
        super().__init__(as_tuple)
        self.slot = slot

    def forward(self, hidden_states, *args, **kwargs):
        return self.output(self.slot[PREFIX_KEY].to(hidden_states.dtype))


class _WithPrefix(torch.nn.Module):
    """What the Trainer calls: hands the batch's stored outputs to `_Stored`, then runs the model."""

    def __init__(self, model: torch.nn.Module, slot: dict):
        super().__init__()
        self.model, self.slot = model, slot
        self.config = model.config
        if hasattr(model, "accepts_loss_kwargs"):  # the Trainer asks; answer as the model would
            self.accepts_loss_kwargs = model.accepts_loss_kwargs

    def forward(self, **inputs):
        self.slot[PREFIX_KEY] = inputs.pop(PREFIX_KEY)
        return self.model(**inputs)


@dataclass
class PrefixCache:
    """Outputs of the layers under `split`, one unpadded [length, hidden] tensor per row."""

    split: int
    outputs: list[torch.Tensor]
    as_tuple: bool  # whether this architecture's layers return a tuple

    @classmethod
    def build(cls, model, split: int, datasets: list[Dataset], batch_size: int, pad_id: int) -> PrefixCache:
        layers = layer_stack(model)
        captured = {}

        def capture(_module, _args, output):
            captured["tuple"] = isinstance(output, tuple)
            captured["hidden"] = output[0] if captured["tuple"] else output
            raise _StopForward  # the layers above are not needed

        rows = [row for dataset in datasets for row in dataset]
        lengths = [len(row["input_ids"]) for row in rows]
        order = sorted(range(len(rows)), key=lengths.__getitem__)
        outputs: list[torch.Tensor | None] = [None] * len(rows)
        hook = layers[split - 1].register_forward_hook(capture)
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for start in tqdm(range(0, len(rows), batch_size), desc="frozen layers", unit="batch"):
                    batch_rows = order[start : start + batch_size]
                    batch = _pad([rows[i] for i in batch_rows], pad_id)
                    with contextlib.suppress(_StopForward):
                        model(**batch)
                    for position, i in enumerate(batch_rows):
                        outputs[i] = captured["hidden"][position, : lengths[i]].clone()
        finally:
            hook.remove()
            model.train(was_training)
        return cls(split=split, outputs=outputs, as_tuple=captured.get("tuple", False))

    def collate(self, base_collator):
        """A collator that pads as `base_collator` does and adds the rows' stored outputs."""

        def collate(features):
            rows = [feature.pop(ROW_COLUMN) for feature in features]
            batch = base_collator(features)
            stored = pad_sequence([self.outputs[row] for row in rows], batch_first=True)
            batch[PREFIX_KEY] = stored[:, : batch["input_ids"].shape[1]]
            return batch

        return collate

    @contextlib.contextmanager
    def attached(self, model):
        """`model` with its lower layers replaced by the stored outputs, wrapped for the Trainer;
        every layer is put back on exit."""
        layers = layer_stack(model)
        originals = [layers[i] for i in range(self.split)]
        slot: dict = {}
        for i in range(self.split - 1):
            layers[i] = _Skipped(self.as_tuple)
        layers[self.split - 1] = _Stored(self.as_tuple, slot)
        try:
            yield _WithPrefix(model, slot)
        finally:
            for i, layer in enumerate(originals):
                layers[i] = layer


def _pad(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    batch = {}
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        if key in rows[0]:
            padding = pad_id if key == "input_ids" else 0
            batch[key] = pad_sequence([torch.tensor(row[key]) for row in rows], batch_first=True, padding_value=padding)
    return batch


def matches_whole_model(model, cache: PrefixCache, dataset: Dataset, offset: int, pad_id: int, rows: int = 8) -> bool:
    """Whether the shortcut gives the whole model's logits (eval mode) on the first rows of
    `dataset`, whose stored outputs start at `offset`."""
    sample = [dataset[i] for i in range(min(rows, len(dataset)))]
    batch = _pad(sample, pad_id)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            whole = model(**batch).logits
            stored = pad_sequence([cache.outputs[offset + i] for i in range(len(sample))], batch_first=True)
            with cache.attached(model) as shortcut:
                short = shortcut(**batch, **{PREFIX_KEY: stored}).logits
    except Exception as error:  # an architecture whose layers are called differently
        log.info("stored frozen outputs do not fit this architecture (%s)", error)
        return False
    finally:
        model.train(was_training)
    return bool(torch.allclose(whole, short, atol=1e-4, rtol=1e-4))
