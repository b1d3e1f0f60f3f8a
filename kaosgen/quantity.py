"""Kubernetes resource quantities (`500m`, `1Gi`, `2e3`), parsed to exact decimals.

The grammar of apimachinery's `resource.Quantity`: a non-negative decimal number and an
optional suffix (binary `Ki`..`Ei`, decimal `n u m k M G T P E`, or an exponent `e3`).
The Kubernetes client's `parse_quantity` computes the same values (the tests hold us to
it) but costs 0.8 s of imports on every render and accepts what the API server refuses
(`NaN`, `1_000`, `5K`), so a render would pass and the apply fail.
"""

from __future__ import annotations

import re
from decimal import Decimal

_QUANTITY = re.compile(
    r"(?P<number>\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def parse_quantity(value: str | int | float) -> Decimal:
    """The value of a quantity; ValueError when the API server would refuse it."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        if value < 0 or value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a non-negative number")
        return Decimal(str(value))
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * (2 ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))
