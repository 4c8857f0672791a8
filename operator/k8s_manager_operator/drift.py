"""Drift: which fields of a desired object an observed one lacks or holds another value in."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .config import parse_quantity


def differences(desired: Any, observed: Any, path: str = "") -> list[str]:
    """Paths of the fields of `desired` that `observed` lacks or holds another value in.

    Fields only `observed` has (server defaults, status, other labels) do not count. Lists must have the same
    length and match item by item. Quantities under `resources` compare by value (the API server rewrites
    `0.5` as `500m`). An empty list means the observed object is as desired.
    """
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return [path or "."]
        found: list[str] = []
        for key, value in desired.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in observed:
                found.append(child)
            else:
                found += differences(value, observed[key], child)
        return found
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(observed) != len(desired):
            return [path]
        return [
            found
            for index, item in enumerate(desired)
            for found in differences(item, observed[index], f"{path}[{index}]")
        ]
    if desired == observed and type(desired) is type(observed):
        return []
    if ".resources." in f".{path}" and _same_quantity(desired, observed):
        return []
    return [path]


def _same_quantity(desired: Any, observed: Any) -> bool:
    if not isinstance(desired, str) or not isinstance(observed, str):
        return False
    try:
        first: Decimal = parse_quantity(desired)
        second: Decimal = parse_quantity(observed)
    except ValueError:
        return False
    return first == second
