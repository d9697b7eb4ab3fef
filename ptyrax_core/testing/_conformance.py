"""The rules, one function each, in the order they are checked."""

import dataclasses
import io
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import registry
from .._array import ArrayParametrization
from .._contributions import SNAKE_CASE
from .._index import IndexDependentParameter, IndexSliceParameter
from .._resolve import resolve_parametrizations
from ._tolerance import rounding_tolerance


class _Broken(AssertionError):
    pass


def _require(ok: Any, p: Any, rule: str, problem: str, why: str) -> None:
    if not ok:
        raise _Broken(f"{type(p).__name__} breaks the rule {rule!r}: {problem}. {why}")


def _output(p: Any, index: Any = None) -> Any:
    return p() if isinstance(p, ArrayParametrization) else p.at_index(index)


# Two evaluations of one parametrization (eager and under jax.jit or jax.vmap, before and after
# a round trip) run the same operations, which XLA may fuse, contract (FMA) or reorder
# differently: each may round differently. 8 terms of rounding_tolerance are 64 ulps of the
# output, room for 64 half-ulp roundings in each evaluation: an output is a short chain (a
# scaling; a sigmoid and an exp; a wavelet's 2 * level passes of len(filter) multiply-adds,
# 48 roundings for db2 at level 2).
_SAME_TERMS = 8
# with_array inverts the output, the copy recomputes it: twice such a chain, and an inverse
# that may be a factorization rounding to a few ulps times its size (an SVD: max(M, N) * eps *
# |output|, numpy's matrix_rank tolerance). 32 terms are 256 ulps.
_ROUND_TRIP_TERMS = 32


