"""The `rsciio` reader: electron-microscopy files through RosettaSciIO, read by range."""

import importlib
import math
import pathlib
import struct
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

import numpy as np
from ptyrax_reconstruct import (
    Reader,
    ReconstructError,
    Scan,
    electron_wavelength,
    grid_translations,
    take,
)

from ._units import si

FORMATS = {
    ".mib": "QuantumDetector",
    ".dm3": "DigitalMicrograph",
    ".dm4": "DigitalMicrograph",
    ".emd": "EMD",
    ".xml": "EMPAD",
    ".blo": "Blockfile",
}
"""Name ending -> the RosettaSciIO format that reads it by default."""

MAGIC = {
    "QuantumDetector": (b"MQ1,", "a Merlin .mib file (its frame headers start with MQ1)"),
    "DigitalMicrograph": ((b"\0\0\0\3", b"\0\0\0\4"), "a DigitalMicrograph file (version 3 or 4)"),
    "EMD": (b"\x89HDF\r\n\x1a\n", "an EMD file (HDF5)"),
    "EMPAD": (b"<", "an EMPAD .xml file"),
    "Blockfile": (b"IMGBLO", "a blockfile (its header starts with IMGBLO)"),
}
"""Format -> the bytes its files start with (after white space), and what it is, in words."""

EXTRA = {
    "energy": ("root.iom_measurements.source.get_voltage", 1e-3),  # EMPAD: volts
    "angle": ("root.iom_measurements.calibrated_diffraction_angle", 1.0),  # EMPAD: rad
}
"""Metadata RosettaSciIO leaves in `original_metadata`: its path, and the factor to keV or
radians per pixel."""


