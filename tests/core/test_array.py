import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, TypeCheckError

from ptyrax_core import (
    ArrayParametrization,
    DirectArrayParametrization,
    UnresolvedParametrizationError,
    as_direct_array_parametrization,
)


class Doubled(ArrayParametrization):
    """Twice its field `inner`, which may be an array or a parametrization."""

    inner: Array | ArrayParametrization

    def __init__(self, inner):
        self.inner = inner
        self.output_shape = tuple(inner.shape)

    def __call__(self):
        return 2 * self.inner


def test_protocol_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        ArrayParametrization((2,))

    class NoCall(ArrayParametrization):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoCall((2,))


def test_output_shape_is_static_and_shape_reads_it():
    p = DirectArrayParametrization(jnp.ones((3, 4)))
    assert p.shape == p.output_shape == (3, 4)
    assert jax.tree_util.tree_leaves(p) == [p._data]  # no shape among the leaves


def test_direct_returns_array_numpy_and_initializer():
    x = jnp.arange(6.0).reshape(2, 3)
    assert jnp.array_equal(DirectArrayParametrization(x)(), x)
    from_numpy = DirectArrayParametrization(np.arange(3))
    assert isinstance(from_numpy._data, jax.Array)
    assert jnp.array_equal(DirectArrayParametrization(lambda: x)(), x)
    complex_x = jnp.exp(1j * x)
    assert DirectArrayParametrization(complex_x)().dtype == jnp.complex64


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "x", None])
def test_direct_rejects_non_arrays_naming_the_argument(bad):
    with pytest.raises(TypeCheckError, match="data_or_initializer"):
        DirectArrayParametrization(bad)


def test_direct_rejects_initializer_that_needs_arguments_or_returns_no_array():
    with pytest.raises(TypeError, match="data_or_initializer.*no arguments"):
        DirectArrayParametrization(jnp.zeros)
    with pytest.raises(TypeError, match="data_or_initializer.*returned by the initializer"):
        DirectArrayParametrization(lambda: [1, 2])


def test_nested_parametrizations_resolve_innermost_first():
    inner = DirectArrayParametrization(jnp.ones(3))
    outer = Doubled(Doubled(inner))
    assert jnp.array_equal(outer(), 4 * jnp.ones(3))
    assert jnp.array_equal(DirectArrayParametrization(outer)(), 4 * jnp.ones(3))
    grad = jax.grad(lambda p: jnp.sum(p()))(outer)
    assert jnp.array_equal(grad.inner.inner._data, 4 * jnp.ones(3))


def test_call_checks_output_shape_and_type():
    class Wrong(ArrayParametrization):
        x: Array

        def __init__(self):
            self.x = jnp.ones(3)
            self.output_shape = (4,)

        def __call__(self):
            return self.x

    with pytest.raises(ValueError, match=r"returned shape \(3,\).*output_shape is \(4,\)"):
        Wrong()()

    class NotArray(Wrong):
        def __call__(self):
            return [1, 2, 3, 4]

    with pytest.raises(TypeError, match="must return an array"):
        NotArray()()


def test_subclass_calling_super_is_checked_once():
    class Negated(DirectArrayParametrization):
        def __call__(self):
            return -super().__call__()

    assert jnp.array_equal(Negated(jnp.ones(2))(), -jnp.ones(2))


@pytest.mark.parametrize(
    "use",
    [
        lambda p: p.dtype,
        lambda p: p.T,
        lambda p: p[0],
        lambda p: p[:, 1],
        lambda p: np.asarray(p),
        lambda p: jnp.asarray(p),
        lambda p: jnp.sum(p),
        lambda p: p + 1,
        lambda p: 2 * p,
        lambda p: p @ p,
        lambda p: -p,
        lambda p: abs(p),
        lambda p: p < 1,
    ],
    ids="dtype T index slice np.asarray jnp.asarray jnp.sum add rmul matmul neg abs lt".split(),
)
def test_unresolved_use_as_array_says_to_resolve(use):
    p = DirectArrayParametrization(jnp.ones((2, 2)))
    with pytest.raises(AttributeError, match="resolve_parametrizations") as info:
        use(p)
    assert isinstance(info.value, UnresolvedParametrizationError | TypeError)


