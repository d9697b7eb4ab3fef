"""Stacks: parametrizations whose array leaves gained leading axes, one member per index.

A parametrization built under `eqx.filter_vmap`, or whose leaves were stacked along new
leading axes (`jax.tree.map(lambda *x: jnp.stack(x), *members)`: one member per slice of a
multislice object, per wavelength, ...), is a *stack*. Its class's `__init__` records the
number of dimensions of each of a member's array leaves (a static field, so vmapping and
stacking keep it); the extra leading axes of the leaves, the same for all of them, are the
stack's. Calling a stack vmaps the member's call over them, and an index-dependent
parameter counts its index axis among a member's axes, after the stack's.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

MEMBER_NDIMS = "_member_ndims"


def member_ndims_field() -> Any:
    """The static field that holds a member's leaf dimensions (None: not recorded)."""
    return eqx.field(static=True, default=None, kw_only=True, repr=False)


INDEXED = "_ptyrax_indexed"
"""A class attribute of the index-dependent parameters: their arrays, held in another
module's fields, change shape when the resolvers bind them, so they count for no stack."""


def _indexed(x: Any) -> bool:
    return getattr(type(x), INDEXED, False)


def _array_leaves(module: Any) -> list:
    values = [
        getattr(module, f.name)
        for f in dataclasses.fields(module)
        if f.name != MEMBER_NDIMS
        and not f.metadata.get("static", False)
        and hasattr(module, f.name)
    ]
    leaves = jax.tree_util.tree_leaves(values, is_leaf=_indexed)
    return [x for x in leaves if eqx.is_array(x)]


def recording_init(init: Callable[..., None]) -> Callable[..., None]:
    """`init`, then the record of the new member's leaf dimensions."""
    if getattr(init, "_ptyrax_records", False):
        return init

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        setattr(self, MEMBER_NDIMS, tuple(x.ndim for x in _array_leaves(self)))

    __init__._ptyrax_records = True  # type: ignore[attr-defined]
    return __init__


def stack_shape(module: Any) -> tuple[int, ...]:
    """The leading axes `module`'s leaves have beyond a member's: `()` for a single member.

    Raises:
        ValueError: the leaves do not agree (a stack of mismatched members).
    """
    record = getattr(module, MEMBER_NDIMS, None)
    if record is None:
        return ()
    leaves = _array_leaves(module)
    if len(leaves) != len(record):
        raise ValueError(
            f"{type(module).__name__} holds {len(leaves)} arrays where its members hold "
            f"{len(record)}: not a stack of its members."
        )
    depths = {x.ndim - r for x, r in zip(leaves, record, strict=True)}
    shapes = {tuple(x.shape[: x.ndim - r]) for x, r in zip(leaves, record, strict=True)}
    if len(depths) != 1 or len(shapes) != 1 or min(depths) < 0:
        raise ValueError(
            f"{type(module).__name__} is a stack of mismatched members: its arrays have "
            f"leading axes {sorted(shapes)} beyond a member's; every array of a stack must "
            "have the same ones."
        )
    return shapes.pop()


def map_members(module: Any, depth: int, fn: Callable[[Any], Any]) -> Any:
    """`fn(member)` for every member of a stack `depth` axes deep, stacked the same way."""
    if depth == 0:
        return fn(module)
    dynamic, static = eqx.partition(module, eqx.is_array)
    return jax.vmap(lambda d: map_members(eqx.combine(d, static), depth - 1, fn))(dynamic)
