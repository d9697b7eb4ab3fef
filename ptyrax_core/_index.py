"""Index-dependent parameters: one value per scan position."""

import abc
import inspect
from typing import Any, ClassVar, Generic, Self, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._array import ArrayParametrization, resolve_arrays, with_array_of
from ._checks import check_index, typechecked
from ._stack import member_ndims_field, over_members, recording_init, stack_shape

T = TypeVar("T")


class IndexDependentParameter(eqx.Module, Generic[T]):
    """A parameter with one value per dataset index (scan position, frame, ...).

    Subclasses implement `at_index`, `n` and `all`. Inside a forward model, bind the model at
    an index with [`resolve_parametrizations`][ptyrax_core.resolve_parametrizations]`(model,
    index)`: each index-dependent parameter becomes a
    [`BoundSliceParameter`][ptyrax_core.BoundSliceParameter], and the model reads its value
    with `at_current_index()`.

    A subclass writes `at_index`, `n` and `all` for one member: on a stack of members (built
    under `eqx.filter_vmap`, or with leaves stacked along new leading axes, as for array
    parametrizations) they run on each member, vmapped over the stack's leading axes, as an
    array parametrization's call does. So the index axis stays among a member's axes: `n` is
    still the number of indices, and `at_index` and `all` return the members' values stacked
    along the stack's axes.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> class Table(IndexDependentParameter):
        ...     values: jax.Array
        ...     registry_name = "table"
        ...     def __init__(self, values):
        ...         self.values = values
        ...     def at_index(self, index):
        ...         return self.values[index]
        ...     @property
        ...     def n(self):
        ...         return self.values.shape[0]
        ...     @property
        ...     def all(self):
        ...         return self.values
        >>> table = Table(jnp.arange(6.0).reshape(3, 2))  # 3 indices
        >>> two = jax.tree.map(lambda *x: jnp.stack(x), table, table)
        >>> two.stack_shape, two.n, two.at_index(2)
        ((2,), 3, Array([[4., 5.],
               [4., 5.]], dtype=float32))

    Attributes:
        _index: the bound index (static), None until bound. The resolvers do not set it: they
            return a `BoundSliceParameter`, which also works for traced indices.
    """

    _index: int | None = eqx.field(static=True, default=None, kw_only=True)
    _member_ndims: tuple[int, ...] | None = member_ndims_field()
    registry_name: ClassVar[str]
    _ptyrax_indexed: ClassVar[bool] = True
    __getattribute__ = object.__getattribute__  # plain attribute access, as ArrayParametrization

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # record a member's leaf dimensions, for stacks
            cls.__init__ = recording_init(cls.__dict__["__init__"])
        for name in ("at_index", "n", "all"):  # written for a member, run on each of a stack
            attr = inspect.getattr_static(cls, name, None)  # from a mixin too
            fn = attr.fget if isinstance(attr, property) else attr
            if (
                not inspect.isfunction(fn)  # a value, such as n in a field: a member's
                or getattr(fn, "__isabstractmethod__", False)
                or getattr(fn, "_ptyrax_over_members", False)
            ):
                continue
            fn = over_members(fn, shared=name == "n")
            setattr(cls, name, property(fn) if isinstance(attr, property) else fn)

    @property
    def stack_shape(self) -> tuple[int, ...]:
        """The leading axes of a stack of members (`()` for one parameter)."""
        return stack_shape(self)

    @abc.abstractmethod
    def at_index(self, index: Any) -> T:
        """The value at dataset index `index` (an int, or a traced integer scalar)."""

    @property
    @abc.abstractmethod
    def n(self) -> int:
        """The number of indices."""

    @property
    @abc.abstractmethod
    def all(self) -> T:
        """The values at every index, stacked along the index dimension."""

    def at(self, index: Any) -> T:
        """Alias of `at_index`."""
        return self.at_index(index)

    def at_current_index(self) -> T:
        """The value at the bound index; a `ValueError` while unbound."""
        if self._index is None:
            raise ValueError(
                f"{type(self).__name__} is not bound to an index. Resolve the model at an "
                "index first, `model = ptyrax_core.resolve_parametrizations(model, index)`, "
                "then call at_current_index() on the resolved model; or call at_index(index)."
            )
        return self.at_index(self._index)


class BoundSliceParameter(eqx.Module, Generic[T]):
    """An index-dependent parameter bound at one index by the resolvers.

    Attributes:
        parameter: the value at the bound index.
        n: the number of indices of the parameter it came from (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import IndexSliceParameter, resolve_parametrizations
        >>> positions = IndexSliceParameter(jnp.arange(6.0).reshape(3, 2))
        >>> bound = resolve_parametrizations({"positions": positions}, index=1)["positions"]
        >>> bound.at_current_index()
        Array([2., 3.], dtype=float32)
    """

    parameter: T
    n: int = eqx.field(static=True)
    _ptyrax_indexed: ClassVar[bool] = True
    __getattribute__ = object.__getattribute__  # plain attribute access, as ArrayParametrization

    def at_current_index(self) -> T:
        """The value at the bound index."""
        return self.parameter

    def _resolved(self, what: str) -> ValueError:
        return ValueError(
            f"{what} is not available: this parameter is already bound at one index by "
            "resolve_parametrizations. Use at_current_index(), or call at_index(i) / .all on "
            "the unresolved model."
        )

    def at_index(self, *args: Any) -> T:
        """Refused: the parameter is already bound."""
        raise self._resolved("at_index")

    def at(self, *args: Any) -> T:
        """Refused: the parameter is already bound."""
        raise self._resolved("at")

    @property
    def all(self) -> T:
        """Refused: the parameter is already bound."""
        raise self._resolved("all")


