"""ptyrax-bounded: complex arrays whose amplitude stays within fixed bounds."""

import ptyrax_core

from ._bounded import (
    BoundedAmplitudePhaseArrayParametrization as BoundedAmplitudePhaseArrayParametrization,
)


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [BoundedAmplitudePhaseArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    grid = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
    obj = (0.6 + 0.3 * grid) * jnp.exp(1j * 2.0 * grid)
    return [
        BoundedAmplitudePhaseArrayParametrization(obj),  # complex, amplitude in [0, 1]
        BoundedAmplitudePhaseArrayParametrization(grid),  # real: phase 0 or pi
        BoundedAmplitudePhaseArrayParametrization(jnp.stack([obj, 2.0 * obj]), 0.2, 1.5),
    ]