class RsciioReader(Reader):
    """Electron-microscopy files through RosettaSciIO (`rsciio`, GPL-3.0): Merlin `.mib`
    (with its `.hdr`), Gatan `.dm3`/`.dm4`, Velox and NCEM `.emd`, EMPAD `.xml` (with its
    `.raw`) and blockfile `.blo`; another RosettaSciIO format by name (`format`).

    The frames are a signal of two signal axes and one navigation axis (a stack, `(N, rows,
    columns)`) or two (a 4D scan, `(scan rows, scan columns, rows, columns)`, frame
    `i * scan columns + j` at scan row `i`, column `j`), oriented as RosettaSciIO gives them
    (a Merlin frame's rows run bottom to top in the file: RosettaSciIO turns them over). They
    are read lazily (RosettaSciIO's dask arrays), by range of the first navigation axis: a
    process reads only its share.

    From the file's metadata, where it is there (else the config gives it: `[data]`'s
    `scan_step`, `electron_energy`, `distance`, `pixel_size`, ...):

    - the scan shape: a 4D scan's navigation axes;
    - the positions: a raster grid (`grid_translations`) of the navigation axes' steps in a
      length unit (nm, Å, um, ...);
    - the wavelength: the beam energy (kV; `electron_wavelength`);
    - the detector: far field in ptyrax is a distance and a pixel size, and the files give
      an angle or a spatial frequency per pixel instead. With a nominal distance of 1 m, an
      angle per pixel `theta` (mrad, rad) is a pixel size `theta * 1 m`, and a reciprocal
      sampling `dk` (1/nm, 1/Å: in 1/m) is `dk * wavelength * 1 m` (`theta = wavelength *
      dk`); the object's pixel is then `wavelength / (N theta) = 1 / (N dk)` (the engine's
      `angle_pixel` and `reciprocal_pixel` keys alike). A reciprocal sampling without a beam
      energy gives no pixel size (give `electron_energy` and `reciprocal_pixel`). A signal
      axis in a length unit (blockfile: cm) is the pixel size itself, with the distance
      from the config. A config that gives `distance` replaces the nominal 1 m: give
      `pixel_size` with it.

    Arguments (the config's `[data]` keys):
        signal: which signal of a file that holds several (Velox: one per detector): its
            index in the file or its title (None: the file's only stack or 4D scan).
        format: the RosettaSciIO format that reads the file (`"QuantumDetector"`, `"EMD"`,
            `"HSPY"`, ...; case-insensitive), for a name ending not in `FORMATS` (None: by
            the name ending).
    """

    registry_name: ClassVar[str] = "rsciio"
    suffixes: ClassVar[tuple[str, ...]] = tuple(FORMATS)

    def __init__(self, signal: int | str | None = None, format: str | None = None):
        if signal is not None and (
            isinstance(signal, bool) or not isinstance(signal, int | str) or signal == ""
        ):
            raise TypeError(f"signal must be an index (0, 1, ...) or a title; got {signal!r}")
        if isinstance(signal, int) and signal < 0:
            raise ValueError(f"signal must be an index (0, 1, ...) or a title; got {signal}")
        if format is not None:
            if not isinstance(format, str):
                raise TypeError(f"format must be a RosettaSciIO format's name; got {format!r}")
            _plugin(format)
        self.signal, self.format = signal, format

    def read(self, path: pathlib.Path) -> Scan:
        path = pathlib.Path(path)
        if not path.exists():
            raise ReconstructError(f"{path}: no such file")
        plugin = self._plugin(path)
        _check_kind(path, plugin["name"])
        signals = _load(path, plugin)
        index = self._choose(path, signals)
        frames, axes = _frames(path, signals[index])
        _take(path, frames, slice(0, 1))  # a missing or short data file (EMPAD's .raw): now
        title = _title(signals[index])
        nav, sig = axes[:-2], axes[-2:]
        energy = _energy(signals[index])
        wavelength = electron_wavelength(energy) if energy else None
        distance, basis = _detector(sig, wavelength, signals[index])
        scan_shape = (nav[0]["size"], nav[1]["size"]) if len(nav) == 2 else None
        steps = [si(a.get("scale"), a.get("units")) for a in nav]
        translations = None
        if scan_shape and all(s and s[0] == "length" for s in steps):
            translations = grid_translations(scan_shape, (steps[0][1], steps[1][1]))
        del signals, frames  # an .emd file read lazily stays open while its arrays live
        return Scan(
            path=path,
            frames_shape=(math.prod(a["size"] for a in nav), sig[0]["size"], sig[1]["size"]),
            translations=translations,
            valid=np.ones((sig[0]["size"], sig[1]["size"]), bool),
            wavelength=wavelength,
            distance=distance,
            basis=basis,
            source=lambda indices: self._read_frames(path, plugin, index, indices),
            locations=(
                f"signal {index}" + (f" ({title})" if title else ""),
                "its navigation axes' steps" if translations is not None else "scan grid",
            ),
            scan_shape=scan_shape,
        )

    def _plugin(self, path: pathlib.Path) -> dict:
        if self.format is not None:
            return _plugin(self.format)
        name = FORMATS.get(path.suffix.lower())
        if name is None:
            raise ReconstructError(
                f"config: data.format: RosettaSciIO's format for {path.name} is needed: its "
                f'name ending is none of {", ".join(FORMATS)} (data.format = "HSPY", ...)'
            )
        return _plugin(name)

    def _choose(self, path: pathlib.Path, signals: list[dict]) -> int:
        listing = "; ".join(
            f"{i}: {_title(s) or 'untitled'} {tuple(np.shape(s['data']))}"
            for i, s in enumerate(signals)
        )
        if self.signal is None:
            found = [i for i, s in enumerate(signals) if _frames_axes(s) is not None]
            if len(found) == 1:
                return found[0]
            if not found:
                raise ReconstructError(
                    f"{path}: no stack of frames or 4D scan (one or two navigation axes, two "
                    f"signal axes) in it; it holds {listing or 'no signal'}"
                )
            raise ReconstructError(
                f"config: data.signal: {path} holds {len(found)} stacks or 4D scans ({listing}): "
                "name one by index or title"
            )
        titles = [_title(s) for s in signals]
        if isinstance(self.signal, str):
            if titles.count(self.signal) != 1:
                what = "no" if self.signal not in titles else "more than one"
                raise ReconstructError(
                    f"config: data.signal: {path} has {what} signal titled {self.signal!r}; "
                    f"it holds {listing} (name one by index)"
                )
            index = titles.index(self.signal)
        elif self.signal >= len(signals):
            raise ReconstructError(
                f"config: data.signal: {path} has no signal {self.signal}; it holds {listing}"
            )
        else:
            index = self.signal
        if _frames_axes(signals[index]) is None:
            raise ReconstructError(
                f"config: data.signal: signal {index} of {path} is not a stack of frames or a "
                f"4D scan (one or two navigation axes, two signal axes); it holds {listing}"
            )
        return index

    def _read_frames(self, path: pathlib.Path, plugin: dict, index: int, indices) -> np.ndarray:
        signals = _load(path, plugin)
        if index >= len(signals):
            raise ReconstructError(f"{path}: signal {index} has gone (the file changed?)")
        return _take(path, _frames(path, signals[index])[0], indices)


def _plugin(name: str) -> dict:
    """RosettaSciIO's description of the format `name` (case-insensitive)."""
    from rsciio import IO_PLUGINS

    for plugin in IO_PLUGINS:
        if name.lower() in (n.lower() for n in (plugin["name"], *plugin["name_aliases"])):
            return plugin
    names = ", ".join(sorted(p["name"] for p in IO_PLUGINS))
    raise ValueError(f"format: RosettaSciIO has no format {name!r}; it has {names}")


def _check_kind(path: pathlib.Path, name: str) -> None:
    """Refuse a file that is not of the format `name`, by how such files start."""
    if name not in MAGIC:
        return
    start, what = MAGIC[name]
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip().removeprefix(b"\xef\xbb\xbf")  # UTF-8 byte order mark
    except OSError as e:
        raise ReconstructError(f"{path}: cannot be read: {_words(e)}") from None
    if not head.startswith(start):
        raise ReconstructError(f"{path}: not {what}")
    if name == "EMPAD":  # .xml: many kinds of file end so
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            raise ReconstructError(f"{path}: not {what}: {_words(e)}") from None
        if root.tag != "root" or root.find("raw_file") is None:
            raise ReconstructError(
                f"{path}: not {what}: its root element is <{root.tag}>, not <root> naming its "
                "<raw_file>"
            )


