import numpy as np
import pytest
from ptyrax_reconstruct._cxi import read_cxi
from ptyrax_reconstruct._errors import ReconstructError
from ptyrax_reconstruct._geometry import geometry

from ptyrax_core.testing import assert_close

WAVELENGTH = 9.794912e-11
Z2 = 1.12  # sample to detector
Z1 = 3.65e-3  # focus to sample (not in the file; the publishers' value)
DETECTOR_PIXEL = 55e-6
# the shipped file's basis: a row step is -55 um along lab y, a column step -55 um along lab x
BASIS = np.array([[0.0, -DETECTOR_PIXEL], [-DETECTOR_PIXEL, 0.0], [0.0, 0.0]])


def _near(focus=Z1, basis=BASIS):
    return geometry(
        propagation="near_field",
        wavelength=WAVELENGTH,
        detector_distance=Z2,
        detector_basis=basis,
        frame_shape=(100, 100),
        focus_to_sample=focus,
    )


def test_fresnel_scaling_numbers_for_the_shipped_scan():
    """M = 307.85, effective distance 3.638 mm, sample pixel 178.66 nm (data/README.md)."""
    geo = _near()
    assert geo.propagation == "near_field" and geo.wavelength == WAVELENGTH
    assert geo.magnification == pytest.approx(307.85, rel=1e-4)
    assert geo.distance == pytest.approx(3.638e-3, rel=1e-4)
    assert geo.pixel == pytest.approx((178.66e-9, 178.66e-9), rel=1e-4)
    # and exactly the Fresnel-scaling formulas, in float64
    m = (Z1 + Z2) / Z1
    assert geo.magnification == pytest.approx(m, rel=1e-15)
    assert geo.distance == pytest.approx(Z2 / m, rel=1e-15)
    assert geo.pixel == pytest.approx((DETECTOR_PIXEL / m,) * 2, rel=1e-15)
    np.testing.assert_allclose(geo.basis, BASIS / m, rtol=1e-15)


def test_fresnel_scaling_from_the_shipped_file(shipped_scan):
    """The file's float32 geometry gives the same numbers to float32 precision."""
    scan = read_cxi(shipped_scan)
    geo = geometry(
        propagation="near_field",
        wavelength=scan.wavelength,
        detector_distance=scan.distance,
        detector_basis=scan.basis,
        frame_shape=scan.frames_shape[1:],
        focus_to_sample=Z1,
    )
    assert geo.magnification == pytest.approx(_near().magnification, rel=2**-22)
    assert geo.pixel == pytest.approx(_near().pixel, rel=2**-21)


def test_plane_wave_near_field_keeps_the_detector_pixel_and_distance():
    """No focus: magnification 1, the detector pixel and z2 as they are."""
    geo = _near(focus=None)
    assert geo.magnification == 1.0
    assert geo.distance == Z2
    assert geo.pixel == (DETECTOR_PIXEL, DETECTOR_PIXEL)
    np.testing.assert_array_equal(geo.basis, BASIS)


def test_far_field_pixel_is_lambda_z_over_n_times_the_detector_pixel():
    """Per axis: rows use the row step and the row count (non-square frames, unequal pixels)."""
    basis = np.array([[0.0, -55e-6], [-75e-6, 0.0], [0.0, 0.0]])  # rows 75 um, columns 55 um
    geo = geometry(
        propagation="far_field",
        wavelength=WAVELENGTH,
        detector_distance=Z2,
        detector_basis=basis,
        frame_shape=(64, 32),
    )
    assert geo.pixel == pytest.approx(
        (WAVELENGTH * Z2 / (64 * 75e-6), WAVELENGTH * Z2 / (32 * 55e-6)), rel=1e-15
    )
    assert geo.distance == 0.0 and geo.magnification == 1.0
    # the basis keeps the detector's directions, scaled to the sample pixel
    np.testing.assert_allclose(np.linalg.norm(geo.basis, axis=0), geo.pixel, rtol=1e-15)
    np.testing.assert_allclose(geo.basis[:, 0] / geo.pixel[0], [0, -1, 0], atol=1e-15)
    np.testing.assert_allclose(geo.basis[:, 1] / geo.pixel[1], [-1, 0, 0], atol=1e-15)


