import numpy as np
import pytest
from ptyrax_reconstruct._geometry import geometry
from ptyrax_reconstruct._guess import pixel_positions, probe_guess
from ptyrax_reconstruct._propagate import angular_spectrum

from ptyrax_core.testing import rounding_tolerance

WAVELENGTH = 9.794912e-11
BASIS = np.array([[0.0, -55e-6], [-55e-6, 0.0], [0.0, 0.0]])
SHAPE = (64, 48)


def _geometry(propagation):
    return geometry(
        propagation=propagation,
        wavelength=WAVELENGTH,
        detector_distance=1.12,
        detector_basis=BASIS,
        frame_shape=SHAPE,
        focus_to_sample=3.65e-3 if propagation == "near_field" else None,
    )


def _mean_counts(seed=0):
    """A smooth, structured mean pattern (counts, 20 to 400) with a few bad pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    mean = 200 + 150 * np.cos(y / 4.0) * np.sin(x / 6.0) + 30 * rng.uniform(size=SHAPE)
    valid = np.ones(SHAPE, bool)
    valid[[3, 17, 40], [5, 30, 12]] = False
    mean[~valid] = 0.0  # bad pixels read 0, as in the shipped file
    return mean.astype(np.float32), valid


def _relative_error(intensity, mean, valid):
    return float(np.max(np.abs(intensity - mean)[valid])) / float(np.max(mean[valid]))


def test_pixel_positions_put_the_smallest_at_padding():
    """Per axis, the smallest corner is at `padding`; the span covers the largest corner."""
    geo = _geometry("near_field")
    rng = np.random.default_rng(0)
    translations = rng.normal(scale=3e-6, size=(20, 3)) * [1, 1, 0]
    positions, span = pixel_positions(geo, translations, padding=7)
    assert positions.shape == (20, 2)
    np.testing.assert_allclose(positions.min(axis=0), [7.0, 7.0], rtol=0, atol=1e-12)
    assert all(span[k] >= positions[:, k].max() + 1 + 7 for k in range(2))
    assert span == tuple(int(np.ceil(positions[:, k].max())) + 1 + 7 for k in range(2))
    # only an offset from to_pixels: the steps between frames are kept
    diffs = np.diff(geo.to_pixels(translations), axis=0)
    np.testing.assert_allclose(np.diff(positions, axis=0), diffs, rtol=0, atol=1e-9)


@pytest.mark.parametrize("propagation", ["near_field", "far_field"])
def test_probe_guess_through_an_object_of_ones_reproduces_the_mean_pattern(propagation):
    """|propagate(probe)|^2 == mean counts where valid (float64 numpy forward model)."""
    mean, valid = _mean_counts()
    geo = _geometry(propagation)
    probe = probe_guess(mean, valid, geo, 1)
    assert probe.shape == (1, *SHAPE) and probe.dtype == np.complex64
    wave = probe[0].astype(np.complex128)
    if propagation == "near_field":
        transfer = angular_spectrum(SHAPE, geo.pixel, geo.wavelength, geo.distance)
        detector = np.fft.ifft2(np.fft.fft2(wave) * transfer)
    else:
        detector = np.fft.fft2(wave, norm="ortho")
    # The guess is complex64: its rounding (and |H|^2 = 1 to complex64 rounding, near field)
    # is what is left, spread by the unitary propagation: about log2(size) roundings of the
    # amplitude, doubled by |.|^2; relative to the brightest pixel.
    terms = 2 * (np.log2(SHAPE[0] * SHAPE[1]) + 2)
    assert _relative_error(np.abs(detector) ** 2, mean, valid) <= rounding_tolerance(
        np.complex64, terms=terms
    )


def test_far_field_probe_guess_is_centred_in_its_window():
    """A flat far-field pattern is a point probe, placed at the window's centre."""
    probe = probe_guess(
        np.full(SHAPE, 9.0, np.float32), np.ones(SHAPE, bool), _geometry("far_field"), 1
    )
    assert np.unravel_index(np.argmax(np.abs(probe[0])), SHAPE) == (SHAPE[0] // 2, SHAPE[1] // 2)


def test_near_field_probe_guess_is_propagated_back_not_the_root_of_the_pattern():
    """The guess lives at the sample: it differs from sqrt(mean) (propagation is not vacuous)."""
    mean, valid = _mean_counts()
    probe = probe_guess(mean, valid, _geometry("near_field"), 1)
    assert np.max(np.abs(np.abs(probe[0]) - np.sqrt(mean))[valid]) > 0.1 * np.sqrt(mean.max())


def test_bad_pixels_are_filled_with_the_mean_of_the_valid_ones():
    """Where a pixel is bad, the guess's pattern holds the valid pixels' mean, not its 0."""
    mean, valid = _mean_counts()
    probe = probe_guess(mean, valid, _geometry("far_field"), 1)
    pattern = np.abs(np.fft.fft2(probe[0].astype(np.complex128), norm="ortho")) ** 2
    fill = float(mean[valid].mean())
    tolerance = rounding_tolerance(np.complex64, terms=2 * (np.log2(64 * 48) + 2), scale=400)
    np.testing.assert_allclose(pattern[~valid], fill, rtol=0, atol=tolerance)


@pytest.mark.parametrize("propagation", ["near_field", "far_field"])
def test_extra_probe_modes_carry_five_percent_of_the_power_each(propagation):
    """Modes 1.. have 5 % of mode 0's power and are linearly independent of it."""
    mean, valid = _mean_counts()
    probe = probe_guess(mean, valid, _geometry(propagation), 3).astype(np.complex128)
    assert probe.shape == (3, *SHAPE)
    power = np.sum(np.abs(probe) ** 2, axis=(1, 2))
    tolerance = rounding_tolerance(np.complex64, terms=4)
    np.testing.assert_allclose(power[1:] / power[0], 0.05, rtol=tolerance / 0.05)
    assert np.linalg.matrix_rank(probe.reshape(3, -1), tol=1e-3 * np.abs(probe).max()) == 3
