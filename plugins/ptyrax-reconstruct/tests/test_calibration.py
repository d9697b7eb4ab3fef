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


def _scan(**given):
    import dataclasses

    from ptyrax_reconstruct import Scan
    from ptyrax_reconstruct._calibration import complete

    bare = Scan(None, (4, 8, 8), np.zeros((4, 3)), np.ones((8, 8), bool), None, None, None)
    return complete(dataclasses.replace(bare, counts=np.zeros((4, 8, 8))), given)


def test_a_microscopist_s_detector_sampling_gives_the_sample_pixel_1_over_n_dk():
    """dx = 1 / (N dk) = wavelength / (N theta): the far-field geometry of the sampling."""
    from ptyrax_reconstruct import geometry

    wavelength = electron_wavelength(300.0)
    for given, dk in (
        ({"reciprocal_pixel": 0.02}, 0.02e10),  # 1/A a pixel
        ({"angle_pixel": [0.5, 0.25]}, np.array([0.5e-3, 0.25e-3]) / wavelength),  # mrad
    ):
        scan = _scan(electron_energy=300.0, **given)
        assert scan.distance == 1.0
        g = geometry(propagation="far_field", wavelength=scan.wavelength,
                     detector_distance=scan.distance, detector_basis=scan.basis,
                     frame_shape=(8, 8))  # fmt: skip
        assert np.allclose(g.pixel, 1 / (8 * np.broadcast_to(dk, 2)), rtol=1e-12, atol=0)


def test_a_transposed_or_flipped_detector_turns_its_basis_vectors():
    plain = _scan(wavelength=1e-10, distance=1.0, pixel_size=[2e-5, 3e-5]).basis
    turned = _scan(wavelength=1e-10, distance=1.0, pixel_size=[2e-5, 3e-5],
                   detector_transpose=True, detector_flip="rows").basis  # fmt: skip
    assert np.array_equal(turned, np.stack([-plain[:, 1], plain[:, 0]], axis=1))
    both = _scan(wavelength=1e-10, distance=1.0, pixel_size=2e-5,
                 detector_flip=["rows", "columns"]).basis  # fmt: skip
    assert np.array_equal(both, -_scan(wavelength=1e-10, distance=1.0, pixel_size=2e-5).basis)


PLAIN = {"wavelength": 1e-10, "distance": 1.0, "pixel_size": 1e-5}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({**PLAIN, "angle_pixel": 0.5}, "data.angle_pixel: give one of data.pixel_size"),
        (
            {"wavelength": 1e-10, "angle_pixel": 0.5, "distance": 2.0},
            "data.distance: data.angle_pixel gives the sampling for a nominal distance of 1 m",
        ),
        (
            {"wavelength": 1e-10, "reciprocal_pixel": -0.1},
            "data.reciprocal_pixel must be positive (1/A); got -0.1",
        ),
        ({**PLAIN, "detector_flip": "up"}, 'data.detector_flip must be "rows", "columns" or both'),
        ({**PLAIN, "detector_transpose": 1}, "data.detector_transpose must be true or false"),
    ],
)
def test_bad_sampling_is_one_line_naming_the_key(given, message):
    from ptyrax_reconstruct import ReconstructError

    with pytest.raises(ReconstructError) as caught:
        _scan(**given)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_reciprocal_sampling_needs_the_wavelength():
    from ptyrax_reconstruct import ReconstructError

    with pytest.raises(ReconstructError, match=r"data\.reciprocal_pixel needs the wavelength"):
        _scan(reciprocal_pixel=0.02)


def test_the_config_s_lengths_are_in_its_length_unit():
    import dataclasses

    from ptyrax_reconstruct import Scan
    from ptyrax_reconstruct._calibration import complete

    bare = Scan(None, (4, 8, 8), None, np.ones((8, 8), bool), None, None, None)
    bare = dataclasses.replace(bare, counts=np.zeros((4, 8, 8)), scan_shape=(2, 2))
    given = {"wavelength": 0.025, "distance": 1e10, "pixel_size": [2.0, 3.0], "scan_step": 0.5}
    scan = complete(bare, given, length_unit="A")
    assert scan.wavelength == pytest.approx(2.5e-12, rel=1e-15)
    assert scan.distance == pytest.approx(1.0, rel=1e-15)
    assert np.allclose(np.linalg.norm(scan.basis, axis=0), [2e-10, 3e-10], rtol=1e-15, atol=0)
    assert scan.translations[1, 0] == pytest.approx(0.5e-10, rel=1e-15)


def test_the_picture_s_scale_bars_speak_the_config_s_unit():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ptyrax_reconstruct._outputs import _scale_bar

    figure, ax = plt.subplots()
    ax.imshow(np.zeros((100, 100)))
    _scale_bar(ax, 100, 0.25, "Å")  # 25 A wide: a round 5 A is a fifth
    assert [t.get_text() for t in ax.texts] == ["5 Å"]
    plt.close(figure)
