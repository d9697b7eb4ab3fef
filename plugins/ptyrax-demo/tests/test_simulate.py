import numpy as np
from ptyrax_demo._simulate import defocused_aperture, simulate

from ptyrax_core.testing import assert_close, rounding_tolerance


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    a, b, c = simulate(seed=3, grid=3), simulate(seed=3, grid=3), simulate(seed=4, grid=3)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.true_positions, b.true_positions)
    assert not np.array_equal(a.counts, c.counts)


def test_the_dataset_matches_its_description():
    data = simulate(grid=4, step=8.0, probe_size=32, jitter=0.8, dose=1e5)
    k, p = 16, 32
    assert data.counts.shape == (k, p, p) and data.counts.dtype == np.float32
    assert np.all(data.counts == np.round(data.counts)) and data.counts.min() >= 0  # photons
    assert data.nominal_positions.shape == data.true_positions.shape == (k, 2)
    jitter = data.true_positions - data.nominal_positions
    assert np.all(np.abs(jitter) <= 0.8) and np.std(jitter) > 0.2
    np.testing.assert_array_equal(np.diff(np.unique(data.nominal_positions[:, 0])), 8.0)  # ints
    # a phase object: exp(1j * phase) in float64, rounded to complex64, then its abs
    assert_close(np.abs(data.true_object), np.ones(data.true_object.shape), terms=1)
    # the dose, summed in float64: only the rounding of each value to complex64 is left
    dose = np.sum(np.abs(data.true_probe.astype(np.complex128)) ** 2)
    assert abs(dose - 1e5) <= rounding_tolerance(data.true_probe.dtype, terms=2, scale=1e5)
    # Poisson counts: the mean of 16 frames of 1e5 photons has a spread of 0.08 %; 1 % is 12 of it
    np.testing.assert_allclose(data.counts.sum(axis=(1, 2)).mean(), 1e5, rtol=0.01)
    size = data.true_object.shape[0]
    assert data.true_positions.max() + p <= size and data.true_positions.min() >= 0
    assert data.scanned.shape == (size, size) and 0.2 < data.scanned.mean() < 1.0


def test_the_probe_is_a_ring_patterned_disc_that_fits_its_window():
    probe = defocused_aperture(64, 12.0, fresnel_number=6.0)
    intensity = np.abs(probe) ** 2
    total = np.sum(np.abs(probe.astype(np.complex128)) ** 2)  # in float64: only the cast rounds
    assert abs(total - 1.0) <= rounding_tolerance(probe.dtype, terms=1)
    assert intensity[16:48, 16:48].sum() > 0.95  # little reaches the periodic edge
    assert np.ptp(np.angle(probe[28:36, 28:36])) > 0.1  # defocus: a curved phase
