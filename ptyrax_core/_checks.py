"""Runtime checks: jaxtyping + beartype for signatures, and the small checks plugins share."""

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np
from jaxtyping import Array, Shaped

F = TypeVar("F", bound=Callable[..., Any])

HostOrDeviceArray = Shaped[jax.Array | np.ndarray, "..."]
"""An array annotation that accepts JAX arrays (tracers included) and NumPy arrays."""


def typechecked(fn: F) -> F:
    """Check a function's arguments and result against its annotations, while tracing only.

    The one way for core and plugins to opt into runtime checks: jaxtyping's shape and dtype
    annotations (`Float[Array, "m n"]`, ...) checked by beartype. A wrong argument raises
    `jaxtyping.TypeCheckError` (a `TypeError`) that names the argument. Checks are Python code, so
    they run when a function is called eagerly or traced; a compiled `jax.jit` call pays nothing.

    Decorate functions and methods, `__init__` included:

    >>> import jax.numpy as jnp
    >>> from jaxtyping import Array, Float
    >>> @typechecked
    ... def energy(field: Float[Array, "m n"]) -> Float[Array, ""]:
    ...     return jnp.sum(field**2)
    >>> energy(jnp.ones((2, 3)))
    Array(6., dtype=float32)
    >>> energy(jnp.ones(3))
    Traceback (most recent call last):
    ...
    jaxtyping.TypeCheckError: Type-check error whilst checking the parameters of ...energy.
    ...

    Raises `TypeError` at decoration time when the annotations are strings (a module with
    `from __future__ import annotations`), which would otherwise silently check nothing.
    """
    if inspect.isclass(fn):
        raise TypeError(
            f"typechecked decorates functions and methods, not the class {fn.__name__}; "
            "decorate its __init__ instead."
        )
    if any(isinstance(a, str) for a in getattr(fn, "__annotations__", {}).values()):
        raise TypeError(
            f"{fn.__qualname__} has string annotations, so its checks would silently do nothing: "
            "remove `from __future__ import annotations` from its module."
        )
    checked = None

    @functools.wraps(fn)
    def check_and_call(*args: Any, **kwargs: Any) -> Any:
        # Importing beartype takes about 100 ms, and decorating with it 1.5 ms a function:
        # done here, at the first call, `import ptyrax_core` and plugin discovery skip both.
        nonlocal checked
        if checked is None:
            import beartype

            checked = jaxtyping.jaxtyped(typechecker=beartype.beartype)(fn)
        return checked(*args, **kwargs)

    return check_and_call  # type: ignore[return-value]


def as_array(value: Any, argname: str) -> Array:
    """`value` as a JAX array; a zero-argument callable is called first.

    The shared reading of a `data_or_initializer` argument: an array (JAX or NumPy), or a
    callable taking no arguments that returns one. Anything else raises a `TypeError` naming
    `argname`.

    >>> as_array(lambda: jnp.zeros(2), "data_or_initializer")
    Array([0., 0.], dtype=float32)
    """
    if callable(value) and not isinstance(value, jax.Array | np.ndarray):
        try:
            value = value()
        except TypeError as e:
            raise TypeError(
                f"{argname}: an initializer is called with no arguments and must return an "
                f"array; calling {value!r} failed: {e}"
            ) from e
        what = "the array returned by the initializer"
    else:
        what = "an array"
    if not isinstance(value, jax.Array | np.ndarray):
        raise TypeError(
            f"{argname} must be {what} (jax.Array or numpy.ndarray), "
            f"or a zero-argument callable returning one; got {type(value).__name__}."
        )
    return jnp.asarray(value)


def initialize(initializer: Callable[..., Any], shape: tuple[int, ...], argname: str) -> Array:
    """`initializer(shape)`, checked: an array of exactly `shape`, integers made floating.

    The shared reading of a shape-taking `initializer` argument (such as `jnp.zeros`). A
    result that is not an array, or has another shape, raises an error naming `argname`.

    >>> initialize(jnp.ones, (2, 3), "initializer").dtype
    dtype('float32')
    >>> initialize(lambda shape: jnp.ones(3), (2, 3), "initializer")
    Traceback (most recent call last):
    ...
    ValueError: initializer returned shape (3,); it is called with the shape it must return, (2, 3).
    """
    array = as_array(lambda: initializer(shape), argname)
    if array.shape != tuple(shape):
        raise ValueError(
            f"{argname} returned shape {array.shape}; it is called with the shape it must "
            f"return, {tuple(shape)}."
        )
    if not jnp.issubdtype(array.dtype, jnp.inexact):
        array = array.astype(jnp.result_type(float))
    return array


