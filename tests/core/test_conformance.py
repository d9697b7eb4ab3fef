"""The conformance kit: it passes the built-ins, and catches each kind of broken class."""

import itertools
import warnings
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ptyrax_core import ArrayParametrization, IndexDependentParameter, IndexSliceParameter
from ptyrax_core.testing import RULES, check_parametrization

X = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)


def test_conformance(ptyrax_example):
    """The fixture of ptyrax-core's pytest plugin: every example of every loaded plugin."""
    check_parametrization(ptyrax_example)


class Good(ArrayParametrization):
    registry_name: ClassVar[str] = "good_for_kit_tests"
    x: jax.Array

    def __init__(self, x=X):
        self.x, self.output_shape = x, x.shape

    def __call__(self):
        return 2 * self.x


def test_a_good_class_passes_every_rule():
    for rule in RULES:
        rule(Good())
    check_parametrization(Good())


def broken(name, body=None, base=Good, **attrs):
    namespace = {"registry_name": name, **attrs}
    if body is not None:
        namespace["__call__"] = body
    return type(name.title().replace("_", ""), (base,), namespace)


counter = itertools.count()


class NoName(Good):
    pass


class FloatField(Good):
    registry_name: ClassVar[str] = "float_field"
    gain: float

    def __init__(self):
        super().__init__()
        self.gain = 2.0


class StaticArray(Good):
    registry_name: ClassVar[str] = "static_array"
    offset: jax.Array = eqx.field(static=True)

    def __init__(self):
        super().__init__()
        self.offset = np.ones(3)


class FrozenButTrained(Good):
    registry_name: ClassVar[str] = "frozen_but_trained"
    frozen_fields: ClassVar[tuple[str, ...]] = ("x",)


class Forgets(Good):
    """Keeps its output in an attribute that is not a field: lost when rebuilt from its leaves,
    which calling a parametrization does (it resolves the parametrizations in its fields)."""

    registry_name: ClassVar[str] = "forgets"

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "cache", 2 * X)

    def __call__(self):
        return self.cache


class Both(Good, IndexDependentParameter):
    """Claims both protocols: resolvers bind it as an index-dependent parameter."""

    registry_name: ClassVar[str] = "both_protocols"

    def at_index(self, index):
        return self.x[index]

    @property
    def n(self):
        return 2

    @property
    def all(self):
        return self.x


class Invertible(Good):
    registry_name: ClassVar[str] = "invertible"

    def with_array(self, target):
        return eqx.tree_at(lambda p: p.x, self, target / 2)


def test_a_good_class_with_with_array_passes():
    check_parametrization(Invertible())
    check_parametrization(IndexSliceParameter({"a": X, "b": Invertible(X)}))


def with_array(name, body):
    return type(name.title().replace("_", ""), (Good,), {"registry_name": name, "with_array": body})


CASES = {
    "no registry name": (NoName, "registry name.*must declare its own snake_case"),
    "CamelCase name": (broken("BadName"), "registry name.*'BadName'"),
    "name of another class": (broken("direct"), "registry name.*'direct' is registered for"),
    "non-array leaf": (FloatField, "array leaves.*gain.*float"),
    "array in a static field": (StaticArray, "no array in a static field.*'offset'"),
    "wrong shape": (broken("wrong_shape", lambda self: self.x[0]), "output.*returned shape"),
    "dtype changes under jit": (
        broken(
            "dtype_under_jit",
            lambda self: (
                self.x.astype(jnp.float16) if isinstance(self.x, jax.core.Tracer) else self.x
            ),
        ),
        "output.*dtype changes",
    ),
    "not deterministic": (
        broken("random", lambda self: self.x + next(counter)),
        "deterministic.*different results",
    ),
    "jit differs": (
        broken("jit_differs", lambda self: self.x + isinstance(self.x, jax.core.Tracer)),
        "jit equals eager",
    ),
    "host round trip": (
        broken("host_round_trip", lambda self: jnp.asarray(np.asarray(self.x))),
        "output.*raised TracerArrayConversionError",
    ),
    "trainable field without gradient": (
        broken("no_gradient", lambda self: jax.lax.stop_gradient(self.x)),
        "gradients.*'x' gets no gradient",
    ),
    "frozen field with gradient": (FrozenButTrained, "gradients.*'x' is in frozen_fields"),
    "state outside the pytree": (Forgets, "output.*no attribute 'cache'"),
    "does not resolve": (Both, "resolves in a model"),
    "with_array loses the output": (
        with_array("stores_target", lambda self, t: eqx.tree_at(lambda p: p.x, self, t)),
        "with array round trips.*eagerly, with_array.its own output. gives another output",
    ),
    "with_array returns another class": (
        with_array("other_class", lambda self, t: Good(t / 2)),
        "with array round trips.*returned a Good of another class",
    ),
    "with_array changes a leaf's dtype": (
        with_array(
            "dtype_leaf", lambda self, t: eqx.tree_at(lambda p: p.x, self, (t / 2).astype("f2"))
        ),
        "with array round trips.*leaf shapes and dtypes",
    ),
    "with_array differs under jit": (
        with_array(
            "jit_with_array",
            lambda self, t: eqx.tree_at(
                lambda p: p.x, self, t / (3 if isinstance(t, jax.core.Tracer) else 2)
            ),
        ),
        "with array round trips.*under jax.jit, with_array.its own output. gives another",
    ),
    "with_array refuses its own output": (
        with_array("refuses", lambda self, t: self.x.reshape(-1) + t),
        "with array round trips.*raised",
    ),
}


@pytest.mark.parametrize(("cls", "message"), CASES.values(), ids=CASES.keys())
def test_each_kind_of_broken_class_is_caught(cls, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # equinox warns about the array in a static field
        instance = cls()
    with pytest.raises(AssertionError, match=message):
        check_parametrization(instance)


def test_index_dependent_parameters_are_checked_too():
    check_parametrization(IndexSliceParameter(jnp.arange(12.0).reshape(4, 3)))

    class FirstOnly(IndexSliceParameter):
        registry_name: ClassVar[str] = "first_only"

        def at_index(self, index):
            return self.parameters[0]

    with pytest.raises(AssertionError, match="output.*all is not the values of at_index"):
        check_parametrization(FirstOnly(jnp.arange(12.0).reshape(4, 3)))


def test_a_lossy_checkpoint_is_caught(monkeypatch):
    """Equinox modules always rebuild from their leaves; a checkpoint that loses them is caught."""

    def lossy(file, like):
        return like  # the zeroed template, as if nothing had been read

    monkeypatch.setattr(eqx, "tree_deserialise_leaves", lossy)
    with pytest.raises(AssertionError, match="pytree round trips.*tree_serialise_leaves"):
        check_parametrization(Good())


def test_refuses_what_is_not_a_parametrization():
    with pytest.raises(TypeError, match="ArrayParametrization or IndexDependentParameter"):
        check_parametrization(jnp.ones(3))
