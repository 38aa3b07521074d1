"""The rules a params.yaml value must follow, and the checks that apply them to a section.

A rule takes (full key, value) and returns the value to use, or raises ParamsError naming the
key, the bad value and what is allowed. A params section is a frozen dataclass whose fields
carry their rule (`rule(...)`); `load_section` checks a mapping against it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import field, fields
from typing import Any

from src.core.errors import ParamsError

Rule = Callable[[str, Any], Any]


def _bad(key: str, value: Any, allowed: str) -> ParamsError:
    return ParamsError(f"params.yaml: {key} is {value!r}; {allowed}.")


def whole(minimum: int | None = None, nullable: bool = False) -> Rule:
    allowed = (
        "use a whole number" + (f" >= {minimum}" if minimum is not None else "") + (", or null" if nullable else "")
    )

    def check(key: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
            raise _bad(key, value, allowed)
        return value

    return check


def number(
    above: float | None = None, at_least: float | None = None, below: float | None = None, nullable: bool = False
) -> Rule:
    bounds = [
        f"> {above}" if above is not None else "",
        f">= {at_least}" if at_least is not None else "",
        f"< {below}" if below is not None else "",
    ]
    allowed = "use a number " + " and ".join(b for b in bounds if b) if any(bounds) else "use a number"
    allowed += ", or null" if nullable else ""

    def check(key: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        # PyYAML reads 1e-3 (no dot) as a string; accept it rather than fail on notation.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _bad(key, value, allowed) from None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise _bad(key, value, allowed)
        if (
            (above is not None and value <= above)
            or (at_least is not None and value < at_least)
            or (below is not None and value >= below)
        ):
            raise _bad(key, value, allowed)
        return value

    return check


def one_of(*choices: str) -> Rule:
    def check(key: str, value: Any) -> Any:
        if value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _bad(key, value, f"use one of {', '.join(choices)}{hint}")
        return value

    return check


def text(key: str, value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise _bad(key, value, "use a non-empty string")
    return value


def texts(key: str, value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise _bad(key, value, "use a list of non-empty strings (or [])")
    return value


def boolean(key: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _bad(key, value, "use true or false")
    return value


def keyword_or(keyword: str, value_rule: Rule, allowed: str) -> Rule:
    """`keyword` itself, or whatever `value_rule` accepts."""

    def check(key: str, value: Any) -> Any:
        if value == keyword:
            return value
        try:
            return value_rule(key, value)
        except ParamsError:
            raise _bad(key, value, allowed) from None

    return check


def module_names(*keywords: str) -> Rule:
    allowed = f"use {' or '.join(keywords)}, or a non-empty list of module names such as [query, value]"

    def check(key: str, value: Any) -> Any:
        if isinstance(value, str) and value in keywords:
            return value
        if isinstance(value, list) and value and all(isinstance(item, str) and item.strip() for item in value):
            return value
        raise _bad(key, value, allowed)

    return check


def one_or_two_texts(key: str, value: Any) -> Any:
    """A column name, or a list of two (a text pair)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(item, str) and item.strip() for item in value):
        return value
    raise _bad(key, value, "use a column name, or a list of two column names for text pairs")


def some_keys(keys: tuple[str, ...], value_rule: Rule, allowed: str) -> Rule:
    """A mapping whose keys are some of `keys` (none is fine), each value checked by `value_rule`."""

    def check(key: str, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _bad(key, value, allowed)
        for name in value:
            if name not in keys:
                close = difflib.get_close_matches(str(name), keys, n=1)
                hint = f" Did you mean '{key}.{close[0]}'?" if close else ""
                raise ParamsError(f"params.yaml: unknown key '{key}.{name}'.{hint} Allowed: {', '.join(keys)}.")
        return {name: value_rule(f"{key}.{name}", value[name]) for name in value}

    return check


def per_key(keys: tuple[str, ...], value_rule: Rule, allowed: str) -> Rule:
    """A mapping with exactly `keys`, each value checked by `value_rule`."""

    def check(key: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise _bad(key, value, allowed)
        check_keys(value, list(keys), where=key)
        return {name: value_rule(f"{key}.{name}", value[name]) for name in keys}

    return check


def section(section_cls: type) -> Rule:
    """A nested section of keys, checked as its dataclass `section_cls` says."""

    def check(key: str, value: Any) -> Any:
        return load_section(section_cls, key, value)

    return check


def rule(check: Rule):
    """A section field that `check` validates."""
    return field(metadata={"rule": check})


def load_section(section_cls: type, name: str, values: Any):
    """Build the section dataclass `section_cls` (params.yaml section `name`) from `values`."""
    if not isinstance(values, dict):
        raise ParamsError(f"params.yaml: '{name}' must be a mapping of keys, got {values!r}.")
    check_keys(values, [f.name for f in fields(section_cls)], where=name)
    return section_cls(**{f.name: f.metadata["rule"](f"{name}.{f.name}", values[f.name]) for f in fields(section_cls)})


def check_keys(mapping: dict[str, Any], allowed: list[str], where: str) -> dict[str, Any]:
    prefix = f"{where}." if where else ""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
            raise ParamsError(
                f"params.yaml: unknown key '{prefix}{key}'.{hint} "
                f"Allowed keys here: {', '.join(prefix + a for a in allowed)}."
            )
    missing = [key for key in allowed if key not in mapping]
    if missing:
        raise ParamsError(
            f"params.yaml: missing key(s) {', '.join(prefix + m for m in missing)}; "
            "add them (see the README's params table)."
        )
    return mapping
