"""ProbePowerPenalty: the probe's total power, held near a target."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from ptyrax_reconstruct import Penalty

from ._arguments import dimensions, real_number
from ._elementwise import squared_magnitude


class ProbePowerPenalty(Penalty):
    """Keeps the probe's total power near `target`: `mean((power / target - 1)**2)`.

    `power` is the sum of `|P|**2` over the probe's modes and pixels: the last three axes of
    `(modes, rows, columns)` (a 2-D array is one mode). Leading axes (one probe per frame,
    `(frames, modes, rows, columns)`) each have their own power, and the mean runs over them.
    The relative error squared makes the value dimensionless: 0.01 is a probe 10 % too
    bright or dark, whatever the units. It keeps the intensity in the probe rather than in an
    object amplitude or frame weights that drift together with it.

    In `ptyrax reconstruct` the probe is in square roots of counts, and a probe's power is a
    pattern's total count through a transmitting object (the propagators conserve it): the
    sum of the mean measured pattern is the natural `target`.

    Arguments:
        target: the power wanted, `> 0` and finite (counts, in the engine).

    Raises:
        TypeError: `target` is not a real number (or missing).
        ValueError: `target` is not `> 0` or not finite. Called on an array of fewer than 2
            dimensions.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from ptyrax_penalties import ProbePowerPenalty
        >>> probe = jnp.full((2, 4, 4), 1 + 1j)  # 2 modes of 16 pixels of power 2: 64
        >>> ProbePowerPenalty(target=64.0)(probe)
        Array(0., dtype=float32)
        >>> ProbePowerPenalty(target=32.0)(probe)  # twice too bright: (2 - 1)**2
        Array(1., dtype=float32)
        >>> jax.grad(ProbePowerPenalty(target=4.0))(jnp.ones((2, 2)))  # at the target: none
        Array([[0., 0.],
               [0., 0.]], dtype=float32)
    """

    registry_name: ClassVar[str] = "probe_power"
    target: float = eqx.field(static=True)

    def __init__(self, target: float):
        self.target = real_number(target, "target", positive=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        """`mean((power / target - 1)**2)` over any leading axes, a real scalar."""
        x = jnp.asarray(x)
        dimensions(x, 2, "a probe has rows and columns, the last two axes")
        axes = (-3, -2, -1) if x.ndim >= 3 else (-2, -1)
        power = jnp.sum(squared_magnitude(x), axis=axes)
        return jnp.mean((power / self.target - 1.0) ** 2)
