"""BoundedAmplitudePhaseArrayParametrization."""

from typing import ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Num, Real

import ptyrax_core

from ._bounds import bounded_amplitude, read_bounds, unbounded_amplitude

RealNumber = float | int | np.floating | np.integer | ptyrax_core.HostOrDeviceArray
"""A real number for static configuration: a Python or NumPy number, or a concrete 0-d array."""


class BoundedAmplitudePhaseArrayParametrization(ptyrax_core.ArrayParametrization):
    """A complex array `amplitude * exp(1j * phase)` whose amplitude stays in [a_min, a_max].

    For objects whose transmission is known to be bounded (a thin, weakly absorbing sample:
    amplitude in [0, 1]). The amplitude is `a_min + (a_max - a_min) * sigmoid(u)`, a smooth map
    of the trained, unconstrained `u`, so it holds the bounds after any gradient step; the phase
    is trained freely. The bounds are static configuration (Python floats).

    Built from an initial array: `phase = angle(initial_data)`; `u` is the logit of the
    normalized amplitude, `(|initial_data| - a_min) / (a_max - a_min)`. Amplitudes outside
    [a_min, a_max] are clipped to the bounds first, and the normalized amplitude is clipped to
    `[MARGIN, 1 - MARGIN]` (`MARGIN = 1e-3`) so that its logit is finite: an initial amplitude
    within `MARGIN * (a_max - a_min)` of a bound starts that far from it. Other amplitudes round
    trip, `param()` gives back `initial_data` up to round-off.

    The amplitude (`param.amplitude`) lies within [a_min, a_max] exactly, whatever `u`; the
    magnitude of the output, `|param()|`, up to the round-off of `exp(1j * phase)` (a relative
    1e-7 in single precision).

    Arguments:
        initial_data: the initial array, complex or real, any shape (JAX or NumPy; integers
            become floats). Its phase is `jnp.angle`: 0 where it is zero, and for a real array
            0 where positive and pi where negative.
        a_min: the smallest amplitude, a finite real number >= 0 (static). Default 0.0.
        a_max: the largest amplitude, a finite real number > a_min (static). Default 1.0.

    Attributes:
        u: the trainable unconstrained amplitude parameter, real, shape `output_shape`.
        phase: the trainable phase in radians, real, shape `output_shape`.
        a_min: the smallest amplitude (static), a float.
        a_max: the largest amplitude (static), a float.

    Raises:
        ValueError: `a_min` is negative, `a_max` is not greater than `a_min`, or either is not
            finite.
        TypeError: `a_min` or `a_max` is not a real number (a bool, a complex number) or is a
            traced value (build the parametrization outside `jax.jit`); `initial_data` is not
            a numeric array.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> obj = BoundedAmplitudePhaseArrayParametrization(jnp.array([0.5j, 2.0, -0.25]))
        >>> [round(float(a), 4) for a in obj.amplitude]  # 2.0 is clipped to 1.0, then 1 - MARGIN
        [0.5, 0.999, 0.25]
        >>> obj.phase
        Array([1.5707964, 0.       , 3.1415927], dtype=float32)
        >>> grads = jax.grad(lambda p: jnp.sum(jnp.abs(p() - 3.0) ** 2))(obj)
        >>> stepped = jax.tree_util.tree_map(lambda p, g: p - 1e3 * g, obj, grads)  # too big
        >>> bool(jnp.all((stepped.amplitude >= 0.0) & (stepped.amplitude <= 1.0)))
        True
    """

    registry_name: ClassVar[str] = "bounded_amplitude_phase"
    u: Real[Array, "..."]
    phase: Real[Array, "..."]
    a_min: float = eqx.field(static=True)
    a_max: float = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(
        self,
        initial_data: Num[jax.Array | np.ndarray, "..."],
        a_min: RealNumber = 0.0,
        a_max: RealNumber = 1.0,
    ):
        self.a_min, self.a_max = read_bounds(a_min, a_max)
        data = jnp.asarray(initial_data)
        if not jnp.issubdtype(data.dtype, jnp.inexact):
            data = data.astype(jnp.result_type(float))
        self.u = unbounded_amplitude(jnp.abs(data), self.a_min, self.a_max)
        self.phase = jnp.angle(data)
        self.output_shape = tuple(data.shape)

    @property
    def amplitude(self) -> Real[Array, "..."]:
        """The amplitude, `a_min + (a_max - a_min) * sigmoid(u)`, within [a_min, a_max]."""
        return bounded_amplitude(self.u, self.a_min, self.a_max)

    def __call__(self) -> Complex[Array, "..."]:
        """`amplitude * exp(1j * phase)`."""
        return self.amplitude * ptyrax_core.expi(self.phase)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose output is `target` with its amplitude clipped into [a_min, a_max].

        That is the nearest array the parametrization holds: `phase = angle(target)` (0 where
        `target` is zero; 0 or pi for a real target) and the amplitude `clip(|target|, a_min,
        a_max)`, stored as its logit `u`. Unlike `__init__`, no `MARGIN`: the output matches to
        round-off, so an amplitude at a bound stays there, where the sigmoid is flat and `u`
        trains slowly. `target` has shape `output_shape`, complex or real; the bounds are kept.

        Example:
            >>> import jax.numpy as jnp
            >>> obj = BoundedAmplitudePhaseArrayParametrization(jnp.ones(3), a_max=2.0)
            >>> copy = obj.with_array(jnp.array([0.5, 3.0j, -1.0]))
            >>> bool(jnp.allclose(copy(), jnp.array([0.5, 2.0j, -1.0]), atol=1e-6))
            True
        """
        data = ptyrax_core.read_target(target, self)
        epsilon = jnp.finfo(self.u.dtype).eps  # keeps the logit finite at a bound
        u = unbounded_amplitude(jnp.abs(data), self.a_min, self.a_max, epsilon)
        phase = jnp.angle(data).astype(self.phase.dtype)
        return eqx.tree_at(lambda p: (p.u, p.phase), self, (u.astype(self.u.dtype), phase))
