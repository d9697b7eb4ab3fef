"""Fourier ring correlation: closed forms and statistical bounds, registration, `ptyrax frc`."""

import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct import (
    FrcResult,
    Rings,
    Scan,
    crossing,
    detector_waves,
    exit_waves,
    fourier_ring_correlation,
    half_bit_threshold,
    intensities,
    register,
    write_cxi,
)
from ptyrax_reconstruct._frc import HALF_BIT_SNR, tukey
from ptyrax_reconstruct._frc_command import describe
from ptyrax_reconstruct._score import shifted_spectrum
from test_run import _star_phase

from ptyrax_core.cli import main
from ptyrax_core.testing import rounding_tolerance


def _complex_noise(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("complex_", [True, False])
def test_an_image_with_itself_correlates_to_one_in_every_ring(complex_):
    rng = np.random.default_rng(0)
    shape = (48, 64)  # not square: rings in normalized frequency, 1/48 wide
    image = _complex_noise(rng, shape) if complex_ else rng.standard_normal(shape)
    rings = fourier_ring_correlation(image, image)
    assert rings.frequency == pytest.approx(np.arange(1, 25) / 48)  # up to Nyquist, 0.5
    assert np.all(rings.pixels > 0)
    # a ratio of two equal sums of |F|^2 over a ring: rounding of the sums only
    tol = rounding_tolerance(np.float64, terms=2 * image.size)
    np.testing.assert_allclose(rings.correlation, 1.0, rtol=0, atol=tol)
    threshold = half_bit_threshold(rings.pixels)
    assert crossing(rings.frequency, rings.correlation, threshold) is None


@pytest.mark.parametrize("complex_", [True, False])
def test_independent_white_noise_correlates_near_zero(complex_):
    # Per ring the FRC of independent noise has mean 0 and standard deviation 1 / sqrt(2 n)
    # for complex images (n independent pixels) and 1 / sqrt(n) for real ones (their spectra
    # are Hermitian: n / 2 independent pairs), a little more with the window's edges: 5 /
    # sqrt(n) is beyond 4.5 standard deviations in every ring.
    rng = np.random.default_rng(7)
    shape = (96, 96)
    make = (lambda: _complex_noise(rng, shape)) if complex_ else lambda: rng.standard_normal(shape)
    rings = fourier_ring_correlation(make(), make())
    assert np.all(np.abs(rings.correlation) <= 5.0 / np.sqrt(rings.pixels))
    mean = np.sum(rings.pixels * rings.correlation) / np.sum(rings.pixels)  # over every pixel
    assert abs(mean) <= 5.0 / np.sqrt(np.sum(rings.pixels))


def test_the_half_bit_threshold_is_van_heel_and_schatz_closed_form():
    n = np.array([1.0, 4.0, 50.0, 1000.0, 1e6])
    rounded = (0.2071 + 1.9102 / np.sqrt(n)) / (1.2071 + 0.9102 / np.sqrt(n))  # the paper's
    np.testing.assert_allclose(half_bit_threshold(n), rounded, rtol=0, atol=1e-4)
    # half a bit in both halves together: log2(1 + 2 SNR) = 1/2, SNR = (sqrt(2) - 1) / 2
    assert np.log2(1 + 2 * HALF_BIT_SNR) == pytest.approx(0.5, abs=1e-15)
    assert half_bit_threshold(1.0) == pytest.approx(1.0, abs=1e-15)  # one pixel: no information
    limit = 3.0 - 2.0 * np.sqrt(2.0)  # SNR / (1 + SNR) = (sqrt(2) - 1) / (sqrt(2) + 1)
    assert half_bit_threshold(np.inf) == pytest.approx(limit, abs=1e-15)
    assert half_bit_threshold(1e16) == pytest.approx(limit, abs=1e-7)  # ~ 1.7 / sqrt(n)
    curve = half_bit_threshold(np.arange(1, 10_000))
    assert np.all(np.diff(curve) < 0)


def test_a_shared_band_limited_signal_crosses_at_its_band_edge():
    # A signal with a flat spectrum below f0 and none above, in both images, plus independent
    # noise of a quarter of its power there: the FRC is 0.8 below f0 and about 0 above; the
    # crossing lies within the ring width (1/n) and the window's spread (about 1/n) of f0.
    n, f0 = 128, 0.2
    rng = np.random.default_rng(3)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij"))
    signal = np.fft.ifft2(_complex_noise(rng, (n, n)) * (f < f0))
    level = np.sqrt(np.mean(np.abs(signal) ** 2) / (np.pi * f0**2) / 4)  # a quarter, per pixel
    images = [signal + level * _complex_noise(rng, (n, n)) / np.sqrt(2) for _ in range(2)]
    rings = fourier_ring_correlation(*images)
    at = crossing(rings.frequency, rings.correlation, half_bit_threshold(rings.pixels))
    assert abs(at - f0) <= 2.0 / n
    inside = rings.frequency < f0 - 2.0 / n
    assert np.all(np.abs(rings.correlation[inside] - 0.8) <= 5.0 / np.sqrt(rings.pixels[inside]))


def test_crossing_interpolates_and_skips_the_lowest_rings():
    frequency = np.array([0.1, 0.2, 0.3, 0.4])
    threshold = np.full(4, 0.5)
    low_dip = np.array([0.3, 0.9, 0.7, 0.1])  # ring 1 below: too few pixels to count
    assert crossing(frequency, low_dip, threshold, lowest=2) == pytest.approx(0.3 + 0.1 / 3)
    assert crossing(frequency, low_dip, threshold, lowest=1) == pytest.approx(0.1)
    assert crossing(frequency, np.array([0.9, np.nan, 0.8, 0.6]), threshold) is None


def test_tukey_window_edges():
    assert np.all(tukey(9, 0.0) == 1.0)
    hann = 0.5 * (1 - np.cos(2 * np.pi * np.arange(9) / 8))
    np.testing.assert_allclose(tukey(9, 1.0), hann, atol=1e-15)
    w = tukey(101, 0.2)
    assert w[0] == 0.0 and np.all(w[10:91] == 1.0) and np.all(np.diff(w[:11]) > 0)


@pytest.mark.parametrize("shape", [(64, 64), (64, 80)])
def test_registration_recovers_a_subpixel_shift_and_a_phase_plane(shape):
    # A band-limited periodic object: its Fourier shift is exact. The moving image is it moved
    # by s0, times a phase plane: the registration's fixed point is exact, the shift iteration
    # stops below 1e-10 px, float64 FFTs round near 1e-13.
    rng = np.random.default_rng(5)
    f = np.hypot(*np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij"))
    a = 2.0 + np.fft.ifft2(_complex_noise(rng, shape) * (f < 0.2)) * 10
    s0 = np.array([1.37, -2.61])
    y, x = np.mgrid[: shape[0], : shape[1]]
    plane = 0.7 + 0.013 * y - 0.021 * x
    b = np.fft.ifft2(shifted_spectrum(np.fft.fft2(a), s0)) * np.exp(1j * plane)
    mask = np.zeros(shape, bool)
    mask[10:-10, 12:-12] = True
    r = register(a, b, mask)
    assert r.shift == pytest.approx(tuple(-s0), abs=1e-9)
    assert r.ramp == pytest.approx((0.013, -0.021), abs=1e-9)
    assert r.offset == pytest.approx(0.7, abs=1e-9)
    np.testing.assert_allclose(r.registered[mask], a[mask], atol=1e-9)


def _simulated_scan(tmp_path, n_frames=None) -> tuple:
    """A far-field scan of a phase star (64 frames of 32 x 32 on an 8 x 8 grid, Poisson
    counts) as a CXI file, and a config that reconstructs each half in a few seconds."""
    probe_size, step, grid, padding = 32, 4, 8, 4
    size = (grid - 1) * step + probe_size + 2 * padding
    obj = jnp.asarray(np.exp(1j * _star_phase(size)), jnp.complex64)
    y, x = np.mgrid[:probe_size, :probe_size] - (probe_size - 1) / 2
    probe = (np.hypot(y, x) < 10) * np.exp(0.05j * (y**2 + x**2)) * 300.0
    corners = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij"), -1)
    corners = (corners.reshape(-1, 2) * step + padding)[:n_frames]
    spectrum = jnp.fft.fft2(jnp.asarray(probe, jnp.complex64))[None]

    def pattern(position):
        return intensities(detector_waves(exit_waves(obj, spectrum, position), None, position))

    counts = jax.vmap(pattern)(jnp.asarray(corners, jnp.float32))
    counts = np.random.default_rng(0).poisson(np.asarray(counts, np.float64))
    pixel_m, wavelength, distance = 1e-8, 1e-10, 1.0
    detector = wavelength * distance / (probe_size * pixel_m)
    basis = np.array([[0.0, -detector], [-detector, 0.0], [0.0, 0.0]])
    translations = np.zeros((len(corners), 3))
    translations[:, 1], translations[:, 0] = corners[:, 0] * pixel_m, corners[:, 1] * pixel_m
    frames = np.fft.fftshift(counts, axes=(1, 2))
    valid = np.ones((probe_size, probe_size), bool)
    write_cxi(
        tmp_path / "simulated.cxi",
        Scan(None, counts.shape, translations, valid, wavelength, distance, basis, frames),
    )
    config = tmp_path / "config.toml"
    config.write_text(
        '[data]\nfile = "simulated.cxi"\n'
        f'[geometry]\npropagation = "far_field"\npadding = {padding}\n'
        '[model.object]\ntype = "phase_only"\n[model.probe]\ntype = "direct"\n'
        '[loss]\nkind = "amplitude"\n'
        "[[fit.stages]]\nepochs = 100\nlearning_rate = 0.05\nbatch_size = 32\n"
    )
    return config, pixel_m


def test_the_command_writes_the_frc_and_its_picture(tmp_path, capsys):
    config, pixel = _simulated_scan(tmp_path)
    out = tmp_path / "out"
    assert main(["frc", str(config), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and printed.startswith("resolution ")
    saved = json.loads((out / "frc.json").read_text())
    assert saved["pixel_size_m"] == pytest.approx(pixel)
    assert saved["frames_per_half"] == [32, 32]
    f = np.array(saved["frequency_cycles_per_pixel"])
    assert f[-1] == 0.5 and len(saved["frc"]) == len(f) == len(saved["half_bit_threshold"])
    np.testing.assert_allclose(saved["frequency_per_m"], f / pixel)
    at = saved["crossing_cycles_per_pixel"]  # past the lowest rings, before Nyquist
    assert at is not None and f[2] <= at < 0.5
    assert saved["resolution_m"] == pytest.approx(pixel / at)  # the full period
    assert saved["half_period_m"] == pytest.approx(saved["resolution_m"] / 2)
    assert saved["resolution"] == pytest.approx(saved["resolution_m"])  # the config's unit: m
    assert (out / "frc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for half in ("half-0", "half-1"):
        assert (out / half / "reconstruction.h5").is_file()


def test_the_line_speaks_nm_for_x_rays_and_angstrom_for_electrons():
    rings = Rings(np.array([0.25, 0.5]), np.array([0.9, 0.1]), np.array([10, 20]))
    half = types.SimpleNamespace(positions=np.zeros((5, 2)))
    result = FrcResult(rings, np.full(2, 0.3), 0.25, 2e-10, (half, half), None, (None, None))
    assert describe(result).startswith("resolution 0.8 nm (full period; half period 0.4 nm)")
    electron = FrcResult(rings, np.full(2, 0.3), 0.25, 2e-10, (half, half), None, (None,), "A")
    assert describe(electron).startswith("resolution 8 Å (full period; half period 4 Å)")
    never = FrcResult(rings, np.full(2, 0.3), None, 2e-10, (half, half), None, (None,), "A")
    assert never.resolution is None and "better than the Nyquist limit 2 px" in describe(never)


def _fails(capsys, args, message):
    assert main(["frc", *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ptyrax frc: error: {message}"), err
    return err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "none.toml"
    _fails(capsys, [str(missing), "--out", str(tmp_path / "o")], f"{missing}")
    config, _ = _simulated_scan(tmp_path, n_frames=3)
    err = _fails(capsys, [str(config), "--out", str(tmp_path / "o")], str(tmp_path))
    assert "3 frame(s) cannot be halved" in err
    _fails(capsys, [str(config), "--devices", "0"], "--devices must be at least 1")
    (tmp_path / "file").write_text("")
    _fails(capsys, [str(config), "--out", str(tmp_path / "file")], "--out ")
    assert not (tmp_path / "o").exists()