def _contains_index_dependent(tree: Any) -> bool:
    leaves = jax.tree_util.tree_leaves(
        tree, is_leaf=lambda x: isinstance(x, IndexDependentParameter | BoundSliceParameter)
    )
    return any(isinstance(x, IndexDependentParameter | BoundSliceParameter) for x in leaves)


class IndexSliceParameter(IndexDependentParameter[T]):
    """Values stacked along one dimension: `at_index(i)` takes slice `i` of every leaf.

    Arguments:
        parameters: a pytree whose every leaf has the index dimension `dim`, all of the same
            size `n`: an array, a tuple or dict of them, or a module such as a parametrization
            (then the index dimension is one of its output's, and `at_index` slices its
            output). NumPy arrays are converted.
        dim: the index dimension (static), among a member's axes (a stack's leading axes come
            before it); negative counts from each leaf's last dimension.

    A concrete `index` outside `[-n, n)` raises `IndexError`. A traced index is clamped into
    range, as JAX indexing does.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> positions = IndexSliceParameter(jnp.zeros((100, 2)))  # 100 scan positions, 2-D
        >>> positions.n, positions.at_index(5).shape
        (100, (2,))
        >>> jax.vmap(positions.at_index)(jnp.arange(3)).shape
        (3, 2)
    """

    registry_name: ClassVar[str] = "index_slice"
    parameters: T
    slice_dim: int = eqx.field(static=True)

    @typechecked
    def __init__(self, parameters: Any, dim: int = 0):
        if isinstance(dim, bool):
            raise TypeError(f"dim must be an int; got {dim!r}.")
        if _contains_index_dependent(parameters):
            raise TypeError(
                "parameters must not contain index-dependent parameters: index slices do not nest."
            )
        self.parameters = jax.tree_util.tree_map(
            lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, parameters
        )
        self.slice_dim = dim
        _index_size(self.parameters, dim)  # validates

    @property
    def dim(self) -> int:
        """The index dimension."""
        return self.slice_dim

    @property
    def n(self) -> int:
        """The size of the index dimension."""
        return _index_size(self.parameters, self.slice_dim)

    @property
    def all(self) -> T:
        """The parameters with every parametrization in them resolved; the index dim kept."""
        return resolve_arrays(self.parameters)

    def at_index(self, index: Any) -> T:
        """Slice `index` of every leaf (parametrizations resolved first), `dim` removed."""
        check_index(index, n=self.n, of="indices")
        return jax.tree_util.tree_map(
            lambda x: x[(slice(None),) * (self.slice_dim % x.ndim) + (index,)], self.all
        )

    def with_array(self, target: Any) -> Self:
        """A copy whose `all` is `target`: `target` replaces the parameters, index dim included.

        For parameters that are one array, `target` is an array of its shape, stored in its
        dtype (read by [`read_target`][ptyrax_core.read_target]; a boolean or integer array
        takes only a target of its dtype). For a parametrization, `target` has its output shape
        and goes to its `with_array` (its projection applies). For a pytree, `target` is a
        pytree of the same structure, such as `all`, read leaf by leaf. `dim` is kept. A shape
        or structure that does not match, or a parametrization without `with_array`, raises an
        error that names `target` (or its leaf, such as `target['shift']`).

        Example:
            >>> import jax.numpy as jnp
            >>> positions = IndexSliceParameter(jnp.zeros((3, 2)))
            >>> positions.with_array(jnp.ones((3, 2))).at_index(1)
            Array([1., 1.], dtype=float32)
        """
        leaves, treedef = jax.tree_util.tree_flatten_with_path(
            self.parameters, is_leaf=lambda x: isinstance(x, ArrayParametrization)
        )
        try:
            targets = treedef.flatten_up_to(target)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"target must have the tree structure of the parameters, {treedef}; got "
                f"{jax.tree_util.tree_structure(target)}."
            ) from e
        new = [
            with_array_of(leaf, value, f"target{jax.tree_util.keystr(path)}")
            for (path, leaf), value in zip(leaves, targets, strict=True)
        ]
        return eqx.tree_at(lambda p: p.parameters, self, treedef.unflatten(new))


def _index_size(parameters: Any, dim: int) -> int:
    """The common size of `parameters`' leaves along `dim`; errors name the argument."""
    leaves = jax.tree_util.tree_leaves(
        parameters, is_leaf=lambda x: isinstance(x, ArrayParametrization)
    )
    if not leaves:
        raise ValueError("parameters holds no arrays: an index slice needs at least one.")
    sizes = set()
    for leaf in leaves:
        if isinstance(leaf, ArrayParametrization | jax.Array | np.ndarray):
            shape = leaf.shape  # a parametrization's own stack's axes included
        else:
            raise TypeError(
                "parameters must hold only arrays and array parametrizations; "
                f"found a leaf of type {type(leaf).__name__}."
            )
        if not -len(shape) <= dim < len(shape):
            raise ValueError(
                f"dim={dim} is out of range for a leaf of parameters with shape {shape}."
            )
        sizes.add(shape[dim])
    if len(sizes) > 1:
        raise ValueError(
            f"every leaf of parameters must have the same size along dim={dim}; "
            f"got sizes {sorted(sizes)}."
        )
    return sizes.pop()
