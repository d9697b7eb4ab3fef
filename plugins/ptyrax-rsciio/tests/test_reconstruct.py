"""A short reconstruction of a simulated 4D scan written as a blockfile (RosettaSciIO's own
writer), the reader named in the config: the scan step, the beam energy and the diffraction
pixel come from the file, the distance from the config."""

import numpy as np
import pytest
from ptyrax_reconstruct import electron_wavelength, grid_translations, reconstruct
from writers import write_blockfile, write_mib

N = 32  # detector pixels
SCAN = (5, 5)
STEP_PX = 3  # object pixels between positions
PIXEL_CM = 0.01  # the diffraction pixel in the file, cm
DX = 2e-11  # the object's pixel, m: lambda z / (N p)
DISTANCE = DX * N * PIXEL_CM * 1e-2 / electron_wavelength(200.0)


def simulate(seed: int = 0) -> np.ndarray:
    """Far-field patterns `(scan rows, scan columns, N, N)` (zero frequency at the centre) of
    a defocused probe over a weak phase object, Poisson counts below 255."""
    rng = np.random.default_rng(seed)
    size = N + STEP_PX * (max(SCAN) - 1)
    smooth = np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) * _low_pass(size)).real
    obj = np.exp(1j * 0.4 * smooth / np.abs(smooth).max())
    k = np.fft.fftfreq(N) * N
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    probe = np.fft.fftshift(np.fft.ifft2((k2 < 36) * np.exp(-0.08j * k2)))
    frames = np.empty((*SCAN, N, N))
    for i in range(SCAN[0]):
        for j in range(SCAN[1]):
            patch = obj[i * STEP_PX : i * STEP_PX + N, j * STEP_PX : j * STEP_PX + N]
            frames[i, j] = np.abs(np.fft.fftshift(np.fft.fft2(probe * patch))) ** 2
    frames *= 120.0 / frames.max()
    return np.minimum(rng.poisson(frames), 255).astype(np.uint8)


def _low_pass(size: int) -> np.ndarray:
    k = np.fft.fftfreq(size)
    return np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.05**2))


@pytest.mark.parametrize("kind", ["blockfile", "mib"])
def test_a_short_run_reads_the_scan_through_the_reader(tmp_path, kind):
    scan = simulate()
    step = STEP_PX * DX
    if kind == "blockfile":  # step, energy and pixel from the file
        path = write_blockfile(tmp_path / "scan.blo", scan, step * 1e9, PIXEL_CM, 200e3)
        data = {"distance": DISTANCE}
    else:  # a Merlin file gives the scan's shape only: the config gives the rest
        path = write_mib(tmp_path / "scan.mib", np.flip(scan, axis=-2).astype(np.uint16))
        data = {"distance": DISTANCE, "pixel_size": PIXEL_CM * 1e-2, "electron_energy": 200.0,
                "scan_step": step}  # fmt: skip
    config = {
        "data": {"file": str(path), "reader": "rsciio", **data},
        "geometry": {"propagation": "far_field", "padding": 4},
        "fit": {"seed": 0, "stages": [{"epochs": 2, "learning_rate": 0.04, "batch_size": 5}]},
    }
    result = reconstruct(config)
    assert result.geometry.pixel == pytest.approx((DX, DX), rel=1e-9)
    assert result.geometry.wavelength == pytest.approx(electron_wavelength(200.0), rel=1e-12)
    grid = grid_translations(SCAN, step)
    translations = result.translations - result.translations.mean(0)
    np.testing.assert_allclose(translations, grid - grid.mean(0), atol=0.5 * DX)
    assert len(result.epoch_loss) == 2 and np.isfinite(result.final_deviance)
    assert result.epoch_loss[-1] < result.epoch_loss[0]
