"""params.yaml `search.space` as Optuna distributions, and trial values as `dvc exp run -S` overrides."""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from src.core.errors import ParamsError


def distributions(space: dict[str, dict]) -> dict[str, BaseDistribution]:
    """One distribution per key. A range of whole numbers is an integer range; any other a float one."""
    found = {}
    for key, spec in space.items():
        if "choices" in spec:
            found[key] = CategoricalDistribution(spec["choices"])
            continue
        low, high, step = spec["low"], spec["high"], spec["step"]
        whole = all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
        if whole:
            found[key] = IntDistribution(low, high, log=spec["log"], step=step or 1)
        else:
            found[key] = FloatDistribution(float(low), float(high), log=spec["log"], step=step)
    return found


def grid(space: dict[str, dict]) -> dict[str, list]:
    """Every value the grid sampler visits: the choices, or a range walked by its step."""
    values = {}
    for key, spec in space.items():
        if "choices" in spec:
            values[key] = spec["choices"]
        elif spec["step"] is not None:
            values[key] = np.arange(spec["low"], spec["high"] + spec["step"] / 2, spec["step"]).tolist()
        else:
            raise ParamsError(
                f"params.yaml: search.sampler is grid, but search.space.{key} is a range without a step; "
                "give it choices (or a step), or use sampler tpe."
            )
    return values


def grid_size(space: dict[str, dict]) -> int:
    return int(np.prod([len(values) for values in grid(space).values()]))


def override(key: str, value: Any) -> str:
    """`key=value` as `dvc exp run -S` reads it (YAML): floats without exponents, which PyYAML
    would read back as strings, and lists in flow style."""
    return f"{key}={_yaml_value(value)}"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        text = repr(value)
        return np.format_float_positional(value, trim="-") if "e" in text else text
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_yaml_value(item) for item in value) + "]"
    return str(value)
