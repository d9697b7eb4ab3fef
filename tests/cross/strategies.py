"""Hypothesis strategies for random parametrizations of every registered name.

`cases(name)` draws a `Case`: how to build a random instance of the class registered as
`name` (random shapes, dtypes, options and values), whether it needs 64-bit JAX, and how many
roundings one element of its output goes through (for tolerances). `STRATEGIES` holds a
strategy per known registry name; a name without one (a third party's plugin) is drawn from
its plugin's `ptyrax_examples`, with its trainable leaves moved at random by `perturb`.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

from ptyrax_core import ArrayParametrization, IndexDependentParameter, registry

BOUNDED = settings(
    deadline=None,  # a first call compiles
    derandomize=True,  # every run draws the same examples
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""The settings of the property tests and fuzzers: deterministic, no example database."""

# Roundings in one element of an output that no strategy of the table describes: the
# conformance kit's allowance for the examples (a short chain of elementwise operations).
EXAMPLE_TERMS = 8


@dataclasses.dataclass(frozen=True)
class Case:
    """A random instance to build: `make()` inside `jax.enable_x64(x64)`."""

    name: str
    x64: bool
    make: Callable[[], Any] = dataclasses.field(repr=False)
    terms: float  # roundings in one element of the output, eager against jit or vmap
    drawn: str  # what was drawn, for hypothesis' report of a failing example


REAL = {False: [np.float32], True: [np.float32, np.float64]}
COMPLEX = {False: [np.complex64], True: [np.complex64, np.complex128]}

x64s = st.booleans()
seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)


