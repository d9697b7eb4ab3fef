"""AffinePositionsParameter."""

from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

import ptyrax_core


class AffinePositionsParameter(ptyrax_core.IndexDependentParameter[jax.Array]):
    """Scan positions as an affine transform of the nominal ones, about the scan's centre.

    A scan's positions are usually off by a global error (stage drift, a small rotation of the
    scan axes, a scale error of the stage or of the pixel size) plus small errors of each
    position. Refining `N` positions freely trains `2 N` numbers that the data may not pin
    down; an affine transform captures the global error in 6 numbers, robustly (peers such as
    PtyPy and cdtools constrain position refinement in the same spirit). Optional per-position
    `offsets` add the local errors on top, once the global ones are found.

    The value at index `i`, shape `(2,)` (rows, columns, in pixels), is

        centre + matrix @ (nominal[i] - centre) + shift + offsets[i],
        matrix = identity + deformation / radius,

    (computed as `nominal[i]` plus the corrections, so a new parameter gives it back exactly)
    with `centre` the mean nominal position and `radius` the largest distance of one from
    it (1 for a single position). `all` gives every position, shape `(N, 2)`. Every trainable
    number is in pixels, at the scale a gradient step expects: a change of 1 in `shift` or
    `offsets` moves positions by 1 pixel, and one in `deformation` moves the farthest
    position by at most 1 pixel. So one learning rate suits them all (a plain `matrix` of
    `matrix @ nominal[i] + shift` would move a position 100 pixels from the origin 100 times
    faster than its `shift`).

    `nominal` is frozen: its gradient is stopped and it is listed in `frozen_fields`.
    `deformation` and `shift` start at 0, so a new parameter gives the nominal positions back.

    Arguments:
        nominal: the nominal positions, a real array of shape `(N, 2)`, `N >= 1` (JAX or NumPy;
            integers become float32), every value finite (checked where concrete).
        offsets: whether to add trainable per-position offsets (static; default False: no
            offsets array at all).

    Attributes:
        nominal: the frozen `(N, 2)` positions the transform applies to.
        deformation: the trainable `(2, 2)` change of `matrix`, times `radius`: pixels.
        shift: the trainable `(2,)` move of the scan's centre, pixels; 0 to start.
        offsets: the trainable `(N, 2)` per-position offsets, 0 to start; None without them.

    Raises:
        ValueError: `nominal` is not of shape `(N, 2)` with `N >= 1`, or not finite.
        TypeError: `nominal` is complex, boolean or not numeric, or not an array; `offsets` is
            not a bool (both name the argument).

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> nominal = jnp.array([[0.0, 0.0], [0.0, 10.0], [10.0, 0.0], [10.0, 10.0]])
        >>> positions = AffinePositionsParameter(nominal)
        >>> positions.n, positions.at_index(3)
        (4, Array([10., 10.], dtype=float32))
        >>> positions.centre, positions.radius  # sqrt(5**2 + 5**2)
        (Array([5., 5.], dtype=float32), Array(7.071068, dtype=float32))
        >>> grads = jax.grad(lambda p: p.at_index(3)[0])(positions)  # d row_3 / d parameters
        >>> grads.deformation.round(4), grads.shift  # the farthest position: at most 1
        (Array([[0.7071, 0.7071],
               [0.    , 0.    ]], dtype=float32), Array([1., 0.], dtype=float32))
        >>> drifted = positions.with_array(nominal * 1.01 + jnp.array([0.5, -1.0]))
        >>> drifted.matrix.round(4), drifted.translation.round(4)  # as matrix @ nominal + t
        (Array([[1.01, 0.  ],
               [0.  , 1.01]], dtype=float32), Array([ 0.5, -1. ], dtype=float32))
    """

    registry_name: ClassVar[str] = "affine_positions"
    frozen_fields: ClassVar[tuple[str, ...]] = ("nominal",)
    nominal: Float[Array, "*stack n 2"]
    deformation: Float[Array, "*stack 2 2"]
    shift: Float[Array, "*stack 2"]
    offsets: Float[Array, "*stack n 2"] | None

    @ptyrax_core.typechecked
    def __init__(self, nominal: ptyrax_core.HostOrDeviceArray, offsets: bool = False):
        dtype = nominal.dtype
        if not jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.complexfloating):
            raise TypeError(
                f"nominal must be a real array of positions (rows, columns, in pixels); got "
                f"dtype {dtype}."
            )
        if nominal.ndim != 2 or nominal.shape[1] != 2 or nominal.shape[0] < 1:
            raise ValueError(
                f"nominal must have shape (N, 2), N >= 1: one (row, column) position per scan "
                f"index; got shape {tuple(nominal.shape)}."
            )
        data = jnp.asarray(nominal)
        if not jnp.issubdtype(data.dtype, jnp.floating):
            data = data.astype(jnp.float32)
        if not isinstance(data, jax.core.Tracer):
            bad = ~np.isfinite(np.asarray(data))
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"nominal must be finite; got {np.asarray(data)[index]} at index {index}."
                )
        self.nominal = data
        self.deformation = jnp.zeros((2, 2), data.dtype)
        self.shift = jnp.zeros(2, data.dtype)
        self.offsets = jnp.zeros_like(data) if offsets else None

    @property
    def has_offsets(self) -> bool:
        """Whether the parameter has per-position offsets (static: the tree structure)."""
        return self.offsets is not None

    @property
    def n(self) -> int:
        """The number of positions, `N`."""
        return self.nominal.shape[len(self.stack_shape)]

    @property
    def all(self) -> Float[Array, "*stack n 2"]:
        """Every position, shape `(N, 2)` (a stack's axes first)."""
        return self._positions(slice(None))

    def at_index(self, index: Any) -> Float[Array, "*stack 2"]:
        """Position `index`, shape `(2,)`: `matrix @ nominal[index] + shift + offsets[index]`.

        `index` is an int or an integer scalar array, traced ones included (clamped into range,
        as JAX indexing does). A concrete index outside `[-N, N)` raises `IndexError`.
        """
        ptyrax_core.check_index(index, n=self.n, of="positions")
        return self._positions(index)

    @property
    def centre(self) -> Float[Array, "*stack 2"]:
        """The mean nominal position, `(2,)`: the point the transform turns about."""
        return jnp.mean(jax.lax.stop_gradient(self.nominal), axis=-2)

    @property
    def radius(self) -> Float[Array, "*stack"]:
        """The largest distance of a nominal position from `centre` (1 if all are there)."""
        away = jax.lax.stop_gradient(self.nominal) - self.centre[..., None, :]
        radius = jnp.sqrt(jnp.max(jnp.sum(away * away, axis=-1), axis=-1))
        return jnp.where(radius > 0, radius, jnp.ones_like(radius))

    @property
    def matrix(self) -> Float[Array, "*stack 2 2"]:
        """The transform's matrix, `identity + deformation / radius`."""
        identity = jnp.eye(2, dtype=self.deformation.dtype)
        return identity + self.deformation / self.radius[..., None, None]

    @property
    def translation(self) -> Float[Array, "*stack 2"]:
        """The same transform written as `matrix @ nominal[i] + translation` (plus offsets)."""
        return self.shift - _apply(self.matrix - jnp.eye(2, dtype=self.shift.dtype), self.centre)

    def _positions(self, index: Any) -> jax.Array:
        """The positions at `index` (an index or a slice) of the index axis:
        `nominal + (deformation / radius) @ (nominal - centre) + shift (+ offsets)`, the
        small corrections added to `nominal` (a new parameter gives it back exactly)."""
        at = (slice(None),) * len(self.stack_shape) + (index,)  # a stack's axes come first
        nominal = jax.lax.stop_gradient(self.nominal)[at]
        change = self.deformation / self.radius[..., None, None]
        centre, shift = self.centre, self.shift
        if isinstance(index, slice):  # (..., N, 2): the transform broadcast over positions
            change, centre, shift = (
                change[..., None, :, :],
                centre[..., None, :],
                shift[..., None, :],
            )
        value = nominal + _apply(change, nominal - centre) + shift
        return value if self.offsets is None else value + self.offsets[at]

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose positions are the least-squares affine fit of `target`, shape `(N, 2)`.

        Solves `[nominal - centre, 1] @ [(matrix - identity).T; shift] ~ target - nominal` by
        least squares (`jnp.linalg.lstsq`, in the dtype of the parameter, under `jax.jit`
        too). Without offsets the result is the
        projection of `target` onto the affine transforms of `nominal`: the residual is
        orthogonal to the columns of `[nominal, 1]`. With offsets, the residual goes into
        `offsets`, so the copy's `all` is `target` up to round-off.

        Where `nominal` is degenerate (fewer than 3 positions not on one line: `[nominal, 1]`
        of rank < 3), the fit is not unique; the minimum-norm solution for `matrix - identity`
        is taken (the fit closest to the identity: a line scan keeps the identity across the
        line). `target` is real (JAX or NumPy); a complex one raises `TypeError`, another shape
        `ValueError`. A stack takes no target: call it on each member.

        Example:
            >>> import jax.numpy as jnp
            >>> nominal = jnp.array([[0.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 2.0]])
            >>> positions = AffinePositionsParameter(nominal)
            >>> target = nominal.at[3].add(0.5)  # not an affine transform of nominal
            >>> positions.with_array(target).all.round(3)  # the best affine approximation
            Array([[-0.125, -0.125],
                   [ 0.125,  2.125],
                   [ 2.125,  0.125],
                   [ 2.375,  2.375]], dtype=float32)
            >>> AffinePositionsParameter(nominal, offsets=True).with_array(target).all.round(3)
            Array([[0. , 0. ],
                   [0. , 2. ],
                   [2. , 0. ],
                   [2.5, 2.5]], dtype=float32)
        """
        if self.stack_shape:
            raise ValueError(
                f"with_array fits one member; this is a stack of shape {self.stack_shape}. "
                "Call it on each member."
            )
        nominal = jax.lax.stop_gradient(self.nominal)
        data = ptyrax_core.read_target(target, jax.ShapeDtypeStruct(nominal.shape, nominal.dtype))
        with jax.default_matmul_precision("highest"):
            # Fit the correction to the identity, about the centre of the scan: small numbers,
            # the ones column orthogonal to the others, and a minimum-norm solution that keeps
            # the identity in directions the scan does not span.
            a = jnp.concatenate([nominal - self.centre, jnp.ones_like(nominal[:, :1])], axis=1)
            solution = jnp.linalg.lstsq(a, data - nominal)[0]  # (3, 2): [correction.T; shift]
        deformation = solution[:2].T * self.radius
        fitted = eqx.tree_at(lambda p: (p.deformation, p.shift), self, (deformation, solution[2]))
        if self.offsets is None:
            return fitted
        zero = eqx.tree_at(lambda p: p.offsets, fitted, jnp.zeros_like(self.offsets))
        return eqx.tree_at(lambda p: p.offsets, fitted, data - zero.all)


def _apply(matrix: jax.Array, vectors: jax.Array) -> jax.Array:
    """`matrix @ vectors` over the last axes, as products and a sum: the same rounding on
    every backend."""
    return jnp.sum(matrix * vectors[..., None, :], axis=-1)
