"""`ArrayParametrization`, the protocol, and `DirectArrayParametrization`, the identity."""

import abc
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Shaped

from ._checks import HostOrDeviceArray, as_array, read_target, typechecked
from ._errors import UnresolvedParametrizationError
from ._stack import member_ndims_field, over_members, recording_init, stack_shape

T = TypeVar("T")


def _is_parametrization(x: Any) -> bool:
    return isinstance(x, ArrayParametrization)


def _evaluate(x: Any) -> Any:
    return x() if isinstance(x, ArrayParametrization) else x


def resolve_arrays(tree: T) -> T:
    """Replace every `ArrayParametrization` in `tree` by its output (innermost first)."""
    return jax.tree_util.tree_map(_evaluate, tree, is_leaf=_is_parametrization)


def _resolve_fields(p: "ArrayParametrization") -> "ArrayParametrization":
    # The parametrizations held in p's fields, replaced by their arrays; p itself stays.
    return jax.tree_util.tree_map(
        _evaluate, p, is_leaf=lambda x: x is not p and _is_parametrization(x)
    )


def _checked_call(call: Callable[..., Array]) -> Callable[..., Array]:
    @functools.wraps(call)
    def checked(self: "ArrayParametrization", *args: Any, **kwargs: Any) -> Array:
        out = call(_resolve_fields(self), *args, **kwargs)
        if not isinstance(out, jax.Array | np.ndarray):
            raise TypeError(
                f"{type(self).__name__}.__call__ must return an array; "
                f"it returned {type(out).__name__}."
            )
        if tuple(out.shape) != tuple(self.output_shape):
            raise ValueError(
                f"{type(self).__name__}.__call__ returned shape {tuple(out.shape)}, "
                f"but its output_shape is {tuple(self.output_shape)}."
            )
        return out

    __call__ = over_members(checked)  # a stack: each member's array, stacked the same way
    __call__._ptyrax_checked = True  # type: ignore[attr-defined]
    return __call__


