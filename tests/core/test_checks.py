import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float, TypeCheckError

from ptyrax_core import (
    DirectArrayParametrization,
    as_array,
    check_index,
    initialize,
    read_target,
    static_float,
    typechecked,
)


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


@pytest.mark.parametrize(
    "value", [0.5, 2, np.float32(0.5), np.int64(3), jnp.array(1.5), np.array(2.0)]
)
def test_static_float_accepts_concrete_real_numbers(value):
    out = static_float(value, "threshold")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (True, TypeError, "threshold must be a real number"),
        (1j, TypeError, "threshold must be a real number"),
        ("1", TypeError, "threshold must be a real number"),
        (jnp.ones(2), TypeError, "threshold must be a real number"),
        (float("inf"), ValueError, "threshold must be a finite real number"),
        (np.nan, ValueError, "threshold must be a finite real number"),
    ],
)
def test_static_float_refuses_naming_the_argument(value, error, message):
    with pytest.raises(error, match=message):
        static_float(value, "threshold")


def test_static_float_nonzero_and_traced():
    with pytest.raises(ValueError, match="scale must be finite and nonzero; got 0.0"):
        static_float(0, "scale", nonzero=True)
    with pytest.raises(TypeError, match="scale is a traced value.*outside jax.jit"):
        jax.jit(lambda s: static_float(s, "scale"))(1.0)


def test_initialize_calls_with_the_shape_and_checks_the_result():
    seen = []
    out = initialize(lambda s: seen.append(s) or np.arange(6).reshape(s), (2, 3), "init")
    assert seen == [(2, 3)] and out.shape == (2, 3) and jnp.issubdtype(out.dtype, jnp.floating)
    assert initialize(jnp.zeros, (2,), "init").dtype == jnp.float32
    assert initialize(lambda s: jnp.ones(s, jnp.complex64), (2,), "init").dtype == jnp.complex64
    with pytest.raises(ValueError, match=r"init returned shape \(3,\).*\(2,\)"):
        initialize(lambda s: jnp.ones(3), (2,), "init")
    with pytest.raises(TypeError, match="init must be the array returned by the initializer"):
        initialize(lambda s: [0.0, 0.0], (2,), "init")


def test_read_target_checks_the_shape_and_casts_to_the_output_dtype():
    like = DirectArrayParametrization(jnp.zeros((2, 3), jnp.complex64))
    out = read_target(np.arange(6).reshape(2, 3), like)
    assert isinstance(out, jax.Array) and out.dtype == jnp.complex64
    assert read_target(jnp.ones(3, bool), jnp.zeros(3)).dtype == jnp.float32
    assert read_target(jnp.ones(3), jax.ShapeDtypeStruct((3,), jnp.float32)).shape == (3,)
    with pytest.raises(ValueError, match=r"^target must have shape \(2, 3\), the output_shape of "):
        read_target(jnp.ones((3, 2)), like)
    with pytest.raises(ValueError, match=r"new_probe must have shape \(3,\); got shape \(\)"):
        read_target(jnp.array(1.0), jnp.zeros(3), "new_probe")
    with pytest.raises(TypeError, match="target must be an array"):
        read_target([1.0, 2.0, 3.0], jnp.zeros(3))


def test_read_target_refuses_complex_for_a_real_output_and_keeps_other_dtypes():
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is fl"):
        read_target(jnp.ones(3, jnp.complex64), jnp.zeros(3))
    with pytest.raises(TypeError, match="but the output is bool"):
        read_target(jnp.ones(3, jnp.complex64), jnp.zeros(3, bool))
    assert read_target(jnp.full(3, 0.7), jnp.zeros(3, bool)).dtype == jnp.float32  # kept
    assert read_target(jnp.ones(3, bool), jnp.zeros(3, jnp.int32)).dtype == jnp.bool_


def test_read_target_works_under_jit():
    like = DirectArrayParametrization(jnp.zeros(2, jnp.complex64))
    out = jax.jit(read_target)(jnp.array([1.0, 2.0]), like)
    assert out.dtype == jnp.complex64 and jnp.array_equal(out, jnp.array([1.0, 2.0]))
