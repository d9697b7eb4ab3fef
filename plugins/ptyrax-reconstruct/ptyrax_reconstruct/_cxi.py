"""CXI files (HDF5): read a ptychography scan lazily, and write one.

The layout (https://www.cxidb.org/cxi.html), as cdtools and other readers use it:

- `entry_1/instrument_1/detector_1/data`: counts, `(N, rows, columns)`, the zero frequency at
  the centre of each frame; `mask` (optional, nonzero = bad pixel), `distance` (metres,
  sample to detector), `x_pixel_size`, `y_pixel_size` (metres) and `basis_vectors` (optional,
  `(3, 2)`: the lab vector of one step along the rows and along the columns; default
  `[[0, -x], [-y, 0], [0, 0]]`: a row step is `-y` along lab y, a column step `-x` along lab x).
- `entry_1/instrument_1/source_1/wavelength` (metres) or `energy` (joules).
- `entry_1/sample_1/geometry_1/translation`: sample translations, `(N, 3)` metres.
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable

import numpy as np

from ._errors import ReconstructError

_DETECTOR = "entry_1/instrument_1/detector_1"
_SOURCE = "entry_1/instrument_1/source_1"
_TRANSLATION = "entry_1/sample_1/geometry_1/translation"
_PLANCK_C = 6.62607015e-34 * 299792458.0  # J m


@dataclasses.dataclass(frozen=True)
class Scan:
    """A ptychography scan: what the instrument measured, with its geometry.

    Attributes:
        path: the file the frames are read from, or None for frames held in memory.
        frames_shape: `(N, rows, columns)`.
        translations: sample translations, `(N, 3)` metres.
        valid: `(rows, columns)` bool, False at bad pixels (they never enter a loss).
        wavelength: metres.
        distance: sample to detector, metres.
        basis: `(3, 2)` detector basis vectors, metres per row and column step.

        A reader leaves `translations`, `wavelength`, `distance` or `basis` None where its file
        lacks them; the config's `[data]` table then gives them (`read_data` fills them in).
        counts: the frames as an array when they are in memory (else None): use `frames`.
        source: how a reader other than CXI reads frames: `source(indices)` returns the
            frames at a slice or an index array, `(n, rows, columns)`, raising
            `ReconstructError` where they cannot be read (None: a CXI file, or `counts`).
        locations: where the frames and the translations are in the file, for messages.
        scan_shape: `(rows, columns)` of the scan grid for frames that are a 4D scan (frame
            `i * columns + j` at grid row `i`, column `j`), else None.
    """

    path: pathlib.Path | None
    frames_shape: tuple[int, int, int]
    translations: np.ndarray | None
    valid: np.ndarray
    wavelength: float | None
    distance: float | None
    basis: np.ndarray | None
    counts: np.ndarray | None = None
    source: Callable[[slice | np.ndarray], np.ndarray] | None = None
    locations: tuple[str, str] = (f"{_DETECTOR}/data", _TRANSLATION)
    scan_shape: tuple[int, int] | None = None

    def frames(self, indices: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The frames at `indices` (a slice reads only those from the file), float32 counts,
        checked: finite and non-negative.

        Raises:
            ReconstructError: the file cannot be read there (a damaged chunk, a truncated or
                vanished file: the frame range and the first frame that fails are named), or
                a count is negative or not finite.
        """
        with np.errstate(over="ignore"):  # beyond float32: inf, refused below
            if self.counts is not None:
                data = np.asarray(self.counts[indices], np.float32)
            elif self.source is not None:
                data = np.asarray(self.source(indices), np.float32)
            else:
                data = self._read(indices)
        bad = ~np.isfinite(data) | (data < 0)
        if bad.any():
            frame = np.argwhere(bad)[0]
            number = np.arange(self.frames_shape[0])[indices][frame[0]]  # in the file
            raise ReconstructError(
                f"{self.where('data')}: counts must be finite and non-negative; frame "
                f"{int(number)} pixel {tuple(int(i) for i in frame[1:])}: {data[tuple(frame)]}"
            )
        return data

    def _read(self, indices: slice | np.ndarray) -> np.ndarray:
        import h5py
        import hdf5plugin  # noqa: F401  (registers detectors' filters: bitshuffle-LZ4, ...)

        numbers = np.arange(self.frames_shape[0])[indices]
        try:
            with h5py.File(self.path, "r") as f:
                dataset = f[f"{_DETECTOR}/data"]
                if isinstance(indices, np.ndarray):  # h5py wants strictly increasing indices
                    unique, inverse = np.unique(indices, return_inverse=True)
                    return np.asarray(dataset[unique], np.float32)[inverse.reshape(-1)]
                return np.asarray(dataset[indices], np.float32)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            span = f"frames {numbers.min()}-{numbers.max()}" if len(numbers) else "frames"
            first = self._first_unreadable(numbers)
            at = f" (frame {first} first)" if first is not None and len(numbers) > 1 else ""
            raise ReconstructError(
                f"{self.where('data')}: {span} cannot be read{at}: {why_unreadable(e)}"
            ) from None

    def _first_unreadable(self, numbers: np.ndarray) -> int | None:
        """The first of `numbers` whose frame alone cannot be read (None: each can)."""
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                dataset = f[f"{_DETECTOR}/data"]
                for number in np.unique(numbers):
                    try:
                        dataset[int(number)]
                    except (OSError, ValueError, TypeError, RuntimeError):
                        return int(number)
        except (OSError, KeyError):
            return None
        return None

    def where(self, name: str) -> str:
        """Where `name` (`data` or `translation`) is, for messages."""
        inside = self.locations[0] if name == "data" else self.locations[1]
        return f"{self.path}: {inside}" if self.path else name


