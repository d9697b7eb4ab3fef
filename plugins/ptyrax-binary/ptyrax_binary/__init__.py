"""ptyrax-binary: binary masks, a stored array thresholded."""

import ptyrax_core

from ._binary import BinaryArrayParametrization as BinaryArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [BinaryArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    data = jnp.linspace(0.0, 1.0, 12).reshape(3, 4)
    return [
        BinaryArrayParametrization(data),
        BinaryArrayParametrization(data, threshold=0.3, straight_through=True),
        BinaryArrayParametrization(jnp.exp(2j * jnp.pi * data)),
    ]
