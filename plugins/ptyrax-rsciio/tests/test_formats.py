"""The rsciio reader on a small file of each format the tests write: the frames as written,
read by range; the scan shape and step, the wavelength and the detector's pixel from the
metadata, against closed forms; the config fills or replaces them."""

import math
import pathlib
import re

import dask.array
import numpy as np
import pytest
from ptyrax_reconstruct import Reader, ReconstructError, read_data, take
from ptyrax_reconstruct.testing import check_reader
from ptyrax_rsciio import RsciioReader, _reader
from writers import write_blockfile, write_dm, write_empad, write_mib, write_velox

RNG = np.random.default_rng(3)
SCAN = RNG.poisson(4.0, (3, 4, 12, 12)).astype(np.uint16)  # 3 x 4 positions, 12 x 12 frames
EMPAD = RNG.poisson(2.0, (3, 4, 128, 128)).astype(np.float32)  # EMPAD frames are 128 x 128
FORMATS = ["mib", "mib without hdr", "dm4", "dm3", "empad", "velox", "blockfile"]


def wavelength(kv: float) -> float:
    """The relativistic electron wavelength (m) at `kv`, from the constants."""
    h, m, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    volts = kv * 1e3
    return h / math.sqrt(2 * m * e * volts * (1 + e * volts / (2 * m * c**2)))


def write(kind: str, folder: pathlib.Path) -> tuple[pathlib.Path, np.ndarray, dict]:
    """A file of `kind`, the frames `(N, rows, columns)` it holds, and what its metadata
    gives: `scan_shape`, `step` (rows, columns; m), `kv`, `pixel` (rows, columns; m, at
    `distance`)."""
    frames = SCAN.reshape(12, 12, 12)
    if kind.startswith("mib"):  # nothing but the scan's shape (from the .hdr, or the clock)
        path = write_mib(folder / "scan.mib", SCAN, hdr=kind == "mib")
        return path, np.flip(frames, axis=-2), {"scan_shape": (3, 4)}  # bottom row first
    grid = {"scan_shape": (3, 4), "distance": 1.0}
    if kind == "dm4":  # calibrated in DM's order: columns, rows, scan columns, scan rows
        calibrations = [(0.05, "1/nm"), (0.04, "1/nm"), (0.5, "nm"), (0.4, "nm")]
        path = write_dm(folder / "scan.dm4", SCAN, calibrations, voltage=200e3)
        pixel = (0.04e9 * wavelength(200), 0.05e9 * wavelength(200))  # dk * wavelength * 1 m
        return path, frames, {**grid, "step": (0.4e-9, 0.5e-9), "kv": 200, "pixel": pixel}
    if kind == "dm3":  # an angle per pixel: theta * 1 m
        calibrations = [(1.5, "mrad"), (1.2, "mrad"), (2.0, "Å"), (1.0, "Å")]
        path = write_dm(folder / "scan.dm3", SCAN.astype(np.float32), calibrations, 300e3, 3)
        return path, frames, {**grid, "step": (1e-10, 2e-10), "kv": 300, "pixel": (1.2e-3, 1.5e-3)}
    if kind == "empad":  # a square field of view of 12 nm, 0.18 1/nm per pixel
        path = write_empad(folder / "scan.xml", EMPAD, 1.2e-8, 1.8e-10, voltage=300e3)
        pixel = (1.8e8 * wavelength(300),) * 2
        return path, EMPAD.reshape(12, 128, 128), {**grid, "step": (4e-9, 3e-9), "kv": 300,
                                                   "pixel": pixel}  # fmt: skip
    if kind == "velox":  # a camera's stack (no scan shape) and a HAADF image
        stacks = {"BM-Ceta": frames, "HAADF": SCAN[:1, 0].astype(np.float32)}
        path = write_velox(folder / "scan.emd", stacks, pixel=(2e8, "1/m"), voltage=300e3)
        return path, frames, {"kv": 300, "pixel": (2e8 * wavelength(300),) * 2, "distance": 1.0}
    assert kind == "blockfile"  # the diffraction pixel as a length (cm): no distance
    path = write_blockfile(folder / "scan.blo", SCAN, 0.25, 0.01, voltage=200e3)
    return path, frames, {"scan_shape": (3, 4), "step": (2.5e-10,) * 2, "kv": 200,
                          "pixel": (1e-4, 1e-4)}  # fmt: skip