def values(seed: int, shape: tuple[int, ...], dtype: Any, scale: float = 1.0) -> np.ndarray:
    """Finite, moderate random values: normal, times `scale`, complex where `dtype` is."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    return (scale * x).astype(dtype)


@st.composite
def dtypes(draw: Any, x64: bool, complex_too: bool = True) -> Any:
    return draw(st.sampled_from(REAL[x64] + (COMPLEX[x64] if complex_too else [])))


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> Any:
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(
        tuple
    )


def _case(name: str, x64: bool, make: Callable[[], Any], terms: float, **drawn: Any) -> Case:
    shown = ", ".join(f"{k}={getattr(v, '__name__', v)!r}" for k, v in drawn.items())
    return Case(name, x64, make, terms, shown)


def _cls(name: str) -> Any:
    return registry.get(name)


@st.composite
def direct(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype = draw(st.sampled_from([*REAL[x64], *COMPLEX[x64], np.int32, np.bool_]))
    shape, seed, nested = draw(shapes()), draw(seeds), draw(st.booleans())
    data = values(seed, shape, np.float64 if dtype is np.bool_ else dtype, 3.0).astype(dtype)

    def make() -> Any:
        cls = _cls("direct")
        inner = jnp.asarray(data)
        return cls(cls(inner)) if nested else cls(inner)

    return _case("direct", x64, make, 1, dtype=dtype, shape=shape, seed=seed, nested=nested)


@st.composite
def index_slice(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, n, seed = draw(dtypes(x64)), draw(sizes), draw(seeds)
    rest = draw(shapes(max_dims=2))
    dim = draw(st.integers(-(len(rest) + 1), len(rest)))
    tree = draw(st.booleans())
    shape = list(rest)
    shape.insert(dim % (len(rest) + 1), n)
    data = values(seed, tuple(shape), dtype)
    shift = values(seed + 1, (n, 2) if dim % (len(rest) + 1) == 0 else (2, n), dtype)
    if tree and len(rest) > 1:
        tree = False  # one dim for every leaf: the second leaf is 2-D

    def make() -> Any:
        cls, direct = _cls("index_slice"), _cls("direct")
        if not tree:
            return cls(jnp.asarray(data), dim=dim)
        where = dim % (len(rest) + 1)  # shift has the index axis where data has it
        return cls({"data": direct(jnp.asarray(data)), "shift": jnp.asarray(shift)}, dim=where)

    return _case("index_slice", x64, make, 1, dtype=dtype, shape=tuple(shape), dim=dim, tree=tree)


@st.composite
def phase_only(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, shape, seed = draw(dtypes(x64, complex_too=False)), draw(shapes()), draw(seeds)

    def make() -> Any:
        return _cls("phase_only")(shape, lambda s: jnp.asarray(values(seed, s, dtype, 3.0)))

    # exp(1j * phase): a product and the sine and cosine, a few ulps each
    return _case("phase_only", x64, make, 8, dtype=dtype, shape=shape, seed=seed)


@st.composite
def _normalized(draw: Any, name: str) -> Case:
    x64 = draw(x64s)
    dtype, seed = draw(dtypes(x64)), draw(seeds)
    how = draw(st.sampled_from(["number", "per_index", "function"]))
    # mean_l2_norm takes the norm over the axes (-3, -2) of (..., y, x, 1) probes
    shape = draw(shapes(min_dims=3 if how == "function" else 1))
    scale: Any = draw(st.floats(0.1, 100.0)) * draw(st.sampled_from([1.0, -1.0]))
    if how == "per_index":
        scale = tuple(draw(st.lists(st.floats(0.1, 10.0), min_size=shape[0], max_size=shape[0])))
    data = values(seed, shape, dtype, 2.0)

    def make() -> Any:
        cls = _cls(name)
        if how == "function":
            return cls(jnp.asarray(data), scaling_function=_export("mean_l2_norm"))
        return cls(jnp.asarray(data), scale=np.asarray(scale) if how == "per_index" else scale)

    # the stored array times the scale (and plus the reference): two roundings
    return _case(name, x64, make, 2, dtype=dtype, shape=shape, how=how, scale=scale)


@st.composite
def outer_product(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, seed = draw(dtypes(x64)), draw(seeds)
    lead = draw(shapes(max_dims=1, max_side=2))
    m, n, d = draw(sizes), draw(sizes), draw(st.integers(1, 2))
    n_outer = draw(st.integers(1, 3))
    shape = (*lead, m, n, d)

    def make() -> Any:
        calls = iter(range(2))
        return _cls("outer_product")(
            shape, n_outer, lambda s: jnp.asarray(values(seed + next(calls), s, dtype))
        )

    # a sum of n_outer products: 2 * n_outer roundings, relative to sum |terms|, which for
    # normal factors is within a few times max |output|
    return _case("outer_product", x64, make, 4 * n_outer, dtype=dtype, shape=shape, n=n_outer)


# Filter lengths (taps) of the wavelets drawn: short ones keep arrays small.
TAPS = {"haar": 2, "db1": 2, "db2": 4, "db3": 6, "sym2": 4, "sym3": 6, "coif1": 6}


@st.composite
def wavelet(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, seed = draw(dtypes(x64)), draw(seeds)
    name = draw(st.sampled_from(sorted(TAPS)))
    level = draw(st.integers(1, 2))
    smallest = (TAPS[name] - 1) * 2**level  # PyWavelets' dwt_max_level >= level
    h, w = draw(st.integers(smallest, smallest + 5)), draw(st.integers(smallest, smallest + 5))
    shape = (*draw(shapes(max_dims=1, max_side=2)), h, w)
    data = values(seed, shape, dtype)

    def make() -> Any:
        return _cls("wavelet")(jnp.asarray(data), name, level)

    # the inverse transform: `taps` multiply-adds per axis and level
    terms = 2 * level * TAPS[name]
    return _case("wavelet", x64, make, terms, dtype=dtype, shape=shape, wavelet=name, level=level)


@st.composite
def binary(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, shape, seed = draw(dtypes(x64)), draw(shapes()), draw(seeds)
    threshold = draw(st.floats(-1.0, 1.0))
    straight = draw(st.booleans())
    data = values(seed, shape, dtype)

    def make() -> Any:
        return _cls("binary")(jnp.asarray(data), threshold, straight)

    return _case("binary", x64, make, 1, dtype=dtype, shape=shape, threshold=threshold)


@st.composite
def _support(draw: Any, name: str) -> Case:
    """`probe_support` (a support in real space) or `band_limited` (in Fourier space): the
    same arguments, a radius (with or without a centre) or a mask."""
    x64 = draw(x64s)
    dtype, seed = draw(dtypes(x64)), draw(seeds)
    y, x = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    shape = (*draw(shapes(max_dims=1, max_side=2)), y, x)
    how = draw(st.sampled_from(["radius", "centred", "mask"]))
    radius = draw(st.floats(0.5, 4.0))
    center = (draw(st.floats(0.0, y - 1.0)), draw(st.floats(0.0, x - 1.0)))
    mask = np.random.default_rng(seed + 1).random((y, x)) > 0.3
    data = values(seed, shape, dtype)

    def make() -> Any:
        cls = _cls(name)
        if how == "mask":
            return cls(jnp.asarray(data), jnp.asarray(mask))
        return cls(jnp.asarray(data), radius, center if how == "centred" else None)

    return _case(name, x64, make, 1, dtype=dtype, shape=shape, how=how)


@st.composite
def bounded_amplitude_phase(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, shape, seed = draw(dtypes(x64)), draw(shapes()), draw(seeds)
    a_min = draw(st.floats(0.0, 1.0))
    a_max = a_min + draw(st.floats(0.1, 3.0))
    data = values(seed, shape, dtype)

    def make() -> Any:
        return _cls("bounded_amplitude_phase")(jnp.asarray(data), a_min, a_max)

    # a sigmoid of u scaled into the bounds, times exp(1j * phase)
    return _case("bounded_amplitude_phase", x64, make, 8, dtype=dtype, a_min=a_min, a_max=a_max)


@st.composite
def non_negative(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, shape, seed = draw(dtypes(x64, complex_too=False)), draw(shapes()), draw(seeds)
    data = np.abs(values(seed, shape, dtype, 2.0))

    def make() -> Any:
        return _cls("non_negative")(jnp.asarray(data))

    return _case("non_negative", x64, make, 1, dtype=dtype, shape=shape)


@st.composite
def orthogonal_modes(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, seed = draw(st.sampled_from(COMPLEX[x64])), draw(seeds)
    p, q = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    k = draw(st.integers(1, 3))
    # powers about 9**-k apart: well separated, so each mode is well defined
    modes = values(seed, (k, p, q), dtype) * (3.0 ** -np.arange(k))[:, None, None]

    def make() -> Any:
        return _cls("orthogonal_modes")(jnp.asarray(modes.astype(dtype)))

    # a QR of the (P*Q, K) basis: its backward error is about P*Q*K roundings of max |output|
    return _case("orthogonal_modes", x64, make, p * q * k, dtype=dtype, k=k, p=p, q=q)


@st.composite
def affine_positions(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, seed = draw(dtypes(x64, complex_too=False)), draw(seeds)
    n, offsets = draw(st.integers(1, 6)), draw(st.booleans())
    nominal = values(seed, (n, 2), dtype, 10.0)

    def make() -> Any:  # a transform away from the identity (and offsets), nominal kept
        return perturb(_cls("affine_positions")(jnp.asarray(nominal), offsets), seed, 0.05)

    # nominal + (deformation / radius) @ (nominal - centre) + shift + offset: a division, two
    # products, a difference and four sums (the centre's mean rounds far below max |output|)
    return _case("affine_positions", x64, make, 8, dtype=dtype, n=n, offsets=offsets)


@st.composite
def probe_relaxation(draw: Any) -> Case:
    x64 = draw(x64s)
    dtype, seed = draw(st.sampled_from(COMPLEX[x64])), draw(seeds)
    n, p, q = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(n, p, q), (n, draw(st.integers(1, 2)), p, q)]))
    rank = draw(st.integers(1, min(n, int(np.prod(shape[1:])))))
    probes = values(seed, shape, dtype)

    def make() -> Any:  # a truncated SVD of random probes, then moved off it
        return perturb(_cls("probe_relaxation")(jnp.asarray(probes), rank), seed, 0.1)

    # each value sums R products of weights and eigen-probes
    return _case("probe_relaxation", x64, make, 2 * rank + 2, dtype=dtype, shape=shape, rank=rank)


@st.composite
def scaled(draw: Any) -> Case:
    """ptyrax-test-good's `scaled`, which has no examples."""
    x64 = draw(x64s)
    dtype, shape, seed = draw(dtypes(x64, complex_too=False)), draw(shapes()), draw(seeds)
    factor = draw(st.floats(-10.0, 10.0))
    data = values(seed, shape, dtype)

    def make() -> Any:
        return _cls("scaled")(jnp.asarray(data), factor)

    return _case("scaled", x64, make, 1, dtype=dtype, shape=shape, factor=factor)


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "direct": direct,
    "index_slice": index_slice,
    "phase_only": phase_only,
    "normalized": functools.partial(_normalized, "normalized"),
    "normalized_referenced": functools.partial(_normalized, "normalized_referenced"),
    "outer_product": outer_product,
    "wavelet": wavelet,
    "binary": binary,
    "probe_support": functools.partial(_support, "probe_support"),
    "band_limited": functools.partial(_support, "band_limited"),
    "bounded_amplitude_phase": bounded_amplitude_phase,
    "non_negative": non_negative,
    "orthogonal_modes": orthogonal_modes,
    "affine_positions": affine_positions,
    "probe_relaxation": probe_relaxation,
    "scaled": scaled,
}
"""Registry name -> a strategy of random `Case`s of its class."""


