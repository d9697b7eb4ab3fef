"""PhaseOnlyArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar

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
