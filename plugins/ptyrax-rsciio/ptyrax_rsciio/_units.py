"""Units of RosettaSciIO's axes, in SI: a length, a reciprocal length or an angle per pixel."""

import math

LENGTHS = {
    "m": 1.0,
    "cm": 1e-2,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,  # micro sign
    "μm": 1e-6,  # Greek mu
    "nm": 1e-9,
    "A": 1e-10,
    "Å": 1e-10,  # letter A with ring
    "\u212b": 1e-10,  # angstrom sign
    "angstrom": 1e-10,
    "pm": 1e-12,
}
"""Length units, in metres."""

ANGLES = {"rad": 1.0, "mrad": 1e-3, "urad": 1e-6, "µrad": 1e-6, "μrad": 1e-6}
"""Angle units, in radians."""


def si(scale: float, units: str | None) -> tuple[str, float] | None:
    """An axis' step `scale` in `units`, in SI: `("length", metres)`, `("reciprocal", 1/m)`
    or `("angle", radians)`; None where the units are none of these or the step is not a
    finite non-zero number.

    Example:
        >>> si(0.5, "nm"), si(0.25, "mrad")
        (('length', 5e-10), ('angle', 0.00025))
        >>> [(kind, f"{value:.4g}") for kind, value in (si(2.0, "1 / nm"), si(3.0, "Å^-1"))]
        [('reciprocal', '2e+09'), ('reciprocal', '3e+10')]
        >>> si(1.0, "<undefined>") is None, si(0.0, "nm") is None
        (True, True)
    """
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(scale) or scale == 0:
        return None
    text = "".join(str(units or "").split())
    if text in LENGTHS:
        return "length", scale * LENGTHS[text]
    if text in ANGLES:
        return "angle", scale * ANGLES[text]
    for prefix, suffix in (("1/", ""), ("", "^-1"), ("", "⁻¹"), ("", "**-1"), ("", "-1")):
        inner = text.removeprefix(prefix).removesuffix(suffix)
        if (prefix or suffix) and text == prefix + inner + suffix and inner in LENGTHS:
            return "reciprocal", scale / LENGTHS[inner]
    return None
