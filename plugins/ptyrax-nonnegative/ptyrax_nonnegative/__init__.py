"""ptyrax-nonnegative: real arrays that are non-negative by construction, `root ** 2`."""

import ptyrax_core

from ._nonnegative import NonNegativeArrayParametrization as NonNegativeArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [NonNegativeArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    return [
        # a detector background: small positive counts, brighter at the centre
        NonNegativeArrayParametrization(
            0.1 + jnp.exp(-(jnp.linspace(-1.0, 1.0, 12).reshape(3, 4) ** 2))
        ),
        # one background per probe mode (or per frame), a 3-D stack
        NonNegativeArrayParametrization(jnp.linspace(0.01, 2.0, 24).reshape(2, 3, 4)),
    ]
