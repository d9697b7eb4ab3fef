"""The engine's readers of arrays at a key: HDF5, NumPy, TIFF, zarr, MATLAB and raw binary.

Each opens its format (`arrays`) and leaves the rest to `ArrayReader`: the frames' key, the
positions, the mask, and the calibration from the config.
"""

import contextlib
import functools
import math
import pathlib
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from ._array_reader import ArrayReader, Permuted
from ._errors import ReconstructError


class Hdf5Reader(ArrayReader):
    """HDF5 and NeXus files, any layout (PtychoShelves' `dp`, py4DSTEM's 4D datacube, a
    detector's master file): the frames at the key `frames` (a path such as
    `entry/data/data`). Compressed data reads through `hdf5plugin`'s filters (bitshuffle-LZ4,
    Blosc, Zstd, ...) as well as HDF5's own."""

    registry_name: ClassVar[str] = "hdf5"
    suffixes: ClassVar[tuple[str, ...]] = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5")
    format: ClassVar[str] = "HDF5"

    def arrays(self, path: pathlib.Path) -> contextlib.AbstractContextManager[Mapping[str, Any]]:
        return _hdf5_arrays(path)


class NpyReader(ArrayReader):
    """NumPy files: an `.npy` array (memory-mapped: a range reads only its frames) or the
    arrays of an `.npz` archive by name (a member is read whole when its frames are asked)."""

    registry_name: ClassVar[str] = "npy"
    suffixes: ClassVar[tuple[str, ...]] = (".npy", ".npz")
    format: ClassVar[str] = "NumPy"

    @contextlib.contextmanager
    def arrays(self, path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
        if path.suffix.lower() != ".npz":
            yield {"": np.load(path, mmap_mode="r", allow_pickle=False)}
            return
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ValueError("not a zip archive, as an .npz file is") from None
        with archive:
            yield {
                name.removesuffix(".npy"): _NpzMember(archive, name)
                for name in archive.namelist()
                if name.endswith(".npy")
            }


class TiffReader(ArrayReader):
    """TIFF files (through `tifffile`): the first image series, a stack of frames or a 4D
    scan (ImageJ hyperstacks and OME-TIFF included); one page a frame reads by range."""

    registry_name: ClassVar[str] = "tiff"
    suffixes: ClassVar[tuple[str, ...]] = (".tif", ".tiff")
    format: ClassVar[str] = "TIFF"

    @contextlib.contextmanager
    def arrays(self, path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            if not tiff.series:
                raise ValueError("no image series")
            yield {"": _TiffSeries(tiff.series[0])}


class ZarrReader(ArrayReader):
    """zarr stores (a folder or a zip, zarr format 2 or 3): an array, or a group's arrays by
    path (`frames = "scan/data"`); chunks read by range."""

    registry_name: ClassVar[str] = "zarr"
    suffixes: ClassVar[tuple[str, ...]] = (".zarr", ".zarr.zip")
    format: ClassVar[str] = "zarr"

    @contextlib.contextmanager
    def arrays(self, path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
        import zarr

        zipped = path.is_file() and path.name.lower().endswith(".zip")
        store = zarr.storage.ZipStore(path, mode="r") if zipped else str(path)
        try:
            node = zarr.open(store, mode="r")
        except (FileNotFoundError, zarr.errors.NodeTypeValidationError) as e:
            raise ValueError(f"not a zarr store ({e})") from None
        try:
            if isinstance(node, zarr.Array):
                yield {"": node}
            else:
                members = sorted(node.members(max_depth=None))  # listed in no fixed order
                yield {k: a for k, a in members if isinstance(a, zarr.Array)}
        finally:
            if zipped:
                store.close()


class MatReader(ArrayReader):
    """MATLAB `.mat` files, as PtychoShelves writes them: v7.3 (HDF5, through h5py, read by
    range) and older versions (through SciPy, read whole). Arrays are taken as MATLAB indexes
    them: frames `(rows, columns, N)` or `(rows, columns, scan rows, scan columns)`,
    positions `(N, 2)`; fields of structs by path (`translations = "outputs/probe_positions"`)."""

    registry_name: ClassVar[str] = "mat"
    suffixes: ClassVar[tuple[str, ...]] = (".mat",)
    format: ClassVar[str] = "MATLAB"
    frames_last: ClassVar[bool] = True

    @contextlib.contextmanager
    def arrays(self, path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
        import h5py

        if h5py.is_hdf5(path):  # v7.3: HDF5 holds MATLAB's arrays with their axes reversed
            with _hdf5_arrays(path) as arrays:
                yield {
                    k: Permuted(a, tuple(range(len(a.shape)))[::-1])
                    for k, a in arrays.items()
                    if not k.startswith("#")  # MATLAB's own: #refs#, #subsystem#
                }
            return
        import scipy.io

        try:
            contents = scipy.io.loadmat(path, simplify_cells=True)
        except Exception as e:  # SciPy's parser fails on other bytes in many ways
            raise ValueError(f"not a MATLAB file: {type(e).__name__}: {e}") from None
        yield dict(_flatten(contents))


class RawReader(ArrayReader):
    """Raw binary frames, as an EMPAD detector writes them: `raw_shape` frames (`[N, rows,
    columns]` or `[scan rows, scan columns, rows, columns]`) of `raw_dtype`, after
    `raw_offset` bytes, each followed by `raw_gap` bytes (EMPAD: 128 x 128 float32 frames and
    a gap of 1024 bytes, its two rows of metadata). Memory-mapped: a range reads only its
    frames. The positions come from the config's scan grid. (EMPAD's `.xml` with its `.raw`,
    and the scan shape and calibration it records: the `ptyrax-rsciio` reader.)"""

    registry_name: ClassVar[str] = "raw"
    suffixes: ClassVar[tuple[str, ...]] = (".raw",)
    format: ClassVar[str] = "raw binary"

    def __init__(
        self,
        raw_shape: list[int],
        raw_dtype: str = "float32",
        raw_offset: int = 0,
        raw_gap: int = 0,
    ):
        super().__init__()
        if not (
            isinstance(raw_shape, list | tuple)
            and len(raw_shape) in (3, 4)
            and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in raw_shape)
        ):
            raise ValueError(
                "raw_shape must be [N, rows, columns] or [scan rows, scan columns, rows, "
                f"columns], positive integers; got {raw_shape!r}"
            )
        try:
            self.dtype = np.dtype(raw_dtype)
        except TypeError:
            raise ValueError(f"raw_dtype must be a NumPy dtype name; got {raw_dtype!r}") from None
        for name, value in (("raw_offset", raw_offset), ("raw_gap", raw_gap)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a number of bytes, >= 0; got {value!r}")
        self.shape, self.offset, self.gap = tuple(raw_shape), raw_offset, raw_gap

    @contextlib.contextmanager
    def arrays(self, path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
        record = np.dtype([("frame", self.dtype, self.shape[-2:]), ("gap", np.uint8, self.gap)])
        count = math.prod(self.shape[:-2])
        expected = self.offset + count * record.itemsize
        size = path.stat().st_size
        if size != expected:
            raise ReconstructError(
                f"config: data.raw_shape: {path} has {size} bytes; raw_shape {list(self.shape)} "
                f"of {self.dtype} with raw_offset {self.offset} and raw_gap {self.gap} make "
                f"{expected}"
            )
        frames = np.memmap(path, record, mode="r", offset=self.offset, shape=(count,))["frame"]
        yield {"": frames.reshape(self.shape)}


@contextlib.contextmanager
def _hdf5_arrays(path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
    import h5py
    import hdf5plugin  # noqa: F401  (registers the filters detectors compress with)

    with h5py.File(path, "r") as f:
        yield _Hdf5Arrays(f)


class _Hdf5Arrays(Mapping):
    """An HDF5 file's numeric datasets by path: found by path (through links too: a
    detector's master file links its frames from other files); the file's tree is walked
    only when they are listed, not at every read of frames."""

    def __init__(self, file: Any):
        self.file = file

    @functools.cached_property
    def found(self) -> dict[str, Any]:
        found = {}

        def visit(key: str, node: Any) -> None:  # a value other than None stops the visit
            if _numeric(node):
                found[key] = node

        self.file.visititems(visit)
        return found

    def __getitem__(self, key: str) -> Any:
        node = self.file.get(key)
        if not _numeric(node):
            raise KeyError(key)
        return node

    def __contains__(self, key: object) -> bool:
        try:
            self[key]
        except (KeyError, TypeError, ValueError, OSError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.found)

    def __len__(self) -> int:
        return len(self.found)


def _numeric(node: Any) -> bool:
    """A dataset of numbers, not a scalar."""
    return hasattr(node, "dtype") and node.dtype.kind in "biufc" and bool(node.shape)


def _flatten(contents: dict, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """The numeric arrays of a loaded `.mat` file, fields of structs by path."""
    for key, value in contents.items():
        if key.startswith("__"):
            continue
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}/")
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biufc" and value.ndim:
            yield f"{prefix}{key}", value


class _NpzMember:
    """An array of an `.npz` archive: its shape and dtype from its header; read whole."""

    def __init__(self, archive: zipfile.ZipFile, name: str):
        self.archive, self.name = archive, name
        with archive.open(name) as f:
            version = np.lib.format.read_magic(f)
            header = {(1, 0): np.lib.format.read_array_header_1_0}
            read_header = header.get(version, np.lib.format.read_array_header_2_0)
            self.shape, _, self.dtype = read_header(f)

    def __getitem__(self, index: Any) -> np.ndarray:
        with self.archive.open(self.name) as f:
            return np.lib.format.read_array(f, allow_pickle=False)[index]


class _TiffSeries:
    """A TIFF image series read by range of its first axis: by pages where a page is a
    frame, else whole."""

    def __init__(self, series: Any):
        self.series, self.shape, self.dtype = series, tuple(series.shape), series.dtype
        self.paged = tuple(series.keyframe.shape) == self.shape[-2:] and len(series.pages) == (
            math.prod(self.shape[:-2])
        )

    def __getitem__(self, index: Any) -> np.ndarray:
        if not (self.paged and isinstance(index, slice)):
            return self.series.asarray()[index]
        low, high, _ = index.indices(self.shape[0])
        per = math.prod(self.shape[1:-2])
        pages = list(range(low * per, high * per))
        data = self.series.asarray(key=pages) if pages else np.zeros((0,), self.dtype)
        return data.reshape(-1, *self.shape[1:])