def _export(name: str) -> Any:
    return registry.exports()[name]


@functools.cache
def _examples(plugin: str) -> tuple[Any, ...]:
    # Built once: a plugin's classes stay the same objects when the tests rediscover plugins.
    return tuple(registry.examples(plugin).get(plugin, ()))


def examples_of(name: str) -> list[Any]:
    """The instances of `name`'s class among its plugin's examples."""
    cls = registry.get(name)
    (plugin,) = [p.name for p in registry.plugins() if name in p.parametrizations]
    return [x for x in _examples(plugin) if type(x) is cls]


@st.composite
def _from_examples(draw: Any, name: str) -> Case:
    found = examples_of(name)
    which, seed = draw(st.integers(0, len(found) - 1)), draw(seeds)

    def make() -> Any:
        return perturb(examples_of(name)[which], seed)

    return _case(name, False, make, EXAMPLE_TERMS, example=which, seed=seed)


def cases(name: str) -> st.SearchStrategy[Case]:
    """Random instances of the class registered as `name`: from the table, else from its
    plugin's examples."""
    if name in STRATEGIES:
        return STRATEGIES[name]()
    return _from_examples(name)


def covered(name: str) -> bool:
    return name in STRATEGIES or bool(examples_of(name))


def perturb(tree: Any, seed: int, size: float = 0.25) -> Any:
    """`tree` with every trainable inexact array moved at random by about `size` of its
    largest value: not static fields, not a class's `frozen_fields` (references, masks, nominal
    positions), whose values the class chose. The tree structure stays, static fields too."""
    rng = np.random.default_rng(seed)

    def move(x: Any) -> Any:
        if isinstance(x, ArrayParametrization | IndexDependentParameter):
            return _module(x)
        if not (eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.inexact)):
            return x
        host = np.asarray(x).astype(np.complex128 if jnp.iscomplexobj(x) else np.float64)
        scale = float(np.max(np.abs(host), initial=0.0)) or 1.0
        noise = rng.standard_normal(host.shape)
        if jnp.iscomplexobj(x):
            noise = noise + 1j * rng.standard_normal(host.shape)
        return jnp.asarray(host + size * scale * noise, x.dtype)

    def _module(m: Any) -> Any:
        frozen = getattr(type(m), "frozen_fields", ())
        copy = object.__new__(type(m))  # as equinox's unflatten does: __init__ does not run
        for f in dataclasses.fields(m):
            if f.name not in vars(m):
                continue  # left at its class default
            value = getattr(m, f.name)
            if not (f.metadata.get("static", False) or f.name in frozen):
                value = jax.tree_util.tree_map(
                    move, value, is_leaf=lambda x: isinstance(x, eqx.Module)
                )
            object.__setattr__(copy, f.name, value)
        return copy

    return move(tree)


def registered_names() -> list[str]:
    return registry.names()
