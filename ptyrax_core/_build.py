"""`build`: parametrizations, and trees of them, from plain specs (dicts and lists, or a file)."""

import collections.abc
import dataclasses
import difflib
import inspect
import json
import math
import os
import pathlib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np

from . import registry
from ._errors import (
    SpecError,
    SpecKeyError,
    SpecTypeError,
    SpecValueError,
    UnknownParametrizationError,
)
from ._firstparty import provider

# An initializer's array may take at most this many bytes: XLA aborts the process, instead of
# raising, for an array whose size in bytes overflows a 64-bit integer.
_MAX_BYTES = 2**62
# jax.random.PRNGKey takes a seed that fits a signed 64-bit integer.
_MAX_SEED = 2**63 - 1

# initializer name -> (its required options, its optional ones)
_INITIALIZERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "zeros": ((), ()),
    "ones": ((), ()),
    "full": (("value",), ()),
    "normal": (("seed",), ("mean", "scale")),
    "uniform": (("seed",), ("low", "high")),
}


def build(spec: Any, *, base_dir: str | os.PathLike | None = None) -> Any:
    """A parametrization, or a dict/list tree of them, from a plain spec or a spec file.

    A spec is made of dicts, lists, strings and numbers, as JSON and TOML hold them:

    - `{"type": NAME, **arguments}` builds the parametrization registered as `NAME` (see
      [`registry.names()`][ptyrax_core.registry.names]) with those constructor arguments. An
      argument may itself be a spec, such as a parametrization that another one wraps.
    - A nested list of numbers becomes a JAX array where the argument's annotation accepts
      arrays; elsewhere it stays a list, or becomes a tuple where the annotation is a tuple
      (such as `output_shape`). Numbers, booleans and strings stay as they are.
    - `{"array": NESTED_LIST, "dtype": "float32"}`: an array of that dtype.
    - `{"npy": "path.npy"}`: the array in a `.npy` file (read without pickle), relative to the
      spec file's folder, or to `base_dir`, or to the working directory.
    - `{"init": NAME, "shape": [...], ...}`: an array from an initializer: `zeros`, `ones`,
      `full` (`value`), `normal` (`seed`, `mean` 0, `scale` 1) or `uniform` (`seed`, `low` 0,
      `high` 1), with an optional `dtype` (default float32; `normal` takes complex dtypes too).
      Without `shape`, where the argument takes an initializer function (such as
      `phase_initializer`), it is that function, called with the shape the class chooses; a
      plain string such as `"zeros"` is the same. A string there may also name a helper
      function that a plugin exports (such as `"mean_l2_norm"`).
    - Any other dict builds a dict, any other list a list.

    Arguments:
        spec: the spec, or the path of a `.toml` or `.json` file holding it.
        base_dir: the folder that relative `npy` paths start from (default: the spec file's
            folder; for a spec given as data, the working directory).

    Returns:
        What the spec describes: a parametrization, an array, or a dict or list of them.

    Raises:
        SpecError: the spec cannot be built; the message names the key path inside the spec
            (`spec["object"]["phase_initializer"]`) and the type. A `KeyError` for an unknown
            `type` (listing the registered names and the distribution to install), a
            `TypeError` for an unknown or missing argument, a `ValueError` for a wrong value,
            shape or file.

    Example:
        >>> from ptyrax_core import build
        >>> model = build({
        ...     "probe": {
        ...         "type": "direct",
        ...         "data_or_initializer": {"init": "ones", "shape": [4, 4], "dtype": "complex64"},
        ...     },
        ...     "positions": {"type": "index_slice", "parameters": [[0.0, 0.0], [0.0, 2.0]]},
        ... })
        >>> model["probe"]().dtype, model["positions"].n
        (dtype('complex64'), 2)
        >>> try:
        ...     build({"type": "direct", "data": [1.0]})
        ... except TypeError as e:
        ...     print(e)
        spec: direct (DirectArrayParametrization) has no argument 'data'; its arguments: ...
    """
    if isinstance(spec, str | os.PathLike):
        path = pathlib.Path(spec)
        base = path.parent if base_dir is None else pathlib.Path(base_dir)
        builder, prefix = _Builder(base, f"{path}: "), f"{path}: "
        spec = _read(path)
    else:
        builder, prefix = _Builder(pathlib.Path(base_dir or "."), ""), ""
    try:
        return builder.value(spec, "spec", Any)
    except RecursionError:
        raise SpecValueError(f"{prefix}spec: nested too deeply to build.") from None


