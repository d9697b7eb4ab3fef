"""PhaseOnlyArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Complex, Real

import ptyrax_core

from ._exp import phase_only_exp


class PhaseOnlyArrayParametrization(ptyrax_core.ArrayParametrization):
    """A complex array of unit magnitude, `exp(1j * phase)`; the phase is trained.

    For phase objects and phase screens: the constraint |array| = 1 holds after every update.

    Arguments:
        output_shape: the shape of the array (and of `phase`).
        phase_initializer: called as `phase_initializer(output_shape)`; returns the initial
            phase in radians, a real array of that shape. Default `jnp.zeros`.

    Attributes:
        phase: the trainable phase in radians, real, shape `output_shape`.

    Example:
        >>> import jax.numpy as jnp
        >>> param = PhaseOnlyArrayParametrization(output_shape=(128, 128))
        >>> field = param()  # complex array with |field| == 1 everywhere
        >>> bool(jnp.allclose(jnp.abs(field), 1.0)), field.dtype
        (True, dtype('complex64'))
    """

    registry_name: ClassVar[str] = "phase_only"
    phase: Real[Array, "..."]

    @ptyrax_core.typechecked
    def __init__(
        self,
        output_shape: tuple[int, ...],
        phase_initializer: Callable[[tuple[int, ...]], Any] = jnp.zeros,
    ):
        if any(n < 0 for n in output_shape):
            raise ValueError(f"output_shape must not be negative; got {output_shape}.")
        phase = ptyrax_core.initialize(phase_initializer, tuple(output_shape), "phase_initializer")
        if jnp.iscomplexobj(phase):
            raise ValueError(
                f"phase_initializer must return a real phase (radians); got dtype {phase.dtype}."
            )
        self.phase = phase
        self.output_shape = tuple(output_shape)

    def __call__(self) -> Complex[Array, "..."]:
        """`exp(1j * phase)`."""
        return phase_only_exp(self.phase)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose phase is `jnp.angle(target)`: its output is `target / |target|`.

        That is the nearest array of unit magnitude; where `target` is zero, the phase is 0.
        `target` has shape `output_shape`, complex or real (a real target has phase 0 where
        positive, pi where negative).

        Example:
            >>> import jax.numpy as jnp
            >>> param = PhaseOnlyArrayParametrization((2,))
            >>> param.with_array(jnp.array([2j, -3.0])).phase
            Array([1.5707964, 3.1415927], dtype=float32)
        """
        phase = jnp.angle(ptyrax_core.read_target(target, self)).astype(self.phase.dtype)
        return eqx.tree_at(lambda p: p.phase, self, phase)
