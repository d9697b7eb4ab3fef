"""OuterProductArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Inexact

import ptyrax_core


class OuterProductArrayParametrization(ptyrax_core.ArrayParametrization):
    """An array of shape `(..., M, N, d)` of matrix rank at most `n_outer` in `(M, N)`.

    For each leading index and each `d`, the `M x N` slice is a sum of `n_outer` outer
    products of a column and a row vector, which are the trained parameters:

        A[..., m, n, d] = sum_s column_vector[..., m, s, d] * row_vector[..., s, n, d]

    That is `n_outer * (M + N)` free numbers per slice instead of `M * N`: a low-rank
    constraint that acts as a regularizer (a smooth illumination, a separable probe).

    Arguments:
        output_shape: `(..., M, N, d)`, at least three dimensions.
        n_outer: the number of outer products summed, at least 1 (static).
        initializer: called as `initializer(shape)` once for each factor, with
            `output_shape[:-3] + (M, n_outer, d)` and then `output_shape[:-3] + (n_outer, N, d)`;
            returns a real or complex array of that shape (integers become floats). Default
            `jnp.ones`, which makes every term equal, and equal terms get equal gradients and
            stay equal: for a factorization of rank `n_outer > 1`, pass a random initializer.

    Attributes:
        column_vector: the trainable column factors, shape `(..., M, n_outer, d)`.
        row_vector: the trainable row factors, shape `(..., n_outer, N, d)`.
        n_outer: the number of outer products (static).

    Raises:
        ValueError: `output_shape` has fewer than 3 dimensions or a negative one; `n_outer`
            is less than 1; `initializer` returns an array of the wrong shape.
        TypeError: `initializer` is not callable or does not return an array.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> param = OuterProductArrayParametrization(output_shape=(64, 64, 1), n_outer=4)
        >>> array = param()  # shape (64, 64, 1)
        >>> array.shape, float(array[0, 0, 0])
        ((64, 64, 1), 4.0)
        >>> key = jax.random.PRNGKey(0)
        >>> param = OuterProductArrayParametrization(
        ...     (64, 64, 1), n_outer=2, initializer=lambda s: jax.random.normal(key, s)
        ... )
        >>> int(jnp.linalg.matrix_rank(param()[..., 0]))
        2
    """

    registry_name: ClassVar[str] = "outer_product"
    column_vector: Inexact[Array, "... M s d"]
    row_vector: Inexact[Array, "... s N d"]
    n_outer: int = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(
        self,
        output_shape: tuple[int, ...],
        n_outer: int,
        initializer: Callable[[tuple[int, ...]], Any] = jnp.ones,
    ):
        if len(output_shape) < 3:
            raise ValueError(
                "output_shape must have at least 3 dimensions, (..., M, N, d); "
                f"got {output_shape}. For a single 2-D array use (M, N, 1)."
            )
        if any(n < 0 for n in output_shape):
            raise ValueError(f"output_shape must not be negative; got {output_shape}.")
        if isinstance(n_outer, bool) or n_outer < 1:
            raise ValueError(f"n_outer must be an integer of at least 1; got {n_outer!r}.")
        *lead, m, n, d = output_shape
        self.column_vector = ptyrax_core.initialize(
            initializer, (*lead, m, n_outer, d), "initializer"
        )
        self.row_vector = ptyrax_core.initialize(initializer, (*lead, n_outer, n, d), "initializer")
        self.n_outer = n_outer
        self.output_shape = tuple(output_shape)

    def __call__(self) -> Inexact[Array, "... M N d"]:
        """The sum of outer products, shape `output_shape`."""
        return jnp.einsum("...msd,...snd->...mnd", self.column_vector, self.row_vector)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose output is the best approximation of `target` of rank `n_outer`.

        Each `M x N` slice of `target` (shape `output_shape`, one slice per leading index and
        per `d`) is replaced by its truncated SVD, the sum of `s_k u_k v_k^H` over its
        `n_outer` largest singular values `s_k`: the nearest array of rank at most `n_outer` in
        the Frobenius norm, so a target of that rank comes back exactly (up to round-off). The
        factors share each `s_k`: column `k` is `sqrt(s_k) u_k`, row `k` is `sqrt(s_k) v_k^H`;
        where `s_k` is zero (within `jnp.linalg.matrix_rank`'s tolerance) the column is `u_k`
        and the row `s_k v_k^H`, so that the term still gets a gradient. Terms beyond
        `min(M, N)` are zero. A real target for complex factors gets a zero imaginary part; a
        complex one for real factors raises `TypeError`.

        Example:
            >>> import jax.numpy as jnp
            >>> param = OuterProductArrayParametrization((3, 3, 1), n_outer=1)
            >>> target = jnp.diag(jnp.array([3.0, 1.0, 0.0]))[..., None]
            >>> param.with_array(target)()[..., 0]  # the rank-1 part
            Array([[3., 0., 0.],
                   [0., 0., 0.],
                   [0., 0., 0.]], dtype=float32)
        """
        slices = jnp.moveaxis(ptyrax_core.read_target(target, self), -1, -3)  # (..., d, M, N)
        u, s, vh = jnp.linalg.svd(slices, full_matrices=False)
        k = min(self.n_outer, s.shape[-1])
        u, s, vh = u[..., :k], s[..., :k], vh[..., :k, :]
        tolerance = s[..., :1] * max(slices.shape[-2:]) * jnp.finfo(s.dtype).eps
        root = jnp.sqrt(jnp.where(s > tolerance, s, 1.0))
        pad = self.n_outer - k
        column = jnp.pad(u * root[..., None, :], [(0, 0)] * (u.ndim - 1) + [(0, pad)])
        row = jnp.pad((s / root)[..., None] * vh, [(0, 0)] * (vh.ndim - 2) + [(0, pad), (0, 0)])
        return eqx.tree_at(
            lambda p: (p.column_vector, p.row_vector),
            self,
            (jnp.moveaxis(column, -3, -1), jnp.moveaxis(row, -3, -1)),
        )
