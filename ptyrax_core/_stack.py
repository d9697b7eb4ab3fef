"""Stacks: parametrizations whose array leaves gained leading axes, one member per index.

A parametrization built under `eqx.filter_vmap`, or whose leaves were stacked along new
leading axes (`jax.tree.map(lambda *x: jnp.stack(x), *members)`: one member per slice of a
multislice object, per wavelength, ...), is a *stack*. Its class's `__init__` records the
number of dimensions of each of a member's arrays (a static field, so vmapping and stacking
keep it); an array parametrization held in a field counts as the array it stands for, so
that resolving it in place keeps the record true. The extra leading axes of the arrays, the
same for all of them, are the stack's. The methods a class writes for one member (an array
parametrization's call; an index-dependent parameter's `at_index`, `n` and `all`) are
vmapped over them, so an index-dependent parameter's index axis is among a member's axes.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

MEMBER_NDIMS = "_member_ndims"


def member_ndims_field() -> Any:
    """The static field that holds a member's array dimensions (None: not recorded)."""
    return eqx.field(static=True, default=None, kw_only=True, repr=False)


INDEXED = "_ptyrax_indexed"
"""A class attribute of the index-dependent parameters: their arrays, held in another
module's fields, change shape when the resolvers bind them, so they count for no stack."""

PARAMETRIZATION = "_ptyrax_parametrization"
"""A class attribute of the array parametrizations: one held in another module's fields
counts as one array of its `shape` (when recorded), as resolving it in place gives."""


def _indexed(x: Any) -> bool:
    return getattr(type(x), INDEXED, False)


def _stands_for_array(x: Any) -> bool:
    return getattr(type(x), PARAMETRIZATION, False) and getattr(x, MEMBER_NDIMS) is not None


def _array_shapes(module: Any) -> list[tuple[int, ...]]:
    """The shapes of `module`'s arrays, a recorded parametrization in a field being one."""
    values = [
        getattr(module, f.name)
        for f in dataclasses.fields(module)
        if f.name != MEMBER_NDIMS
        and not f.metadata.get("static", False)
        and hasattr(module, f.name)
    ]
    leaves = jax.tree_util.tree_leaves(
        values, is_leaf=lambda x: _indexed(x) or _stands_for_array(x)
    )
    return [
        stack_shape(x) + tuple(x.output_shape) if _stands_for_array(x) else tuple(x.shape)
        for x in leaves
        if eqx.is_array(x) or _stands_for_array(x)
    ]


def recording_init(init: Callable[..., None]) -> Callable[..., None]:
    """`init`, then the record of the new member's array dimensions."""
    if getattr(init, "_ptyrax_records", False):
        return init

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        setattr(self, MEMBER_NDIMS, tuple(len(s) for s in _array_shapes(self)))

    __init__._ptyrax_records = True  # type: ignore[attr-defined]
    return __init__


def stack_shape(module: Any) -> tuple[int, ...]:
    """The leading axes `module`'s arrays have beyond a member's: `()` for a single member.

    Raises:
        ValueError: the arrays do not agree (a stack of mismatched members).
    """
    record = getattr(module, MEMBER_NDIMS, None)
    if record is None:
        return ()
    shapes = _array_shapes(module)
    if not shapes and not record:  # no arrays at all (every field static): one member
        return ()
    if len(shapes) != len(record):
        raise ValueError(
            f"{type(module).__name__} holds {len(shapes)} arrays where its members hold "
            f"{len(record)}: not a stack of its members."
        )
    depths = {len(s) - r for s, r in zip(shapes, record, strict=True)}
    leading = {s[: len(s) - r] for s, r in zip(shapes, record, strict=True)}
    if len(depths) != 1 or len(leading) != 1 or min(depths) < 0:
        raise ValueError(
            f"{type(module).__name__} is a stack of mismatched members: its arrays have "
            f"leading axes {sorted(leading)} beyond a member's; every array of a stack must "
            "have the same ones."
        )
    return leading.pop()


def map_members(module: Any, depth: int, fn: Callable[[Any], Any]) -> Any:
    """`fn(member)` for every member of a stack `depth` axes deep, stacked the same way."""
    if depth == 0:
        return fn(module)
    dynamic, static = eqx.partition(module, eqx.is_array)
    return jax.vmap(lambda d: map_members(eqx.combine(d, static), depth - 1, fn))(dynamic)


def _of_a_member(module: Any, depth: int, fn: Callable[[Any], Any]) -> Any:
    """`fn(member)` for what every member shares, such as `n`: traced on an abstract member."""
    dynamic, static = eqx.partition(module, eqx.is_array)
    member = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[depth:], x.dtype), dynamic)
    out = []
    jax.eval_shape(lambda d: out.append(fn(eqx.combine(d, static))), member)
    return out[0]


def over_members(method: Callable[..., Any], shared: bool = False) -> Callable[..., Any]:
    """`method`, written for one member, made to run on each member of a stack.

    Its results are stacked along the stack's axes; with `shared`, the result is one that
    every member shares (a Python value read off the shapes, such as `n`), returned once.
    """
    if getattr(method, "_ptyrax_over_members", False):
        return method

    @functools.wraps(method)
    def over(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = len(stack_shape(self))
        if depth == 0:
            return method(self, *args, **kwargs)
        each = _of_a_member if shared else map_members
        return each(self, depth, lambda member: method(member, *args, **kwargs))

    over._ptyrax_over_members = True  # type: ignore[attr-defined]
    return over
