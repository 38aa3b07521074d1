import os

import pytest
import torch

from src.core.errors import ParamsError
from src.model.devices import (
    best_device,
    resolve_precision,
    trainer_precision_args,
    use_available_cores,
)

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only choices")


def test_auto_is_fp32_on_every_cpu_amx_included():
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"


def test_unknown_or_impossible_precision_is_a_params_error():
    with pytest.raises(ParamsError, match="train.precision is 'half'; use one of auto, fp32, bf16, fp16"):
        resolve_precision("half")
    with pytest.raises(ParamsError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")


def test_bf16_on_cpu_asks_the_trainer_for_cpu_autocast():
    assert trainer_precision_args("bf16") == {"bf16": True, "fp16": False, "use_cpu": True}
    assert trainer_precision_args("fp32") == {"bf16": False, "fp16": False, "use_cpu": False}


def test_one_thread_per_granted_core():
    before = torch.get_num_threads()
    try:
        assert use_available_cores() == len(os.sched_getaffinity(0)) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_evaluation_falls_back_to_the_cpu():
    expected = "mps" if torch.backends.mps.is_available() else "cpu"
    assert best_device().type == expected


def test_cpu_bf16_keeps_the_products_and_drops_the_casts(tiny_model_dirs):
    """speed_up_cpu_bf16: eager attention, frozen linear weights in bf16, adapters without their
    input cast; the trained weights stay fp32, and under autocast the logits are those of plain
    autocast (the same bf16 products)."""
    import copy

    import yaml

    from src.core.params import Params
    from src.core.paths import PARAMS_FILE
    from src.model.devices import speed_up_cpu_bf16
    from src.model.finetuned import adapt
    from src.model.pretrained import load_classifier, load_tokenizer

    raw = yaml.safe_load(PARAMS_FILE.read_text())
    raw["model"].update(name=str(tiny_model_dirs["bert"]), max_length=32)
    params = Params.from_dict(raw)
    model = adapt(load_classifier(params.model, ["a", "b"]), "lora", params.method, params.model.name).eval()
    faster = copy.deepcopy(model)
    counts = speed_up_cpu_bf16(faster)
    assert counts["frozen_linear_in_bf16"] > 0 and counts["adapters_without_input_cast"] > 0
    assert faster.get_base_model().config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in faster.parameters() if p.requires_grad)
    batch = load_tokenizer(params.model)(
        ["a short text", "and a somewhat longer one"], padding=True, return_tensors="pt"
    )
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        plain, ours = model(**batch).logits.float(), faster(**batch).logits.float()
    assert torch.allclose(plain, ours, atol=2e-2)