def test_to_pixels_and_to_metres_are_inverses():
    """Pixels -> metres -> pixels, and in-plane translations -> pixels -> translations."""
    geo = _near()
    rng = np.random.default_rng(0)
    pixels = rng.uniform(-50.0, 150.0, size=(7, 2))
    assert_close(geo.to_pixels(geo.to_metres(pixels)), pixels, terms=8)
    translations = rng.normal(scale=1e-5, size=(7, 3)) * [1, 1, 0]  # in the basis's plane
    assert_close(geo.to_metres(geo.to_pixels(translations)), translations, terms=8)
    assert geo.to_pixels(translations).shape == (7, 2)
    assert geo.to_metres(pixels).shape == (7, 3)


def test_a_sample_translation_puts_the_probe_at_minus_it_in_the_sample_frame():
    """Convention: the probe is fixed and the sample moves, so a sample translation t moves the
    probe by -t over the sample: basis @ to_pixels(t) == -t."""
    geo = _near()
    rng = np.random.default_rng(1)
    t = rng.normal(scale=1e-5, size=(5, 3)) * [1, 1, 0]
    assert_close(geo.to_pixels(t) @ geo.basis.T, -t, terms=8)


def test_shipped_basis_translation_of_minus_one_pixel_along_y_moves_the_probe_minus_one_row():
    """With the shipped basis (a row step is -p along lab y, a column step -p along lab x, p the
    sample pixel), a translation of -p along lab y puts the probe at +p along y = -1 row step:
    the probe moves by -1 row, 0 columns. Likewise -p along lab x: -1 column."""
    geo = _near()
    p = geo.pixel[0]
    moves = geo.to_pixels(np.array([[0.0, -p, 0.0], [-p, 0.0, 0.0], [0.0, p, 0.0]]))
    assert_close(moves, np.array([[-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]]), terms=8)


def test_translation_along_the_beam_does_not_move_the_probe():
    """Only the part of a translation in the basis's plane counts (least squares on it)."""
    geo = _near()
    moves = geo.to_pixels(np.array([[0.0, 0.0, 1e-3], [0.0, -geo.pixel[0], 5e-4]]))
    assert_close(moves, np.array([[0.0, 0.0], [-1.0, 0.0]]), terms=8, scale=1.0)


@pytest.mark.parametrize("name", ["nearfield", "fresnel", ""])
def test_unknown_propagation_raises(name):
    """Not near_field or far_field: a ReconstructError that lists both."""
    with pytest.raises(ReconstructError, match=r"propagation must be one of \['far_field'"):
        geometry(
            propagation=name,
            wavelength=WAVELENGTH,
            detector_distance=Z2,
            detector_basis=BASIS,
            frame_shape=(100, 100),
        )


def test_focus_to_sample_in_the_far_field_raises():
    """Fresnel scaling belongs to the near field."""
    with pytest.raises(ReconstructError, match="near field only"):
        geometry(
            propagation="far_field",
            wavelength=WAVELENGTH,
            detector_distance=Z2,
            detector_basis=BASIS,
            frame_shape=(100, 100),
            focus_to_sample=Z1,
        )


@pytest.mark.parametrize(
    ("wavelength", "distance", "propagation", "match"),
    [
        (1e300, Z2, "near_field", r"wavelength 1e\+300 m is not below twice the sample-plane"),
        (WAVELENGTH, 1e300, "near_field", r"twice the sample-plane pixel 2\.00\de-307 m"),
        (WAVELENGTH, 1e-300, "far_field", r"sample-plane pixel \(1\.781e-308, 1\.781e-308\) m"),
        (1e300, 1e300, "far_field", r"sample-plane pixel \(inf, inf\) m"),
    ],
)
def test_absurd_calibrations_are_refused_with_the_sample_plane_numbers(
    wavelength, distance, propagation, match
):
    """A wavelength or distance wrong by hundreds of orders of magnitude: no NumPy warning,
    and an error that gives the sample-plane pixel that follows (0 or infinite, or so small
    beside the wavelength that no wave but the mean one propagates)."""
    with np.errstate(all="raise"), pytest.raises(ReconstructError, match=match):
        geometry(
            propagation=propagation,
            wavelength=wavelength,
            detector_distance=distance,
            detector_basis=BASIS,
            frame_shape=(100, 100),
            focus_to_sample=Z1 if propagation == "near_field" else None,
        )
