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
        path: the CXI file the frames are read from, or None for frames held in memory.
        frames_shape: `(N, rows, columns)`.
        translations: sample translations, `(N, 3)` metres.
        valid: `(rows, columns)` bool, False at bad pixels (they never enter a loss).
        wavelength: metres.
        distance: sample to detector, metres.
        basis: `(3, 2)` detector basis vectors, metres per row and column step.
        counts: the frames as an array when they are in memory (else None): use `frames`.
    """

    path: pathlib.Path | None
    frames_shape: tuple[int, int, int]
    translations: np.ndarray
    valid: np.ndarray
    wavelength: float
    distance: float
    basis: np.ndarray
    counts: np.ndarray | None = None

    def frames(self, indices: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The frames at `indices` (a slice reads only those from the file), float32 counts,
        checked: finite and non-negative."""
        if self.counts is not None:
            data = np.asarray(self.counts[indices], np.float32)
        else:
            import h5py

            with h5py.File(self.path, "r") as f:
                dataset = f[f"{_DETECTOR}/data"]
                if isinstance(indices, np.ndarray):  # h5py wants strictly increasing indices
                    unique, inverse = np.unique(indices, return_inverse=True)
                    data = np.asarray(dataset[unique], np.float32)[inverse.reshape(-1)]
                else:
                    data = np.asarray(dataset[indices], np.float32)
        bad = ~np.isfinite(data) | (data < 0)
        if bad.any():
            frame = np.argwhere(bad)[0]
            number = np.arange(self.frames_shape[0])[indices][frame[0]]  # in the file
            raise ReconstructError(
                f"{self._where('data')}: counts must be finite and non-negative; frame "
                f"{int(number)} pixel {tuple(int(i) for i in frame[1:])}: {data[tuple(frame)]}"
            )
        return data

    def _where(self, name: str) -> str:
        return f"{self.path}: {_DETECTOR}/{name}" if self.path else name


def read_cxi(path: str | os.PathLike) -> Scan:
    """Open a CXI file: geometry, translations and mask now, frames when asked (`Scan.frames`).

    Raises:
        ReconstructError: the file is missing, not HDF5, lacks a path the scan needs (named),
            or holds data of the wrong shape.
    """
    import h5py

    path = pathlib.Path(path)
    if not path.is_file():
        raise ReconstructError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise ReconstructError(f"{path}: not an HDF5 file (a CXI file is HDF5)") from None
    with f:

        def need(name: str):
            if name not in f:
                raise ReconstructError(f"{path}: not a CXI ptychography file: no {name}")
            return f[name]

        data = need(f"{_DETECTOR}/data")
        if data.ndim != 3:
            raise ReconstructError(
                f"{path}: {_DETECTOR}/data must be 3-D (frames, rows, columns); it has shape "
                f"{data.shape}"
            )
        n, rows, columns = data.shape
        translations = np.asarray(need(_TRANSLATION), np.float64)
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
        if f"{_DETECTOR}/mask" in f:
            mask = np.asarray(f[f"{_DETECTOR}/mask"])
            if mask.shape != (rows, columns):
                raise ReconstructError(
                    f"{path}: {_DETECTOR}/mask must have the frames' shape {(rows, columns)}; "
                    f"it has {mask.shape}"
                )
            valid = mask == 0
        distance = _positive(path, need(f"{_DETECTOR}/distance"))
        if f"{_SOURCE}/wavelength" in f:
            wavelength = _positive(path, f[f"{_SOURCE}/wavelength"])
        elif f"{_SOURCE}/energy" in f:
            wavelength = _PLANCK_C / _positive(path, f[f"{_SOURCE}/energy"])
        else:
            raise ReconstructError(
                f"{path}: not a CXI ptychography file: no {_SOURCE}/wavelength or energy"
            )
        if f"{_DETECTOR}/basis_vectors" in f:
            basis = np.asarray(f[f"{_DETECTOR}/basis_vectors"], np.float64)
            if basis.shape != (3, 2) or np.linalg.matrix_rank(basis) != 2:
                raise ReconstructError(
                    f"{path}: {_DETECTOR}/basis_vectors must be (3, 2) of rank 2; got {basis.shape}"
                )
        else:
            y = _positive(path, need(f"{_DETECTOR}/y_pixel_size"))
            x = _positive(path, need(f"{_DETECTOR}/x_pixel_size"))
            basis = np.array([[0.0, -x], [-y, 0.0], [0.0, 0.0]])
    return Scan(path, (n, rows, columns), translations, valid, wavelength, distance, basis)


def _positive(path: pathlib.Path, dataset) -> float:
    value = np.asarray(dataset[()], np.float64)
    if value.size != 1 or not np.isfinite(value).all() or not float(value.reshape(())) > 0:
        raise ReconstructError(
            f"{path}: {dataset.name.lstrip('/')} must be one positive number; got {value}"
        )
    return float(value.reshape(()))


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
