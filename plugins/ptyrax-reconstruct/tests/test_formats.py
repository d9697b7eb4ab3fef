"""The engine's array readers (hdf5, npy, tiff, zarr, mat, raw), each on files the tests
write: frames as written, read lazily by range, positions, masks and 4D scans; what the
config gives of the calibration and the positions; one-line errors for what is wrong."""

import pathlib
import re

import h5py
import hdf5plugin
import numpy as np
import pytest
import scipy.io
import tifffile
import zarr
from ptyrax_reconstruct import (
    ArrayReader,
    ReconstructError,
    load_config,
    read_cxi,
    read_data,
    reconstruct,
)
from ptyrax_reconstruct._formats import Hdf5Reader, MatReader, NpyReader, RawReader
from ptyrax_reconstruct.testing import check_reader
from test_run import short_config

import ptyrax_core

RNG = np.random.default_rng(7)
SCAN4 = RNG.poisson(4.0, (3, 4, 12, 10)).astype(np.uint16)  # a 3 x 4 scan of 12 x 10 frames
FRAMES = SCAN4.reshape(12, 12, 10)
POSITIONS = RNG.uniform(-1.0, 1.0, (12, 2))  # micrometres, (x, y)
CALIBRATION = {"wavelength": 1e-10, "distance": 2.0, "pixel_size": 75e-6}


def _write(kind: str, folder: pathlib.Path) -> tuple[pathlib.Path, dict]:
    """A file of `kind` holding FRAMES (or SCAN4), and the `[data]` arguments that read it."""
    if kind == "hdf5":
        path = folder / "scan.h5"
        with h5py.File(path, "w") as f:  # compressed as detectors write: bitshuffle-LZ4
            f.create_dataset("entry/data/data", data=FRAMES, **hdf5plugin.Bitshuffle())
            f["entry/sample/positions"] = POSITIONS
            f["entry/detector/mask"] = np.zeros((12, 10), np.uint8)
        keys = {"translations": "entry/sample/positions", "translations_unit": "um"}
        return path, {**keys, "mask": "entry/detector/mask"}
    if kind == "hdf5 4D":  # py4DSTEM's layout: one 4D datacube
        path = folder / "datacube.h5"
        with h5py.File(path, "w") as f:
            f["datacube_root/datacube/data"] = SCAN4
            f["datacube_root/metadata/r_pixel_size"] = np.float64(0.5)
        return path, {"scan_step": 1e-6}
    if kind == "npy":
        path = folder / "scan.npy"
        np.save(path, SCAN4)
        return path, {"scan_step": [1e-6, 2e-6]}
    if kind == "npz":
        path = folder / "scan.npz"
        np.savez_compressed(path, dp=FRAMES, xy=POSITIONS * 1e-6, note=np.arange(3))
        return path, {"frames": "dp", "translations": "xy"}
    if kind == "tiff":
        path = folder / "scan.tif"
        tifffile.imwrite(path, FRAMES, photometric="minisblack")
        return path, {"scan_step": 1e-6, "scan_shape": [3, 4]}
    if kind == "tiff 4D":
        path = folder / "scan4.tiff"
        tifffile.imwrite(path, SCAN4, photometric="minisblack", metadata={"axes": "TZYX"})
        return path, {"scan_step": 1e-6}
    if kind == "zarr":
        path = folder / "scan.zarr"
        group = zarr.open_group(path, mode="w")
        group.create_array("scan/frames", data=FRAMES, chunks=(2, 12, 10))
        group.create_array("scan/yx", data=POSITIONS[:, ::-1].copy())
        return path, {"frames": "scan/frames", "translations": "scan/yx",
                      "translations_order": "yx", "translations_unit": "um"}  # fmt: skip
    if kind == "mat":  # MATLAB 5, as scipy writes it: dp(:, :, k) is frame k
        path = folder / "old.mat"
        outputs = {"probe_positions": POSITIONS}
        scipy.io.savemat(path, {"dp": np.moveaxis(FRAMES, 0, -1), "outputs": outputs})
        return path, {"translations": "outputs/probe_positions", "translations_unit": "um"}
    if kind == "mat v7.3":  # HDF5 holding MATLAB's arrays with their axes reversed
        path = folder / "new.mat"
        with h5py.File(path, "w", userblock_size=512) as f:
            f["dp"] = np.moveaxis(FRAMES, 0, -1).T
            f["outputs/probe_positions"] = POSITIONS.T
            f["#refs#/a"] = np.zeros(3)
        return path, {"translations": "outputs/probe_positions", "translations_unit": "um"}
    if kind == "raw":  # EMPAD: float32 frames, each followed by 2 rows of metadata
        path = folder / "scan.raw"
        records = np.zeros(12, [("frame", "<f4", (12, 10)), ("meta", "u1", 2 * 10 * 4)])
        records["frame"] = FRAMES
        records["meta"] = 255
        records.tofile(path)
        return path, {"raw_shape": [3, 4, 12, 10], "raw_gap": 80, "scan_step": 1e-6}
    raise AssertionError(kind)


