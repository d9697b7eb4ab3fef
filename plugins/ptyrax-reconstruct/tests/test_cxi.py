import h5py
import numpy as np
import pytest
from ptyrax_reconstruct._cxi import Scan, read_cxi, write_cxi
from ptyrax_reconstruct._errors import ReconstructError

DETECTOR = "entry_1/instrument_1/detector_1"
SOURCE = "entry_1/instrument_1/source_1"
TRANSLATION = "entry_1/sample_1/geometry_1/translation"
PLANCK_C = 6.62607015e-34 * 299792458.0  # J m, exact in the SI


def _write(path, *, drop=(), **replace):
    """A small valid CXI file (4 frames of 6 x 5), with datasets dropped or replaced by path."""
    rng = np.random.default_rng(0)
    datasets = {
        f"{DETECTOR}/data": rng.poisson(5.0, size=(4, 6, 5)).astype(np.int32),
        f"{DETECTOR}/mask": np.zeros((6, 5), np.uint32),
        f"{DETECTOR}/distance": 1.5,
        f"{DETECTOR}/x_pixel_size": 55e-6,
        f"{DETECTOR}/y_pixel_size": 75e-6,
        f"{DETECTOR}/basis_vectors": np.array([[0.0, -55e-6], [-75e-6, 0.0], [0.0, 0.0]]),
        f"{SOURCE}/wavelength": 1e-10,
        TRANSLATION: rng.normal(scale=1e-6, size=(4, 3)) * [1, 1, 0],
    }
    datasets.update({k.replace("__", "/"): v for k, v in replace.items()})
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            if name not in drop:
                f[name] = value
    return path


def _raises(match, path, read_frames=False):
    with pytest.raises(ReconstructError, match=match):
        scan = read_cxi(path)
        if read_frames:
            scan.frames()


# the shipped scan


def test_shipped_scan_geometry_is_read_from_the_file(shipped_scan):
    """Shape, mask, wavelength, distance and basis are those of the PETRA III file."""
    scan = read_cxi(shipped_scan)
    assert scan.path == shipped_scan
    assert scan.frames_shape == (200, 100, 100)
    with h5py.File(shipped_scan, "r") as f:
        mask = f[f"{DETECTOR}/mask"][()]
        wavelength = float(f[f"{SOURCE}/wavelength"][()])
        basis = f[f"{DETECTOR}/basis_vectors"][()]
        translations = f[TRANSLATION][()]
    assert scan.valid.shape == (100, 100) and scan.valid.dtype == bool
    assert int((~scan.valid).sum()) == 5
    np.testing.assert_array_equal(np.argwhere(~scan.valid), np.argwhere(mask != 0))
    assert scan.wavelength == wavelength
    assert scan.wavelength == pytest.approx(9.7949e-11, rel=1e-4)
    assert scan.distance == pytest.approx(1.12, rel=2**-23)  # float32 in the file
    np.testing.assert_array_equal(scan.basis, basis.astype(np.float64))
    np.testing.assert_array_equal(scan.translations, translations.astype(np.float64))
    assert scan.translations.shape == (200, 3)


def test_read_cxi_does_not_load_the_frames(shipped_scan):
    """Opening a scan reads the geometry only: counts stay None until frames() is called."""
    assert read_cxi(shipped_scan).counts is None


def test_shipped_frames_are_the_raw_counts_as_float32(shipped_scan):
    """frames() is the whole data set, float32, equal to the file's integer counts."""
    scan = read_cxi(shipped_scan)
    with h5py.File(shipped_scan, "r") as f:
        raw = f[f"{DETECTOR}/data"][()]
    frames = scan.frames()
    assert frames.dtype == np.float32 and frames.shape == (200, 100, 100)
    assert raw.max() < 2**24  # every count is exact in float32
    np.testing.assert_array_equal(frames, raw)
    np.testing.assert_array_equal(frames[:, ~scan.valid], 0)  # bad pixels are 0 in this file


def test_frames_reads_a_slice_and_an_index_array_in_the_order_given(shipped_scan):
    """frames(slice(3, 5)) is 2 frames; frames([5, 1, 3]) returns them in that order."""
    scan = read_cxi(shipped_scan)
    with h5py.File(shipped_scan, "r") as f:
        raw = f[f"{DETECTOR}/data"][:6]
    two = scan.frames(slice(3, 5))
    assert two.shape == (2, 100, 100) and two.dtype == np.float32
    np.testing.assert_array_equal(two, raw[3:5])
    picked = scan.frames(np.array([5, 1, 3]))
    assert picked.dtype == np.float32
    np.testing.assert_array_equal(picked, raw[[5, 1, 3]])
    np.testing.assert_array_equal(scan.frames(np.array([2, 2, 0])), raw[[2, 2, 0]])