def read_target(target: Any, like: Any, argname: str = "target") -> Array:
    """`target` read for a `with_array(target)` method: a JAX array of `like`'s shape and dtype.

    `like` is the parametrization the target is for (its `output_shape`, and the dtype of its
    output, found with `jax.eval_shape`), or an array or `jax.ShapeDtypeStruct` to match.
    `target` is read as [`as_array`][ptyrax_core.as_array] reads an array (NumPy is converted)
    and must have exactly that shape. For a floating or complex output it is cast to the
    output's dtype: integers and booleans become floats, a real target for a complex output
    gets a zero imaginary part. A complex target for an output that is not complex raises, as
    dropping its imaginary part would be a silent guess. For a boolean or integer output the
    target keeps its dtype, for the parametrization's own projection. Works under `jax.jit`.

    >>> read_target(np.arange(3), jnp.zeros(3, jnp.complex64))
    Array([0.+0.j, 1.+0.j, 2.+0.j], dtype=complex64)
    >>> read_target(jnp.ones((2, 3)), jnp.zeros((3, 2)))
    Traceback (most recent call last):
    ...
    ValueError: target must have shape (3, 2); got shape (2, 3).
    """
    if isinstance(like, jax.Array | np.ndarray | jax.ShapeDtypeStruct):
        expected, owner = like, ""
    else:
        expected = jax.eval_shape(lambda p: p(), like)
        owner = f", the output_shape of {type(like).__name__}"
    array = as_array(target, argname)
    if array.shape != expected.shape:
        raise ValueError(
            f"{argname} must have shape {tuple(expected.shape)}{owner}; got shape {array.shape}."
        )
    if jnp.iscomplexobj(array) and not jnp.issubdtype(expected.dtype, jnp.complexfloating):
        raise TypeError(
            f"{argname} is complex ({array.dtype}), but the output is {expected.dtype}: pass "
            f"jnp.real({argname}), jnp.abs({argname}) or jnp.angle({argname}), as meant."
        )
    if jnp.issubdtype(expected.dtype, jnp.inexact):
        array = array.astype(expected.dtype)
    return array


def check_index(
    index: Any, argname: str = "index", *, n: int | None = None, of: str = "indices"
) -> None:
    """Raise `TypeError` unless `index` is an integer scalar: a Python or NumPy int, or a 0-d
    integer array (traced ones included). With `n`, an int outside `[-n, n)` raises
    `IndexError` (`index 7 is out of range for 5 positions.`, with `of="positions"`); arrays
    are left to JAX's indexing, which clamps them into range.

    Example:
        >>> check_index(3, n=5, of="positions")
        >>> check_index(7, n=5, of="positions")
        Traceback (most recent call last):
        ...
        IndexError: index 7 is out of range for 5 positions.
    """
    ok = isinstance(index, int | np.integer) and not isinstance(index, bool)
    if isinstance(index, jax.Array | np.ndarray):
        ok = index.ndim == 0 and jnp.issubdtype(index.dtype, jnp.integer)
    if not ok:
        shown = (
            f"an array of dtype {index.dtype} and shape {index.shape}"
            if isinstance(index, jax.Array | np.ndarray)
            else repr(index)
        )
        raise TypeError(
            f"{argname} must be an integer scalar (an int, or a 0-d integer array, traced or not); "
            f"got {shown}."
        )
    if n is not None and isinstance(index, int | np.integer) and not -n <= index < n:
        raise IndexError(f"{argname} {index} is out of range for {n} {of}.")


def static_float(value: Any, argname: str, *, nonzero: bool = False) -> float:
    """`value` as a Python float, for a static configuration field (a threshold, a scale).

    Accepts a real number: a Python or NumPy int or float, or a concrete 0-d array. Refuses,
    naming `argname`: a traced value (configuration is read when a parametrization is built,
    outside `jax.jit`), a bool, a complex or non-numeric value, one that is not finite, and zero
    when `nonzero`.

    >>> static_float(np.float32(0.25), "threshold")
    0.25
    >>> static_float(float("nan"), "threshold")
    Traceback (most recent call last):
    ...
    ValueError: threshold must be a finite real number; got nan.
    """
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{argname} is a traced value, but it is static configuration: build the "
            "parametrization outside jax.jit, jax.vmap and jax.grad, then pass it in."
        )
    array = np.asarray(value) if isinstance(value, jax.Array | np.ndarray | np.generic) else None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if array is not None:
        ok = array.ndim == 0 and (
            np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
        )
    if not ok:
        raise TypeError(f"{argname} must be a real number; got {value!r}.")
    number = float(value)
    if not np.isfinite(number) or (nonzero and number == 0.0):
        wanted = "finite and nonzero" if nonzero else "a finite real number"
        raise ValueError(f"{argname} must be {wanted}; got {number}.")
    return number
