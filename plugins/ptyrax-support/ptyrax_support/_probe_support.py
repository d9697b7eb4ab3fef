"""ProbeSupportArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact, Real

import ptyrax_core

from ._aperture import circular_aperture
from ._support import read_probe, read_support

RealNumber = float | int | np.floating | np.integer
"""A real number for static configuration (a radius, a coordinate)."""


class ProbeSupportArrayParametrization(ptyrax_core.ArrayParametrization):
    """A probe that is zero outside a fixed support: returns `data * mask`.

    The support is either a circular aperture, given by its radius in pixels, or a mask array.
    Either way it is fixed, never trained: a radius (and centre) is static configuration, and
    the aperture is computed in `__call__` from index grids, so no mask is stored; a mask array
    is stored as 0.0 / 1.0 in `mask`, a field named in `frozen_fields` whose gradient
    `__call__` stops. The values of `data` outside the support are kept, but they never reach
    the output and their gradient is exactly zero.

    Arguments:
        data_or_initializer: the probe, real or complex, of shape `(..., y, x)` with at least
            two axes (JAX or NumPy; integers and booleans become floats), or a zero-argument
            callable returning it.
        support: a radius in pixels, a positive finite real number (a Python or NumPy number,
            or a 0-d numeric array), for the disc `(y - cy)**2 + (x - cx)**2 <= radius**2`
            over the last two axes, the same for every leading index. Or a mask: an array of
            booleans (any shape) or of 0s and 1s (at least one axis) whose shape broadcasts to
            the data's without enlarging it, such as `(y, x)` for data `(modes, y, x)`. A mask
            must be concrete: build the parametrization outside `jax.jit`.
        center: for a radius, the disc's centre `(cy, cx)` in pixels (static); default the
            centre of the last two axes, `((y - 1) / 2, (x - 1) / 2)`. Not allowed with a mask.

    Attributes:
        data: the trainable probe, shape `output_shape`, real or complex.
        mask: the fixed 0.0 / 1.0 mask in data's real dtype, or None for a radius (frozen).
        radius: the radius in pixels (static), or None for a mask.
        center: the disc's centre `(cy, cx)` (static), or None for a mask.

    Raises:
        ValueError: data with fewer than two axes; a radius that is not positive or not
            finite; a mask that does not broadcast to the data's shape, or holds values other
            than 0 and 1; `center` given with a mask.
        TypeError: `data_or_initializer` is neither an array nor a callable returning one;
            `support` is neither a real number nor an array (a bool, a complex number, a
            traced value); a mask of a dtype other than bool, integer or float.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> probe = ProbeSupportArrayParametrization(jnp.ones((5, 5), jnp.complex64), support=1.0)
        >>> probe().real.astype(int)
        Array([[0, 0, 0, 0, 0],
               [0, 0, 1, 0, 0],
               [0, 1, 1, 1, 0],
               [0, 0, 1, 0, 0],
               [0, 0, 0, 0, 0]], dtype=int32)
        >>> grads = jax.grad(lambda p: jnp.sum(jnp.abs(p()) ** 2))(probe)
        >>> int(jnp.count_nonzero(grads.data))  # only the 5 pixels inside the support
        5
        >>> columns = jnp.array([True, False, True])  # broadcast over the rows
        >>> masked = ProbeSupportArrayParametrization(jnp.ones((2, 3)), support=columns)
        >>> masked()
        Array([[1., 0., 1.],
               [1., 0., 1.]], dtype=float32)
    """

    registry_name: ClassVar[str] = "probe_support"
    frozen_fields: ClassVar[tuple[str, ...]] = ("mask",)
    data: Inexact[Array, "*batch y x"]
    mask: Real[Array, "..."] | None
    radius: float | None = eqx.field(static=True)
    center: tuple[float, float] | None = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(
        self,
        data_or_initializer: ptyrax_core.HostOrDeviceArray | Callable[[], Any],
        support: RealNumber | ptyrax_core.HostOrDeviceArray,
        center: tuple[RealNumber, RealNumber] | None = None,
    ):
        data = read_probe(data_or_initializer)
        real_dtype = jnp.finfo(data.dtype).dtype
        self.radius, self.center, self.mask = read_support(support, center, data.shape, real_dtype)
        self.data = data
        self.output_shape = tuple(data.shape)

    def support_mask(self) -> Real[Array, "..."]:
        """The support as 0.0 / 1.0 in data's real dtype, never trained: the disc of shape
        `(y, x)` for a radius, else the stored mask (its gradient stopped)."""
        if self.mask is not None:
            return jax.lax.stop_gradient(self.mask)
        dtype = jnp.finfo(self.data.dtype).dtype
        return circular_aperture(self.output_shape[-2:], self.radius, self.center, dtype)

    def __call__(self) -> Inexact[Array, "*batch y x"]:
        """`data * mask`: the probe, zero outside the support."""
        return self.data * self.support_mask()

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy that returns `target * mask`: `target` zeroed outside the support.

        That is the nearest array that is zero outside the support, and `target` itself when
        it already is. `data` stores `target` whole: its values outside the support are kept,
        never reach the output, and get no gradient, as in `__init__`. The support is
        unchanged. `target` has shape `output_shape`; a real target for complex data gets a
        zero imaginary part, a complex one for real data raises `TypeError`.

        Example:
            >>> import jax.numpy as jnp
            >>> probe = ProbeSupportArrayParametrization(jnp.zeros((1, 3)), support=0.5)
            >>> probe.with_array(jnp.array([[4.0, 5.0, 6.0]]))()  # the disc holds the centre
            Array([[0., 5., 0.]], dtype=float32)
        """
        return eqx.tree_at(lambda p: p.data, self, ptyrax_core.read_target(target, self))
