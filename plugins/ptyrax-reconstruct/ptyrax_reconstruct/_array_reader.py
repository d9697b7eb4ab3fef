"""ArrayReader: readers of files that hold the frames as one array at a key.

A frame stack `(N, rows, columns)` or a 4D scan `(scan rows, scan columns, rows, columns)`;
the positions at another key (or from the config's scan grid), a mask at a third; the
calibration from the config. The subclasses (`hdf5`, `npy`, `tiff`, `zarr`, `mat`, `raw`)
differ only in how they open a file (`arrays`).
"""

import abc
import contextlib
import math
import pathlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from ._cxi import Scan, valid_pixels, why_unreadable
from ._errors import ReconstructError
from ._readers import Reader
from ._units import LENGTH_UNITS

UNITS = LENGTH_UNITS
"""Units of positions in a file (`translations_unit`), in metres."""


class ArrayReader(Reader):
    """A reader of frames held as one array at a key of a file: subclass it with
    `registry_name`, `suffixes`, a `format` (for messages) and `arrays(path)`, a context
    manager that gives the file's arrays by key, each with `shape`, `dtype` and slicing along
    its first axis that reads only that range.

    Arguments (the config's `[data]` keys):
        frames: the key of the frames, `(N, rows, columns)` or `(scan rows, scan columns,
            rows, columns)` (None: the file's only array of 3 or 4 dimensions).
        translations: the key of the sample positions, `(N, 2)` or `(N, 3)` (None: the
            config's scan grid, `scan_step`).
        translations_unit: their unit, one of `UNITS` or metres per unit (a number: the
            reconstruction's pixel size for positions in pixels).
        translations_order: `"xy"` (first column x, as in CXI) or `"yx"`.
        mask: the key of a `(rows, columns)` mask, nonzero at bad pixels.
    """

    format: ClassVar[str] = "array"
    frames_last: ClassVar[bool] = False  # MATLAB: frames (rows, columns, N)

    def __init__(
        self,
        frames: str | None = None,
        translations: str | None = None,
        translations_unit: str | float = "m",
        translations_order: str = "xy",
        mask: str | None = None,
    ):
        for name, value in (("frames", frames), ("translations", translations), ("mask", mask)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a key (a string); got {value!r}")
        if isinstance(translations_unit, str):
            if translations_unit not in UNITS:
                raise ValueError(
                    f"translations_unit must be one of {', '.join(UNITS)} or metres per unit; "
                    f"got {translations_unit!r}"
                )
            self.scale = UNITS[translations_unit]
        elif (
            isinstance(translations_unit, int | float)
            and not isinstance(translations_unit, bool)
            and math.isfinite(translations_unit)
            and translations_unit > 0
        ):
            self.scale = float(translations_unit)
        else:
            raise ValueError(
                f"translations_unit must be one of {', '.join(UNITS)} or a positive number of "
                f"metres per unit; got {translations_unit!r}"
            )
        if translations_order not in ("xy", "yx"):
            raise ValueError(f"translations_order must be 'xy' or 'yx'; got {translations_order!r}")
        self.frames, self.translations, self.mask = frames, translations, mask
        self.order = translations_order

    @abc.abstractmethod
    def arrays(self, path: pathlib.Path) -> contextlib.AbstractContextManager[Mapping[str, Any]]:
        """The file's arrays by key (a file of one array: the key `""`)."""

    def read(self, path: pathlib.Path) -> Scan:
        path = pathlib.Path(path)
        if not path.exists():
            raise ReconstructError(f"{path}: no such file")
        with self._open(path) as arrays:
            key = self._frames_key(path, arrays)
            frames = self._frames_array(arrays[key])
            shape = frames.shape
            if frames.dtype.kind not in "uif":
                raise ReconstructError(
                    f"{path}: {key or 'the array'} must hold counts (integers or floats); it "
                    f"holds {frames.dtype}"
                )
            if len(shape) not in (3, 4) or min(shape) < 1:
                raise ReconstructError(
                    f"{path}: {key or 'the array'} has shape {shape}: neither a frame stack "
                    f"(N, rows, columns) nor a 4D scan (scan rows, scan columns, rows, columns)"
                )
            n = math.prod(shape[:-2])
            translations = self._translations(path, arrays, n)
            valid = self._valid(path, arrays, shape[-2:])
        return Scan(
            path=path,
            frames_shape=(n, *shape[-2:]),
            translations=translations,
            valid=valid,
            wavelength=None,
            distance=None,
            basis=None,
            source=lambda indices: self._read_frames(path, key, indices),
            locations=(key or "frames", self.translations or "scan grid"),
            scan_shape=tuple(shape[:2]) if len(shape) == 4 else None,
        )

    @contextlib.contextmanager
    def _open(self, path: pathlib.Path) -> Iterator[Mapping[str, Any]]:
        try:
            with self.arrays(path) as arrays:
                yield arrays
        except ReconstructError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise ReconstructError(
                f"{path}: cannot be read as {self.format}: {why_unreadable(e)}"
            ) from None

    def _frames_array(self, array: Any) -> Any:
        if self.frames_last and len(array.shape) in (3, 4):
            return Permuted(array, (2, 0, 1) if len(array.shape) == 3 else (2, 3, 0, 1))
        return array

    def _frames_key(self, path: pathlib.Path, arrays: Mapping[str, Any]) -> str:
        if self.frames is not None:
            if self.frames not in arrays:
                raise ReconstructError(
                    f"config: data.frames: {path} has no {self.frames!r}; it holds "
                    f"{_listing(arrays)}"
                )
            return self.frames
        candidates = [k for k, a in arrays.items() if len(a.shape) in (3, 4)]
        if len(candidates) == 1:
            return candidates[0]
        what = "no array" if not candidates else f"{len(candidates)} arrays"
        raise ReconstructError(
            f"config: data.frames: {path} holds {what} of 3 or 4 dimensions "
            f"({_listing(arrays)}): name the frames' key with data.frames"
        )

    def _translations(self, path: pathlib.Path, arrays: Mapping[str, Any], n: int):
        if self.translations is None:
            return None
        if self.translations not in arrays:
            raise ReconstructError(
                f"config: data.translations: {path} has no {self.translations!r}; it holds "
                f"{_listing(arrays)}"
            )
        values = np.asarray(arrays[self.translations][:], np.float64)
        if values.ndim != 2 or values.shape[1] not in (2, 3) or len(values) != n:
            raise ReconstructError(
                f"{path}: {self.translations} must be ({n}, 2) or ({n}, 3), one position per "
                f"frame; it has shape {values.shape}"
            )
        if not np.isfinite(values).all():
            raise ReconstructError(f"{path}: {self.translations} holds non-finite values")
        if self.order == "yx":
            values[:, :2] = values[:, 1::-1]
        if values.shape[1] == 2:
            values = np.concatenate([values, np.zeros((n, 1))], axis=1)
        return values * self.scale

    def _valid(self, path: pathlib.Path, arrays: Mapping[str, Any], shape) -> np.ndarray:
        if self.mask is None:
            return np.ones(shape, bool)
        if self.mask not in arrays:
            raise ReconstructError(
                f"config: data.mask: {path} has no {self.mask!r}; it holds {_listing(arrays)}"
            )
        return valid_pixels(np.asarray(arrays[self.mask][:]), shape, f"{path}: {self.mask}")

    def _read_frames(self, path: pathlib.Path, key: str, indices) -> np.ndarray:
        try:
            with self.arrays(path) as arrays:
                return take(self._frames_array(arrays[key]), indices)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise ReconstructError(
                f"{path}: {key or 'frames'}: cannot be read: {why_unreadable(e)}"
            ) from None


def take(array: Any, indices: slice | np.ndarray) -> np.ndarray:
    """The frames at `indices` (of the `N` frames) of a stack `(N, rows, columns)` or a 4D
    scan `(scan rows, scan columns, rows, columns)`, frame `i * scan columns + j` at `(i, j)`;
    reads the range of `array`'s first axis that holds them.

    Example:
        >>> scan = np.arange(2 * 3 * 1 * 1).reshape(2, 3, 1, 1)
        >>> take(scan, np.array([4, 1])).ravel()
        array([4, 1])
    """
    shape = array.shape
    per = math.prod(shape[1:-2])  # frames per entry of the first axis
    numbers = np.arange(shape[0] * per)[indices]
    if numbers.size == 0:
        return np.zeros((0, *shape[-2:]), array.dtype)
    low, high = int(numbers.min()) // per, int(numbers.max()) // per + 1
    block = np.asarray(array[low:high]).reshape(-1, *shape[-2:])
    return block[numbers - low * per]


class Permuted:
    """`base.transpose(axes)` read lazily: slicing it reads only the slices of `base`."""

    def __init__(self, base: Any, axes: tuple[int, ...]):
        self.base, self.axes = base, tuple(axes)
        self.shape = tuple(base.shape[a] for a in self.axes)
        self.dtype = base.dtype

    def __getitem__(self, index: Any) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        index = index + (slice(None),) * (len(self.axes) - len(index))
        inner = [slice(None)] * len(self.axes)
        for axis, position in zip(self.axes, index, strict=True):
            inner[axis] = position
        return np.asarray(self.base[tuple(inner)]).transpose(self.axes)


def _listing(arrays: Mapping[str, Any], most: int = 12) -> str:
    """The arrays' keys and shapes, for messages."""
    items = [f"{k or '(the array)'} {tuple(a.shape)}" for k, a in arrays.items()]
    more = f", and {len(items) - most} more" if len(items) > most else ""
    return (", ".join(items[:most]) + more) if items else "no arrays"
