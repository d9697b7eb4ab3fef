import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct._propagate import (
    angular_phase,
    angular_spectrum,
    fourier_shift,
    propagate_far,
    propagate_near,
    shift_ramp,
)

from ptyrax_core.testing import assert_close, rounding_tolerance

# The shipped PETRA III P25 scan under Fresnel scaling (data/README.md): M = 307.85.
WAVELENGTH = 9.794912e-11
PIXEL = 55e-6 / 307.85
DISTANCE = 1.12 / 307.85
N = 100


def _random_complex(shape, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape), jnp.complex64)


def _frequencies(shape, pixel):
    fy = np.fft.fftfreq(shape[0], d=pixel[0])[:, None]
    fx = np.fft.fftfreq(shape[1], d=pixel[1])[None, :]
    return fy, fx


def test_angular_spectrum_is_the_paraxial_fresnel_transfer_function_for_this_scan():
    """H equals exp(-i pi lambda z (fy^2 + fx^2)) to the next term of the expansion (< 1e-5)."""
    transfer = angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, DISTANCE)
    assert transfer.dtype == np.complex64 and transfer.shape == (N, N)
    fy, fx = _frequencies((N, N), (PIXEL, PIXEL))
    fresnel = np.exp(-1j * np.pi * WAVELENGTH * DISTANCE * (fy**2 + fx**2))  # float64
    # sqrt(1 - s) - 1 = -s/2 - s^2/8 - ...: the paraxial phase leaves out k z s^2 / 8 (and
    # less); the cast of H to complex64 adds its rounding.
    s = WAVELENGTH**2 * (fy**2 + fx**2)
    neglected = float(np.max(2 * np.pi / WAVELENGTH * DISTANCE * s**2 / 8)) * 1.01
    error = float(np.max(np.abs(transfer.astype(np.complex128) - fresnel)))
    assert error <= neglected + rounding_tolerance(np.complex64)
    assert error < 1e-5
    # and the paraxial phase itself is large here (about 17.5 rad at the corner): a real test
    assert float(np.max(np.pi * WAVELENGTH * DISTANCE * (fy**2 + fx**2))) > 10


def test_angular_spectrum_has_unit_modulus_where_waves_propagate_and_cuts_evanescent_ones():
    """|H| = 1 where (lambda f)^2 < 1 and H = 0 where the wave is evanescent."""
    wavelength = 1e-9
    pixel = (wavelength / 3, wavelength / 2.5)  # frequencies up to 1.5 / lambda: some evanescent
    shape = (16, 12)
    transfer = angular_spectrum(shape, pixel, wavelength, 5e-9)
    fy, fx = _frequencies(shape, pixel)
    propagating = (wavelength * fy) ** 2 + (wavelength * fx) ** 2 < 1.0
    assert propagating.any() and (~propagating).any()
    assert_close(np.abs(transfer[propagating]), np.ones(int(propagating.sum())), terms=2)
    assert np.all(transfer[~propagating] == 0)


def test_angular_spectrum_at_zero_frequency_is_one():
    """The constant phase exp(i k z) is left out: the DC term passes unchanged."""
    transfer = angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, DISTANCE)
    assert transfer[0, 0] == 1.0


def test_propagating_forward_then_back_by_minus_z_is_the_identity():
    """propagate_near(propagate_near(w, H(z)), H(-z)) == w."""
    wave = _random_complex((N, N))
    forward = jnp.asarray(angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, DISTANCE))
    back = jnp.asarray(angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, -DISTANCE))
    out = propagate_near(propagate_near(wave, forward), back)
    # four FFTs of N * N points (log2(N * N) roundings each) and two products with H
    assert_close(out, wave, terms=4 * np.log2(N * N) + 2)


def test_propagate_near_of_a_plane_wave_is_a_plane_wave():
    """Only the zero frequency is present and H[0, 0] = 1: a constant wave stays constant."""
    transfer = jnp.asarray(angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, DISTANCE))
    wave = jnp.full((N, N), 0.5 - 0.25j, jnp.complex64)
    assert_close(propagate_near(wave, transfer), wave, terms=2 * np.log2(N * N) + 1)


def test_propagate_near_does_change_a_textured_wave():
    """A nonzero distance changes a wave with structure (the identity test is not vacuous)."""
    transfer = jnp.asarray(angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, DISTANCE))
    wave = _random_complex((N, N))
    assert float(jnp.max(jnp.abs(propagate_near(wave, transfer) - wave))) > 0.5


def test_whole_pixel_fourier_shift_is_a_roll():
    """fourier_shift by whole pixels equals jnp.roll (rows, columns), also on a batch."""
    image = _random_complex((3, 16, 20))
    moved = fourier_shift(image, jnp.array([3.0, -2.0]))
    # an FFT and an inverse FFT of 16 * 20 points and the phase ramp
    assert_close(moved, jnp.roll(image, (3, -2), axis=(-2, -1)), terms=2 * np.log2(16 * 20) + 2)