def read_cxi(path: str | os.PathLike) -> Scan:
    """Open a CXI file: geometry, translations and mask now, frames when asked (`Scan.frames`).

    Raises:
        ReconstructError: the file is missing, not HDF5, truncated or damaged where the scan
            is read, lacks a path the scan needs (named), holds data of the wrong shape or
            type, or a calibration value (distance, pixel size, wavelength, energy, basis
            vectors) that is not finite and positive (or, for the basis, of rank 2).
    """
    import h5py
    import hdf5plugin  # noqa: F401  (registers detectors' filters: bitshuffle-LZ4, ...)

    path = pathlib.Path(path)
    if not path.is_file():
        raise ReconstructError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if "truncated" in str(e):
            raise ReconstructError(f"{path}: {why_unreadable(e)}") from None
        raise ReconstructError(f"{path}: not an HDF5 file (a CXI file is HDF5)") from None
    try:
        with f:
            return _read_scan(path, f)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:  # its structure
        raise ReconstructError(f"{path}: cannot be read: {why_unreadable(e)}") from None


def _read_scan(path: pathlib.Path, f) -> Scan:
    def dataset(name: str, required: bool = True):
        if name not in f:
            if not required:
                return None
            raise ReconstructError(f"{path}: not a CXI ptychography file: no {name}")
        node = f[name]
        if not hasattr(node, "dtype"):
            raise ReconstructError(f"{path}: {name} must be a dataset; it is a group")
        return node

    def read(name: str, kinds: str = "uif") -> np.ndarray:
        node = dataset(name)
        if node.dtype.kind not in kinds:
            raise ReconstructError(f"{path}: {name} must hold numbers; it holds {node.dtype}")
        try:
            return np.asarray(node[()])
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            raise ReconstructError(f"{path}: {name} cannot be read: {why_unreadable(e)}") from None

    def positive(name: str) -> float:
        value = read(name).astype(np.float64)
        if value.size != 1:
            raise ReconstructError(
                f"{path}: {name} must be one positive number; got shape {value.shape}"
            )
        if not np.isfinite(value).all() or not float(value.reshape(())) > 0:
            raise ReconstructError(
                f"{path}: {name} must be one positive number; got {float(value.reshape(()))}"
            )
        return float(value.reshape(()))

    data = dataset(f"{_DETECTOR}/data")
    if data.dtype.kind not in "uif":
        raise ReconstructError(
            f"{path}: {_DETECTOR}/data must hold counts (integers or floats); it holds {data.dtype}"
        )
    if data.ndim != 3:
        raise ReconstructError(
            f"{path}: {_DETECTOR}/data must be 3-D (frames, rows, columns); it has shape "
            f"{data.shape}"
        )
    if min(data.shape) < 1:
        raise ReconstructError(
            f"{path}: {_DETECTOR}/data is empty: shape {data.shape} (frames, rows, columns)"
        )
    n, rows, columns = data.shape
    translations = read(_TRANSLATION).astype(np.float64)
    if translations.ndim != 2 or translations.shape[1] not in (2, 3) or len(translations) != n:
        raise ReconstructError(
            f"{path}: {_TRANSLATION} must be ({n}, 3), one per frame; it has shape "
            f"{translations.shape}"
        )
    if translations.shape[1] == 2:
        translations = np.concatenate([translations, np.zeros((n, 1))], axis=1)
    if not np.isfinite(translations).all():
        raise ReconstructError(f"{path}: {_TRANSLATION} holds non-finite values")
    valid = np.ones((rows, columns), bool)
    if dataset(f"{_DETECTOR}/mask", required=False) is not None:
        valid = valid_pixels(
            read(f"{_DETECTOR}/mask", "biuf"), (rows, columns), f"{path}: {_DETECTOR}/mask"
        )
    distance = positive(f"{_DETECTOR}/distance")
    if dataset(f"{_SOURCE}/wavelength", required=False) is not None:
        wavelength = positive(f"{_SOURCE}/wavelength")
    elif dataset(f"{_SOURCE}/energy", required=False) is not None:
        wavelength = _PLANCK_C / positive(f"{_SOURCE}/energy")
    else:
        raise ReconstructError(
            f"{path}: not a CXI ptychography file: no {_SOURCE}/wavelength or energy"
        )
    if dataset(f"{_DETECTOR}/basis_vectors", required=False) is not None:
        basis = read(f"{_DETECTOR}/basis_vectors").astype(np.float64)
        if basis.shape != (3, 2):
            raise ReconstructError(
                f"{path}: {_DETECTOR}/basis_vectors must be (3, 2); got shape {basis.shape}"
            )
        check_basis(basis, f"{path}: {_DETECTOR}/basis_vectors")
    else:
        y = positive(f"{_DETECTOR}/y_pixel_size")
        x = positive(f"{_DETECTOR}/x_pixel_size")
        basis = np.array([[0.0, -x], [-y, 0.0], [0.0, 0.0]])
    return Scan(path, (n, rows, columns), translations, valid, wavelength, distance, basis)