# writing and other layouts


def _small_scan():
    rng = np.random.default_rng(3)
    valid = np.ones((8, 6), bool)
    valid[2, 4] = valid[7, 0] = False
    return Scan(
        path=None,
        frames_shape=(5, 8, 6),
        translations=rng.normal(scale=1e-6, size=(5, 3)) * [1, 1, 0],
        valid=valid,
        wavelength=1.3e-10,
        distance=2.25,
        basis=np.array([[0.0, -55e-6], [-75e-6, 0.0], [0.0, 0.0]]),
        counts=rng.poisson(20.0, size=(5, 8, 6)).astype(np.float32),
    )


def test_write_cxi_then_read_cxi_gives_the_scan_back(tmp_path):
    """An in-memory scan written and read again has the same frames, mask and geometry."""
    scan = _small_scan()
    write_cxi(tmp_path / "scan.cxi", scan)
    back = read_cxi(tmp_path / "scan.cxi")
    assert back.path == tmp_path / "scan.cxi" and back.counts is None
    assert back.frames_shape == scan.frames_shape
    np.testing.assert_array_equal(back.frames(), scan.counts)
    np.testing.assert_array_equal(back.valid, scan.valid)
    np.testing.assert_array_equal(back.translations, scan.translations)
    np.testing.assert_array_equal(back.basis, scan.basis)
    assert back.wavelength == scan.wavelength and back.distance == scan.distance
    with h5py.File(tmp_path / "scan.cxi", "r") as f:  # the pixel sizes match the basis
        assert f[f"{DETECTOR}/y_pixel_size"][()] == pytest.approx(75e-6, rel=1e-15)
        assert f[f"{DETECTOR}/x_pixel_size"][()] == pytest.approx(55e-6, rel=1e-15)


def test_in_memory_scan_frames_index_its_counts():
    """A scan held in memory serves frames from counts, as float32, by slice or index array."""
    scan = _small_scan()
    np.testing.assert_array_equal(scan.frames(slice(1, 3)), scan.counts[1:3])
    np.testing.assert_array_equal(scan.frames(np.array([4, 0])), scan.counts[[4, 0]])


def test_energy_only_source_gives_the_wavelength_h_c_over_e(tmp_path, shipped_scan):
    """No wavelength but an energy (joules): lambda = h c / E."""
    energy = 2.0280385e-15  # the shipped scan's 12.658 keV
    path = _write(
        tmp_path / "e.cxi", drop={f"{SOURCE}/wavelength"}, **{f"{SOURCE}__energy": energy}
    )
    scan = read_cxi(path)
    assert scan.wavelength == pytest.approx(PLANCK_C / energy, rel=1e-15)
    # and it agrees with the wavelength the shipped file states, to that file's float32
    assert scan.wavelength == pytest.approx(read_cxi(shipped_scan).wavelength, rel=2**-23)


def test_wavelength_wins_over_energy_when_both_are_given(tmp_path):
    """The stated wavelength is used as it is."""
    path = _write(tmp_path / "both.cxi", **{f"{SOURCE}__energy": 1e-15})
    assert read_cxi(path).wavelength == 1e-10


def test_file_without_basis_vectors_gets_the_default_basis(tmp_path):
    """Default basis (as cdtools): a row step is -y_pixel_size along lab y, a column step
    -x_pixel_size along lab x (x and y sizes differ here, so a swap would show)."""
    path = _write(tmp_path / "nobasis.cxi", drop={f"{DETECTOR}/basis_vectors"})
    basis = read_cxi(path).basis
    np.testing.assert_array_equal(basis, [[0.0, -55e-6], [-75e-6, 0.0], [0.0, 0.0]])


def test_two_column_translations_get_z_zero_and_no_mask_means_all_valid(tmp_path):
    """(N, 2) translations are padded with z = 0; without a mask every pixel is valid."""
    xy = np.arange(8.0).reshape(4, 2) * 1e-6
    path = _write(tmp_path / "xy.cxi", drop={f"{DETECTOR}/mask"}, **{TRANSLATION: xy})
    scan = read_cxi(path)
    np.testing.assert_array_equal(scan.translations, np.concatenate([xy, np.zeros((4, 1))], 1))
    assert scan.valid.all() and scan.valid.shape == (6, 5)


# bad input: one ReconstructError, whose message names the problem


def test_missing_file(tmp_path):
    """A path that does not exist."""
    _raises("no such file", tmp_path / "absent.cxi")


