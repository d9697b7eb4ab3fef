import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_demo._forward import exit_wave, far_field_amplitude, fourier_shift

from ptyrax_core.testing import assert_close


def _random_complex(shape, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape), jnp.complex64)


def test_whole_pixel_fourier_shift_is_a_roll():
    image = _random_complex((16, 16))
    moved = fourier_shift(image, jnp.array([3.0, -2.0]))
    # an FFT and an inverse FFT of 16 x 16 (log2 256 roundings each) and the phase ramp
    assert_close(moved, jnp.roll(image, (3, -2), axis=(0, 1)), terms=2 * 8 + 2)


def test_exit_wave_is_continuous_where_the_window_jumps_a_pixel():
    # The window starts at round(position); the probe takes the rest: no jump at x.5.
    y, x = np.mgrid[:40, :40]
    obj = jnp.asarray(np.exp(1j * np.sin(y / 5.0) * np.cos(x / 7.0)), jnp.complex64)
    probe = jnp.asarray(np.exp(-((y[:16, :16] - 7.5) ** 2 + (x[:16, :16] - 7.5) ** 2) / 8.0))
    below = far_field_amplitude(obj, probe.astype(jnp.complex64), jnp.array([10.0, 10.49]))
    above = far_field_amplitude(obj, probe.astype(jnp.complex64), jnp.array([10.0, 10.51]))
    assert float(jnp.max(jnp.abs(below - above))) < 0.02 * float(jnp.max(below))


def test_the_gradient_reaches_the_position_and_matches_finite_differences():
    # In float64, where a central difference of step 1e-3 is accurate to about 1e-11 relative
    # (truncation h**2, rounding eps / h), so the 1e-6 bound is met on any machine; in float32
    # the same difference carries rounding noise of order 1e-3 and could not tell a wrong
    # gradient from a right one. The weights vary along both axes: both components are nonzero.
    with jax.enable_x64(True):
        y, x = np.mgrid[:40, :40]
        obj = jnp.asarray(np.exp(1j * np.sin(y / 4.0 + x / 6.0)))
        probe = np.exp(-((y[:16, :16] - 7.5) ** 2 + (x[:16, :16] - 7.5) ** 2) / 8.0)
        probe = jnp.asarray(probe, jnp.complex128)
        weights = jnp.asarray(1.0 + y[:16, :16] + 0.5 * x[:16, :16])

        def energy(position):
            return jnp.sum(jnp.abs(exit_wave(obj, probe, position)) ** 2 * weights)

        position = jnp.array([10.2, 9.7])
        grad = jax.grad(energy)(position)
        assert grad.dtype == jnp.float64
        step = 1e-3
        for axis in range(2):
            offset = jnp.zeros(2).at[axis].set(step)
            numeric = (energy(position + offset) - energy(position - offset)) / (2 * step)
            assert abs(float(grad[axis])) > 1.0  # a gradient to check, not rounding noise
            assert float(grad[axis]) == pytest.approx(float(numeric), rel=1e-6)


def test_counts_sum_to_the_exit_wave_intensity():
    obj, probe = _random_complex((24, 24), 1), _random_complex((8, 8), 2)
    position = jnp.array([3.0, 5.0])
    amplitude = far_field_amplitude(obj, probe, position)
    # two sums of 64 positive terms, an 8 x 8 FFT (6 roundings), |.| and its square
    assert_close(
        jnp.sum(amplitude**2), jnp.sum(jnp.abs(exit_wave(obj, probe, position)) ** 2), terms=64 + 10
    )
