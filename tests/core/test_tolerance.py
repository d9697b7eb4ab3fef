"""`rounding_tolerance` and `assert_close`: tolerances from the dtype's rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ptyrax_core.testing import assert_close, rounding_tolerance

EPS = {
    "float64": 2.0**-52,
    "float32": 2.0**-23,
    "float16": 2.0**-10,
    "bfloat16": 2.0**-7,
    "complex128": 2.0**-52,  # complex dtypes: the precision of their parts
    "complex64": 2.0**-23,
}


@pytest.mark.parametrize("name", EPS)
def test_one_term_is_eight_ulps_of_one(name):
    assert rounding_tolerance(jnp.dtype(name)) == 8 * EPS[name]
    assert rounding_tolerance(name) == 8 * EPS[name]  # a name or a dtype-like is taken too


def test_terms_and_scale_multiply():
    assert rounding_tolerance(jnp.float32, terms=3, scale=2.5) == 8 * 3 * 2.0**-23 * 2.5
    assert rounding_tolerance(np.float64, terms=1000) == 8000 * 2.0**-52
    assert rounding_tolerance(jnp.bfloat16, scale=0.0) == 0.0
    assert rounding_tolerance(jnp.float16, terms=1.5, scale=4) == 8 * 1.5 * 2.0**-10 * 4
    assert type(rounding_tolerance(jnp.float32)) is float


@pytest.mark.parametrize("dtype", [jnp.int32, np.uint8, jnp.bool_])
def test_a_dtype_without_rounding_is_refused_by_name(dtype):
    with pytest.raises(TypeError, match="dtype must be a float or complex dtype"):
        rounding_tolerance(dtype)


@pytest.mark.parametrize("terms", [0, 0.5, -1, float("nan")])
def test_terms_below_one_are_refused_by_name(terms):
    with pytest.raises(ValueError, match="terms must be at least 1"):
        rounding_tolerance(jnp.float32, terms=terms)


@pytest.mark.parametrize("scale", [-1.0, -1e-30, float("nan")])
def test_a_negative_scale_is_refused_by_name(scale):
    with pytest.raises(ValueError, match="scale must be non-negative"):
        rounding_tolerance(jnp.float32, scale=scale)


# --- assert_close -----------------------------------------------------------------------------

X = np.linspace(-3.0, 3.0, 25)


def test_passes_a_float32_result_against_a_float64_reference():
    assert_close(jnp.exp(jnp.asarray(X, jnp.float32)), np.exp(X))  # one elementwise function
    values = np.random.default_rng(0).uniform(0.0, 1.0, 1000)
    # a sum of n positive terms: n roundings, relative to the sum itself
    assert_close(jnp.sum(jnp.asarray(values, jnp.float32)), np.sum(values), terms=values.size)


def test_fails_on_a_real_difference():
    with pytest.raises(AssertionError, match=r"not equal to rounding: max \|actual - expected\|"):
        assert_close(jnp.asarray(X, jnp.float32) + 1e-4, X)
    with pytest.raises(AssertionError, match="float32, terms=1000"):
        assert_close(jnp.asarray(X, jnp.float32) * 1.01, X, terms=1000)  # 1 % is no rounding


def test_fails_on_shapes_that_differ_even_where_they_broadcast():
    with pytest.raises(AssertionError, match=r"shapes differ: actual \(3,\), expected \(\)"):
        assert_close(jnp.ones(3), 1.0)
    with pytest.raises(AssertionError, match=r"shapes differ: actual \(2, 3\), expected \(3, 2\)"):
        assert_close(jnp.ones((2, 3)), np.ones((3, 2)))


def test_the_bound_is_that_of_actuals_dtype():
    rounded = np.float32(0.1)  # off by 1.5e-9: within float32 rounding, not float64's
    assert_close(np.array([rounded]), np.array([0.1]))
    with pytest.raises(AssertionError, match="float64"):
        assert_close(np.array([0.1]), np.array([rounded], np.float64))


def test_the_default_scale_is_the_largest_expected_value_whatever_the_units():
    for unit in (1e-20, 1.0, 1e20):
        x = jnp.asarray(X * unit, jnp.float32)
        assert_close(x * (1 + 2.0**-22), X * unit)  # 2 ulps
        with pytest.raises(AssertionError):
            assert_close(x * (1 + 1e-5), X * unit)  # 84 ulps
    assert_close(jnp.full(3, 1e-7), np.zeros(3))  # zero expected: relative to 1
    with pytest.raises(AssertionError, match="scale=1"):
        assert_close(jnp.full(3, 1e-5), np.zeros(3))


def test_terms_and_an_explicit_scale_widen_the_bound():
    x = jnp.asarray(X, jnp.float32)
    off = x + 40 * 2.0**-23 * 3.0  # 40 ulps of the largest value, 3
    with pytest.raises(AssertionError):
        assert_close(off, X)
    assert_close(off, X, terms=5)
    assert_close(off, X, scale=15.0)
    with pytest.raises(ValueError, match="terms must be at least 1"):
        assert_close(x, X, terms=0)
    with pytest.raises(TypeError, match="dtype must be a float or complex dtype"):
        assert_close(np.arange(3), np.arange(3))  # integers have no rounding: compare exactly


def test_complex_values_use_the_precision_of_their_parts():
    z = np.exp(1j * X)
    assert_close(jnp.exp(1j * jnp.asarray(X, jnp.float32)), z, terms=2)  # exp(1j x): cos, sin
    assert_close(jnp.asarray(X, jnp.complex64), X)  # a real reference for a complex result
    with pytest.raises(AssertionError, match="complex64"):
        assert_close(jnp.asarray(z * 1j, jnp.complex64), z)


def test_bfloat16_and_float16_are_not_held_to_float32():
    for dtype, ulp in ((jnp.bfloat16, 2.0**-7), (jnp.float16, 2.0**-10)):
        x = jnp.asarray(X, dtype)  # rounded to the format: up to half an ulp of 3 off
        assert_close(x, X)
        assert_close(jnp.exp(x), np.exp(X), terms=2)
        with pytest.raises(AssertionError):
            assert_close(x + 16 * ulp * 3, X)


def test_float64_is_held_tightly():
    with jax.enable_x64(True):
        x = jnp.asarray(X)
        assert x.dtype == jnp.float64
        assert_close(jnp.exp(x), np.exp(X))
        assert_close(jnp.sum(x**2), np.sum(X**2), terms=X.size, scale=np.sum(X**2))
        with pytest.raises(AssertionError, match="float64"):
            assert_close(jnp.exp(x) * (1 + 1e-12), np.exp(X))  # float32 would pass this


def test_empty_arrays_pass():
    assert_close(jnp.zeros((0, 3)), np.zeros((0, 3)))
