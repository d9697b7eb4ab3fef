"""NormalizedArrayParametrization and NormalizedReferencedArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact, Num

import ptyrax_core

from ._scale import Scale, ScaleLike, broadcast_scale, read_scale


class _FixedScale(ptyrax_core.ArrayParametrization):
    """What both normalized parametrizations share: a scale fixed at construction, static."""

    _scale: Scale = eqx.field(static=True)

    @property
    def scale(self) -> Scale:
        """The fixed scale: a float, or a tuple of one float per leading index."""
        return self._scale

    def _with_offset(self, target: Any, reference: Any) -> Self:
        # A copy storing (target - reference) / scale in _data, in _data's dtype.
        offset = ptyrax_core.read_target(target, self) - reference
        data = offset / broadcast_scale(self._scale, offset)
        return eqx.tree_at(lambda p: p._data, self, data.astype(self._data.dtype))


class NormalizedArrayParametrization(_FixedScale):
    """An array trained at unit scale: stores `initial_data / scale`, returns `_data * scale`.

    Keeping the trained numbers near 1 whatever the physical magnitude of the array (a probe
    of amplitude 1e3, say) improves the conditioning of gradient steps. The scale is fixed
    configuration and is never trained: it is a static field holding Python floats, so it is no
    leaf of the pytree, no gradient reaches it, and `eqx.filter(param, eqx.is_array)` sees
    `_data` only.

    Arguments:
        initial_data: the initial array, real or complex, any shape (JAX or NumPy; integers
            become floats).
        scale: a nonzero finite real number; or an array of shape `(N,)` for `initial_data` of
            shape `(N, ...)`, one scale per index of the leading axis (broadcast over the
            trailing axes). Must be concrete: build the parametrization outside `jax.jit`.
        scaling_function: if given, the scale is `scaling_function(initial_data)` (a scalar or
            shape `(N,)`, as for `scale`), computed once here; `scale` must then be left at 1.0.
            For example [`mean_l2_norm`][ptyrax_normalized.mean_l2_norm].

    Attributes:
        _data: the trainable array, `initial_data / scale`.
        _scale: the scale (static): a float, or a tuple of `N` floats.

    Raises:
        ValueError: `scale` (given or computed) is zero, not finite, or of a shape other than
            `()` or `(N,)`; or both `scale` and `scaling_function` are given.
        TypeError: the scale is a traced value (construction inside `jax.jit`), or not a real
            number (complex, bool, ...).

    Example:
        >>> import jax.numpy as jnp
        >>> probe_array = jnp.full((64, 64), 2e3)
        >>> param = NormalizedArrayParametrization(probe_array, scale=1e3)
        >>> resolved_array = param()  # returns probe_array
        >>> bool(jnp.allclose(resolved_array, probe_array)), float(param._data[0, 0])
        (True, 2.0)
        >>> modes = jnp.stack([jnp.full((4, 4), 10.0), jnp.full((4, 4), 0.5)])
        >>> NormalizedArrayParametrization(modes, scale=jnp.array([10.0, 0.5]))._data[:, 0, 0]
        Array([1., 1.], dtype=float32)
        >>> from ptyrax_normalized import mean_l2_norm
        >>> NormalizedArrayParametrization(jnp.ones((8, 8, 1)), scaling_function=mean_l2_norm).scale
        8.0
    """

    registry_name: ClassVar[str] = "normalized"
    _data: Inexact[Array, "..."]

    @ptyrax_core.typechecked
    def __init__(
        self,
        initial_data: Num[jax.Array | np.ndarray, "..."],
        scale: ScaleLike = 1.0,
        scaling_function: Callable[[Array], Any] | None = None,
    ):
        data, self._scale = read_scale(type(self).__name__, initial_data, scale, scaling_function)
        self._data = data / broadcast_scale(self._scale, data)
        self.output_shape = tuple(data.shape)

    def __call__(self) -> Inexact[Array, "..."]:
        """`_data * scale`: the array at its physical scale."""
        return self._data * broadcast_scale(self._scale, self._data)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy that returns `target`: it stores `target / scale`, the scale unchanged.

        `target` has shape `output_shape`; a real target for complex data gets a zero
        imaginary part, and a complex one for real data raises `TypeError`.

        Example:
            >>> import jax.numpy as jnp
            >>> param = NormalizedArrayParametrization(jnp.ones(2), scale=10.0)
            >>> param.with_array(jnp.array([5.0, 20.0]))._data
            Array([0.5, 2. ], dtype=float32)
        """
        return self._with_offset(target, 0.0)