KINDS = ["hdf5", "hdf5 4D", "npy", "npz", "tiff", "tiff 4D", "zarr", "mat", "mat v7.3", "raw"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_format_reads_the_frames_as_written_and_by_range(tmp_path, kind):
    path, arguments = _write(kind, tmp_path)
    scan = read_data(path, None, {**CALIBRATION, **arguments})
    assert scan.frames_shape == (12, 12, 10)
    assert np.array_equal(scan.frames(), FRAMES.astype(np.float32))
    assert np.array_equal(scan.frames(slice(5, 9)), FRAMES[5:9])
    assert np.array_equal(scan.frames(np.array([11, 0, 6, 6])), FRAMES[[11, 0, 6, 6]])
    assert scan.valid.shape == (12, 10) and scan.valid.all()
    if "translations" in arguments:  # micrometres (x, y) in the file, metres (x, y, 0) here
        assert np.allclose(scan.translations[:, :2], POSITIONS * 1e-6, rtol=1e-15, atol=0)
        assert not scan.translations[:, 2].any()
    made = ptyrax_core.registry.get(kind.split()[0].replace("npz", "npy"), "readers")
    own = {k: v for k, v in arguments.items() if not k.startswith("scan_")}
    check_reader(made(**own), path)


@pytest.mark.parametrize("kind", ["hdf5 4D", "npy", "tiff 4D", "zarr", "raw"])
def test_a_4d_scan_is_frames_in_raster_order_on_its_grid(tmp_path, kind):
    path, arguments = _write(kind, tmp_path)
    arguments = {k: v for k, v in arguments.items() if not k.startswith("translations")}
    arguments |= {"scan_step": [1e-6, 2e-6], "scan_shape": [3, 4]}
    scan = read_data(path, None, {**CALIBRATION, **arguments})
    row, column = np.divmod(np.arange(12), 4)  # frame k = row * 4 + column
    assert np.array_equal(scan.frames(), SCAN4[row, column])
    assert np.allclose(scan.translations[:, 0], column * 2e-6, rtol=1e-15, atol=0)
    assert np.allclose(scan.translations[:, 1], row * 1e-6, rtol=1e-15, atol=0)


def test_a_4d_file_gives_its_own_grid_shape(tmp_path):
    path, _ = _write("hdf5 4D", tmp_path)
    assert read_data(path, None, {}, require=False).scan_shape == (3, 4)
    assert read_data(_write("hdf5", tmp_path)[0], None, {}, require=False).scan_shape is None


def test_the_mask_marks_bad_pixels(tmp_path):
    path, arguments = _write("hdf5", tmp_path)
    mask = np.zeros((12, 10), np.uint8)
    mask[3, 4] = mask[0, 0] = 1
    with h5py.File(path, "r+") as f:
        f["entry/detector/mask"][...] = mask
    scan = read_data(path, None, {**CALIBRATION, **arguments})
    assert np.array_equal(scan.valid, mask == 0)


def test_the_mat_reader_takes_arrays_as_matlab_indexes_them_in_either_version(tmp_path):
    old = read_data(*_write("mat", tmp_path)[:1], "mat", {}, require=False)
    new = read_data(*_write("mat v7.3", tmp_path)[:1], "mat", {}, require=False)
    for scan in (old, new):
        assert np.array_equal(scan.frames(), FRAMES.astype(np.float32))


def test_a_shipped_scan_rewritten_as_hdf5_reconstructs_as_its_cxi_does(tmp_path):
    """Same frames, positions and calibration through another reader: the same run, to the
    bit."""
    stages = [{"epochs": 2, "learning_rate": 0.04, "batch_size": 50}]
    cxi = load_config(short_config(tmp_path, stages=stages))
    scan = read_cxi(cxi.data)
    path = tmp_path / "petra.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dp", data=scan.frames(), chunks=(10, 100, 100), **hdf5plugin.LZ4())
        f["positions_nm"] = scan.translations * 1e9
        f["bad"] = (~scan.valid).astype(np.uint8)
    step = np.linalg.norm(scan.basis, axis=0)
    config_text = (tmp_path / "config.toml").read_text()
    table = (
        f'[data]\nfile = "{path}"\nreader = "hdf5"\nframes = "dp"\n'
        f'translations = "positions_nm"\ntranslations_unit = "nm"\nmask = "bad"\n'
        f"wavelength = {float(scan.wavelength)!r}\ndistance = {float(scan.distance)!r}\n"
        f"pixel_size = [{float(step[0])!r}, {float(step[1])!r}]\n"
    )
    config_text = re.sub(r"(?ms)^\[data\]\n.*?(?=^\[)", table, config_text)
    (tmp_path / "h5.toml").write_text(config_text)
    h5 = load_config(tmp_path / "h5.toml")
    assert h5.reader == "hdf5"
    assert reconstruct(h5).final_deviance == reconstruct(cxi).final_deviance


