"""The resolvers: a model's parametrizations replaced by arrays, right before it runs.

Each is a pure pytree rewrite (`jax.tree_util.tree_map` with `is_leaf` on the protocol
classes): no host round trip and no Python branching on traced values, so they work eagerly,
under `jax.jit`, `jax.grad` and `jax.vmap`, and compile to the program one would write by hand.
"""

from typing import Any, TypeVar

import jax

from ._array import resolve_arrays
from ._checks import check_index
from ._index import BoundSliceParameter, IndexDependentParameter
from ._packed import unpack_all

T = TypeVar("T")


def _is_index_dependent(x: Any) -> bool:
    # Bound parameters are leaves too, so that they pass through untouched.
    return isinstance(x, IndexDependentParameter | BoundSliceParameter)


def resolve_array_parametrizations(module: T) -> T:
    """Replace every `ArrayParametrization` in `module` by the array it produces.

    Parametrizations nested in the fields of others are resolved innermost first. Leaves that
    are not parametrizations, and index-dependent parameters, are left as they are.

    Arguments:
        module: any pytree: an `eqx.Module`, a dict, a list, ...

    Returns:
        The same structure with arrays in place of parametrizations.

    Example:
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import DirectArrayParametrization
        >>> resolve_array_parametrizations([DirectArrayParametrization(jnp.ones(2)), 3])
        [Array([1., 1.], dtype=float32), 3]
    """
    return resolve_arrays(unpack_all(module))


def resolve_index_dependent_parameters(module: T, index: Any) -> T:
    """Bind every `IndexDependentParameter` in `module` at `index`.

    Each becomes a `BoundSliceParameter` holding its value at `index`; read it with
    `at_current_index()`. Already bound parameters are left as they are.

    Arguments:
        module: any pytree.
        index: an integer scalar: an int, or a 0-d integer array, traced ones included (inside
            `jax.jit`, or `jax.vmap` over scan indices).

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import IndexSliceParameter
        >>> model = {"positions": IndexSliceParameter(jnp.arange(8.0).reshape(4, 2))}
        >>> def position(i):
        ...     bound = resolve_index_dependent_parameters(model, i)
        ...     return bound["positions"].at_current_index()
        >>> jax.vmap(position)(jnp.array([0, 3]))
        Array([[0., 1.],
               [6., 7.]], dtype=float32)
    """
    check_index(index)
    return _bind(unpack_all(module), index)


def _bind(module: T, index: Any) -> T:
    return jax.tree_util.tree_map(
        lambda x: (
            BoundSliceParameter(x.at_index(index), x.n)
            if isinstance(x, IndexDependentParameter)
            else x
        ),
        module,
        is_leaf=_is_index_dependent,
    )


def resolve_index_dependent_parameters_all(module: T) -> T:
    """Replace every `IndexDependentParameter` in `module` by its values at all indices (`.all`).

    Example:
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import IndexSliceParameter
        >>> model = {"positions": IndexSliceParameter(jnp.zeros((5, 2)))}
        >>> resolve_index_dependent_parameters_all(model)["positions"].shape
        (5, 2)
    """
    return _all(unpack_all(module))


def _all(module: T) -> T:
    return jax.tree_util.tree_map(
        lambda x: x.all if isinstance(x, IndexDependentParameter) else x,
        module,
        is_leaf=_is_index_dependent,
    )


def resolve_parametrizations(module: T, index: Any = None) -> T:
    """Replace every parametrization in `module` by its array; bind index-dependent ones.

    Call it at the top of the function you jit, on the model with parametrizations: the
    parameters stay trainable, gradients reach them through the resolved arrays.

    Arguments:
        module: any pytree holding array parametrizations and index-dependent parameters.
        index: the dataset index to bind at (an int or a traced integer scalar); index-dependent
            parameters become `BoundSliceParameter`s. With `None`, they become their values at
            all indices, stacked along their index dimension.

    Returns:
        The same structure with arrays in place of parametrizations.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import DirectArrayParametrization, IndexSliceParameter
        >>> model = {
        ...     "object": DirectArrayParametrization(jnp.ones((8, 8))),
        ...     "shift": IndexSliceParameter(jnp.arange(4.0)),
        ... }
        >>> def loss(model, i):
        ...     m = resolve_parametrizations(model, index=i)
        ...     return jnp.sum(m["object"] * m["shift"].at_current_index())
        >>> jax.jit(jax.vmap(loss, in_axes=(None, 0)))(model, jnp.arange(4))
        Array([  0.,  64., 128., 192.], dtype=float32)
    """
    module = unpack_all(module)
    if index is None:
        module = _all(module)
    else:
        check_index(index)
        module = _bind(module, index)
    return resolve_arrays(module)
