"""Checks of a penalty's arguments: a config error names the argument and what it must be."""

import math
import numbers


def real_number(value, name: str, *, minimum: float | None = None, positive: bool = False):
    """`value` as a finite float; `>= minimum` where given, `> 0` where `positive`.

    Raises:
        TypeError: `value` is not a real number (a bool, a string, a complex number, ...).
        ValueError: it is not finite, or out of its range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0; got {value:g}")
    if minimum is not None and not value >= minimum:
        raise ValueError(f"{name} must be >= {minimum:g}; got {value:g}")
    return value


def dimensions(x, least: int, what: str) -> None:
    """Refuse an array `x` of fewer than `least` dimensions; `what` says what they are."""
    if x.ndim < least:
        raise ValueError(f"{what}; got an array of shape {tuple(x.shape)}")
