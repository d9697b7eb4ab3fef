import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float, TypeCheckError

from ptyrax_core import as_array, check_index, typechecked


@typechecked
def pair_sum(a: Float[Array, " n"], b: Float[Array, " n"]) -> Float[Array, " n"]:
    return a + b


def test_shapes_and_dtypes_are_checked_naming_the_argument():
    assert pair_sum(jnp.ones(3), jnp.ones(3)).shape == (3,)
    with pytest.raises(TypeCheckError, match="parameter 'b'"):
        pair_sum(jnp.ones(3), jnp.ones(4))  # n bound to 3 by a
    with pytest.raises(TypeCheckError, match="parameter 'a'"):
        pair_sum(jnp.ones(3, jnp.int32), jnp.ones(3))


def test_checks_run_while_tracing_only():
    traces = []

    @typechecked
    def f(x: Float[Array, " n"]) -> Float[Array, " n"]:
        traces.append(1)
        return 2 * x

    jitted = jax.jit(f)
    jitted(jnp.ones(3))
    jitted(jnp.ones(3))
    assert traces == [1]  # the checked Python ran once, at trace time
    with pytest.raises(TypeCheckError):
        jitted(jnp.ones((3, 1)))  # a new shape traces, and is checked


def test_string_annotations_are_refused():
    def f(x: "Float[Array, ' n']"):
        return x

    with pytest.raises(TypeError, match="from __future__ import annotations"):
        typechecked(f)


def test_classes_are_refused():
    with pytest.raises(TypeError, match="decorate its __init__"):
        typechecked(int)


def test_as_array():
    assert isinstance(as_array(np.ones(2), "x"), jax.Array)
    assert as_array(lambda: jnp.zeros((2, 2)), "x").shape == (2, 2)
    with pytest.raises(TypeError, match="my_arg must be an array"):
        as_array([1.0], "my_arg")


@pytest.mark.parametrize("good", [0, 3, -1, np.int32(2), jnp.array(1), np.array(4)])
def test_check_index_accepts_integer_scalars(good):
    check_index(good)


def test_check_index_accepts_traced_and_rejects_with_the_argument_name():
    jax.jit(lambda i: check_index(i) or i)(2)
    jax.vmap(lambda i: check_index(i) or i)(jnp.arange(3))
    with pytest.raises(TypeError, match="position must be an integer scalar.*float32"):
        check_index(jnp.array(1.0), "position")