def _load(path: pathlib.Path, plugin: dict) -> list[dict]:
    """The file's signals as RosettaSciIO reads them, lazily: dictionaries of `data`,
    `axes`, `metadata`, `original_metadata` (and `mapping`)."""
    module = importlib.import_module(plugin["api"])
    try:
        signals = module.file_reader(str(path), lazy=True)
    except Exception as e:  # RosettaSciIO raises what its parsers meet: any kind
        short = " (the file ends early?)" if isinstance(e, struct.error | EOFError) else ""
        raise ReconstructError(
            f"{path}: cannot be read as {plugin['name']}: {_words(e)}{short}"
        ) from None
    return list(signals or [])


def _take(path: pathlib.Path, frames: Any, indices) -> np.ndarray:
    """The frames at `indices` of the lazy `frames`, reading only the range that holds them."""
    try:
        return take(frames, indices)
    except Exception as e:  # RosettaSciIO's and dask's errors: any kind
        raise ReconstructError(f"{path}: frames cannot be read: {_words(e)}") from None


def _frames_axes(signal: dict) -> list[dict] | None:
    """The signal's axes with their array index, navigation first, if it is a stack or a 4D
    scan of counts (one or two navigation axes, two signal axes), else None."""
    shape = np.shape(signal["data"])
    axes = [dict(a) for a in signal.get("axes", [])]
    if len(axes) != len(shape):
        return None
    for i, axis in enumerate(axes):
        axis.setdefault("index_in_array", i)
        axis.setdefault("navigate", i < len(axes) - 2)
        axis["size"] = shape[axis["index_in_array"]]
    nav = [a for a in axes if a["navigate"]]
    sig = [a for a in axes if not a["navigate"]]
    if len(sig) != 2 or len(nav) not in (1, 2):
        return None
    order = sorted(nav, key=lambda a: a["index_in_array"]) + sorted(
        sig, key=lambda a: a["index_in_array"]
    )
    return order


def _frames(path: pathlib.Path, signal: dict) -> tuple[Any, list[dict]]:
    """The signal's data with its navigation axes first (lazily), and its axes in that order."""
    axes = _frames_axes(signal)
    if axes is None:  # the file changed between reads
        raise ReconstructError(f"{path}: the signal is no longer a stack or 4D scan")
    data = signal["data"]
    if np.dtype(data.dtype).kind not in "uif":
        raise ReconstructError(
            f"{path}: the frames must hold counts (integers or floats); they hold {data.dtype}"
        )
    order = [a["index_in_array"] for a in axes]
    if order != sorted(order):
        data = data.transpose(order)
    return data, axes


def _detector(sig: list[dict], wavelength: float | None, signal: dict):
    """The distance (m) and the detector's basis vectors `(3, 2)` that the signal axes' steps
    give, or None for what they do not give."""
    steps = [si(a.get("scale"), a.get("units")) for a in sig]
    if not all(steps):  # EMPAD: an angle per pixel RosettaSciIO does not read
        angle = _lookup(signal.get("original_metadata", {}), EXTRA["angle"][0])
        steps = [si(angle, "rad")] * 2 if angle is not None else steps
    if not all(steps) or steps[0][0] != steps[1][0]:
        return None, None
    kind = steps[0][0]
    if kind == "reciprocal" and wavelength is None:
        return None, None
    factor = {"length": 1.0, "angle": 1.0, "reciprocal": wavelength}[kind]
    row, column = (abs(s[1]) * factor for s in steps)
    basis = np.array([[0.0, -column], [-row, 0.0], [0.0, 0.0]])
    return (None if kind == "length" else 1.0), basis


def _energy(signal: dict) -> float | None:
    """The beam energy (keV) the signal's metadata records, or None."""
    instrument = signal.get("metadata", {}).get("Acquisition_instrument", {})
    values = [instrument.get(m, {}).get("beam_energy") for m in ("TEM", "SEM")]
    original = signal.get("original_metadata", {})
    for source, (target, convert) in (signal.get("mapping") or {}).items():
        if target.endswith(".beam_energy"):
            value = _lookup(original, source)
            try:
                values.append(convert(value) if convert else value)
            except (TypeError, ValueError, AttributeError):
                continue
    path, factor = EXTRA["energy"]
    value = _lookup(original, path)
    values.append(None if value is None else float(value) * factor)
    for value in values:
        try:
            energy = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(energy) and energy > 0:
            return energy
    return None


def _lookup(tree: Any, path: str) -> Any:
    """The value at a dotted `path` of nested dictionaries, or None."""
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _title(signal: dict) -> str:
    return str(signal.get("metadata", {}).get("General", {}).get("title", "") or "")


def _words(error: Exception) -> str:
    """An exception in one line of at most 200 characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