def test_fourier_shift_moves_a_smooth_image_by_a_subpixel_amount():
    """A shift by 0.25 pixel of a periodic band-limited image is its value at x - 0.25."""
    with jax.enable_x64(True):
        x = np.arange(32)
        image = np.exp(2j * np.pi * 3 * x / 32)[None, :] * np.cos(2 * np.pi * 2 * x / 32)[:, None]
        moved = fourier_shift(jnp.asarray(image), jnp.array([0.5, 0.25]))
        expected = (
            np.exp(2j * np.pi * 3 * (x - 0.25) / 32)[None, :]
            * np.cos(2 * np.pi * 2 * (x - 0.5) / 32)[:, None]
        )
        assert_close(moved, expected, terms=2 * np.log2(32 * 32) + 2)


def test_shift_ramps_of_opposite_shifts_multiply_to_one():
    """shift_ramp(s) * shift_ramp(-s) == 1 everywhere."""
    shift = jnp.array([0.3, -0.7], jnp.float32)
    ramp = shift_ramp((16, 12), shift)
    assert ramp.shape == (16, 12) and ramp.dtype == jnp.complex64
    product = ramp * shift_ramp((16, 12), -shift)
    # the phases are exact negatives of each other: only exp (cos, sin) and the product round
    assert_close(product, np.ones((16, 12)), terms=4)


def test_shift_ramp_is_the_phase_ramp_of_its_shift():
    """The outer product of the row and column factors is exp(-2 pi i (ky s0 + kx s1)),
    against float64, and so is its derivative in the shift."""
    shape, shift = (16, 12), np.array([0.3, -0.7])
    ky, kx = np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :]
    expected = np.exp(-2j * np.pi * (ky * shift[0] + kx * shift[1]))
    ramp = shift_ramp(shape, jnp.asarray(shift, jnp.float32))
    # the phase (at most pi * 0.7) rounds relative to its size in its products; exp and the
    # outer product round once each: well within 6 pi roundings of 1
    assert_close(ramp, expected, terms=6 * np.pi)
    d = jax.jacfwd(lambda s: shift_ramp(shape, s))(jnp.asarray(shift, jnp.float32))
    assert_close(d[..., 0], -2j * np.pi * ky * expected, terms=6 * np.pi, scale=np.pi)
    assert_close(d[..., 1], -2j * np.pi * kx * expected, terms=6 * np.pi, scale=np.pi)


def test_shift_ramp_of_zero_is_one():
    """No shift, no phase."""
    assert np.all(np.asarray(shift_ramp((8, 8), jnp.zeros(2))) == 1)


def test_propagate_far_is_unitary():
    """Parseval: the far field carries the exit wave's power (norm="ortho")."""
    wave = _random_complex((2, 64, 48))
    out = propagate_far(wave)
    power_in = np.sum(np.abs(np.asarray(wave, np.complex128)) ** 2, axis=(-2, -1))
    power_out = np.sum(np.abs(np.asarray(out, np.complex128)) ** 2, axis=(-2, -1))
    # summed in float64: only the FFT's roundings (log2 of its size), twice through |.|^2
    tolerance = rounding_tolerance(np.complex64, terms=2 * np.log2(64 * 48) + 2, scale=1.0)
    np.testing.assert_array_less(np.abs(power_out / power_in - 1.0), tolerance)


def test_propagate_far_puts_the_zero_frequency_at_the_corner():
    """A plane wave of amplitude a goes to a * sqrt(N) at [0, 0] and nothing elsewhere."""
    out = np.asarray(propagate_far(jnp.full((8, 8), 2.0 + 0j, jnp.complex64)))
    expected = np.zeros((8, 8), np.complex128)
    expected[0, 0] = 2.0 * 8
    assert_close(out, expected, terms=np.log2(64) + 1)


@pytest.mark.parametrize("distance", [DISTANCE, -DISTANCE])
def test_angular_spectrum_of_minus_z_is_the_conjugate(distance):
    """H(-z) = conj(H(z)) where waves propagate: going back undoes the phase exactly."""
    h = angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, distance)
    g = angular_spectrum((N, N), (PIXEL, PIXEL), WAVELENGTH, -distance)
    assert_close(h, np.conj(g), terms=1)


def test_angular_phase_is_the_spectrum_s_phase_and_linear_in_the_distance():
    shape, pixel, wavelength = (16, 12), (0.2e-10, 0.25e-10), 2.5e-12
    phase = angular_phase(shape, pixel, wavelength, 4e-10)
    transfer = angular_spectrum(shape, pixel, wavelength, 4e-10)
    assert np.array_equal(np.isnan(phase), transfer == 0)
    passed = ~np.isnan(phase)
    assert_close(np.exp(1j * phase[passed]).astype(np.complex64), transfer[passed])
    np.testing.assert_allclose(
        angular_phase(shape, pixel, wavelength, 1.3 * 4e-10)[passed],
        1.3 * phase[passed],
        rtol=4 * np.finfo(np.float64).eps,
    )