class NormalizedReferencedArrayParametrization(_FixedScale):
    """A trained, scaled offset from a fixed reference: returns `_data * scale + reference`.

    `_data` starts at zero, so the array starts as `initial_data`, and training learns a
    correction on top of that estimate. The reference is never trained: `__call__` stops its
    gradient, so its gradient is exactly zero. It is an array leaf, deliberately frozen: an
    optimizer that moves parameters without a gradient (weight decay) would move it too, so
    leave it out of such an optimizer's parameters. The scale sets the size of the
    trained offset's units, and is static as in
    [`NormalizedArrayParametrization`][ptyrax_normalized.NormalizedArrayParametrization].

    Arguments:
        initial_data: the reference array, real or complex, any shape (JAX or NumPy; integers
            become floats).
        scale: a nonzero finite real number, or an array of shape `(N,)` for `initial_data`
            of shape `(N, ...)` (one per leading index). Must be concrete.
        scaling_function: if given, the scale is `scaling_function(initial_data)`; `scale`
            must then be left at 1.0.

    Attributes:
        _data: the trainable offset, zeros of `initial_data`'s shape and dtype at first.
        _scale: the scale (static): a float, or a tuple of `N` floats.
        _reference_value: the fixed reference, `initial_data`.

    Raises:
        ValueError, TypeError: for the scale, as `NormalizedArrayParametrization`.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> initial_probe = jnp.arange(4.0) + 1j
        >>> param = NormalizedReferencedArrayParametrization(initial_probe, scale=0.1)
        >>> # Initially returns initial_probe (since _data is zero)
        >>> assert jnp.allclose(param(), initial_probe)
        >>> grads = jax.grad(lambda p: jnp.sum(jnp.abs(p()) ** 2))(param)
        >>> bool(jnp.all(grads._reference_value == 0)), bool(jnp.any(grads._data != 0))
        (True, True)
    """

    registry_name: ClassVar[str] = "normalized_referenced"
    frozen_fields: ClassVar[tuple[str, ...]] = ("_reference_value",)
    _data: Inexact[Array, "..."]
    _reference_value: Inexact[Array, "..."]

    @ptyrax_core.typechecked
    def __init__(
        self,
        initial_data: Num[jax.Array | np.ndarray, "..."],
        scale: ScaleLike = 1.0,
        scaling_function: Callable[[Array], Any] | None = None,
    ):
        data, self._scale = read_scale(type(self).__name__, initial_data, scale, scaling_function)
        self._data = jnp.zeros_like(data)
        self._reference_value = data
        self.output_shape = tuple(data.shape)

    def __call__(self) -> Inexact[Array, "..."]:
        """`_data * scale + stop_gradient(_reference_value)`."""
        offset = self._data * broadcast_scale(self._scale, self._data)
        return offset + jax.lax.stop_gradient(self._reference_value)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy that returns `target`: it stores the offset `(target - reference) / scale`;
        the reference and the scale are unchanged.

        `target` has shape `output_shape`; a real target for complex data gets a zero
        imaginary part, and a complex one for real data raises `TypeError`.

        Example:
            >>> import jax.numpy as jnp
            >>> param = NormalizedReferencedArrayParametrization(jnp.ones(2), scale=10.0)
            >>> param.with_array(jnp.array([6.0, -9.0]))._data
            Array([ 0.5, -1. ], dtype=float32)
        """
        return self._with_offset(target, self._reference_value)