def test_unresolved_error_is_an_attribute_error_so_hasattr_works():
    p = DirectArrayParametrization(jnp.ones(2))
    assert not hasattr(p, "dtype")
    assert isinstance(UnresolvedParametrizationError("x"), TypeError)


def test_unset_field_is_reported_as_unset():
    class Forgets(ArrayParametrization):
        x: Array

        def __init__(self):
            self.output_shape = (self.x.shape,)

        def __call__(self):
            return self.x

    with pytest.raises(AttributeError, match=r"Forgets.x has not been set"):
        Forgets()


def test_abstract_subclass_with_abstract_call_stays_abstract():
    class Base(ArrayParametrization):
        @abc.abstractmethod
        def __call__(self): ...

    class Concrete(Base):
        registry_name: ClassVar[str] = "concrete"
        x: Array

        def __init__(self):
            self.x = jnp.zeros(1)
            self.output_shape = (1,)

        def __call__(self):
            return self.x

    with pytest.raises(TypeError, match="abstract"):
        Base((1,))
    assert Concrete()().shape == (1,)


def test_as_direct_array_parametrization():
    x = jnp.ones(4)
    p = as_direct_array_parametrization(x)
    assert isinstance(p, DirectArrayParametrization)
    assert as_direct_array_parametrization(p) is p
    with pytest.raises(TypeCheckError, match="data"):
        as_direct_array_parametrization([1, 2])


def test_serialisation_round_trip(tmp_path):
    p = Doubled(DirectArrayParametrization(jnp.arange(3.0)))
    eqx.tree_serialise_leaves(tmp_path / "p.eqx", p)
    like = Doubled(DirectArrayParametrization(jnp.zeros(3)))
    back = eqx.tree_deserialise_leaves(tmp_path / "p.eqx", like)
    assert jnp.array_equal(back(), p())


def test_direct_with_array_stores_the_target():
    p = DirectArrayParametrization(jnp.zeros((2, 3)))
    target = jnp.arange(6.0).reshape(2, 3)
    q = p.with_array(target)
    assert type(q) is DirectArrayParametrization and jnp.array_equal(q(), target)
    assert jnp.array_equal(p(), jnp.zeros((2, 3)))  # a copy: the original is unchanged
    assert jnp.array_equal(jax.jit(lambda p, t: p.with_array(t)())(p, target), target)
    assert jnp.array_equal(p.with_array(np.asarray(target, np.float64))(), target)
    grad = jax.grad(lambda t: jnp.sum(p.with_array(t)() ** 2))(target)
    assert jnp.array_equal(grad, 2 * target)


def test_direct_with_array_dtypes():
    z = DirectArrayParametrization(jnp.zeros(2, jnp.complex64)).with_array(jnp.array([1, 2]))
    assert z().dtype == jnp.complex64 and jnp.array_equal(z(), jnp.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is fl"):
        DirectArrayParametrization(jnp.zeros(2)).with_array(jnp.ones(2, jnp.complex64))
    mask = DirectArrayParametrization(jnp.zeros(2, bool))
    assert mask.with_array(jnp.array([True, False]))().dtype == jnp.bool_
    with pytest.raises(TypeError, match=r"target has dtype float32, but the array it replaces h"):
        mask.with_array(jnp.ones(2))


def test_direct_with_array_refuses_another_shape_by_name():
    p = DirectArrayParametrization(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3\).*got shape \(3, 2\)"):
        p.with_array(jnp.zeros((3, 2)))
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array("zeros")


def test_direct_with_array_of_a_wrapped_parametrization_goes_to_it():
    inner = DirectArrayParametrization(jnp.zeros(3))
    q = DirectArrayParametrization(inner).with_array(jnp.ones(3))
    assert isinstance(q._data, DirectArrayParametrization) and jnp.array_equal(q(), jnp.ones(3))
    with pytest.raises(TypeError, match="target is for a Doubled, which has no with_array"):
        DirectArrayParametrization(Doubled(jnp.zeros(3))).with_array(jnp.ones(3))
