import numpy as np
import pytest
from ptyrax_reconstruct import phase_score, position_rmse
from test_run import _star_phase

from ptyrax_core.testing import rounding_tolerance


@pytest.fixture(scope="module")
def truth():
    phase = _star_phase(64)
    mask = np.zeros((64, 64), bool)
    mask[12:52, 12:52] = True
    return np.exp(1j * phase), mask


def _moved(image, shift):
    ky, kx = (np.fft.fftfreq(n) for n in image.shape)
    return np.fft.ifft2(
        np.fft.fft2(image) * np.exp(-2j * np.pi * (ky[:, None] * shift[0] + kx[None, :] * shift[1]))
    )


def test_offset_ramp_and_shift_are_removed_and_reported(truth):
    true, mask = truth
    y, x = np.mgrid[:64, :64]
    reconstructed = _moved(true, (0.4, -0.7)) * np.exp(1j * (0.8 + 0.01 * y - 0.02 * x))
    score = phase_score(reconstructed, true, mask)
    assert score.rmse < 0.01
    assert score.shift == pytest.approx((-0.4, 0.7), abs=0.03)
    assert score.ramp == pytest.approx((0.01, -0.02), abs=2e-3)
    np.testing.assert_allclose(
        np.angle(np.exp(1j * (score.registered - np.angle(true))))[mask], 0.0, atol=0.05
    )


def test_a_real_error_is_measured(truth):
    true, mask = truth
    noise = np.random.default_rng(1).normal(0.0, 0.1, true.shape)
    score = phase_score(true * np.exp(1j * noise), true, mask)
    assert score.rmse == pytest.approx(0.1, rel=0.1)
    assert np.all(score.error[~mask] == 0.0)


def test_position_rmse_ignores_a_common_shift_only():
    true = np.random.default_rng(2).uniform(0, 50, (20, 2))
    # float64: the sums, the difference and the mean of 20 offsets round, relative to |positions|
    scale = float(np.max(np.abs(true))) + 2.0
    tol = rounding_tolerance(np.float64, terms=len(true) + 4, scale=scale)
    assert position_rmse(true + np.array([1.5, -2.0]), true) <= tol
    errors = np.tile([[0.3, 0.4], [-0.3, -0.4]], (10, 1))
    assert abs(position_rmse(true + errors, true) - 0.5) <= tol