def _same(a: Any, b: Any, terms: float = _SAME_TERMS, stored: Any = None) -> bool:
    """Equal pytrees of arrays: exactly for integers and bools, and for floats to the rounding of
    `terms` operations in the leaf's dtype (or in `stored`, a coarser dtype the values were kept
    in), relative to the largest finite `|b|`."""
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    if jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(b):
        return False
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if jnp.issubdtype(x.dtype, jnp.inexact):  # also bfloat16, which numpy does not know
            dtype, wide = x.dtype, np.complex128 if jnp.iscomplexobj(x) else np.float64
            x, y = x.astype(wide), y.astype(wide)
            finite = np.abs(y[np.isfinite(y)])
            scale = float(np.max(finite)) if finite.size else 0.0
            scale = scale if scale > 0 else 1.0
            tol = rounding_tolerance(dtype, terms=terms, scale=scale)
            if stored is not None:
                tol = max(tol, rounding_tolerance(stored, terms=terms, scale=scale))
            if not np.allclose(x, y, rtol=0.0, atol=tol, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def _stacks(all_values: Any, stacked: Any) -> bool:
    """Each leaf of `all_values` is the matching leaf of `stacked` with its axis 0 elsewhere."""
    pairs = zip(
        jax.tree_util.tree_leaves(all_values), jax.tree_util.tree_leaves(stacked), strict=False
    )
    return jax.tree_util.tree_structure(all_values) == jax.tree_util.tree_structure(
        stacked
    ) and all(
        any(
            _same(jnp.moveaxis(a, axis, 0), s)
            for axis in range(a.ndim)
            if a.shape[axis] == s.shape[0]
        )
        for a, s in pairs
    )


def registry_name(p: Any) -> None:
    cls = type(p)
    name = cls.__dict__.get("registry_name")
    why = "Specs, checkpoints and registry.get find the class by it."
    _require(
        isinstance(name, str) and SNAKE_CASE.match(name),
        p,
        "registry name",
        f"the class must declare its own snake_case registry_name; it has {name!r}",
        why,
    )
    if name in registry.names():
        _require(
            registry.get(name) is cls,
            p,
            "registry name",
            f"{name!r} is registered for another class, {registry.get(name).__qualname__}",
            why,
        )


def array_leaves(p: Any) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(p):
        _require(
            isinstance(leaf, jax.Array),
            p,
            "array leaves",
            f"the field {jax.tree_util.keystr(path)} holds a {type(leaf).__name__}, which is not "
            "a JAX array",
            "Plain jax.jit traces every leaf: configuration belongs in eqx.field(static=True), "
            "parameters in JAX arrays.",
        )


def no_array_in_static_fields(p: Any) -> None:
    for field in dataclasses.fields(p):
        if not field.metadata.get("static", False):
            continue
        value = getattr(p, field.name, None)
        arrays = [
            x for x in jax.tree_util.tree_leaves(value) if isinstance(x, jax.Array | np.ndarray)
        ]
        _require(
            not arrays,
            p,
            "no array in a static field",
            f"the static field {field.name!r} holds an array",
            "Static fields are hashed for jit's cache: an array there is unhashable, retraces on "
            "every call, or is baked in as a constant. Keep arrays in ordinary fields (frozen "
            "ones in frozen_fields), or store Python numbers and tuples.",
        )


def output_shape_and_dtype(p: Any) -> None:
    if isinstance(p, IndexDependentParameter):
        _require(
            isinstance(p.n, int) and p.n >= 1,
            p,
            "output",
            f"n must be a positive int; it is {p.n!r}",
            "Resolvers and vmap over scan indices rely on it.",
        )
        stacked = jax.vmap(p.at_index)(jnp.arange(p.n))
        _require(
            _stacks(p.all, stacked),
            p,
            "output",
            "all is not the values of at_index(0), ..., at_index(n - 1) stacked along one axis",
            "resolve_parametrizations(model) with index=None gives all; with an index, "
            "at_index. A model must see the same values both ways.",
        )
        return
    try:
        out = p()
    except Exception as e:
        raise _Broken(
            f"{type(p).__name__} breaks the rule 'output': calling it raised "
            f"{type(e).__name__}: {e}"
        ) from e
    _require(
        isinstance(out, jax.Array) and out.shape == tuple(p.output_shape),
        p,
        "output",
        f"it returned {getattr(out, 'shape', type(out).__name__)}, but its output_shape is "
        f"{tuple(p.output_shape)}",
        "The forward model is written against the declared shape.",
    )
    jitted = jax.jit(lambda q: q())(p)
    _require(
        p().dtype == out.dtype == jitted.dtype,
        p,
        "output",
        f"its dtype changes: {out.dtype}, then {p().dtype}, and {jitted.dtype} under jax.jit",
        "A dtype that changes between calls retraces or silently promotes the model.",
    )


def _indices(p: Any) -> list[int]:
    return sorted({0, p.n - 1})


def jit_equals_eager(p: Any) -> None:
    cases = [None] if isinstance(p, ArrayParametrization) else _indices(p)
    for i in cases:
        eager = _output(p, i)
        jitted = jax.jit(_output)(p, i)
        _require(
            _same(jitted, eager),
            p,
            "jit equals eager",
            "under jax.jit it gives another result than eagerly"
            + ("" if i is None else f" (index {i})"),
            "Every reconstruction step is jitted.",
        )


def deterministic(p: Any) -> None:
    cases = [None] if isinstance(p, ArrayParametrization) else _indices(p)
    for i in cases:
        _require(
            _same(_output(p, i), _output(p, i)),
            p,
            "deterministic",
            "two calls gave different results",
            "Optimizers and checkpoint round trips assume the same parameters give the same array.",
        )


def _fields(module: Any, prefix: str = "") -> Iterator[tuple[str, Any, bool]]:
    """(name, subtree, frozen) per field, descending into nested parametrizations."""
    frozen = getattr(type(module), "frozen_fields", ())
    for field in dataclasses.fields(module):
        if field.metadata.get("static", False):
            continue
        value = getattr(module, field.name)
        name = f"{prefix}{field.name}"
        if isinstance(value, ArrayParametrization):
            yield from _fields(value, f"{name}.")
        else:
            yield name, value, field.name in frozen


def gradients(p: Any) -> None:
    probe = jax.eval_shape(
        lambda q: _output(q, 0 if isinstance(q, IndexDependentParameter) else None), p
    )
    if not all(jnp.issubdtype(x.dtype, jnp.inexact) for x in jax.tree_util.tree_leaves(probe)):
        return  # a boolean or integer output has no gradient to check
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 64))

    def weight(x: Any) -> Any:
        w = jax.random.normal(next(keys), x.shape)
        return w + 1j * jax.random.normal(next(keys), x.shape) if jnp.iscomplexobj(x) else w

    weights = jax.tree_util.tree_map(weight, probe)

    def objective(q: Any) -> Any:
        outs = (
            [_output(q, None)]
            if isinstance(q, ArrayParametrization)
            else [q.at_index(i) for i in _indices(q)]
        )
        total = 0.0
        for out in outs:
            for w, x in zip(
                jax.tree_util.tree_leaves(weights), jax.tree_util.tree_leaves(out), strict=True
            ):
                total = total + jnp.sum(jnp.real(jnp.conj(w) * x))
        return total

    grads = eqx.filter_grad(objective)(p)
    for name, value, frozen in _fields(grads):
        leaves = [x for x in jax.tree_util.tree_leaves(value) if isinstance(x, jax.Array)]
        if not leaves:
            continue
        moved = any(bool(jnp.any(x != 0)) for x in leaves)
        if frozen:
            _require(
                not moved,
                p,
                "gradients",
                f"the field {name!r} is in frozen_fields but gets a gradient",
                "Stop it in __call__ with jax.lax.stop_gradient, or train it and drop it from "
                "frozen_fields.",
            )
        else:
            _require(
                moved,
                p,
                "gradients",
                f"the field {name!r} gets no gradient from the output",
                "A parameter without a gradient is silently never trained. If that is deliberate, "
                "name it in frozen_fields and stop its gradient.",
            )