class ArrayParametrization(eqx.Module):
    """An array kept as trainable parameters under a constraint.

    Subclasses hold their parameters as array fields and their configuration (shapes,
    thresholds, names) in static fields, and implement `__call__`, which returns the array.
    Calling a parametrization:

    - first replaces every parametrization held in its fields by that one's array, so a field
      may hold an array or a parametrization of one, and `__call__` is written for arrays;
    - checks that the result has `output_shape`.

    Until a model is resolved, a parametrization is not an array: reading an attribute it lacks
    (`.dtype`, `.T`, ...) or indexing it raises `UnresolvedParametrizationError`, which says to
    call [`resolve_parametrizations`][ptyrax_core.resolve_parametrizations] first.

    Concrete classes that plugins register declare a snake_case `registry_name`. Array fields
    that are deliberately not trained (a fixed reference, a mask; `__call__` stops their
    gradient) are named in `frozen_fields`, so that tools and the conformance kit
    (`ptyrax_core.testing`) can tell them from parameters.

    **Stacks.** A parametrization built under `eqx.filter_vmap`, or whose array leaves were
    stacked along new leading axes (`jax.tree.map(lambda *x: jnp.stack(x), *members)`), is a
    stack of members: calling it returns the members' arrays stacked the same way,
    `stack_shape + output_shape`. A class's `__init__` records how many dimensions each of a
    member's arrays has (a static field, kept through vmapping and stacking); the extra
    leading axes, the same for every array, are the stack's. Arrays of a stack with different
    extra axes raise `ValueError` (a stack of mismatched members).

    Attributes:
        output_shape: the shape of the array `__call__` returns for one member (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import DirectArrayParametrization, resolve_parametrizations
        >>> model = {"probe": DirectArrayParametrization(jnp.ones((4, 4)))}
        >>> model["probe"].shape
        (4, 4)
        >>> resolve_parametrizations(model)["probe"].sum()
        Array(16., dtype=float32)
        >>> import equinox as eqx
        >>> slices = eqx.filter_vmap(DirectArrayParametrization)(jnp.ones((3, 4, 4)))
        >>> slices.stack_shape, slices.output_shape, slices().shape  # three members
        ((3,), (4, 4), (3, 4, 4))
    """

    output_shape: tuple[int, ...] = eqx.field(static=True)
    _member_ndims: tuple[int, ...] | None = member_ndims_field()
    registry_name: ClassVar[str]
    frozen_fields: ClassVar[tuple[str, ...]] = ()
    _ptyrax_parametrization: ClassVar[bool] = True

    # Plain attribute access. equinox's Module.__getattribute__ runs Python code on every
    # attribute read, to return bound methods as pytrees; flattening a module reads its
    # __dict__ through it, which made a jitted call cost 2 us more a parametrization.
    __getattribute__ = object.__getattribute__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # record a member's leaf dimensions, for stacks
            cls.__init__ = recording_init(cls.__dict__["__init__"])
        call = cls.__dict__.get("__call__")
        if call is None or getattr(call, "__isabstractmethod__", False):
            return
        if not getattr(call, "_ptyrax_checked", False):
            cls.__call__ = _checked_call(call)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the array this parametrization produces: `stack_shape + output_shape`."""
        return self.stack_shape + tuple(self.output_shape)

    @property
    def stack_shape(self) -> tuple[int, ...]:
        """The leading axes of a stack of members (`()` for one parametrization): see Stacks."""
        return stack_shape(self)

    @abc.abstractmethod
    def __call__(self, *args: Any, **kwargs: Any) -> Array:
        """Compute the array."""

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in {f.name for f in dataclasses.fields(self)}:
            raise AttributeError(
                f"{type(self).__name__}.{name} has not been set: assign it in __init__."
            )
        raise _unresolved(self, f"has no attribute {name!r}")

    def __getitem__(self, key: Any) -> Any:
        raise _unresolved(self, "cannot be indexed")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise _unresolved(self, "cannot be converted to a NumPy array")

    def __jax_array__(self) -> Any:
        raise _unresolved(self, "cannot be used as a JAX array")


def _refuse_operator(name: str) -> Callable[..., Any]:
    def refuse(self: ArrayParametrization, *args: Any) -> Any:
        raise _unresolved(self, f"does not support {name}")

    refuse.__name__ = name
    return refuse


# Arithmetic on an unresolved parametrization says what to do, instead of "unsupported operand".
for _op in (
    "add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow "
    "matmul rmatmul neg pos abs lt le gt ge"
).split():
    setattr(ArrayParametrization, f"__{_op}__", _refuse_operator(f"__{_op}__"))
del _op


def _unresolved(p: ArrayParametrization, problem: str) -> UnresolvedParametrizationError:
    return UnresolvedParametrizationError(
        f"{type(p).__name__} is an unresolved array parametrization and {problem}. Resolve "
        "the model first, `model = ptyrax_core.resolve_parametrizations(model, index)`, or "
        "call the parametrization to get its array."
    )


class DirectArrayParametrization(ArrayParametrization):
    """The identity: holds an array and returns it unchanged.

    Gives plain arrays the uniform parametrization interface, so that a model's fields can be
    swapped between constrained and free arrays without other changes.

    Arguments:
        data_or_initializer: an array (JAX or NumPy; NumPy is converted), a zero-argument
            callable returning one, or another parametrization (then this one returns its
            array).

    Example:
        >>> import jax.numpy as jnp
        >>> param = DirectArrayParametrization(jnp.ones((64, 64)))
        >>> assert jnp.array_equal(param(), jnp.ones((64, 64)))
        >>> DirectArrayParametrization(lambda: jnp.zeros(3)).output_shape
        (3,)
    """

    registry_name: ClassVar[str] = "direct"
    _data: Shaped[Array, "..."] | ArrayParametrization

    @typechecked
    def __init__(
        self,
        data_or_initializer: HostOrDeviceArray | ArrayParametrization | Callable[[], Any],
    ):
        if isinstance(data_or_initializer, ArrayParametrization):
            self._data = data_or_initializer
        else:
            self._data = as_array(data_or_initializer, "data_or_initializer")
        self.output_shape = tuple(self._data.shape)

    def __call__(self) -> Shaped[Array, "..."]:
        """Return the stored array."""
        return self._data

    def with_array(self, target: HostOrDeviceArray) -> Self:
        """A copy that returns `target`, stored as it is (no projection).

        `target` must have shape `output_shape`, and is read by
        [`read_target`][ptyrax_core.read_target] in the stored array's dtype: a real target
        for complex data gets a zero imaginary part, a complex one for real data raises
        `TypeError`, and boolean or integer data takes only a target of its own dtype. When
        this one wraps another parametrization, that one's `with_array(target)` is stored (its
        projection applies); a `TypeError` says so if it has none.

        Example:
            >>> import jax.numpy as jnp
            >>> param = DirectArrayParametrization(jnp.zeros((2, 2)))
            >>> param.with_array(jnp.eye(2))()
            Array([[1., 0.],
                   [0., 1.]], dtype=float32)
        """
        return eqx.tree_at(lambda p: p._data, self, with_array_of(self._data, target))


def with_array_of(x: Any, target: Any, argname: str = "target") -> Any:
    """`x.with_array(target)` for a parametrization `x`; for an array `x`, `target` read by
    `read_target` to match it, dtype included."""
    if isinstance(x, ArrayParametrization):
        method = getattr(x, "with_array", None)
        if method is None:
            raise TypeError(
                f"{argname} is for a {type(x).__name__}, which has no with_array method: "
                "replace that parametrization by one built from the array instead."
            )
        return method(target)
    array = read_target(target, x, argname)
    if array.dtype != x.dtype:
        raise TypeError(
            f"{argname} has dtype {array.dtype}, but the array it replaces has {x.dtype}: "
            f"cast it first, such as {argname}.astype({x.dtype.name})."
        )
    return array


@typechecked
def as_direct_array_parametrization(
    data: HostOrDeviceArray | ArrayParametrization,
) -> ArrayParametrization:
    """`data` if it already is a parametrization, else `DirectArrayParametrization(data)`.

    >>> import jax.numpy as jnp
    >>> p = as_direct_array_parametrization(jnp.zeros(3))
    >>> type(p).__name__, as_direct_array_parametrization(p) is p
    ('DirectArrayParametrization', True)
    """
    if isinstance(data, ArrayParametrization):
        return data
    return DirectArrayParametrization(data)
