"""What the config's `[data]` table gives or overrides of a scan, whatever its reader.

Files often lack the wavelength, the detector's distance and pixel size, or the positions (a
4D-STEM scan is a grid); a reader leaves what its file lacks as None and the config fills it,
or replaces what the file holds:

- `wavelength` (m), or `photon_energy` (keV, X-rays) or `electron_energy` (keV, the
  relativistic wavelength);
- `distance` (m, sample to detector) and `pixel_size` (m, one number or `[rows, columns]`),
  or, in the far field, the detector's sampling as microscopists give it: `angle_pixel`
  (mrad a pixel) or `reciprocal_pixel` (1/A a pixel), for a nominal distance of 1 m;
- `detector_transpose` and `detector_flip` (`"rows"`, `"columns"` or both): how the
  patterns lie on the detector relative to the scan, as the detector's basis vectors;
- `scan_step` (m, one number or `[rows, columns]`), `scan_shape` (`[rows, columns]`; a 4D
  scan's own by default) and `scan_rotation` (degrees): positions on a raster grid.
"""

import dataclasses
import math
from typing import Any

import numpy as np

from ._cxi import Scan, check_basis
from ._errors import ReconstructError
from ._units import LENGTH_UNITS

KEYS = (
    "wavelength",
    "photon_energy",
    "electron_energy",
    "distance",
    "pixel_size",
    "angle_pixel",
    "reciprocal_pixel",
    "detector_transpose",
    "detector_flip",
    "scan_step",
    "scan_shape",
    "scan_rotation",
)
"""The `[data]` keys the engine takes for every reader (a reader's own arguments are the rest)."""

_HC = 6.62607015e-34 * 299792458.0  # J m
_KEV = 1.602176634e-16  # J
_ELECTRON_REST = 510.99895  # keV


def photon_wavelength(energy: float) -> float:
    """The wavelength (m) of photons of `energy` keV.

    Example:
        >>> round(photon_wavelength(12.398) * 1e10, 4)  # about 1 A
        1.0
    """
    return _HC / (energy * _KEV)


def electron_wavelength(energy: float) -> float:
    """The relativistic wavelength (m) of electrons of kinetic `energy` keV.

    Example:
        >>> round(electron_wavelength(300.0) * 1e12, 4)  # 1.9687 pm at 300 kV
        1.9687
    """
    pc = math.sqrt(energy * (energy + 2 * _ELECTRON_REST)) * _KEV
    return _HC / pc


def grid_translations(
    shape: tuple[int, int], step: float | tuple[float, float], rotation: float = 0.0
) -> np.ndarray:
    """Sample translations `(rows * columns, 3)` (m) of a raster scan: frame
    `k = i * columns + j` at `(x, y) = (j * column_step, i * row_step)`, turned by `rotation`
    degrees (counter-clockwise, x towards y) about the first position; z is 0.

    Example:
        >>> grid_translations((2, 3), 1e-9)[:, :2] * 1e9
        array([[0., 0.],
               [1., 0.],
               [2., 0.],
               [0., 1.],
               [1., 1.],
               [2., 1.]])
    """
    row_step, column_step = (step, step) if np.ndim(step) == 0 else step
    i, j = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
    x, y = j * float(column_step), i * float(row_step)
    turn = math.radians(rotation)
    c, s = math.cos(turn), math.sin(turn)
    return np.stack([c * x - s * y, s * x + c * y, np.zeros_like(x)], axis=1)


MISSING = {
    "wavelength": "data.wavelength (m), data.photon_energy or data.electron_energy (keV)",
    "distance": "data.distance (m, sample to detector)",
    "basis": "data.pixel_size (m, the detector's pixel)",
    "translations": "data.scan_step (m; with data.scan_shape unless the frames are 4D)",
}
"""What to add to the config for each part of a scan its file lacks."""


LENGTHS = ("wavelength", "distance", "pixel_size", "scan_step")
"""The keys in the config's `length_unit` (the others say their unit: keV, mrad, 1/A)."""