def test_text_file_that_is_not_hdf5(tmp_path):
    """A text file with the right suffix."""
    path = tmp_path / "notes.cxi"
    path.write_text("not an HDF5 file\n")
    _raises("not an HDF5 file", path)


def test_hdf5_file_without_data_names_the_missing_path(tmp_path):
    """An HDF5 file that is no CXI scan: the message names entry_1/.../detector_1/data."""
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["something/else"] = np.zeros(3)
    _raises("no entry_1/instrument_1/detector_1/data", path)


def test_data_that_is_not_three_dimensional(tmp_path):
    """One frame stored as 2-D."""
    path = _write(tmp_path / "2d.cxi", **{f"{DETECTOR}__data": np.zeros((6, 5), np.int32)})
    _raises(r"data must be 3-D.*\(6, 5\)", path)


def test_translation_count_differs_from_frame_count(tmp_path):
    """3 translations for 4 frames."""
    path = _write(tmp_path / "t.cxi", **{TRANSLATION: np.zeros((3, 3))})
    _raises(r"translation must be \(4, 3\), one per frame; it has shape \(3, 3\)", path)


def test_non_finite_translations(tmp_path):
    """A NaN among the translations."""
    translations = np.zeros((4, 3))
    translations[2, 0] = np.nan
    _raises("non-finite", _write(tmp_path / "nan_t.cxi", **{TRANSLATION: translations}))


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_counts_are_raised_when_frames_are_read_naming_frame_and_pixel(tmp_path, bad):
    """Negative, NaN or infinite counts: read_cxi opens the file, frames() names the frame and
    pixel, numbered as in the file also when only some frames are read."""
    data = np.ones((4, 6, 5), np.float32)
    data[2, 3, 1] = bad
    path = _write(tmp_path / "bad.cxi", **{f"{DETECTOR}__data": data})
    scan = read_cxi(path)
    message = r"finite and non-negative; frame 2 pixel \(3, 1\)"
    with pytest.raises(ReconstructError, match=message):
        scan.frames()
    with pytest.raises(ReconstructError, match=message):
        scan.frames(slice(1, 4))
    with pytest.raises(ReconstructError, match=message):
        scan.frames(np.array([3, 2]))
    np.testing.assert_array_equal(scan.frames(slice(0, 2)), 1.0)  # the good frames still read


def test_mask_of_another_shape(tmp_path):
    """A (5, 6) mask for frames of (6, 5)."""
    path = _write(tmp_path / "mask.cxi", **{f"{DETECTOR}__mask": np.zeros((5, 6), np.uint32)})
    _raises(r"mask must have the frames' shape \(6, 5\)", path)


def test_no_wavelength_or_energy(tmp_path):
    """A source with neither."""
    path = _write(tmp_path / "nosource.cxi", drop={f"{SOURCE}/wavelength"})
    _raises("no entry_1/instrument_1/source_1/wavelength or energy", path)


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_distance_must_be_positive(tmp_path, value):
    """A zero, negative or NaN distance, named."""
    path = _write(tmp_path / "d.cxi", **{f"{DETECTOR}__distance": value})
    _raises("detector_1/distance must be one positive number", path)


def test_missing_distance_is_named(tmp_path):
    """No detector distance."""
    _raises(
        "no entry_1/instrument_1/detector_1/distance",
        _write(tmp_path / "nd.cxi", drop={f"{DETECTOR}/distance"}),
    )


def test_basis_of_rank_one(tmp_path):
    """Row and column steps along the same lab vector."""
    basis = np.array([[1e-6, 1e-6], [0.0, 0.0], [0.0, 0.0]])
    _raises(
        "basis_vectors must be", _write(tmp_path / "b.cxi", **{f"{DETECTOR}__basis_vectors": basis})
    )


def test_frames_compressed_by_a_detector_s_filter_read(tmp_path):
    """Bitshuffle-LZ4, as Eiger and Jungfrau write it: read in a fresh interpreter, where
    nothing but the reader registers the filter."""
    import subprocess
    import sys

    import hdf5plugin

    path = _write(tmp_path / "scan.cxi", drop=(f"{DETECTOR}/data",))
    frames = np.random.default_rng(1).poisson(5.0, size=(4, 6, 5)).astype(np.uint16)
    with h5py.File(path, "a") as f:
        f.create_dataset(f"{DETECTOR}/data", data=frames, **hdf5plugin.Bitshuffle())
    code = (
        "import sys; from ptyrax_reconstruct import read_cxi; "
        "print(int(read_cxi(sys.argv[1]).frames().sum()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == int(frames.sum())
