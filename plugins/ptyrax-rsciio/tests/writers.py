"""Small files of each format, written by the format's layout (RosettaSciIO writes only
blockfiles of these): what the tests read back."""

import datetime
import json
import pathlib
import struct
import xml.etree.ElementTree as ET

import h5py
import numpy as np


def write_mib(path: pathlib.Path, scan: np.ndarray, hdr: bool = True) -> pathlib.Path:
    """A Merlin `.mib` file of `scan` `(scan rows, scan columns, rows, columns)` uint16, each
    frame a 384-byte header and its counts as big-endian U16, rows in the file's order; with
    `hdr`, the acquisition's `.hdr` beside it (frames in all, frames per trigger: a line).
    The frames' time stamps jump at each line's start (the fly-back), as a line trigger's do.
    """
    rows, columns, height, width = scan.shape
    start = datetime.datetime(2020, 5, 18, 11, 23, 10)
    with open(path, "wb") as f:
        for k, frame in enumerate(scan.reshape(-1, height, width)):
            i, j = divmod(k, columns)
            stamp = start + datetime.timedelta(milliseconds=10 * i * columns + j + 5 * i)
            fields = ["MQ1", f"{k + 1:06d}", "00384", "01", f"{width:04d}", f"{height:04d}"]
            fields += ["U16", "   1x1", "01", stamp.strftime("%Y-%m-%d %H:%M:%S.%f")]
            fields += ["0.001000", "0", "0", "0", "1.200000E+2", "5.110000E+2", "3RX", "MQ1A"]
            fields += [stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z", "1000000ns", "12", ""]
            header = ",".join(fields).encode()
            f.write(header.ljust(384, b"\0"))
            f.write(frame.astype(">u2").tobytes())
    if hdr:
        lines = [
            "HDR,\t",
            "Time and Date Stamp (day, mnth, yr, hr, min, s):\t18/05/2020 11:23:10",
            "Chip ID:\tW529_F5,-,-,-",
            f"Frames in Acquisition (Number):\t{rows * columns}",
            f"Frames per Trigger (Number):\t{columns}",
            "End\t",
        ]
        path.with_suffix(".hdr").write_text("\n".join(lines) + "\n")
    return path


def write_dm(
    path: pathlib.Path,
    data: np.ndarray,
    calibrations: list[tuple[float, str]],
    voltage: float | None = None,
    version: int = 4,
) -> pathlib.Path:
    """A DigitalMicrograph file (`version` 3 or 4) of one image, `data` in C order (a 4D
    scan: `(scan rows, scan columns, rows, columns)`), its dimensions' `(scale, units)` in
    DM's order (the fastest first: columns, rows, scan columns, scan rows) and the
    microscope's `voltage` (V) in `ImageTags/Microscope Info/Voltage`.

    The tag tree as DM writes it: a header (version, size, byte order), then tag groups
    (20) and tags (21, `%%%%`, an info array of types and lengths, then the value) in the
    file's byte order (little endian here); DM4's lengths and counts are 8 bytes, DM3's 4;
    DM4 gives each tag's length after its name. Strings are arrays of 2-byte characters.
    """
    types = {np.uint16: (10, 4), np.float32: (2, 6), np.int32: (7, 3), np.uint8: (6, 10)}
    image_type, element = types[data.dtype.type]
    dimensions = [
        ("", [("Origin", ("d", 0.0)), ("Scale", ("d", scale)), ("Units", ("s", units))])
        for scale, units in calibrations
    ]
    brightness = [("Origin", ("d", 0.0)), ("Scale", ("d", 1.0)), ("Units", ("s", "counts"))]
    image = [
        (
            "ImageData",
            [
                ("Calibrations", [("Brightness", brightness), ("Dimension", dimensions)]),
                ("Data", ("a", data, element)),
                ("DataType", ("l", image_type)),
                ("Dimensions", [("", ("L", n)) for n in data.shape[::-1]]),
                ("PixelDepth", ("l", data.itemsize)),
            ],
        ),
        ("ImageTags", [("Microscope Info", [("Voltage", ("d", voltage))] if voltage else [])]),
        ("Name", ("s", "4D scan")),
    ]
    root = [("ImageList", [("", image)]), ("Name", ("s", path.name))]
    body = _group(root, version)
    size = ">Q" if version == 4 else ">I"
    end = b"\0" * (8 if version == 4 else 4)
    path.write_bytes(struct.pack(">I", version) + struct.pack(size, len(body)) + b"\0\0\0\1")
    with open(path, "ab") as f:
        f.write(body + end)
    return path


def _count(n: int, version: int) -> bytes:
    return struct.pack(">Q" if version == 4 else ">I", n)


def _group(entries: list, version: int) -> bytes:
    body = b"\0\1" + _count(len(entries), version)  # not sorted, open
    return body + b"".join(_tag(name, value, version) for name, value in entries)


def _tag(name: str, value, version: int) -> bytes:
    if isinstance(value, list):
        kind, body = 20, _group(value, version)
    else:
        kind, body = 21, b"%%%%" + _value(value, version)
    head = struct.pack(">bH", kind, len(name)) + name.encode()
    return head + (_count(len(body), version) if version == 4 else b"") + body


def _value(value: tuple, version: int) -> bytes:
    """A tag's info array (big endian) and its data (little endian)."""
    code, *rest = value
    if code in "dlL":  # double, long, unsigned long
        types = {"d": (7, "<d"), "l": (3, "<i"), "L": (5, "<I")}[code]
        info = [types[0]]
        data = struct.pack(types[1], rest[0])
    elif code == "s":  # a string: an array of 2-byte characters
        info = [20, 4, len(rest[0])]
        data = np.array([ord(c) for c in rest[0]], "<u2").tobytes()
    else:  # "a": an image's data, an array of simple type
        array, element = rest
        info = [20, element, array.size]
        data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return _count(len(info), version) + b"".join(_count(i, version) for i in info) + data


def write_empad(
    path: pathlib.Path,
    scan: np.ndarray,
    field_of_view: float | None = None,
    calibrated_pixelsize: float | None = None,
    voltage: float | None = None,
) -> pathlib.Path:
    """An EMPAD acquisition: `path` (`.xml`) naming its `.raw` beside it, `scan` `(scan
    rows, scan columns, 128, 128)` float32, each frame followed by the detector's two rows
    of metadata; the scan's size in `pix_x`/`pix_y`, its field of view (m, square) and the
    detector's sampling (`calibrated_pixelsize`) and voltage (V) in `iom_measurements`."""
    rows, columns = scan.shape[:2]
    raw = path.with_suffix(".raw")
    footer = np.full((rows, columns, 2, 128), 7.0, np.float32)
    np.concatenate([scan.astype("<f4"), footer], axis=2).tofile(raw)
    root = ET.Element("root")
    ET.SubElement(root, "raw_file", filename=raw.name)
    ET.SubElement(root, "pix_x").text = str(columns)
    ET.SubElement(root, "pix_y").text = str(rows)
    measurements = ET.SubElement(root, "iom_measurements")
    if field_of_view is not None:
        fov = ET.SubElement(measurements, "optics.get_full_scan_field_of_view")
        fov.text = f"[{field_of_view!r}, {field_of_view!r}]"
    if calibrated_pixelsize is not None:
        ET.SubElement(measurements, "calibrated_pixelsize").text = repr(calibrated_pixelsize)
    if voltage is not None:
        ET.SubElement(measurements, "source.get_voltage").text = repr(voltage)
    ET.ElementTree(root).write(path)
    return path


def write_velox(
    path: pathlib.Path,
    stacks: dict[str, np.ndarray],
    pixel: tuple[float, str] = (2e8, "1/m"),
    voltage: float = 300e3,
) -> pathlib.Path:
    """A Velox `.emd` file (HDF5): `Version` (JSON, format Velox), and under `Data/Image/`
    one group per detector of `stacks` (name -> frames `(N, rows, columns)`), each with its
    `Data` `(rows, columns, N)`, one frame a chunk, and its `Metadata` (JSON in a column of
    bytes: the pixel size and its unit, the detector, the frame time, the acceleration
    voltage in V)."""
    with h5py.File(path, "w") as f:
        version = json.dumps({"format": "Velox", "version": "11"}).encode()
        f.create_dataset("Version", data=np.array([version]))
        for number, frames in enumerate(stacks.values()):
            group = f.create_group(f"Data/Image/{number:032x}")
            rows, columns = frames.shape[1:]
            group.create_dataset("Data", data=np.moveaxis(frames, 0, -1), chunks=(rows, columns, 1))
            metadata = {
                "Acquisition": {"AcquisitionStartDatetime": {"DateTime": "1590000000"}},
                "BinaryResult": {
                    "PixelSize": {"width": repr(pixel[0]), "height": repr(pixel[0])},
                    "PixelUnitX": pixel[1],
                    "PixelUnitY": pixel[1],
                    "Offset": {"x": "0", "y": "0"},
                    "DetectorIndex": str(number),
                },
                "Detectors": {f"Detector-{i}": {"DetectorName": n} for i, n in enumerate(stacks)},
                "Optics": {"AccelerationVoltage": repr(voltage)},
                "Scan": {"FrameTime": "0.01"},
            }
            text = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
            group.create_dataset("Metadata", data=text.reshape(-1, 1))
    return path


def write_blockfile(
    path: pathlib.Path,
    scan: np.ndarray,
    step_nm: float,
    pixel_cm: float,
    voltage: float,
) -> pathlib.Path:
    """A blockfile written by RosettaSciIO's own writer: `scan` `(scan rows, scan columns,
    rows, columns)` uint8, the scan step (nm), the diffraction pixel (cm) and the beam energy
    (V) in its header."""
    from rsciio.blockfile import file_writer

    nav = [{"size": n, "scale": step_nm, "units": "nm", "navigate": True} for n in scan.shape[:2]]
    sig = [{"size": n, "scale": pixel_cm, "units": "cm", "navigate": False} for n in scan.shape[2:]]
    signal = {
        "data": scan.astype(np.uint8),
        "axes": [{**a, "name": n, "offset": 0.0} for a, n in zip(nav + sig, "yxvu", strict=True)],
        "metadata": {},
        "original_metadata": {"blockfile_header": {"Beam_energy": int(voltage), "Note": ""}},
        "attributes": {"_lazy": False},
    }
    file_writer(str(path), signal, show_progressbar=False)
    return path
