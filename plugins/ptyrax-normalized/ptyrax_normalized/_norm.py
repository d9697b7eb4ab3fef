"""mean_l2_norm: a scaling function for the normalized parametrizations."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Num, Real

import ptyrax_core


@ptyrax_core.typechecked
def mean_l2_norm(
    a: Num[jax.Array | np.ndarray, "..."], axes: tuple[int, ...] = (-3, -2)
) -> Real[Array, ""]:
    """The L2 norm of `a` over `axes`, averaged over all the other axes: a scalar.

    `sqrt(sum(|a|**2, axes))` is computed for every index of the remaining axes, and the mean
    of those norms is returned, a 0-d real array. The default `axes=(-3, -2)` are the `M, N`
    axes of an array laid out `(..., M, N, d)` (such as a probe with modes): the result is the
    mean over modes and `d` of each 2-D slice's norm. Complex `a` is fine (`|a|**2` is
    `real * real + imag * imag`). Works under `jax.jit`, `jax.grad` and `jax.vmap`.

    Typical use: `NormalizedArrayParametrization(probe, scaling_function=mean_l2_norm)`
    trains the probe at unit mean norm.

    Arguments:
        a: a real or complex array (JAX or NumPy) with at least as many dimensions as `axes`
            reaches.
        axes: the axes of the norm, distinct after counting negative ones from the end;
            at least one.

    Returns:
        The mean L2 norm, a 0-d real array.

    Raises:
        ValueError: `axes` is empty, repeats an axis, or names an axis `a` does not have.

    Example:
        >>> import jax.numpy as jnp
        >>> mean_l2_norm(jnp.ones((2, 4, 4, 1)))  # two 4x4 slices, each of norm 4
        Array(4., dtype=float32)
        >>> mean_l2_norm(jnp.array([[3.0, 0.0], [0.0, 4j]]), axes=(0,))  # norms 3 and 4
        Array(3.5, dtype=float32)
    """
    if not axes:
        raise ValueError("axes must name at least one axis of a; got ().")
    if any(isinstance(ax, bool) for ax in axes):
        raise TypeError(f"axes must be a tuple of ints; got {axes!r}.")
    ndim = np.ndim(a)
    if any(not -ndim <= ax < ndim for ax in axes):
        raise ValueError(f"axes {axes} are out of range for a of shape {tuple(np.shape(a))}.")
    if len({ax % ndim for ax in axes}) != len(axes):
        raise ValueError(f"axes must not repeat an axis; got {axes} for a of {ndim} dimensions.")
    a = jnp.asarray(a)
    squared = jnp.real(a * jnp.conj(a)) if jnp.iscomplexobj(a) else jnp.square(a)
    return jnp.mean(jnp.sqrt(jnp.sum(squared, axis=axes)))