def lacking(given: dict) -> dict:
    """The config's `[data]` keys for what a file's metadata does not give."""
    keys = {"scan_step": 1e-10} if "step" not in given else {}
    if "scan_shape" not in given:
        keys["scan_shape"] = [3, 4]
    if "kv" not in given:
        keys["electron_energy"] = 200.0
    if "distance" not in given:
        keys["distance"] = 0.5
    if "pixel" not in given:
        keys["pixel_size"] = 1e-4
    return keys


class Completed(Reader):
    """The rsciio reader with the config's keys for what the file lacks, through the engine."""

    registry_name = "rsciio_completed"

    def __init__(self, given: dict):
        self.given = given

    def read(self, path):
        return read_data(path, "rsciio", self.given)


@pytest.mark.parametrize("kind", FORMATS)
def test_frames_are_as_written_and_read_by_range(tmp_path, kind):
    path, frames, given = write(kind, tmp_path)
    scan = RsciioReader().read(path)
    assert scan.frames_shape == frames.shape
    assert np.array_equal(scan.frames(), frames.astype(np.float32))
    assert np.array_equal(scan.frames(slice(5, 9)), frames[5:9].astype(np.float32))
    assert scan.valid.shape == frames.shape[1:] and scan.valid.all()
    extra = lacking(given)
    reader = Completed(extra) if extra else RsciioReader()
    check_reader(reader, path)


@pytest.mark.parametrize("kind", FORMATS)
def test_the_metadata_gives_the_scan_and_the_calibration(tmp_path, kind):
    path, _, given = write(kind, tmp_path)
    scan = RsciioReader().read(path)
    assert scan.scan_shape == given.get("scan_shape")
    if "step" in given:  # a raster grid: frame i * columns + j at (x, y) = (j dx, i dy)
        i, j = np.divmod(np.arange(12), 4)
        (dy, dx), zero = given["step"], np.zeros(12)
        np.testing.assert_allclose(scan.translations, np.c_[j * dx, i * dy, zero], rtol=1e-9)
    else:
        assert scan.translations is None
    if "kv" in given:
        assert scan.wavelength == pytest.approx(wavelength(given["kv"]), rel=1e-9)
    else:
        assert scan.wavelength is None
    assert scan.distance == given.get("distance")
    if "pixel" in given:  # the engine's convention for a pixel size (data.pixel_size)
        row, column = given["pixel"]
        expected = np.array([[0.0, -column], [-row, 0.0], [0.0, 0.0]])
        np.testing.assert_allclose(scan.basis, expected, rtol=1e-9)
    else:
        assert scan.basis is None


def test_200_kv_is_the_design_s_wavelength(tmp_path):
    path, _, _ = write("dm4", tmp_path)
    assert RsciioReader().read(path).wavelength == pytest.approx(0.02508e-10, rel=2e-4)


@pytest.mark.parametrize("kind", FORMATS)
def test_the_config_fills_and_replaces_what_the_file_gives(tmp_path, kind):
    path, _, _ = write(kind, tmp_path)
    keys = {"scan_step": [2e-10, 3e-10], "scan_shape": [4, 3], "electron_energy": 80.0,
            "distance": 0.25, "pixel_size": 5e-5}  # fmt: skip
    scan = read_data(path, None, keys)  # by the name ending: the rsciio reader
    i, j = np.divmod(np.arange(12), 3)
    np.testing.assert_allclose(scan.translations[:, :2], np.c_[j * 3e-10, i * 2e-10])
    assert scan.wavelength == pytest.approx(wavelength(80.0), rel=1e-9)
    assert scan.distance == 0.25 and np.abs(scan.basis).max() == 5e-5


