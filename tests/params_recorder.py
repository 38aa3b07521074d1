"""Run a stage script with `Params` recording every params.yaml key the code reads.

    python -m tests.params_recorder src.train read_keys.json

Every section `Params.load()` returns is swapped for a copy whose class records each field read
as `section.key`; when the stage ends (exit code and all), the keys go to the JSON file.
tests/test_dvc_yaml.py compares them with the stage's `params:` in dvc.yaml.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import runpy
import sys
from pathlib import Path

from src.core.params import Params


def recording_copy(section, name: str, seen: set[str], active: list[bool]):
    """`section` (a frozen dataclass) as an instance of a subclass that records field reads."""
    cls = type(section)
    field_names = {field.name for field in dataclasses.fields(cls)}

    def __getattribute__(self, attr):
        if active[0] and attr in field_names:
            seen.add(f"{name}.{attr}")
        return object.__getattribute__(self, attr)

    spy = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__})
    return spy(**{field: object.__getattribute__(section, field) for field in field_names})


def main() -> None:
    module, out = sys.argv[1], Path(sys.argv[2])
    seen: set[str] = set()
    active = [False]  # off while the copies are built: their own checks read every field
    load = Params.load.__func__

    def recording_load(cls, *args, **kwargs):
        params = load(cls, *args, **kwargs)
        sections = {
            field.name: recording_copy(getattr(params, field.name), field.name, seen, active)
            for field in dataclasses.fields(params)
            if field.name != "methods"
        }
        methods = {name: recording_copy(section, name, seen, active) for name, section in params.methods.items()}
        recorded = dataclasses.replace(params, **sections, methods=methods)
        active[0] = True
        return recorded

    Params.load = classmethod(recording_load)
    atexit.register(lambda: out.write_text(json.dumps(sorted(seen))))
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