def test_the_config_replaces_what_the_file_holds(shipped_scan):
    scan = read_data(shipped_scan, "cxi", {"distance": 3.5, "photon_energy": 12.0})
    assert scan.distance == 3.5
    assert scan.wavelength == pytest.approx(1.0332e-10, rel=1e-4)  # 12 keV
    assert np.array_equal(scan.basis, read_cxi(shipped_scan).basis)


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        (
            "npz",
            {"frames": "data"},
            "data.frames: {path} has no 'data'; it holds dp (12, 12, 10), xy (12, 2), note (3,)",
        ),
        (
            "zarr",
            {"translations": "scan/xy"},
            "data.translations: {path} has no 'scan/xy'; it "
            "holds scan/frames (12, 12, 10), scan/yx (12, 2)",
        ),
        ("hdf5", {"mask": "mask"}, "data.mask: {path} has no 'mask'; it holds entry/data/data"),
        (
            "hdf5",
            {"frames": "entry/sample/positions"},
            "{path}: entry/sample/positions has "
            "shape (12, 2): neither a frame stack (N, rows, columns) nor a 4D scan",
        ),
        (
            "tiff",
            {"scan_shape": [5, 2]},
            "data.scan_shape: [5, 2] makes 10 positions; the file has 12 frames",
        ),
        (
            "tiff",
            {"scan_shape": None},
            "data.scan_shape is needed with data.scan_step: {path} "
            "holds a stack of 12 frames, not a 4D scan",
        ),
        (
            "hdf5 4D",
            {"scan_step": None},
            "data.scan_step (m; with data.scan_shape unless the "
            "frames are 4D) is needed: {path} gives no positions",
        ),
        (
            "npy",
            {"wavelength": None},
            "config: data.wavelength (m), data.photon_energy or "
            "data.electron_energy (keV) is needed: {path} gives no wavelength",
        ),
        ("npy", {"distance": None}, "config: data.distance (m, sample to detector) is needed"),
        (
            "npy",
            {"pixel_size": None},
            "config: data.pixel_size (m, the detector's pixel) is "
            "needed: {path} gives no pixel size",
        ),
        (
            "npy",
            {"electron_energy": 300},
            "data.electron_energy: give one of data.wavelength and data.electron_energy",
        ),
        ("npy", {"pixel_size": [1e-5, -1e-5]}, "data.pixel_size must be positive (m)"),
        ("npy", {"scan_step": [1, 2, 3]}, "data.scan_step must be one number or [rows, columns]"),
        ("npy", {"scan_rotation": "left"}, "data.scan_rotation must be degrees; got 'left'"),
        (
            "raw",
            {"raw_gap": 0},
            "data.raw_shape: {path} has 6720 bytes; raw_shape [3, 4, 12, "
            "10] of float32 with raw_offset 0 and raw_gap 0 make 5760",
        ),
        (
            "raw",
            {"raw_shape": [12, 10]},
            "data: the raw reader: raw_shape must be [N, rows, "
            "columns] or [scan rows, scan columns, rows, columns]",
        ),
        (
            "npz",
            {"translations_unit": "inch"},
            "translations_unit must be one of m, mm, um, nm, A or metres per unit; got 'inch'",
        ),
        (
            "npz",
            {"shape": 3},
            "data.shape: the npy reader takes no such argument; its arguments: "
            "frames, translations, translations_unit, translations_order, mask; every reader's: "
            "wavelength",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_key(tmp_path, kind, change, message):
    path, arguments = _write(kind, tmp_path)
    arguments = {**CALIBRATION, **arguments, **change}
    arguments = {k: v for k, v in arguments.items() if v is not None}
    with pytest.raises(ReconstructError) as caught:
        read_data(path, None, arguments)
    text = str(caught.value)
    assert message.format(path=path) in text and "\n" not in text


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        (
            {"image": FRAMES[0], "positions": POSITIONS},
            "holds no array of 3 or 4 dimensions (image (12, 10), positions (12, 2))",
        ),
        (
            {"dp": FRAMES, "background": FRAMES},
            "holds 2 arrays of 3 or 4 dimensions (dp (12, 12, 10), background (12, 12, 10))",
        ),
    ],
)
def test_without_a_key_the_frames_are_the_one_array_that_can_be(tmp_path, arrays, words):
    np.savez(tmp_path / "scan.npz", **arrays)
    message = f"config: data.frames: {tmp_path / 'scan.npz'} {words}: name the frames' key with "
    with pytest.raises(ReconstructError, match=re.escape(message + "data.frames")):
        read_data(tmp_path / "scan.npz", None, CALIBRATION)


