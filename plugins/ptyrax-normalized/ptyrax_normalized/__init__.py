"""ptyrax-normalized: arrays trained at unit scale, by a fixed (never trained) scale factor."""

import ptyrax_core

from ._norm import mean_l2_norm as mean_l2_norm
from ._normalized import (
    NormalizedArrayParametrization as NormalizedArrayParametrization,
    NormalizedReferencedArrayParametrization as NormalizedReferencedArrayParametrization,
)


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [NormalizedArrayParametrization, NormalizedReferencedArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_functions():
    return [mean_l2_norm]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    real = jnp.linspace(0.5, 2.0, 24).reshape(2, 3, 4)
    probe = (real * jnp.exp(1j * real))[..., None]  # (2, 3, 4, 1)
    return [
        NormalizedArrayParametrization(real, scale=1e3),
        NormalizedArrayParametrization(probe, scaling_function=mean_l2_norm),
        NormalizedArrayParametrization(real, scale=jnp.array([2.0, 4.0])),  # one per index
        NormalizedReferencedArrayParametrization(probe, scale=10.0),
    ]
