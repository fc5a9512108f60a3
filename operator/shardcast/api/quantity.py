"""Kubernetes resource quantities ("7500m", "32Gi", "1e3") as plain numbers."""

from __future__ import annotations

import re

_SUFFIX = {"": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "P": 1e15, "E": 1e18, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
           "Pi": 2.0**50, "Ei": 2.0**60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)("
                       + "|".join(sorted(_SUFFIX, key=len, reverse=True)) + ")$")


def parse(quantity: str | int | float) -> float:
    if isinstance(quantity, int | float):
        return float(quantity)
    match = _QUANTITY.match(quantity.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r} (e.g. 500m, 4, 32Gi)")
    return float(match[1]) * _SUFFIX[match[2]]
