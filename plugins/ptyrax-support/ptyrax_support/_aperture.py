"""The circular aperture, computed from index grids (nothing stored)."""

import jax.numpy as jnp
from jaxtyping import Array, Real


def circular_aperture(
    shape: tuple[int, int], radius: float, center: tuple[float, float], dtype: jnp.dtype
) -> Real[Array, "y x"]:
    """1.0 where `(y - cy)**2 + (x - cx)**2 <= radius**2`, else 0.0; shape `shape`.

    `radius` and `center` are Python floats (static), so under `jax.jit` the aperture is a
    constant of the compiled program.
    """
    y = jnp.arange(shape[0], dtype=dtype)[:, None] - center[0]
    x = jnp.arange(shape[1], dtype=dtype)[None, :] - center[1]
    return (y**2 + x**2 <= radius**2).astype(dtype)
