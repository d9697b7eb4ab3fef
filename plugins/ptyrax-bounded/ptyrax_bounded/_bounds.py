"""The bounded amplitude map and its inverse: `a_min + (a_max - a_min) * sigmoid(u)`."""

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Real

import ptyrax_core

MARGIN = 1e-3
"""How far inside (0, 1) the inverse clips the normalized amplitude, so that its logit is finite.

An amplitude at a bound becomes `a_min + MARGIN * (a_max - a_min)` or `a_max - MARGIN * (a_max -
a_min)`. The margin also keeps such a value trainable: the sigmoid's slope there is about
`MARGIN`, where a margin at float precision would leave it stuck at the bound.
"""


def read_bounds(a_min: Any, a_max: Any) -> tuple[float, float]:
    """`(a_min, a_max)` as Python floats, checked: `0 <= a_min < a_max`, both finite."""
    low = ptyrax_core.static_float(a_min, "a_min")
    high = ptyrax_core.static_float(a_max, "a_max")
    if low < 0.0:
        raise ValueError(f"a_min must be at least 0 (an amplitude is not negative); got {low}.")
    if not high > low:
        raise ValueError(f"a_max must be greater than a_min; got a_min={low} and a_max={high}.")
    return low, high


def bounded_amplitude(u: Real[Array, "..."], a_min: float, a_max: float) -> Real[Array, "..."]:
    """`a_min + (a_max - a_min) * sigmoid(u)`: within [a_min, a_max] for every real `u`.

    Clipped to the bounds as well, which changes nothing but the round-off where the sigmoid
    saturates (`a_min + (a_max - a_min) * 1.0` may round above `a_max`).
    """
    return jnp.clip(a_min + (a_max - a_min) * jax.nn.sigmoid(u), a_min, a_max)


def unbounded_amplitude(
    amplitude: Real[Array, "..."], a_min: float, a_max: float, margin: Any = MARGIN
) -> Real[Array, "..."]:
    """The `u` that `bounded_amplitude` maps to `amplitude`, after clipping it to [a_min, a_max]
    and its normalized value to [margin, 1 - margin]."""
    normalized = (jnp.clip(amplitude, a_min, a_max) - a_min) / (a_max - a_min)
    normalized = jnp.clip(normalized, margin, 1.0 - margin)
    return jnp.log(normalized) - jnp.log1p(-normalized)
