"""ptyrax-affine-scan: scan positions as `matrix @ nominal[i] + shift (+ offsets[i])`."""

import ptyrax_core

from ._affine import AffinePositionsParameter as AffinePositionsParameter


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [AffinePositionsParameter]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    # a 3 x 3 raster scan, 2.5 px apart, with a little jitter
    rows, cols = jnp.meshgrid(jnp.arange(3.0), jnp.arange(3.0), indexing="ij")
    raster = 2.5 * jnp.stack([rows.ravel(), cols.ravel()], axis=-1) + 0.1 * jnp.sin(
        jnp.arange(18.0).reshape(9, 2)
    )
    # a small spiral scan
    t = jnp.arange(1.0, 8.0)
    spiral = jnp.stack([t * jnp.cos(2.4 * t), t * jnp.sin(2.4 * t)], axis=-1) + 10.0
    rotate = jnp.array([[0.999, -0.035], [0.035, 1.002]])  # a small rotation and scale error
    return [
        # the global fit only: started from a rotated, shifted copy of the nominal scan
        AffinePositionsParameter(raster).with_array(raster @ rotate.T + jnp.array([0.3, -0.2])),
        # and per-position offsets on top
        AffinePositionsParameter(spiral, offsets=True).with_array(
            spiral @ rotate.T + 0.05 * jnp.cos(3.0 * spiral)
        ),
    ]
