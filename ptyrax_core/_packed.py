"""`pack`: a model as one pytree node over its leaves, for a cheap `jax.jit` boundary."""

from typing import Any, Generic, TypeVar

import jax

T = TypeVar("T")


class Packed(Generic[T]):
    """A model tree kept as its leaves and its structure: one pytree node, whatever the model.

    `jax.jit` flattens its arguments at every call, and builds the pytrees it returns. For a
    dict of arrays that happens in C++; an equinox module is flattened, and built, by Python
    code, a few microseconds a module. A packed model is one node whose children are the
    model's leaves, so passing it across a jitted step (and getting its gradients and optimizer
    updates back, as `Packed` too) costs what a list of arrays costs. Make one with
    [`pack`][ptyrax_core.pack]; the resolvers unpack it, so the loss does not change.

    Attributes:
        leaves: the model's leaves, in `jax.tree_util.tree_leaves` order.
        treedef: the model's structure, static configuration included.
    """

    __slots__ = ("leaves", "treedef")
    leaves: tuple[Any, ...]
    treedef: jax.tree_util.PyTreeDef

    def __init__(self, leaves: Any, treedef: jax.tree_util.PyTreeDef):
        if not isinstance(treedef, jax.tree_util.PyTreeDef):
            raise TypeError(
                f"treedef must be a jax.tree_util.PyTreeDef; got {type(treedef).__name__}. "
                "Make a Packed with ptyrax_core.pack(tree)."
            )
        self.leaves = tuple(leaves)
        self.treedef = treedef

    def unpack(self) -> T:
        """The model tree again (the same classes, static fields and leaves)."""
        return jax.tree_util.tree_unflatten(self.treedef, self.leaves)

    def __repr__(self) -> str:
        return f"Packed({len(self.leaves)} leaves: {self.treedef})"


def _flatten(p: Packed) -> tuple[tuple[Any, ...], jax.tree_util.PyTreeDef]:
    return p.leaves, p.treedef


def _unflatten(treedef: jax.tree_util.PyTreeDef, leaves: Any) -> Packed:
    p = object.__new__(Packed)  # no checks: JAX also unflattens with placeholders
    p.leaves, p.treedef = tuple(leaves), treedef
    return p


jax.tree_util.register_pytree_node(Packed, _flatten, _unflatten)


def unpack_all(tree: Any) -> Any:
    """`tree` with every `Packed` in it (nested ones too) unpacked."""
    if isinstance(tree, Packed):
        return unpack_all(tree.unpack())
    return jax.tree_util.tree_map(
        lambda x: unpack_all(x.unpack()) if isinstance(x, Packed) else x,
        tree,
        is_leaf=lambda x: isinstance(x, Packed),
    )


def pack(tree: T) -> Packed[T]:
    """`tree` as a [`Packed`][ptyrax_core.Packed]: one pytree node over its leaves.

    Pass the packed model to a jitted step in place of the model: its arrays, gradients and
    optimizer states are the same, the step's Python overhead at each call is that of a list of
    arrays. The resolvers unpack it (nested ones too), and `unpack()` gives the model back.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import DirectArrayParametrization, pack, resolve_parametrizations
        >>> P = DirectArrayParametrization
        >>> model = {k: P(jnp.full(2, i, "float32")) for i, k in enumerate("abc")}
        >>> packed = pack(model)
        >>> packed
        Packed(3 leaves: PyTreeDef({'a': CustomNode(DirectArrayParametrization[...], [*]), ...}))
        >>> @jax.jit
        ... def step(packed):
        ...     loss = lambda p: sum(a.sum() for a in resolve_parametrizations(p).values())
        ...     return jax.value_and_grad(loss)(packed)
        >>> loss, grads = step(packed)
        >>> loss, type(grads).__name__, resolve_parametrizations(grads)["c"]
        (Array(6., dtype=float32), 'Packed', Array([1., 1.], dtype=float32))
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return _unflatten(treedef, leaves)
