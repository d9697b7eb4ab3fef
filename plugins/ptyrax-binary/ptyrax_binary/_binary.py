"""BinaryArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Real

import ptyrax_core


class BinaryArrayParametrization(ptyrax_core.ArrayParametrization):
    """A binary array: the stored `data` thresholded, `data > threshold`.

    For masks and apertures. By default `__call__` returns a boolean array, which has no
    gradient. With `straight_through=True` it returns the same mask as 0.0 / 1.0 in `data`'s
    dtype, with the straight-through gradient: the backward pass treats the threshold as the
    identity, so `data` is trained through the mask (`hard + data - stop_gradient(data)`, which
    is exactly 0 or 1 forward and has gradient 1 with respect to `data`).

    Arguments:
        data_or_initializer: the array to threshold (JAX or NumPy), or a zero-argument callable
            returning it. Complex data is replaced here by its phase mapped to [0, 1],
            `(angle + pi) / (2 pi)`; integer and boolean data become floats.
        threshold: a finite real number (static): a Python or NumPy number, or a concrete 0-d
            array. Default 0.5.
        straight_through: return a float mask with the straight-through gradient (static).

    Attributes:
        data: the stored real array (trainable with `straight_through=True`).
        threshold: the threshold (static), a float.
        straight_through: whether the mask is a float with a straight-through gradient (static).

    Raises:
        ValueError: `threshold` is not finite.
        TypeError: `data_or_initializer` is neither an array nor a callable returning one;
            `threshold` is a bool.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> mask = BinaryArrayParametrization(jnp.array([0.2, 0.6, 0.9]))
        >>> mask()
        Array([False,  True,  True], dtype=bool)
        >>> soft = BinaryArrayParametrization(jnp.array([0.2, 0.6, 0.9]), straight_through=True)
        >>> soft()
        Array([0., 1., 1.], dtype=float32)
        >>> jax.grad(lambda m: jnp.sum(m() * jnp.array([1.0, 2.0, 3.0])))(soft).data
        Array([1., 2., 3.], dtype=float32)
    """

    registry_name: ClassVar[str] = "binary"
    data: Real[Array, "..."]
    threshold: float = eqx.field(static=True)
    straight_through: bool = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(
        self,
        data_or_initializer: ptyrax_core.HostOrDeviceArray | Callable[[], Any],
        threshold: float | int | np.floating | np.integer | ptyrax_core.HostOrDeviceArray = 0.5,
        straight_through: bool = False,
    ):
        threshold = ptyrax_core.static_float(threshold, "threshold")
        data = ptyrax_core.as_array(data_or_initializer, "data_or_initializer")
        if jnp.iscomplexobj(data):
            data = (jnp.angle(data) + jnp.pi) / (2 * jnp.pi)
        elif not jnp.issubdtype(data.dtype, jnp.floating):
            data = data.astype(jnp.result_type(float))
        self.data = data
        self.threshold = threshold
        self.straight_through = straight_through
        self.output_shape = tuple(data.shape)

    def __call__(self) -> Bool[Array, "..."] | Real[Array, "..."]:
        """The mask `data > threshold`: boolean, or 0.0 / 1.0 with `straight_through`."""
        mask = self.data > self.threshold
        if not self.straight_through:
            return mask
        hard = mask.astype(self.data.dtype)
        return hard + (self.data - jax.lax.stop_gradient(self.data))

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose mask is `target`, thresholded at 0.5 unless it is boolean.

        `target` is read as a mask of shape `output_shape`: a boolean array as it is, a real
        one as `target > 0.5` (the nearer of 0 and 1, so a 0.0 / 1.0 target is exact); a
        complex one raises `TypeError`. The stored `data` is `threshold + 0.5` inside the mask
        and `threshold - 0.5` outside (for the default threshold, the mask as 0.0 / 1.0);
        `threshold` and `straight_through` are kept. A threshold has no gradient.

        Example:
            >>> import jax.numpy as jnp
            >>> mask = BinaryArrayParametrization(jnp.zeros(3), threshold=2.0)
            >>> copy = mask.with_array(jnp.array([True, False, True]))
            >>> copy(), copy.data
            (Array([ True, False,  True], dtype=bool), Array([2.5, 1.5, 2.5], dtype=float32))
        """
        mask = ptyrax_core.read_target(target, self)
        if mask.dtype != jnp.bool_:
            mask = mask > 0.5
        level = jnp.asarray(self.threshold, self.data.dtype)
        # Above the threshold even where level + 0.5 rounds back to level (a huge threshold).
        high = jnp.maximum(level + 0.5, jnp.nextafter(level, level + jnp.inf))
        data = jnp.where(mask, high, level - 0.5)
        return eqx.tree_at(lambda p: p.data, self, data)
