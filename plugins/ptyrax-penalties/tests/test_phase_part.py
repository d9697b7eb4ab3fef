"""`on = "phase"`: the engine's phase of a component (a polynomial `atan2` for float32 and
complex64) against float64 NumPy, its gradient, and total variation on it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_penalties import TotalVariationPenalty
from ptyrax_reconstruct._penalties import PARTS, Term, penalty_sum
from test_penalty_values import tv_reference

from ptyrax_core.testing import assert_close, rounding_tolerance

phase = PARTS["phase"]
# the phase is within a few roundings of numbers up to pi (the polynomial's own error, 1.9e-7
# relative, the division, the octant's pi/4, pi/2 or pi): one elementwise function's bound
PHASE_TOLERANCE = rounding_tolerance(np.float32, terms=1, scale=np.pi)


def every_direction(n=20_000, seed=0):
    """Complex64 values in every direction and over 40 decades of modulus, the axes, the
    diagonals and both signs of zero among them."""
    rng = np.random.default_rng(seed)
    z = 10 ** rng.uniform(-18, 18, n) * np.exp(1j * rng.uniform(-np.pi, np.pi, n))
    special = [1, -1, 1j, -1j, 1 + 1j, -1 - 1j, 1 - 1j, -1 + 1j, 3 + 1e-30j, -3 - 1e-30j]
    signed = [complex(-1, -0.0), complex(-2, 0.0), complex(0.0, -5), complex(-0.0, 5)]
    return np.concatenate([z, special, signed]).astype(np.complex64)


def exact_phase(z):
    """The float64 phase of the float32 values, 0 at 0."""
    z = np.asarray(z).astype(np.complex128)
    return np.where(z == 0, 0.0, np.angle(z))


def test_the_phase_is_the_principal_angle_to_rounding():
    z = every_direction()
    got = phase(jnp.asarray(z))
    assert got.dtype == jnp.float32
    assert_close(got, exact_phase(z), terms=1, scale=np.pi)
    jitted = jax.jit(phase)(jnp.asarray(z))
    assert_close(jitted, exact_phase(z), terms=1, scale=np.pi)
    # small phases keep their relative precision (the polynomial starts at u, no pi nearby)
    small = np.complex64(1 + 1e-6j) * np.geomspace(1e-3, 1e3, 50).astype(np.complex64)
    assert_close(phase(jnp.asarray(small)), exact_phase(small), terms=2, scale=1e-6)


def test_the_phase_of_zero_is_zero_with_a_zero_gradient():
    zeros = jnp.asarray(np.array([0, complex(-0.0, 0.0), complex(0.0, -0.0), complex(-0.0, -0.0)]))
    zeros = zeros.astype(jnp.complex64)
    assert np.all(np.asarray(phase(zeros)) == 0)
    grad = jax.grad(lambda z: jnp.sum(phase(z)))(zeros)
    assert np.all(np.asarray(grad) == 0)


def test_the_phase_of_a_real_array_is_zero_or_pi():
    x = jnp.asarray([2.0, -3.0, 0.0, -0.0, 1e-30, -1e30], jnp.float32)
    assert_close(phase(x), np.array([0, np.pi, 0, 0, 0, np.pi]), terms=1, scale=np.pi)


def test_the_phase_gradient_is_the_exact_formula():
    """d phase = (re dim - im dre) / |z|**2: the steepest ascent of `sum(w * phase(z))` is
    `w i z / |z|**2` (JAX gives its conjugate)."""
    z = every_direction(2000, seed=1)
    # where |z|**2 and a cotangent over it are normal float32 numbers (XLA flushes subnormals)
    z = z[(np.abs(z) > 1e-15) & (np.abs(z) < 1e15)]
    w = np.random.default_rng(2).standard_normal(z.shape).astype(np.float32)
    g = np.conj(np.asarray(jax.grad(lambda z: jnp.sum(w * phase(z)))(jnp.asarray(z))))
    wide = z.astype(np.complex128)
    expected = w * 1j * wide / np.abs(wide) ** 2
    # |z|**2 (3 roundings), the products and the division: relative to |w| / |z|
    relative = (g * np.abs(wide)).astype(np.complex64)  # times |z|: one more rounding
    assert_close(relative, expected * np.abs(wide), terms=7, scale=float(np.abs(w).max()))


def test_wider_types_take_the_library_angle():
    with jax.enable_x64(True):
        z = jnp.asarray(every_direction(500), jnp.complex128)
        assert phase(z).dtype == jnp.float64
        assert np.array_equal(np.asarray(phase(z)), np.asarray(jnp.angle(jnp.where(z == 0, 1, z))))


@pytest.mark.parametrize("eps", [1e-3, 0.5])
def test_total_variation_of_the_phase_against_float64(eps):
    """The engine's term `weight * TV(phase(object))` against TV of the float64 phase: the
    TV's own rounding, plus the phase's, which moves each difference by at most twice it."""
    rng = np.random.default_rng(3)
    shape = (9, 11)
    z = (rng.uniform(0.2, 2, shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))).astype(
        np.complex64
    )
    z.flat[::7] = 0  # zeros: phase 0, gradient 0
    term = (Term("object", "phase", 0.5, TotalVariationPenalty(eps=eps)),)
    value, grad = jax.value_and_grad(lambda o: penalty_sum(term, {"object": o}))(jnp.asarray(z))
    ref, ref_grad, phis = tv_reference(exact_phase(z), "lateral", eps)
    n = z.size
    # value: TV's rounding (relative to mean(phi)); each phi moves by at most sqrt(2) times
    # its two differences' error, 2 PHASE_TOLERANCE each
    tolerance = rounding_tolerance(np.float32, terms=n + 9, scale=float(np.mean(phis)))
    tolerance += 2 * np.sqrt(2) * PHASE_TOLERANCE
    assert abs(float(value) - 0.5 * ref) <= 0.5 * tolerance
    # gradient in the phase: d / phi per difference (at most 4 a phase) moves by at most
    # 2 |delta d| / phi <= 4 PHASE_TOLERANCE / eps; then times i z / |z|**2 (0 at 0)
    wide = z.astype(np.complex128)
    jacobian = np.divide(1j * wide, np.abs(wide) ** 2, out=np.zeros_like(wide), where=wide != 0)
    expected = 0.5 * ref_grad.real * jacobian
    steepest = np.conj(np.asarray(grad))
    assert np.all(steepest[z == 0] == 0)
    bound = rounding_tolerance(np.float32, terms=16, scale=3 / n)
    bound += 4 * 4 * PHASE_TOLERANCE / eps / n
    error = np.abs(steepest - expected) * np.abs(wide)  # relative to the jacobian's 1 / |z|
    assert float(error.max()) <= 0.5 * bound