def valid_pixels(mask: np.ndarray, shape: tuple[int, int], where: str) -> np.ndarray:
    """The pixels a detector mask (nonzero at bad pixels) leaves to fit, checked: of the
    frames' `shape`, and not every pixel bad."""
    if mask.shape != tuple(shape):
        raise ReconstructError(
            f"{where} must have the frames' shape {tuple(shape)}; it has {mask.shape}"
        )
    valid = mask == 0
    if not valid.any():
        raise ReconstructError(f"{where} marks every pixel bad (nonzero): nothing is left to fit")
    return valid


def check_basis(basis: np.ndarray, where: str) -> None:
    """Refuse detector basis vectors `(3, 2)` that are not finite or not of rank 2 (two steps
    along one line, or one of length 0: no pixel size follows from them)."""
    if not np.isfinite(basis).all():
        raise ReconstructError(f"{where} must be finite; got {basis.tolist()}")
    unit = basis / max(np.abs(basis).max(), np.finfo(np.float64).tiny)  # no overflow at 1e300
    steps = np.linalg.norm(unit, axis=0)
    singular = np.linalg.svd(unit, compute_uv=False)
    if not (steps > 0).all() or singular[-1] <= 1e-6 * singular[0]:
        raise ReconstructError(
            f"{where} must be of rank 2 (two independent steps, rows and columns); got "
            f"{basis.tolist()}"
        )


def why_unreadable(error: Exception) -> str:
    """What an HDF5 read failure means, in words (the library's own words where unknown)."""
    words = error.args[0] if isinstance(error, KeyError) and error.args else error  # no quotes
    text = " ".join(str(words).split())
    for clue, meaning in (
        ("filter", "damaged compressed chunk"),
        ("inflate", "damaged compressed chunk"),
        ("truncated", "the file is truncated (an interrupted transfer?)"),
        ("checksum", "damaged data (checksum mismatch)"),
        ("No such file", "the file has gone"),
    ):
        if clue in text:
            return meaning
    inner = text.rsplit("(", 1)[-1].rstrip(")") if "(" in text else text
    return inner or type(error).__name__


def write_cxi(path: str | os.PathLike, scan: Scan) -> None:
    """Write `scan` (its frames, mask, geometry and translations) as a CXI file."""
    import h5py

    with h5py.File(path, "w") as f:
        f["cxi_version"] = 160
        detector = f.create_group(_DETECTOR)
        detector.create_dataset(
            "data", data=scan.frames(), compression="gzip", chunks=(1, *scan.frames_shape[1:])
        )
        detector["mask"] = (~scan.valid).astype(np.uint32)
        detector["distance"] = scan.distance
        detector["basis_vectors"] = scan.basis
        detector["y_pixel_size"] = float(np.linalg.norm(scan.basis[:, 0]))
        detector["x_pixel_size"] = float(np.linalg.norm(scan.basis[:, 1]))
        f.create_group(_SOURCE)["wavelength"] = scan.wavelength
        f[_TRANSLATION] = scan.translations