def test_a_file_of_several_stacks_names_the_one_to_read(tmp_path):
    stacks = {"BM-Ceta": SCAN.reshape(12, 12, 12), "Flucam": 2 * SCAN.reshape(12, 12, 12)}
    path = write_velox(tmp_path / "two.emd", {**stacks, "HAADF": SCAN[:1, 0]})
    listing = "0: BM-Ceta (12, 12, 12); 1: Flucam (12, 12, 12); 2: HAADF (12, 12)"
    message = re.escape(f"holds 2 stacks or 4D scans ({listing}): name one by index or title")
    with pytest.raises(ReconstructError, match=message):
        RsciioReader().read(path)
    by_title = RsciioReader(signal="Flucam").read(path)
    assert np.array_equal(by_title.frames(), 2 * SCAN.reshape(12, 12, 12).astype(np.float32))
    assert by_title.locations[0] == "signal 1 (Flucam)"
    assert np.array_equal(RsciioReader(signal=0).read(path).frames(slice(3, 4)), SCAN[0, 3:4])
    for signal, message in (
        (2, "signal 2 of .* is not a stack of frames or a 4D scan"),
        (3, "has no signal 3; it holds 0: BM-Ceta"),
        ("HAADF", "signal 2 of .* is not a stack"),
        ("Ceta", "has no signal titled 'Ceta'; it holds 0: BM-Ceta"),
    ):
        with pytest.raises(ReconstructError, match=f"^config: data.signal: .*{message}"):
            RsciioReader(signal=signal).read(path)


def test_a_format_by_name_reads_any_name_ending(tmp_path):
    path, frames, _ = write("blockfile", tmp_path)
    renamed = path.rename(tmp_path / "scan.dat")
    with pytest.raises(ReconstructError, match="data.format: RosettaSciIO's format for scan.dat"):
        RsciioReader().read(renamed)
    scan = read_data(renamed, "rsciio", {"format": "blockfile", "distance": 1.0})
    assert np.array_equal(scan.frames(), frames)


@pytest.mark.parametrize("kind", FORMATS)
def test_frames_are_read_lazily_by_range(tmp_path, kind, monkeypatch):
    """Every format is read as RosettaSciIO's dask array, and the engine's `take` slices a
    range of its first axis: only the chunks that hold the frames asked are read."""
    path, frames, _ = write(kind, tmp_path)
    asked = []

    def spy(array, indices):
        asked.append((type(array), indices))
        return take(array, indices)

    monkeypatch.setattr(_reader, "take", spy)
    scan = RsciioReader().read(path)
    assert np.array_equal(scan.frames(np.array([7, 2])), frames[[7, 2]].astype(np.float32))
    assert asked and all(kind is dask.array.Array for kind, _ in asked)


def test_a_data_file_cut_short_is_one_line_when_read(tmp_path):
    path, _, _ = write("empad", tmp_path)
    raw = path.with_suffix(".raw")
    raw.write_bytes(raw.read_bytes()[: 4 * 130 * 128 * 4])
    with pytest.raises(ReconstructError) as caught:
        RsciioReader().read(path)
    assert str(caught.value) == (
        f"{path}: frames cannot be read: mmap length is greater than file size"
    )


def test_a_file_without_calibration_takes_the_sampling_microscopists_give(tmp_path):
    """A Merlin file records no energy or sampling: the config's `reciprocal_pixel` (1/A a
    pixel, at a nominal 1 m) gives the pixel size `dk * wavelength * 1 m`."""
    path, _, _ = write("mib", tmp_path)
    keys = {"electron_energy": 300.0, "reciprocal_pixel": 0.02, "scan_step": 1e-10}
    scan = read_data(path, None, keys)
    assert scan.distance == 1.0
    pixel = 0.02e10 * wavelength(300.0)
    np.testing.assert_allclose(np.abs(scan.basis).max(axis=0), [pixel, pixel], rtol=1e-9)
