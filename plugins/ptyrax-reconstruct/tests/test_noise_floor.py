"""The noise floor: the deviance a model exactly right scores under Poisson noise, its
spread, the warning below it and `fit.stop_at_noise_floor`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct import (
    NoiseFitWarning,
    ReconstructError,
    Scan,
    detector_waves,
    deviance_moments,
    exit_waves,
    intensities,
    load_config,
    poisson_deviance,
    reconstruct,
)
from scipy.special import gammaln, xlogy

INTENSITIES = np.array([1e-5, 3e-3, 0.05, 0.4, 1.0, 2.7, 9.0, 60.0, 900.0, 1.2e3, 5e4])


def _moments_float64(lam: float) -> tuple[float, float]:
    """E[D] and Var[D] for Poisson(lam), summed in float64 over the counts that matter."""
    k = np.arange(int(lam + 50 * np.sqrt(lam) + 80), dtype=np.float64)
    p = np.exp(k * np.log(lam) - lam - gammaln(k + 1))
    d = 2 * (lam - k + xlogy(k, k) - k * np.log(lam))
    mean = np.sum(p * d)
    return mean, np.sum(p * (d - mean) ** 2)


def test_moments_are_the_poisson_sums():
    # The table is interpolated linearly in log(I) at a step of 0.022 (1024 points over 21
    # e-folds): its error is below step**2 / 8 times the moments' second derivative in
    # log(I), at most about 2 here: 1.2e-4. float32 adds 1e-6.
    mean, variance = deviance_moments(jnp.asarray(INTENSITIES, jnp.float32), jnp.array(True))
    expected = np.array([_moments_float64(x + 1e-6) for x in INTENSITIES])  # the loss's FLOOR
    np.testing.assert_allclose(np.asarray(mean), expected[:, 0], rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(variance), expected[:, 1], rtol=2e-4, atol=1e-7)
    assert abs(float(mean[-1]) - 1.0) < 1e-4 and abs(float(variance[-1]) - 2.0) < 1e-4


def test_moments_are_zero_at_invalid_pixels():
    valid = jnp.array([True, False, True])
    mean, variance = deviance_moments(jnp.array([1.0, 1.0, 1.0]), valid)
    assert float(mean[1]) == 0.0 and float(variance[1]) == 0.0 and float(mean[0]) > 1.0


def test_the_deviance_of_the_true_intensities_averages_to_the_floor():
    # Monte Carlo: 400 Poisson draws of 2000 pixels whose intensities span dark to bright;
    # the mean of the summed deviance is the floor to within 4 standard errors, and its
    # standard deviation the spread to within 4 of its own standard errors (about 1/sqrt(2n)).
    rng = np.random.default_rng(0)
    lam = np.exp(rng.uniform(np.log(1e-3), np.log(1e3), 2000)).astype(np.float32)
    draws = 400
    counts = rng.poisson(lam, size=(draws, lam.size)).astype(np.float32)
    valid = jnp.array(True)
    totals = np.asarray(jnp.sum(poisson_deviance(jnp.asarray(lam), jnp.asarray(counts), valid), 1))
    mean, variance = (float(jnp.sum(m)) for m in deviance_moments(jnp.asarray(lam), valid))
    spread = np.sqrt(variance)
    assert abs(totals.mean() - mean) <= 4 * spread / np.sqrt(draws)
    assert abs(totals.std(ddof=1) / spread - 1) <= 4 / np.sqrt(2 * draws)


def _scan(grid: int, step: int, dose: float, seed: int = 0):
    """A small far-field scan of a phase object with its truth: the scan, the object, the
    probe `(1, 16, 16)` and the positions."""
    rng = np.random.default_rng(seed)
    probe_size, padding = 16, 2
    size = (grid - 1) * step + probe_size + 2 * padding
    obj = np.exp(0.5j * rng.standard_normal((size, size))).astype(np.complex64)
    y, x = np.mgrid[:probe_size, :probe_size] - (probe_size - 1) / 2
    probe = (np.hypot(y, x) < 5) * np.exp(0.1j * (y**2 + x**2))
    probe = (probe * np.sqrt(dose / np.sum(np.abs(probe) ** 2))).astype(np.complex64)
    corners = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij"), -1)
    corners = corners.reshape(-1, 2) * step + padding
    spectrum = jnp.fft.fft2(jnp.asarray(probe))[None]

    def pattern(position):
        waves = exit_waves(jnp.asarray(obj), spectrum, position)
        return intensities(detector_waves(waves, None, position))

    truth = np.asarray(jax.vmap(pattern)(jnp.asarray(corners, jnp.float32)), np.float64)
    counts = rng.poisson(truth).astype(np.float32)
    pixel_m, wavelength, distance = 1e-8, 1e-10, 1.0
    detector = wavelength * distance / (probe_size * pixel_m)
    basis = np.array([[0.0, -detector], [-detector, 0.0], [0.0, 0.0]])
    translations = np.zeros((len(corners), 3))
    translations[:, 1], translations[:, 0] = corners[:, 0] * pixel_m, corners[:, 1] * pixel_m
    valid = np.ones((probe_size, probe_size), bool)
    frames = np.fft.fftshift(counts, axes=(1, 2))
    scan = Scan(None, counts.shape, translations, valid, wavelength, distance, basis, frames)
    config = {
        "data": {"file": "in-memory"},
        "geometry": {"propagation": "far_field", "padding": padding},
        "model": {"object": {"type": "direct"}, "probe": {"type": "direct"}},
        "loss": {"kind": "poisson"},  # its fit is the mean: the truth is its optimum
        "fit": {"stages": [{"epochs": 1, "learning_rate": 0.0, "batch_size": len(corners)}]},
    }
    engine = np.ones((size + 3, size + 3), np.complex64)  # the engine's object: one row more
    engine[:size, :size] = obj  # its pixels are the simulation's (the same corners)
    return scan, config, engine, probe[None]


def _config(config: dict, **fit) -> dict:
    return {**config, "fit": {**config["fit"], **fit}}


def test_at_the_truth_the_final_deviance_is_the_noise_floor_within_its_spread():
    scan, config, obj, probe = _scan(grid=6, step=4, dose=3e3)
    result = reconstruct(load_config(config), scan=scan, initial={"object": obj, "probe": probe})
    assert np.isfinite(result.noise_floor) and result.noise_floor_spread > 0
    assert abs(result.final_deviance - result.noise_floor) <= 4 * result.noise_floor_spread
    assert result.noise_floor > 1.05  # dark pixels: the reduced floor is not 1
    assert result.epoch_noise_floor == []  # computed each epoch only to stop at it


def test_a_model_that_fits_the_noise_is_warned_and_can_stop_at_the_floor():
    # Four frames that do not overlap and a free object and probe: more unknowns than
    # counts, so Adam fits the noise and the deviance falls far below the floor. The object
    # starts flat: far above the floor.
    scan, config, _, probe = _scan(grid=2, step=16, dose=1e3, seed=1)
    start = {"probe": probe}
    stages = [{"epochs": 60, "learning_rate": 0.02, "batch_size": 4}]
    with pytest.warns(NoiseFitWarning, match="below the noise floor"):
        free = reconstruct(load_config(_config(config, stages=stages)), scan=scan, initial=start)
    assert free.epoch_noise_floor == [] and len(free.epoch_loss) == 60
    stopped = reconstruct(
        load_config(_config(config, stages=stages, stop_at_noise_floor=True)),
        scan=scan,
        initial=start,
    )
    floor, deviance = stopped.epoch_noise_floor, stopped.epoch_deviance
    assert len(floor) == len(deviance) == stopped.stopped_at_noise_floor < 60
    assert deviance[-1] <= floor[-1]  # it stopped at the first epoch at or below the floor
    assert all(d > f for d, f in zip(deviance[:-1], floor[:-1], strict=True))
    assert stopped.final_deviance > free.final_deviance + 10 * free.noise_floor_spread


def test_stop_at_noise_floor_must_be_a_boolean():
    with pytest.raises(ReconstructError, match=r"fit.stop_at_noise_floor must be true or false"):
        load_config({"data": {"file": "x.cxi"}, "fit": {"stop_at_noise_floor": 1}})


def test_a_run_that_did_not_stop_at_the_floor_resumes_with_it(tmp_path):
    # A checkpoint without each epoch's floor (a run without the option, or one from before
    # the noise floor: labs keep them for months) resumes with the option, the floor unknown
    # (NaN) for the epochs it ran.
    import ptyrax_core

    scan, config, _, probe = _scan(grid=2, step=16, dose=1e3, seed=1)
    stages = [{"epochs": 2, "learning_rate": 0.02, "batch_size": 4}]
    first = load_config(_config(config, stages=stages))
    reconstruct(first, scan=scan, initial={"probe": probe}, out=tmp_path)
    path = tmp_path / "checkpoint.ptyrax"
    assert set(ptyrax_core.load(path)["history"]) == {
        "epoch_loss",
        "epoch_deviance",
        "epoch_seconds",
    }
    more = [*stages, {"epochs": 2, "learning_rate": 0.02, "batch_size": 4}]
    resumed = reconstruct(
        load_config(_config(config, stages=more, stop_at_noise_floor=True)),
        scan=scan,
        initial={"probe": probe},
        resume=path,
    )
    assert len(resumed.epoch_loss) == 4 and len(resumed.epoch_noise_floor) == 4
    assert np.isnan(resumed.epoch_noise_floor[:2]).all()
    assert np.isfinite(resumed.epoch_noise_floor[2:]).all()
