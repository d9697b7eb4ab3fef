"""NonNegativeArrayParametrization."""

from typing import ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Real

import ptyrax_core


class NonNegativeArrayParametrization(ptyrax_core.ArrayParametrization):
    """A real array that is non-negative by construction: `root ** 2`.

    For quantities that cannot be negative, such as a detector background in counts. The
    trained parameter is `root`, unconstrained; the output is its square, so it is `>= 0`
    after any gradient step, with no clipping and no projection. (cdtools parametrizes its
    background the same way.) The map is smooth, and the gradient reaching `root` is
    `2 * root * g` for a gradient `g` with respect to the output: it vanishes where `root` is
    0, so a value that starts at exactly 0 never moves. Start a background from a small
    positive value (a fraction of the mean count), not from zeros.

    Built from an initial array: `root = sqrt(initial_data)`, so `param()` gives back
    `initial_data` up to round-off. The output has the shape and dtype of `root`.

    Arguments:
        initial_data: the initial array, real, any shape (JAX or NumPy; integers and
            booleans become float32), every value finite and `>= 0`. Checked where it is
            concrete (not a traced value).

    Attributes:
        root: the trainable real array, shape `output_shape`; the output is `root ** 2`.

    Raises:
        ValueError: a value of `initial_data` is negative, NaN or infinite (the message shows
            the first one and its index).
        TypeError: `initial_data` is complex, or not a numeric array.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> background = NonNegativeArrayParametrization(jnp.array([0.0, 0.25, 4.0]))
        >>> background.root
        Array([0. , 0.5, 2. ], dtype=float32)
        >>> background()
        Array([0.  , 0.25, 4.  ], dtype=float32)
        >>> jax.grad(lambda p: jnp.sum(3.0 * p()))(background).root  # 2 * root * 3: none at 0
        Array([ 0.,  3., 12.], dtype=float32)
        >>> background.with_array(jnp.array([-1.0, 1.0, 9.0]))()  # negatives projected to 0
        Array([0., 1., 9.], dtype=float32)
    """

    registry_name: ClassVar[str] = "non_negative"
    root: Real[Array, "..."]

    @ptyrax_core.typechecked
    def __init__(self, initial_data: ptyrax_core.HostOrDeviceArray):
        dtype = initial_data.dtype
        if jnp.issubdtype(dtype, jnp.complexfloating):
            raise TypeError(
                f"initial_data is complex ({dtype}), but a non-negative array is real: "
                "pass jnp.abs(initial_data) or jnp.real(initial_data), as meant."
            )
        if not (dtype == np.bool_ or jnp.issubdtype(dtype, jnp.number)):
            raise TypeError(f"initial_data must be a real numeric array; got dtype {dtype}.")
        data = jnp.asarray(initial_data)
        if not jnp.issubdtype(data.dtype, jnp.floating):
            data = data.astype(jnp.float32)
        if not isinstance(data, jax.core.Tracer):
            _check_non_negative(np.asarray(data))
        self.root = jnp.sqrt(data)
        self.output_shape = tuple(data.shape)

    def __call__(self) -> Real[Array, "..."]:
        """`root ** 2`, non-negative."""
        return self.root**2

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose output is `target` projected onto non-negative arrays, `max(target, 0)`.

        That is the nearest array the parametrization holds: `root = sqrt(max(target, 0))`, in
        `root`'s dtype, so negative values become 0 (and, like every 0, get no gradient; NaN
        stays NaN). `target` is real, of shape `output_shape` (JAX or NumPy; integers become
        floats); a complex one raises `TypeError`, another shape `ValueError`. Works under
        `jax.jit`.

        Example:
            >>> import jax.numpy as jnp
            >>> background = NonNegativeArrayParametrization(jnp.ones(3))
            >>> copy = background.with_array(jnp.array([-2.0, 0.25, 16.0]))
            >>> copy.root
            Array([0. , 0.5, 4. ], dtype=float32)
            >>> copy()
            Array([ 0.  ,  0.25, 16.  ], dtype=float32)
        """
        data = ptyrax_core.read_target(target, self)
        root = jnp.sqrt(jnp.maximum(data, 0)).astype(self.root.dtype)
        return eqx.tree_at(lambda p: p.root, self, root)


def _check_non_negative(data: np.ndarray) -> None:
    bad = ~(np.isfinite(data) & (data >= 0))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"initial_data must be finite and >= 0 everywhere; got {data[index]} at index "
            f"{index}. Clip it first (jnp.maximum(initial_data, 0)), or better start from a small "
            "positive value: a root of exactly 0 gets no gradient."
        )