def pytree_round_trips(p: Any) -> None:
    case = None if isinstance(p, ArrayParametrization) else 0
    expected = _output(p, case)
    leaves, treedef = jax.tree_util.tree_flatten(p)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    _require(
        _same(_output(rebuilt, case), expected),
        p,
        "pytree round trips",
        "rebuilt from its leaves, it gives another result",
        "Optimizers and transformations rebuild modules from their leaves.",
    )
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, p)
    buffer.seek(0)
    template = jax.tree_util.tree_map(jnp.zeros_like, p)
    loaded = eqx.tree_deserialise_leaves(buffer, template)
    _require(
        _same(_output(loaded, case), expected),
        p,
        "pytree round trips",
        "after eqx.tree_serialise_leaves / tree_deserialise_leaves it gives another result",
        "Labs keep checkpoints for months.",
    )


def resolves_in_a_model(p: Any) -> None:
    n = 3 if isinstance(p, ArrayParametrization) else p.n
    model = {"p": p, "i": IndexSliceParameter(jnp.arange(n))}

    def resolved(model: Any, index: Any) -> Any:
        value = resolve_parametrizations(model, index)["p"]
        return value if isinstance(p, ArrayParametrization) else value.at_current_index()

    indices = jnp.arange(n)
    batch = jax.jit(jax.vmap(resolved, in_axes=(None, 0)))(model, indices)
    for i in _indices(p) if isinstance(p, IndexDependentParameter) else [0, n - 1]:
        expected = _output(p, None if isinstance(p, ArrayParametrization) else i)
        _require(
            _same(jax.jit(resolved)(model, i), expected)
            and _same(jax.tree_util.tree_map(lambda x, i=i: x[i], batch), expected),
            p,
            "resolves in a model",
            f"resolve_parametrizations(model, index) under jax.jit or jax.vmap gave another "
            f"result at index {i}",
            "That is how every model uses a parametrization.",
        )


def _value(p: Any) -> Any:
    return p() if isinstance(p, ArrayParametrization) else p.all


def _with_array(p: Any, target: Any) -> Any:
    return p.with_array(target)


def _layout(p: Any) -> Any:
    """The tree structure and every leaf's shape and dtype: what jax.jit compiles for."""
    leaves, treedef = jax.tree_util.tree_flatten(p)
    return treedef, [(jnp.shape(x), jnp.result_type(x)) for x in leaves]


def _coarsest(tree: Any) -> Any:
    """The inexact dtype of `tree`'s leaves with the largest eps (None if it has none)."""
    dtypes = [
        jnp.dtype(x.dtype)
        for x in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return max(dtypes, key=lambda d: float(jnp.finfo(d).eps), default=None)


def with_array_round_trips(p: Any) -> None:
    if not callable(getattr(p, "with_array", None)):
        return
    stored = _coarsest(p)  # the copy keeps the target in its leaves: bfloat16 ones round it so
    value = _value(p)
    why = (
        "with_array(target) builds a copy from an array (a checkpoint, an earlier "
        "reconstruction): given its own output it must give it back, as the same kind of object."
    )
    for how, with_array in (("eagerly", _with_array), ("under jax.jit", jax.jit(_with_array))):
        copy = with_array(p, value)
        _require(
            type(copy) is type(p) and _layout(copy) == _layout(p),
            p,
            "with array round trips",
            f"{how}, with_array returned a {type(copy).__name__} of another class, tree "
            "structure (static configuration, fields) or leaf shapes and dtypes",
            why + " A jitted step compiled for the original must take the copy.",
        )
        _require(
            _same(_value(copy), value, terms=_ROUND_TRIP_TERMS, stored=stored),
            p,
            "with array round trips",
            f"{how}, with_array(its own output) gives another output",
            why,
        )


def _stacked(*members: Any) -> Any:
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *members)


