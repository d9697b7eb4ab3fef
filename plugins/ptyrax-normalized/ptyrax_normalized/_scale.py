"""The fixed scale of the normalized parametrizations: read once, kept as static Python floats."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import ptyrax_core

Scale = float | tuple[float, ...]
"""A static scale: one float, or one float per index of the data's leading axis."""

ScaleLike = float | int | np.floating | np.integer | ptyrax_core.HostOrDeviceArray
"""What the `scale` argument accepts: a real number, a 0-d array, or an array of shape `(N,)`."""


def _is_default(scale: Any) -> bool:
    return type(scale) in (float, int) and scale == 1.0


def _named(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _shown(value: Any) -> str:
    if isinstance(value, jax.Array | np.ndarray) and value.ndim > 0:
        return f"an array of shape {value.shape}"
    return repr(value)


def read_scale(
    cls: str,
    initial_data: Any,
    scale: Any,
    scaling_function: Callable[[jax.Array], Any] | None,
) -> tuple[jax.Array, Scale]:
    """`initial_data` as an inexact JAX array, and the static scale for it.

    The scale is `scale`, or `scaling_function(initial_data)` when that is given (then `scale`
    must be left at its default).
    """
    data = jnp.asarray(initial_data)
    if not jnp.issubdtype(data.dtype, jnp.inexact):
        data = data.astype(jnp.result_type(float))
    if scaling_function is None:
        return data, static_scale(cls, scale, data.shape, "scale")
    if not _is_default(scale):
        raise ValueError(
            f"{cls}: give scale or scaling_function, not both; got scale={_shown(scale)} and "
            f"scaling_function={_named(scaling_function)}. With scaling_function the scale is "
            "scaling_function(initial_data): leave scale at its default, 1.0."
        )
    computed = scaling_function(data)
    return data, static_scale(
        cls,
        computed,
        data.shape,
        f"scale (computed by scaling_function {_named(scaling_function)})",
    )


def static_scale(cls: str, value: Any, shape: tuple[int, ...], what: str) -> Scale:
    """`value` as a Python float, or a tuple of floats (one per index of `shape[0]`)."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{cls}: {what} is a traced value. The scale is static configuration, read when "
            f"the parametrization is built: construct {cls} outside jax.jit (and jax.vmap, "
            "jax.grad), then pass it into the transformed function."
        )
    ndim = np.ndim(value) if isinstance(value, jax.Array | np.ndarray) else 0
    if ndim == 0:
        return ptyrax_core.static_float(value, f"{cls}: {what}", nonzero=True)
    if ndim == 1 and len(shape) >= 1 and value.shape[0] == shape[0]:
        return tuple(
            ptyrax_core.static_float(v, f"{cls}: {what}[{i}]", nonzero=True)
            for i, v in enumerate(np.asarray(value))
        )
    per_index = (
        f", or of shape ({shape[0]},) to scale each index of initial_data's leading axis"
        if shape
        else ""
    )
    raise ValueError(
        f"{cls}: {what} must be a scalar{per_index}; got shape {np.shape(value)} for "
        f"initial_data of shape {tuple(shape)}."
    )


def broadcast_scale(scale: Scale, data: jax.Array) -> float | jax.Array:
    """The static `scale` ready to multiply `data`: a float, or an array of data's real dtype
    shaped `(N, 1, ..., 1)` so that it scales each index of data's leading axis."""
    if isinstance(scale, float):
        return scale
    dtype = jnp.finfo(data.dtype).dtype
    return jnp.asarray(scale, dtype).reshape((-1,) + (1,) * (data.ndim - 1))
