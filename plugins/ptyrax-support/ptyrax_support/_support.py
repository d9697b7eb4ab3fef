"""Reading a probe argument (`data_or_initializer`) and a support argument (`support`,
`band`) with its `center`: a static radius, or a fixed 0/1 mask."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import ptyrax_core


def read_probe(data_or_initializer: Any, complex_only: bool = False) -> jax.Array:
    """The probe array: inexact (integers become the default float), complex where
    `complex_only` (reals become the complex type of their precision); at least two axes."""
    data = ptyrax_core.as_array(data_or_initializer, "data_or_initializer")
    wanted = jnp.complexfloating if complex_only else jnp.inexact
    if not jnp.issubdtype(data.dtype, wanted):
        real = data.dtype if jnp.issubdtype(data.dtype, jnp.floating) else float
        data = data.astype(jnp.result_type(real, jnp.complex64) if complex_only else real)
    if data.ndim < 2:
        raise ValueError(
            "data_or_initializer: a probe has at least two axes, (..., y, x); got shape "
            f"{data.shape}."
        )
    return data


def is_mask(support: Any) -> bool:
    # Arrays with axes, and boolean arrays of any shape, are masks; numbers are radii.
    return isinstance(support, jax.Array | np.ndarray) and (
        support.ndim > 0 or support.dtype == np.bool_
    )


def read_support(
    support: Any,
    center: Any,
    data_shape: tuple[int, ...],
    real_dtype: Any,
    name: str = "support",
    default_center: tuple[float, float] | None = None,
) -> tuple[float | None, tuple[float, float] | None, jax.Array | None]:
    """`(radius, center, mask)`: either a radius and its centre (default `default_center`,
    else the centre of the last two axes), or a 0/1 mask; `name` is the argument's."""
    if is_mask(support):
        if center is not None:
            raise ValueError(
                f"center={center!r} applies to a circular {name} only, but {name} is a mask "
                "array: leave center at None (the mask fixes it), or give a radius."
            )
        return None, None, read_mask(support, data_shape, real_dtype, name)
    radius = ptyrax_core.static_float(support, f"{name} (a radius in pixels)")
    if radius <= 0.0:
        raise ValueError(f"{name} (a radius in pixels) must be positive; got {radius}.")
    height, width = data_shape[-2:]
    if center is None:
        return radius, default_center or ((height - 1) / 2, (width - 1) / 2), None
    cy, cx = (ptyrax_core.static_float(c, f"center[{i}]") for i, c in enumerate(center))
    return radius, (cy, cx), None


def read_mask(
    mask: Any, data_shape: tuple[int, ...], real_dtype: Any, name: str = "support"
) -> jax.Array:
    """`mask` as a float 0/1 array of `real_dtype`, checked: it broadcasts to `data_shape`
    without enlarging it, and holds only 0 and 1 (or True and False)."""
    if isinstance(mask, jax.core.Tracer):
        raise TypeError(
            f"{name} is a traced mask array, but its values are checked when the "
            "parametrization is built: build it outside jax.jit, jax.vmap and jax.grad, then "
            "pass it in."
        )
    host = np.asarray(mask)
    if host.dtype.kind not in "biuf":  # bool, int, unsigned, float
        raise TypeError(
            f"{name} must be a radius or a mask of booleans or 0/1 numbers; got a mask of "
            f"dtype {host.dtype}."
        )
    try:
        fits = np.broadcast_shapes(host.shape, data_shape) == tuple(data_shape)
    except ValueError:
        fits = False
    if not fits:
        wanted = f"{tuple(data_shape)}"
        if len(data_shape) > 2:
            wanted = f"{tuple(data_shape[-2:])} (one for every leading index) or {wanted}"
        raise ValueError(
            f"{name}: a mask of shape {host.shape} does not broadcast to the data's shape "
            f"{tuple(data_shape)}; give a mask of shape {wanted}."
        )
    bad = ~((host == 0) | (host == 1))
    if bad.any():
        raise ValueError(
            f"{name}: a mask must hold only 0 and 1 (or False and True); {int(bad.sum())} of "
            f"its values are neither, such as {host[bad].flat[0].item()!r}."
        )
    return jnp.asarray(host, real_dtype)