def stacks_resolve_as_their_members(p: Any) -> None:
    why = (
        "Multislice objects, wavelengths and code ported from the upstream ptyrax stack "
        "parametrizations (eqx.filter_vmap, or leaves stacked along a new axis)."
    )
    stack = _stacked(p, p)
    _require(
        stack.stack_shape == (2,),
        p,
        "stacks resolve as their members",
        f"two members stacked along a new leading axis report stack_shape {stack.stack_shape}, "
        "not (2,) (does its class define __init__? it records a member's array dimensions)",
        why,
    )
    if isinstance(p, IndexDependentParameter):
        _require(
            stack.n == p.n,
            p,
            "stacks resolve as their members",
            f"a stack of two reports n = {stack.n}, its members {p.n}: it counts a stack axis "
            "as its index axis",
            why,
        )
    cases = [None] if isinstance(p, ArrayParametrization) else _indices(p)
    for i in cases:
        member = _output(p, i)
        both = _stacked(member, member)
        _require(
            _same(_output(stack, i), both) and _same(jax.jit(_output)(stack, i), both),
            p,
            "stacks resolve as their members",
            "a stack of two gives another result than its members stacked"
            + ("" if i is None else f" (index {i})"),
            why,
        )
    if isinstance(p, IndexDependentParameter):
        both = _stacked(p.all, p.all)
        _require(
            _same(stack.all, both) and _same(jax.jit(lambda q: q.all)(stack), both),
            p,
            "stacks resolve as their members",
            "a stack of two gives another all than its members' stacked",
            why,
        )


RULES: tuple[Callable[[Any], None], ...] = (
    registry_name,
    array_leaves,
    no_array_in_static_fields,
    output_shape_and_dtype,
    deterministic,
    jit_equals_eager,
    gradients,
    pytree_round_trips,
    resolves_in_a_model,
    with_array_round_trips,
    stacks_resolve_as_their_members,
)
"""The rules `check_parametrization` applies, in order."""


def check_parametrization(instance: Any) -> None:
    """Return when `instance` follows every rule; else raise `AssertionError` for the first one
    broken, saying what is wrong and why it matters.

    Checks an `ArrayParametrization` or an `IndexDependentParameter`: its class declares a
    unique snake_case `registry_name`; every leaf is a JAX array and no static field holds one;
    the output has `output_shape` and a stable dtype; `jax.jit` gives the eager result; calls are
    deterministic; every trainable inexact field gets a gradient and every field in
    `frozen_fields` gets none; it survives pytree flattening and equinox serialisation; and it
    resolves inside a model under `jax.jit` and `jax.vmap` over an index; and, if it has a
    `with_array` method, `with_array` of its own output (`all` for an index-dependent parameter)
    gives back that output and an object of the same class and tree structure, eagerly and
    under `jax.jit`; and two of it stacked along a new leading axis resolve to its output
    stacked (for an index-dependent parameter: `n` kept, `at_index` and `all` stacked).

    Example:
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import DirectArrayParametrization
        >>> check_parametrization(DirectArrayParametrization(jnp.ones((2, 3))))
    """
    if not isinstance(instance, ArrayParametrization | IndexDependentParameter):
        raise TypeError(
            "check_parametrization checks an ArrayParametrization or IndexDependentParameter "
            f"instance; got {type(instance).__name__}."
        )
    for rule in RULES:
        try:
            rule(instance)
        except _Broken:
            raise
        except Exception as e:
            raise AssertionError(
                f"{type(instance).__name__} breaks the rule {rule.__name__.replace('_', ' ')!r}: "
                f"checking it raised {type(e).__name__}: {e}"
            ) from e
