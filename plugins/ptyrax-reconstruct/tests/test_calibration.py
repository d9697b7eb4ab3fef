"""What the config gives of every scan: wavelengths from energies, a raster grid of
positions, and the checks on both (closed forms in float64)."""

import math

import numpy as np
import pytest
from ptyrax_reconstruct import electron_wavelength, grid_translations, photon_wavelength

from ptyrax_core.cli import main

H = 6.62607015e-34  # J s, exact (SI)
C = 299792458.0  # m/s, exact
E = 1.602176634e-19  # C, exact
M0 = 9.1093837139e-31  # kg, CODATA 2022


@pytest.mark.parametrize("kilovolts", [60.0, 80.0, 200.0, 300.0])
def test_the_electron_wavelength_is_the_relativistic_one(kilovolts):
    """lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2))), as microscopists write it."""
    volts = kilovolts * 1e3
    expected = H / math.sqrt(2 * M0 * E * volts * (1 + E * volts / (2 * M0 * C**2)))
    assert electron_wavelength(kilovolts) == pytest.approx(expected, rel=1e-9)  # CODATA's m0


def test_the_photon_wavelength_is_hc_over_e():
    assert photon_wavelength(10.0) == pytest.approx(H * C / (10e3 * E), rel=1e-15)


def test_a_turned_grid_keeps_its_steps_and_turns_its_rows():
    grid = grid_translations((4, 5), (2e-9, 3e-9), rotation=30.0)
    i, j = np.divmod(np.arange(20), 5)
    turn = math.radians(30.0)
    x, y = j * 3e-9, i * 2e-9
    assert np.allclose(grid[:, 0], x * math.cos(turn) - y * math.sin(turn), rtol=0, atol=1e-24)
    assert np.allclose(grid[:, 1], x * math.sin(turn) + y * math.cos(turn), rtol=0, atol=1e-24)
    assert not grid[:, 2].any()
    steps = np.linalg.norm(np.diff(grid[:5, :2], axis=0), axis=1)
    assert np.allclose(steps, 3e-9, rtol=1e-12, atol=0)


def test_inspect_shows_what_a_file_lacks_and_the_key_to_add(tmp_path, capsys):
    np.save(tmp_path / "scan.npy", np.ones((2, 3, 8, 8), np.float32))
    assert main(["inspect", str(tmp_path / "scan.npy"), "--arg", "distance=2.5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "frames       6 of 8 x 8, a 2 x 3 scan (frames)"
    assert out[4] == (
        "wavelength   not in the file: give data.wavelength (m), data.photon_energy or "
        "data.electron_energy (keV)"
    )
    assert out[5] == "distance     2.5 m (sample to detector)"
    assert out[6] == "pixel        not in the file: give data.pixel_size (m, the detector's pixel)"
    assert out[7].startswith("translations not in the file: give data.scan_step")
    assert main(["inspect", str(tmp_path / "scan.npy"), "--png", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