def _read(path: pathlib.Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecValueError(f"{path}: a spec file is a .toml or a .json file.")
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            import tomllib  # here, not at import: 4 ms

            return tomllib.loads(text)
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, TOMLDecodeError, ...
        raise SpecValueError(f"{path}: not a valid {suffix[1:].upper()} file: {e}") from e


def _at(where: str, key: Any) -> str:
    """The key path `where[key]`, strings in double quotes: `spec["object"][0]`."""
    return f"{where}[{json.dumps(key) if isinstance(key, str) else repr(key)}]"


@dataclasses.dataclass(frozen=True)
class _Initializer:
    """A named initializer from a spec: called with a shape, returns an array."""

    name: str
    dtype: Any
    options: tuple[tuple[str, Any], ...]

    def __call__(self, shape: tuple[int, ...]) -> jax.Array:
        shape, o = tuple(shape), dict(self.options)
        if self.name in ("zeros", "ones", "full"):
            fill = {"zeros": 0, "ones": 1}.get(self.name, o.get("value"))
            return jnp.full(shape, fill, self.dtype or jnp.result_type(float))
        key = jax.random.PRNGKey(o["seed"])
        dtype = self.dtype or jnp.result_type(float)
        if self.name == "uniform":
            return jax.random.uniform(
                key, shape, dtype, minval=o.get("low", 0.0), maxval=o.get("high", 1.0)
            )
        x = jax.random.normal(key, shape, dtype)
        if "scale" in o:
            x = x * o["scale"]
        return x + o["mean"] if "mean" in o else x

    def __repr__(self) -> str:
        shown = [f"{k}={v!r}" for k, v in self.options]
        if self.dtype is not None:
            shown.append(f"dtype={np.dtype(self.dtype).name!r}")
        return f"{self.name}({', '.join(shown)})"


@dataclasses.dataclass
class _Builder:
    base: pathlib.Path
    prefix: str  # the spec file, for error messages

    def error(self, kind: type[SpecError], where: str, message: str) -> SpecError:
        return kind(f"{self.prefix}{where}: {message}")

    def value(self, v: Any, where: str, ann: Any) -> Any:
        if isinstance(v, Mapping):
            for key, make in (
                ("type", self.parametrization),
                ("init", self.initializer),
                ("npy", self.npy),
                ("array", self.literal),
            ):
                if key in v:
                    return make(v, where, ann)
            item = _item_annotation(ann)
            return {k: self.value(x, _at(where, k), item) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return self.sequence(v, where, ann)
        if isinstance(v, str) and not _bearable(v, ann):
            return self.function(v, where, ann)
        return v

    def sequence(self, v: list | tuple, where: str, ann: Any) -> Any:
        element = _tuple_annotation(ann)
        if element is not None:
            return tuple(self.value(x, _at(where, i), element(i)) for i, x in enumerate(v))
        if v and _numbers_only(v) and _mentions_arrays(ann):
            try:
                host = np.asarray(v)
            except ValueError as e:
                raise self.error(
                    SpecValueError, where, f"not an array: its rows differ in length ({e})"
                ) from None
            if not _numeric(host.dtype):  # integers too large for int64 or uint64
                raise self.error(
                    SpecValueError,
                    where,
                    "not an array: it holds integers too large for any dtype.",
                )
            return _fit_array(host, ann)
        item = _item_annotation(ann)
        items = [self.value(x, _at(where, i), item) for i, x in enumerate(v)]
        return items if isinstance(v, list) else tuple(items)

    def parametrization(self, spec: Mapping, where: str, ann: Any) -> Any:
        name = spec["type"]
        if not isinstance(name, str):
            raise self.error(
                SpecTypeError, _at(where, "type"), f"a registry name (a string); got {name!r}."
            )
        try:
            cls = registry.get(name)
        except UnknownParametrizationError as e:
            close = difflib.get_close_matches(name, registry.names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise self.error(SpecKeyError, _at(where, "type"), f"{e}{hint}") from None
        label = f"{name} ({cls.__name__})"
        params = inspect.signature(cls).parameters
        var_keyword = next((p for p in params.values() if p.kind is p.VAR_KEYWORD), None)
        named = [p for p in params.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        given = {k: v for k, v in spec.items() if k != "type"}
        listed = ", ".join(p.name for p in named) or "none"
        unknown = [k for k in given if k not in {p.name for p in named}]
        if unknown and var_keyword is None:
            raise self.error(
                SpecTypeError,
                where,
                f"{label} has no argument {unknown[0]!r}; its arguments: {listed}.",
            )
        missing = [p.name for p in named if p.default is p.empty and p.name not in given]
        if missing:
            raise self.error(
                SpecTypeError,
                where,
                f"{label} needs the argument{'s' * (len(missing) > 1)} "
                f"{', '.join(map(repr, missing))}; its arguments: {listed}.",
            )
        args, kwargs = [], {}
        for p in named:
            if p.kind is p.POSITIONAL_ONLY:
                value = given.pop(p.name, p.default)
                args.append(self.value(value, _at(where, p.name), _annotation(p)))
        for key, value in given.items():
            p = params.get(key, var_keyword)
            kwargs[key] = self.value(value, _at(where, key), _annotation(p))
        try:
            return cls(*args, **kwargs)
        except TypeError as e:
            # jaxtyping's message goes on with every argument's value after this line
            problem = str(e).split("\n----------------------")[0]
            raise self.error(SpecTypeError, where, f"{label}: {problem}") from e
        except (ValueError, OverflowError) as e:  # OverflowError: a number too large for a float
            raise self.error(SpecValueError, where, f"{label}: {e}") from e

    def initializer(self, spec: Mapping, where: str, ann: Any) -> Any:
        name = spec["init"]
        if not isinstance(name, str) or name not in _INITIALIZERS:
            raise self.error(
                SpecValueError,
                _at(where, "init"),
                f"unknown initializer {name!r}; known: {', '.join(_INITIALIZERS)}.",
            )
        required, optional = _INITIALIZERS[name]
        allowed = ("init", "shape", "dtype", *required, *optional)
        self.check_keys(spec, where, allowed, f"the initializer {name!r}")
        for option in required:
            if option not in spec:
                raise self.error(
                    SpecTypeError, where, f"the initializer {name!r} needs {option!r}."
                )
        options = []
        for option in (*required, *optional):
            if option in spec:
                options.append((option, self.option(option, spec[option], where)))
        dtype = self.dtype(spec, where, name) if "dtype" in spec else None
        init = _Initializer(name, dtype, tuple(options))
        kinds = _callable_kinds(ann)
        if "shape" in spec:
            if "shape" in kinds and not _mentions_arrays(ann):
                raise self.error(
                    SpecTypeError,
                    where,
                    "this argument takes an initializer, which the class calls with the shape "
                    'it needs: leave out "shape".',
                )
            shape = self.shape(spec["shape"], _at(where, "shape"))
            itemsize = jnp.dtype(dtype or jnp.result_type(float)).itemsize
            if math.prod(shape) * itemsize > _MAX_BYTES:
                raise self.error(
                    SpecValueError,
                    _at(where, "shape"),
                    f"an array of shape {list(shape)} would take more than 2**62 bytes.",
                )
            try:
                return init(shape)
            except (TypeError, ValueError, OverflowError) as e:  # a value the dtype cannot hold
                raise self.error(SpecValueError, where, f"cannot make the array: {e}") from None
        if "shape" in kinds:
            return init
        raise self.error(SpecTypeError, where, 'this argument takes an array: give its "shape".')

    def function(self, name: str, where: str, ann: Any) -> Any:
        kinds = _callable_kinds(ann)
        if "shape" not in kinds:
            if "zero" in kinds:
                raise self.error(
                    SpecTypeError,
                    where,
                    f"{name!r} names a function, but this argument takes an array: give "
                    f'{{"init": {json.dumps(name)}, "shape": [...]}}.',
                )
            return name  # the class's own check names the argument
        if name in _INITIALIZERS:
            required = _INITIALIZERS[name][0]
            if required:
                raise self.error(
                    SpecTypeError,
                    where,
                    f"the initializer {name!r} needs {', '.join(map(repr, required))}: give "
                    f'{{"init": {json.dumps(name)}, {json.dumps(required[0])}: ...}}.',
                )
            return _Initializer(name, None, ())
        exported = registry._export(name)
        if callable(exported) and not isinstance(exported, type):
            return exported
        functions = sorted(n for p in registry.plugins() if not p.error for n in p.functions)
        dist = provider(name)
        hint = f" It is provided by the distribution {dist}: pip install {dist}" if dist else ""
        raise self.error(
            SpecValueError,
            where,
            f"{name!r} is neither an initializer ({', '.join(_INITIALIZERS)}) nor a function "
            f"that a loaded plugin exports ({', '.join(functions) or 'none'}).{hint}",
        )

    def npy(self, spec: Mapping, where: str, ann: Any) -> Any:
        self.check_keys(spec, where, ("npy",), "an npy spec")
        name = spec["npy"]
        if not isinstance(name, str):
            raise self.error(SpecTypeError, _at(where, "npy"), f"a file path; got {name!r}.")
        path = self.base / name
        try:
            host = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise self.error(
                SpecValueError, _at(where, "npy"), f"cannot read {path}: {e}"
            ) from None
        if not isinstance(host, np.ndarray):
            host.close()
            raise self.error(
                SpecValueError, _at(where, "npy"), f"{path} is an .npz archive, not a .npy file."
            )
        if not _numeric(host.dtype):
            raise self.error(
                SpecTypeError, _at(where, "npy"), f"an array of numbers; got dtype {host.dtype}."
            )
        return _fit_array(host, ann)

    def literal(self, spec: Mapping, where: str, ann: Any) -> Any:
        self.check_keys(spec, where, ("array", "dtype"), "an array spec")
        dtype = self.dtype(spec, where, "array") if "dtype" in spec else None
        try:
            host = np.asarray(spec["array"], dtype)
        except (TypeError, ValueError) as e:
            raise self.error(SpecValueError, _at(where, "array"), f"not an array: {e}") from None
        if not _numeric(host.dtype):
            raise self.error(
                SpecTypeError, _at(where, "array"), f"an array of numbers; got dtype {host.dtype}."
            )
        return jnp.asarray(host) if dtype is not None else _fit_array(host, ann)

    def check_keys(self, spec: Mapping, where: str, allowed: tuple[str, ...], what: str) -> None:
        for key in spec:
            if key not in allowed:
                raise self.error(
                    SpecTypeError,
                    _at(where, key),
                    f"{what} has no key {key!r}; its keys: {', '.join(allowed)}.",
                )

    def dtype(self, spec: Mapping, where: str, name: str) -> Any:
        try:
            if not isinstance(spec["dtype"], str):
                raise TypeError(f"a dtype name such as 'complex64'; got {spec['dtype']!r}")
            dtype = jnp.dtype(spec["dtype"])
        except TypeError as e:
            raise self.error(SpecValueError, _at(where, "dtype"), f"{e}.") from None
        wanted = {"normal": jnp.inexact, "uniform": jnp.floating}.get(name)
        if not (jnp.issubdtype(dtype, wanted) if wanted else _numeric(dtype)):
            kinds = {"normal": "a floating or complex", "uniform": "a floating"}
            raise self.error(
                SpecValueError,
                _at(where, "dtype"),
                f"{name} needs {kinds.get(name, 'a numeric')} dtype; got {dtype.name}.",
            )
        return dtype

    def option(self, name: str, value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int if name == "seed" else int | float):
            wanted = "an integer >= 0" if name == "seed" else "a real number"
            raise self.error(SpecTypeError, _at(where, name), f"{wanted}; got {value!r}.")
        if name == "seed" and not 0 <= value <= _MAX_SEED:
            raise self.error(
                SpecValueError, _at(where, name), f"an integer from 0 to 2**63 - 1; got {value}."
            )
        try:
            float(value)
        except OverflowError:
            raise self.error(
                SpecValueError, _at(where, name), f"a number within a float's range; got {value}."
            ) from None
        return value

    def shape(self, value: Any, where: str) -> tuple[int, ...]:
        if not isinstance(value, list | tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
        ):
            raise self.error(
                SpecTypeError, where, f"a shape, a list of integers >= 0; got {value!r}."
            )
        return tuple(value)


# --- reading annotations ------------------------------------------------------------------


def _annotation(p: inspect.Parameter | None) -> Any:
    return Any if p is None or p.annotation is p.empty else p.annotation


def _members(ann: Any) -> list[Any]:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in _members(a)]
    return [ann]


def _bearable(value: Any, ann: Any) -> bool:
    if ann is Any:
        return True
    from beartype.door import is_bearable  # here, not at import: beartype takes 100 ms

    try:
        return is_bearable(value, ann)
    except Exception:  # an annotation beartype cannot check: let the class decide
        return True


def _mentions_arrays(ann: Any) -> bool:
    """Whether `ann` accepts some array: Any, jax.Array, np.ndarray or a jaxtyping array."""
    for m in _members(ann):
        if m is Any or m in (jax.Array, np.ndarray):
            return True
        if isinstance(m, type) and issubclass(m, jaxtyping.AbstractArray):
            return True
    return False


def _callable_kinds(ann: Any) -> set[str]:
    """ "shape" for a callable that takes arguments (an initializer of a shape), "zero" for a
    zero-argument one."""
    kinds = set()
    for m in _members(ann):
        if m is collections.abc.Callable or typing.get_origin(m) is collections.abc.Callable:
            args = typing.get_args(m)
            kinds.add("zero" if args and args[0] == [] else "shape")
    return kinds


def _tuple_annotation(ann: Any) -> Callable[[int], Any] | None:
    """For a tuple annotation, a function from position to the element's annotation."""
    for m in _members(ann):
        if m is tuple:
            return lambda i: Any
        if typing.get_origin(m) is tuple:
            args = typing.get_args(m)
            if len(args) == 2 and args[1] is Ellipsis:
                return lambda i: args[0]
            return lambda i: args[i] if i < len(args) else Any
    return None


def _item_annotation(ann: Any) -> Any:
    for m in _members(ann):
        origin, args = typing.get_origin(m), typing.get_args(m)
        if origin in (list, collections.abc.Sequence) and args:
            return args[0]
        if origin in (dict, collections.abc.Mapping) and len(args) == 2:
            return args[1]
    return Any


def _numbers_only(v: Any) -> bool:
    if isinstance(v, list | tuple):
        return all(_numbers_only(x) for x in v)
    return isinstance(v, int | float)  # bool is an int


def _numeric(dtype: Any) -> bool:
    return jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)


def _fit_array(host: np.ndarray, ann: Any) -> Any:
    """`host` as the array `ann` accepts: JAX first, then NumPy, then made floating."""
    candidates = [host]
    if host.dtype.kind in "biu":
        candidates.append(host.astype(jnp.result_type(float)))
    for h in candidates:
        for array in (jnp.asarray(h), h):
            if _bearable(array, ann):
                return array
    return jnp.asarray(host)  # the class's own check names the argument