def complete(
    scan: Scan, given: dict[str, Any], require: bool = True, length_unit: str = "m"
) -> Scan:
    """`scan` with what the config gives (the `KEYS` in `given`) in place of what its file
    holds, checked complete (with `require`; else what is lacking stays None).

    Raises:
        ReconstructError: a value of the wrong kind, a grid whose size is not the number of
            frames, or what the scan still lacks (naming the key to add).
    """
    where = f"{scan.path}" if scan.path else "the scan"
    given = _in_metres(given, LENGTH_UNITS[length_unit])
    changes: dict[str, Any] = {}
    energies = [k for k in ("wavelength", "photon_energy", "electron_energy") if k in given]
    if len(energies) > 1:
        raise ReconstructError(
            f"config: data.{energies[1]}: give one of data.{energies[0]} and data.{energies[1]}"
        )
    if "wavelength" in given:
        changes["wavelength"] = _positive(given["wavelength"], "wavelength")
    elif "photon_energy" in given:
        changes["wavelength"] = photon_wavelength(
            _positive(given["photon_energy"], "photon_energy")
        )
    elif "electron_energy" in given:
        energy = _positive(given["electron_energy"], "electron_energy")
        changes["wavelength"] = electron_wavelength(energy)
    samplings = [k for k in ("pixel_size", "angle_pixel", "reciprocal_pixel") if k in given]
    if len(samplings) > 1:
        raise ReconstructError(
            f"config: data.{samplings[1]}: give one of data.pixel_size (with data.distance), "
            "data.angle_pixel and data.reciprocal_pixel"
        )
    if samplings and samplings[0] != "pixel_size" and "distance" in given:
        raise ReconstructError(
            f"config: data.distance: data.{samplings[0]} gives the sampling for a nominal "
            "distance of 1 m; leave data.distance out"
        )
    if "distance" in given:
        changes["distance"] = _positive(given["distance"], "distance")
    if "pixel_size" in given:
        changes["basis"] = _basis(_pair(given["pixel_size"], "pixel_size"))
    elif "angle_pixel" in given:  # p / z with z = 1 m
        y, x = _pair(given["angle_pixel"], "angle_pixel", unit="mrad")
        changes["distance"], changes["basis"] = 1.0, _basis((y * 1e-3, x * 1e-3))
    elif "reciprocal_pixel" in given:  # p / (wavelength z) with z = 1 m
        y, x = _pair(given["reciprocal_pixel"], "reciprocal_pixel", unit="1/A")
        wavelength = changes.get("wavelength", scan.wavelength)
        if wavelength is None:
            raise ReconstructError(
                f"config: data.reciprocal_pixel needs the wavelength: give {MISSING['wavelength']}"
            )
        changes["distance"] = 1.0
        changes["basis"] = _basis((y * 1e10 * wavelength, x * 1e10 * wavelength))
    basis = changes.get("basis", scan.basis)
    if basis is not None:
        changes["basis"] = _oriented(np.asarray(basis, np.float64), given)
    grid = {k: given[k] for k in ("scan_shape", "scan_rotation") if k in given}
    if "scan_step" in given:
        changes["translations"] = _grid(scan, given["scan_step"], grid)
    elif grid:
        raise ReconstructError(
            f"config: data.{next(iter(grid))}: a scan grid needs data.scan_step (m, one number "
            "or [rows, columns])"
        )
    scan = dataclasses.replace(scan, **changes)
    for name, add in MISSING.items():
        if require and getattr(scan, name) is None:
            what = "positions" if name == "translations" else name.replace("basis", "pixel size")
            raise ReconstructError(f"config: {add} is needed: {where} gives no {what}")
    if scan.basis is not None:
        check_basis(np.asarray(scan.basis, np.float64), f"{where}: the detector's basis vectors")
    return scan


def _in_metres(given: dict[str, Any], scale: float) -> dict[str, Any]:
    """`given` with its `LENGTHS` (numbers or pairs; checked later) times `scale`."""
    if scale == 1.0:
        return given

    def times(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [times(v) for v in value]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return value * scale if number else value

    return {k: times(v) if k in LENGTHS else v for k, v in given.items()}


def _basis(pixel: tuple[float, float]) -> np.ndarray:
    """Detector basis vectors of a `(rows, columns)` pixel, as CXI's default."""
    y, x = pixel
    return np.array([[0.0, -x], [-y, 0.0], [0.0, 0.0]])


def _oriented(basis: np.ndarray, given: dict[str, Any]) -> np.ndarray:
    """`basis` for patterns stored transposed (rows along the lab's columns), then flipped."""
    transpose = given.get("detector_transpose", False)
    if not isinstance(transpose, bool):
        raise ReconstructError(
            f"config: data.detector_transpose must be true or false; got {transpose!r}"
        )
    flip = given.get("detector_flip", [])
    flips = [flip] if isinstance(flip, str) else flip
    if not isinstance(flips, list) or not set(flips) <= {"rows", "columns"}:
        raise ReconstructError(
            f'config: data.detector_flip must be "rows", "columns" or both in a list; got {flip!r}'
        )
    if transpose:
        basis = basis[:, ::-1]
    sign = np.array([-1.0 if "rows" in flips else 1.0, -1.0 if "columns" in flips else 1.0])
    return basis * sign


def _grid(scan: Scan, step: Any, given: dict[str, Any]) -> np.ndarray:
    n = scan.frames_shape[0]
    if "scan_shape" in given:
        shape = given["scan_shape"]
        if not (
            isinstance(shape, list | tuple)
            and len(shape) == 2
            and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in shape)
        ):
            raise ReconstructError(
                f"config: data.scan_shape must be [rows, columns], two positive integers; "
                f"got {shape!r}"
            )
    elif scan.scan_shape is not None:
        shape = scan.scan_shape
    else:
        raise ReconstructError(
            f"config: data.scan_shape is needed with data.scan_step: {scan.path} holds a "
            f"stack of {n} frames, not a 4D scan"
        )
    if shape[0] * shape[1] != n:
        raise ReconstructError(
            f"config: data.scan_shape: {list(shape)} makes {shape[0] * shape[1]} positions; "
            f"the file has {n} frames"
        )
    rotation = given.get("scan_rotation", 0.0)
    if isinstance(rotation, bool) or not isinstance(rotation, int | float):
        raise ReconstructError(f"config: data.scan_rotation must be degrees; got {rotation!r}")
    if not math.isfinite(rotation):
        raise ReconstructError(f"config: data.scan_rotation must be finite; got {rotation}")
    row, column = _pair(step, "scan_step", positive=False)
    return grid_translations(tuple(shape), (row, column), float(rotation))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReconstructError(f"config: data.{name} must be a finite number; got {value!r}")
    return float(value)


def _positive(value: Any, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise ReconstructError(f"config: data.{name} must be positive; got {value!r}")
    return number


def _pair(value: Any, name: str, positive: bool = True, unit: str = "m") -> tuple[float, float]:
    """One number or `[rows, columns]`, each positive (or, for steps, non-zero)."""
    values = value if isinstance(value, list | tuple) else [value, value]
    if len(values) != 2:
        raise ReconstructError(
            f"config: data.{name} must be one number or [rows, columns]; got {value!r}"
        )
    numbers = tuple(_number(v, name) for v in values)
    if any(v <= 0 if positive else v == 0 for v in numbers):
        kind = "positive" if positive else "non-zero"
        raise ReconstructError(f"config: data.{name} must be {kind} ({unit}); got {value!r}")
    return numbers