def test_files_of_another_kind_are_one_line_naming_the_format(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    for name, words in (
        ("a.h5", "cannot be read as HDF5"),
        ("a.npz", "cannot be read as NumPy: not a zip archive, as an .npz file is"),
        ("a.npy", "cannot be read as NumPy"),
        ("a.tif", "cannot be read as TIFF"),
        ("a.mat", "cannot be read as MATLAB"),
    ):
        (fake / name).write_bytes(b"not what the name says\n" * 4)
        with pytest.raises(ReconstructError, match=re.escape(f"{fake / name}: {words}")):
            read_data(fake / name, None, CALIBRATION)
    with pytest.raises(ReconstructError, match=re.escape(f"{fake}: cannot be read as zarr")):
        read_data(fake, "zarr", CALIBRATION)


def test_a_damaged_chunk_is_one_line_naming_file_and_key(tmp_path):
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dp", data=FRAMES, chunks=(1, 12, 10), compression="gzip")
        offset = f["dp"].id.get_chunk_info(5).byte_offset
    with open(path, "r+b") as f:  # overwrite frame 5's compressed chunk
        f.seek(offset)
        f.write(b"\xff" * 16)
    scan = read_data(path, "hdf5", {**CALIBRATION, "scan_step": 1e-6, "scan_shape": [3, 4]})
    assert np.array_equal(scan.frames(slice(0, 5)), FRAMES[:5])
    with pytest.raises(ReconstructError, match=re.escape(f"{path}: dp: cannot be read: ")):
        scan.frames(slice(4, 7))


def test_every_array_reader_is_registered_with_its_name_endings():
    readers = {
        n: ptyrax_core.registry.get(n, "readers") for n in ptyrax_core.registry.names("readers")
    }
    for name in ("hdf5", "npy", "tiff", "zarr", "mat", "raw"):
        assert issubclass(readers[name], ArrayReader) and readers[name].registry_name == name
    assert readers["hdf5"] is Hdf5Reader and readers["mat"] is MatReader
    assert ".npz" in NpyReader.suffixes and RawReader.suffixes == (".raw",)


def test_two_readers_of_one_name_ending_are_refused_until_the_config_names_one(
    tmp_path, monkeypatch
):
    class LabHdf5(Hdf5Reader):
        registry_name = "lab_hdf5"

    registry = ptyrax_core.registry
    names, get = registry.names, registry.get
    monkeypatch.setattr(
        registry, "names", lambda kind="parametrizations": [*names(kind), "lab_hdf5"]
    )
    monkeypatch.setattr(
        registry,
        "get",
        lambda n, kind="parametrizations": LabHdf5 if n == "lab_hdf5" else get(n, kind),
    )
    path, arguments = _write("hdf5", tmp_path)
    with pytest.raises(
        ReconstructError,
        match=re.escape(
            "config: data.reader: 2 installed readers open 'scan.h5' by its name (hdf5, lab_hdf5); "
            "name one"
        ),
    ):
        read_data(path, None, {**CALIBRATION, **arguments})
    assert read_data(path, "lab_hdf5", {**CALIBRATION, **arguments}).frames_shape == (12, 12, 10)


def test_a_master_file_s_frames_are_read_through_its_external_link(tmp_path):
    """A detector's master file links its frames from a data file (Eiger, Jungfrau)."""
    with h5py.File(tmp_path / "scan_data_000001.h5", "w") as f:
        f.create_dataset("entry/data/data", data=FRAMES, **hdf5plugin.Bitshuffle())
    with h5py.File(tmp_path / "scan_master.h5", "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("scan_data_000001.h5", "entry/data/data")
        f["entry/instrument/detector/pixel_mask"] = np.zeros((12, 10), np.uint32)
    arguments = {
        **CALIBRATION,
        "frames": "entry/data/data_000001",
        "mask": "entry/instrument/detector/pixel_mask",
        "scan_step": 1e-6,
        "scan_shape": [3, 4],
    }
    scan = read_data(tmp_path / "scan_master.h5", None, arguments)
    assert np.array_equal(scan.frames(slice(3, 7)), FRAMES[3:7])


def test_a_zipped_zarr_store_reads_as_a_folder_does(tmp_path):
    store = zarr.storage.ZipStore(tmp_path / "scan.zarr.zip", mode="w")
    zarr.save_array(store, SCAN4)
    store.close()
    scan = read_data(tmp_path / "scan.zarr.zip", None, {**CALIBRATION, "scan_step": 1e-6})
    assert np.array_equal(scan.frames(np.array([7, 2])), FRAMES[[7, 2]])
