"""ptyrax-probe-modes: incoherent probe modes, orthogonal and sorted by power by construction."""

import ptyrax_core

from ._modes import OrthogonalModesArrayParametrization as OrthogonalModesArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [OrthogonalModesArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    rows = jnp.arange(4.0)[:, None]
    cols = jnp.arange(4.0)[None, :]
    spot = jnp.exp(-((rows - 1.5) ** 2 + (cols - 1.5) ** 2) / 4.0)
    y = jnp.arange(3.0)[:, None]
    x = jnp.arange(5.0)[None, :]
    return [
        # two modes of 4 x 4: a spot and the same spot with a phase ramp (not orthogonal yet)
        OrthogonalModesArrayParametrization(
            jnp.stack([spot, 0.4 * spot * jnp.exp(1j * jnp.pi * cols / 2.0)])
        ),
        # three modes of 3 x 5, powers about 6, 2 and 0.5
        OrthogonalModesArrayParametrization(
            jnp.stack(
                [
                    1.0 + 0.1 * x + 0.2j * y,
                    0.6 * jnp.exp(2j * jnp.pi * x / 5.0) + 0.1 * y,
                    0.3 * jnp.exp(-2j * jnp.pi * y / 3.0) * (x - 2.0),
                ]
            )
        ),
    ]
