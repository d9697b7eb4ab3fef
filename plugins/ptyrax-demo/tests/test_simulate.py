import numpy as np
from ptyrax_demo._simulate import defocused_aperture, simulate


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
    np.testing.assert_allclose(np.diff(np.unique(data.nominal_positions[:, 0])), 8.0)
    np.testing.assert_allclose(np.abs(data.true_object), 1.0, rtol=1e-5)  # a phase object
    np.testing.assert_allclose(np.sum(np.abs(data.true_probe) ** 2), 1e5, rtol=1e-4)
    np.testing.assert_allclose(data.counts.sum(axis=(1, 2)).mean(), 1e5, rtol=0.01)
    size = data.true_object.shape[0]
    assert data.true_positions.max() + p <= size and data.true_positions.min() >= 0
    assert data.scanned.shape == (size, size) and 0.2 < data.scanned.mean() < 1.0


def test_the_probe_is_a_ring_patterned_disc_that_fits_its_window():
    probe = defocused_aperture(64, 12.0, fresnel_number=6.0)
    intensity = np.abs(probe) ** 2
    assert np.isclose(np.sum(intensity), 1.0)
    assert intensity[16:48, 16:48].sum() > 0.95  # little reaches the periodic edge
    assert np.ptp(np.angle(probe[28:36, 28:36])) > 0.1  # defocus: a curved phase
