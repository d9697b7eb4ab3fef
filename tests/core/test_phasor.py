"""`ptyrax_core.expi`: exp(1j x) against float64, its gradient, its dtypes and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ptyrax_core import expi
from ptyrax_core.testing import rounding_tolerance


@pytest.mark.parametrize("scale", [1.0, 4.0, 1e2, 1e4, 1e6])
def test_expi_is_exp_1j_x_to_float32_rounding(scale):
    x = np.random.default_rng(0).uniform(-scale, scale, 100_000).astype(np.float32)
    x[:4] = [0.0, np.pi / 2, -np.pi, 1e-30]
    got = np.asarray(jax.jit(expi)(jnp.asarray(x)))
    assert got.dtype == np.complex64
    exact = np.exp(1j * x.astype(np.float64))  # of the float32 input, exactly as given
    # a few roundings of values of magnitude 1: the reduction, the polynomial, the signs
    assert np.abs(got - exact).max() <= rounding_tolerance(np.float32, terms=2)


def test_large_arguments_take_the_exact_path():
    x = jnp.array([0.5, 3e7], jnp.float32)
    exact = np.exp(1j * np.asarray(x, np.float64))
    assert np.abs(np.asarray(expi(x)) - exact).max() <= rounding_tolerance(np.float32, terms=2)


def test_gradient_is_that_of_exp_1j_x():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(5, 7)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(2).normal(size=(5, 7, 2)), jnp.float32)
    w = jax.lax.complex(w[..., 0], w[..., 1])

    def loss(f, x):
        return jnp.sum(jnp.real(f(x) * w))

    ours = jax.grad(lambda x: loss(expi, x))(x)
    with jax.enable_x64(True):
        reference = jax.grad(lambda x: loss(lambda y: jnp.exp(1j * y), x))(
            jnp.asarray(x, jnp.float64)
        )
    # each element: a product of two complex numbers of magnitude up to max|w|
    scale = float(jnp.max(jnp.abs(w)))
    assert np.abs(np.asarray(ours) - np.asarray(reference)).max() <= rounding_tolerance(
        np.float32, terms=4, scale=scale
    )


def test_dtypes():
    assert expi(jnp.zeros(3, jnp.bfloat16)).dtype == jnp.complex64
    with jax.enable_x64(True):
        x = jnp.array([0.3, -2.0], jnp.float64)
        assert expi(x).dtype == jnp.complex128
        assert np.array_equal(np.asarray(expi(x)), np.asarray(jnp.exp(1j * x)))


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match="x must be a real array; got dtype complex64"):
        expi(jnp.zeros(2, jnp.complex64))
