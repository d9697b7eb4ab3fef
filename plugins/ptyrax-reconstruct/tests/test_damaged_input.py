"""Damaged and edited input to `ptyrax reconstruct` (issue 23, item 5), property-based.

Whatever CXI file and config the command is given, it ends in one of three ways: one line
`ptyrax reconstruct: error: ...` and exit 2; the fit went non-finite: one such line, exit 3
and no metrics.json or reconstruction.h5; or exit 0 with a finite result. Never a traceback,
another exit status or an error of several lines. Hypothesis draws the damage: datasets
deleted, added or replaced (wrong shapes and dtypes, non-finite and absurd values, groups and
links where a dataset belongs), files truncated and bytes flipped (in the compressed chunks of
the data too), config keys deleted, added or given wrong values.

The base scan is a cut of the shipped PETRA III scan: 16 frames of 32 x 32 around the centre,
gzip-chunked, with its translations, distance, wavelength and basis. Every run that gets as
far as a fit compiles it (2-3 s), so the examples are bounded (a fixed, derandomized draw with
no example database): most end in the reader or the config check, in milliseconds.

`PTYRAX_FUZZ=K` in the environment draws K times the examples, at random (a new draw each
run): the long search a maintainer runs by hand, e.g. `PTYRAX_FUZZ=50 pytest THIS_FILE`.
"""

import copy
import datetime
import json
import math
import os
import pathlib
import re
import tempfile
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import (
    HealthCheck,
    currently_in_test_context,
    event,
    given,
    settings,
    strategies as st,
)
from ptyrax_reconstruct._config import COMPONENTS, SCHEMA
from ptyrax_reconstruct._errors import ReconstructWarning

from ptyrax_core.cli import main

DETECTOR = "entry_1/instrument_1/detector_1"
SOURCE = "entry_1/instrument_1/source_1"
TRANSLATION = "entry_1/sample_1/geometry_1/translation"
DATA = f"{DETECTOR}/data"
FRAMES, SIZE, CHUNKS = 16, 32, (4, 16, 16)
ERROR, WARNING = "ptyrax reconstruct: error: ", "ptyrax reconstruct: warning: "
DIVERGED = ERROR + "the fit went non-finite"

FUZZ = int(os.environ.get("PTYRAX_FUZZ", "0"))
"""0: the bounded, fixed draw of `tox run`; K > 0: K times the examples, at random."""
BOUNDED = settings(
    deadline=None,  # a run that gets to the fit compiles it
    derandomize=not FUZZ,  # `tox run` draws the same examples every time
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # capfd: read out after every example
        HealthCheck.filter_too_much,
    ],
)


# the base scan and config


@pytest.fixture(scope="module")
def base(shipped_scan, tmp_path_factory) -> pathlib.Path:
    """A cut of the shipped scan: its first 16 frames cropped to 32 x 32 around the centre,
    gzip chunks of (4, 16, 16) frames (16 chunks), every other dataset and link as shipped."""
    path = tmp_path_factory.mktemp("damaged-base") / "base.cxi"
    low = (100 - SIZE) // 2
    crop = (slice(low, low + SIZE), slice(low, low + SIZE))
    with h5py.File(shipped_scan, "r") as source, h5py.File(path, "w") as f:
        for name in ("cxi_version", "number_of_entries"):
            f[name] = source[name][()]
        detector = f.create_group(DETECTOR)
        detector.create_dataset(
            "data",
            data=source[DATA][:FRAMES][(slice(None), *crop)],
            chunks=CHUNKS,
            compression="gzip",
        )
        detector["mask"] = source[f"{DETECTOR}/mask"][crop]
        for name in ("distance", "x_pixel_size", "y_pixel_size", "basis_vectors"):
            detector[name] = source[f"{DETECTOR}/{name}"][()]
        for name in ("energy", "wavelength"):
            f[f"{SOURCE}/{name}"] = source[f"{SOURCE}/{name}"][()]
        f[TRANSLATION] = source[TRANSLATION][:FRAMES]
        links = f.create_group("entry_1/data_1")
        links["data"] = h5py.SoftLink(f"/{DATA}")
        links["translation"] = h5py.SoftLink(f"/{TRANSLATION}")
    return path


def base_config(cxi: pathlib.Path, epochs: int = 1) -> dict:
    """The config of a short run of the base scan: every component, near field with the
    shipped scan's focus (Fresnel scaling), one stage."""
    return {
        "data": {"file": str(cxi)},
        "geometry": {"propagation": "near_field", "focus_to_sample": 3.65e-3, "padding": 4},
        "model": {
            "probe_modes": 1,
            "object": {"type": "direct"},
            "probe": {"type": "direct"},
            "positions": {"type": "index_slice"},
            "weights": {"type": "index_slice"},
            "background": {"type": "non_negative"},
        },
        "loss": {"kind": "poisson"},
        "fit": {
            "seed": 0,
            "checkpoint_every": 0,
            "stages": [{"epochs": epochs, "learning_rate": 0.04, "batch_size": 8}],
        },
    }


def to_toml(table: dict, prefix: tuple = ()) -> str:
    """`table` as TOML: its plain keys, then each sub-table under its header (lists and tables
    inside lists inline)."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    text = "".join(line + "\n" for line in lines)
    for k, v in table.items():
        if isinstance(v, dict):
            name = ".".join(_key(p) for p in (*prefix, k))
            text += f"\n[{name}]\n" + to_toml(v, (*prefix, k))
    return text


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
        )
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


# the contract


def run_and_check(config: pathlib.Path, out: pathlib.Path, capfd) -> int:
    """Run `ptyrax reconstruct CONFIG --out OUT` in this process and check the contract; the
    exit status. Warnings Python would print (several lines each) count as stderr too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(
            ["reconstruct", str(config), "--out", str(out), "--quiet", "--device-memory", "1"]
        )
    err = capfd.readouterr().err
    if currently_in_test_context():  # --hypothesis-show-statistics: how the examples ended
        event(f"exit {status}")
    shown = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(
            w.category,
            (
                DeprecationWarning,
                PendingDeprecationWarning,
                ImportWarning,
                ResourceWarning,
                ReconstructWarning,
            ),
        )
    ]
    assert not shown, f"Python warnings on stderr (exit {status}): {shown}\n{err}"
    assert "Traceback" not in err, err
    lines = err.splitlines()
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith(ERROR), err
        return status
    lines = [line for line in lines if not line.startswith(WARNING)]
    if status == 3:
        assert len(lines) == 1 and lines[0].startswith(DIVERGED), err
        assert not (out / "metrics.json").exists() and not (out / "reconstruction.h5").exists()
        return status
    assert status == 0, f"exit status {status}: {err}"
    assert not lines, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["final_deviance"]), metrics["final_deviance"]
    assert metrics["epoch_loss"] and all(math.isfinite(x) for x in metrics["epoch_loss"])
    with h5py.File(out / "reconstruction.h5", "r") as f:
        numeric = []
        f.visititems(lambda name, node: numeric.append(name) if _numeric(node) else None)
        assert {"object", "probe", "translations"} <= set(numeric)
        for name in numeric:
            assert np.isfinite(f[name][()]).all(), f"reconstruction.h5: {name} is not finite"
    return status


def _numeric(node) -> bool:
    return isinstance(node, h5py.Dataset) and node.dtype.kind in "biufc"


def _folder(tmp_path_factory) -> tempfile.TemporaryDirectory:
    """A fresh folder for one example, removed after it."""
    return tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp())


def _write_config(folder: pathlib.Path, config: dict) -> pathlib.Path:
    path = folder / "config.toml"
    path.write_text(to_toml(config))
    return path


def test_the_base_scan_reconstructs_finite(base, tmp_path_factory, capfd):
    """The undamaged base scan and config: exit 0 and a finite result of every frame, so that
    what the edits below change is what makes a run fail."""
    with _folder(tmp_path_factory) as name:
        folder = pathlib.Path(name)
        config = _write_config(folder, base_config(base, epochs=2))
        assert run_and_check(config, folder / "out", capfd) == 0
        metrics = json.loads((folder / "out" / "metrics.json").read_text())
        assert metrics["frames"] == FRAMES and metrics["epochs"] == 2


# CXI edits: recipes (tuples, so a failing example prints as its reproducer) and how to apply
# them to an open file.

USED = {  # every path the reader uses, with what it holds
    DATA: "counts",
    f"{DETECTOR}/mask": "mask",
    f"{DETECTOR}/distance": "scalar",
    f"{DETECTOR}/x_pixel_size": "scalar",
    f"{DETECTOR}/y_pixel_size": "scalar",
    f"{DETECTOR}/basis_vectors": "basis",
    f"{SOURCE}/wavelength": "scalar",
    f"{SOURCE}/energy": "scalar",
    TRANSLATION: "translations",
}
GROUPS = [
    "entry_1",
    "entry_1/instrument_1",
    DETECTOR,
    SOURCE,
    "entry_1/sample_1",
    "entry_1/sample_1/geometry_1",
]
UNUSED = ["cxi_version", "number_of_entries", "entry_1/data_1", "entry_1/data_1/data"]
ABSURD = [0.0, -1.0, -0.0, math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-300, 1e-30, 1e30]
DTYPES = [
    "bytes",
    "str",
    "complex64",
    "bool",
    "int8",
    "uint8",
    "uint64",
    "float16",
    "compound",
    "enum",
    "vlen",
    "ref",
    "opaque",
]


@st.composite
def recipes(draw, kind: str) -> tuple:
    """A replacement for a dataset holding `kind` (see `USED`): a recipe `make` builds."""
    generic = [
        st.tuples(st.just("cast"), st.sampled_from(DTYPES)),
        st.tuples(st.just("fill"), st.sampled_from([*ABSURD, 2**31 - 1, 2**63 - 1, 2**64 - 1])),
        st.tuples(st.just("scale"), st.sampled_from([0.0, -1.0, 1e300, 1e-300, 1e6, -1e-6])),
        st.tuples(
            st.just("element"),
            st.integers(0, 10**6),
            st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 1e300, 1e30, 0.0]),
        ),
        st.tuples(st.just("shape"), st.lists(st.integers(0, 17), max_size=4).map(tuple)),
        st.tuples(st.just("rank"), st.integers(1, 3)),  # a scalar for an array, and back
        st.sampled_from([("group",), ("empty",), ("dangling",), ("external",)]),
        st.tuples(st.just("link"), st.sampled_from(sorted(USED))),
    ]
    special = {
        "counts": [
            st.tuples(st.just("frames"), st.sampled_from([0, 1, 15, 17])),
            st.tuples(st.just("crop"), st.integers(1, SIZE), st.integers(1, SIZE)),
            st.just(("empty frame",)),
        ],
        "mask": [st.sampled_from([("fill", 1.0), ("fill", 0.0), ("cast", "bool")])],
        "translations": [
            st.tuples(st.just("columns"), st.sampled_from([1, 2, 4])),
            st.sampled_from([("scale", 1e6), ("scale", 1e-300), ("transpose",)]),
        ],
        "basis": [st.sampled_from([("column", 0), ("column", 1), ("parallel",), ("transpose",)])],
        "scalar": [
            st.tuples(st.just("value"), st.sampled_from([*ABSURD, 2**63 - 1, 1, True])),
        ],
    }[kind]
    return draw(st.one_of(*special, *generic))


def make(recipe: tuple, base: np.ndarray | None, f: h5py.File, group: h5py.Group, name: str):
    """Write `recipe` (from `recipes`), applied to the dataset's base value `base` (None: a new
    dataset), as `group[name]`."""
    what, *args = recipe
    values = np.ones(3) * 1e-6 if base is None else np.asarray(base)
    floats = _floats(values)
    if what == "group":
        group.create_group(name)
    elif what == "empty":
        group.create_dataset(name, data=h5py.Empty("f8"))
    elif what == "dangling":
        group[name] = h5py.SoftLink("/nowhere/at/all")
    elif what == "external":
        group[name] = h5py.ExternalLink("missing.h5", "/data")
    elif what == "link":
        if args[0] in f and isinstance(f[args[0]], h5py.Dataset):
            group[name] = f[args[0]]  # a hard link: another dataset's values
        else:
            group[name] = h5py.SoftLink(f"/{args[0]}")
    elif what == "cast":
        group.create_dataset(name, data=_cast(values, args[0], f))
    elif what == "fill":
        value = args[0]
        dtype = (
            np.uint64
            if value == 2**64 - 1
            else np.float64
            if isinstance(value, float)
            else np.int64
        )
        group[name] = np.full(values.shape, value, dtype)
    elif what == "scale":
        group[name] = floats * args[0]
    elif what == "element":
        changed = floats.copy()
        if changed.size:
            changed.reshape(-1)[args[0] % changed.size] = args[1]
        group[name] = changed
    elif what == "shape":
        group[name] = np.resize(floats.reshape(-1), args[0]) if floats.size else np.zeros(args[0])
    elif what == "rank":
        if values.ndim == 0:
            group[name] = np.full((1,) * args[0], floats)
        else:
            group[name] = floats.reshape(-1)[0] if floats.size else 0.0
    elif what == "value":
        group[name] = args[0]
    elif what == "frames":
        group.create_dataset(name, data=np.resize(values, (args[0], *values.shape[1:])))
    elif what == "crop":
        group.create_dataset(name, data=values[:, : args[0], : args[1]], compression="gzip")
    elif what == "empty frame":
        changed = values.copy()
        changed[3] = 0
        group.create_dataset(name, data=changed, chunks=CHUNKS, compression="gzip")
    elif what == "columns":
        group[name] = np.resize(floats, (len(floats), args[0])) if floats.ndim == 2 else floats
    elif what == "transpose":
        group[name] = floats.T
    elif what == "column":
        changed = floats.copy()
        if changed.ndim == 2:
            changed[:, args[0]] = 0
        group[name] = changed
    elif what == "parallel":
        changed = floats.copy()
        if changed.ndim == 2:
            changed[:, 1] = 2 * changed[:, 0]
        group[name] = changed
    else:
        raise AssertionError(f"no recipe {recipe}")


def _floats(values: np.ndarray) -> np.ndarray:
    """`values` as float64 (an earlier edit's strings or records: ones a micrometre)."""
    try:
        return np.asarray(np.real(values), np.float64)
    except (TypeError, ValueError):
        return np.full(values.shape, 1e-6)


def _cast(values: np.ndarray, dtype: str, f: h5py.File) -> np.ndarray:
    shape, values = values.shape, _floats(values)
    if dtype == "bytes":
        return np.char.encode(values.astype(str), "ascii")
    if dtype == "str":
        return np.asarray(values.astype(str), dtype=h5py.string_dtype())
    if dtype == "compound":
        out = np.zeros(shape, [("value", "<f8"), ("flag", "<i4")])
        out["value"] = values
        return out
    if dtype == "enum":
        return np.asarray(values != 0, h5py.enum_dtype({"no": 0, "yes": 1}, basetype="i1"))
    if dtype == "vlen":
        out = np.empty(shape, h5py.vlen_dtype(np.float64))
        for index in np.ndindex(shape):
            out[index] = np.full(2, float(values[index]))
        return out
    if dtype == "ref":
        return np.full(shape, f.ref, h5py.ref_dtype)
    if dtype == "opaque":
        return np.zeros(shape, "V4")
    with np.errstate(all="ignore"):
        return values.astype(dtype)


HIDDEN = {  # the dataset read instead of others where present
    f"{SOURCE}/wavelength": [f"{SOURCE}/energy"],
    f"{DETECTOR}/basis_vectors": [f"{DETECTOR}/x_pixel_size", f"{DETECTOR}/y_pixel_size"],
}
LAYOUTS = [(), (f"{SOURCE}/wavelength",), (f"{DETECTOR}/basis_vectors",), tuple(HIDDEN)]
"""Datasets deleted first: none (the file as shipped), or those that hide others (the
wavelength the energy, the basis vectors the pixel sizes), so that edits of every path the
reader uses matter."""


@st.composite
def cxi_edits(draw) -> list[tuple]:
    """A layout (`LAYOUTS`), then one to three edits of the file: ("replace", path, recipe) and
    ("delete", path) of a path the reader uses (or a group, or an unused one), ("add", path,
    recipe) (a new dataset, or one in a new group) or ("attribute", path)."""
    deleted = draw(st.sampled_from(LAYOUTS))
    edits = [("delete", path) for path in deleted]
    hidden = {p for path, paths in HIDDEN.items() if path not in deleted for p in paths}
    read = sorted(set(USED) - set(deleted) - hidden)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace"] * 5 + ["delete"] * 2 + ["add", "attribute"]))
        if kind == "delete":
            edits.append(("delete", draw(st.sampled_from([*read, *GROUPS, *UNUSED]))))
        elif kind == "replace":
            path = draw(st.sampled_from(read))
            edits.append(("replace", path, draw(recipes(USED[path]))))
        elif kind == "add":
            where = draw(st.sampled_from([*GROUPS, "", "entry_2/instrument_1", DATA]))
            name = draw(st.sampled_from(["extra", "data_2", "Data", "translation ", "é"]))
            path = f"{where}/{name}".lstrip("/")
            edits.append(("add", path, draw(recipes("scalar"))))
        else:
            edits.append(("attribute", draw(st.sampled_from([*sorted(USED), *GROUPS]))))
    return edits


def apply_cxi_edit(f: h5py.File, edit: tuple) -> None:
    """Apply one edit of `cxi_edits` to the open file (an edit whose place an earlier edit
    removed or made a dataset is left out)."""
    kind, path, *rest = edit
    parent, _, name = path.rpartition("/")
    if kind == "attribute":
        if path in f:
            f[path].attrs["units"] = np.array([b"m", b"nonsense"])
            f[path].attrs["note"] = "extra"
        return
    if f.get(path, getlink=True) is None and kind != "add":
        return
    if parent and not isinstance(f.get(parent), h5py.Group):
        if kind != "add" or parent in f:
            return
    group = f.require_group(parent) if parent else f
    try:
        node = f.get(path)
    except (KeyError, RuntimeError):  # a link that loops or leads nowhere
        node = None
    base = node[()] if isinstance(node, h5py.Dataset) and node.shape is not None else None
    if f.get(path, getlink=True) is not None:
        del f[path]
    if kind in ("replace", "add"):
        make(rest[0], base, f, group, name)


def _edited_copy(base: pathlib.Path, folder: pathlib.Path, edits: list[tuple]) -> pathlib.Path:
    path = folder / "edited.cxi"
    path.write_bytes(base.read_bytes())
    with h5py.File(path, "r+") as f:
        for edit in edits:
            apply_cxi_edit(f, edit)
    return path


@settings(BOUNDED, max_examples=60 * max(FUZZ, 1))
@given(edits=cxi_edits())
def test_an_edited_cxi_file_is_one_line_and_exit_2_or_a_finite_result(
    base, tmp_path_factory, capfd, edits
):
    """Datasets of the base file deleted, added or replaced (wrong shapes and dtypes,
    non-finite and absurd values, scalars for arrays and back, groups, links): the contract."""
    with _folder(tmp_path_factory) as name:
        folder = pathlib.Path(name)
        cxi = _edited_copy(base, folder, edits)
        run_and_check(_write_config(folder, base_config(cxi)), folder / "out", capfd)


# damaged bytes


def _chunks(path: pathlib.Path) -> list[tuple[int, int]]:
    """(byte offset, size) of each compressed chunk of the data."""
    with h5py.File(path, "r") as f:
        data = f[DATA].id
        return [
            (data.get_chunk_info(i).byte_offset, data.get_chunk_info(i).size)
            for i in range(data.get_num_chunks())
        ]


@st.composite
def byte_flips(draw) -> list[tuple]:
    """One to four flips: ("chunk", chunk, fraction into it, xor), ("metadata", byte, xor)
    (the first 4 KiB: superblock, object headers, B-trees) or ("anywhere", fraction, xor)."""
    xor = st.integers(1, 255)
    flip = st.one_of(
        st.tuples(st.just("chunk"), st.integers(0, 15), st.floats(0, 1), xor),
        st.tuples(st.just("metadata"), st.integers(0, 4095), xor),
        st.tuples(st.just("anywhere"), st.floats(0, 1), xor),
    )
    return draw(st.lists(flip, min_size=1, max_size=4))


def flipped(data: bytes, chunks: list[tuple[int, int]], flips: list[tuple]) -> bytes:
    """`data` with the bytes `flips` names XORed."""
    out = bytearray(data)
    for kind, *where, xor in flips:
        if kind == "chunk":
            offset, size = chunks[where[0] % len(chunks)]
            at = offset + min(int(where[1] * size), size - 1)
        elif kind == "metadata":
            at = where[0] % len(out)
        else:
            at = min(int(where[0] * len(out)), len(out) - 1)
        out[at] ^= xor
    return bytes(out)


@settings(BOUNDED, max_examples=25 * max(FUZZ, 1))
@given(flips=byte_flips())
def test_a_cxi_file_with_flipped_bytes_is_one_line_and_exit_2_or_a_finite_result(
    base, tmp_path_factory, capfd, flips
):
    """Bytes of the base file flipped, in the data's compressed chunks, the metadata or
    anywhere: the contract."""
    with _folder(tmp_path_factory) as name:
        folder = pathlib.Path(name)
        cxi = folder / "flipped.cxi"
        cxi.write_bytes(flipped(base.read_bytes(), _chunks(base), flips))
        run_and_check(_write_config(folder, base_config(cxi)), folder / "out", capfd)


@settings(BOUNDED, max_examples=20 * max(FUZZ, 1))
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_a_truncated_cxi_file_is_one_line_naming_the_file_and_exit_2(
    base, tmp_path_factory, capfd, fraction
):
    """The base file cut at a drawn fraction of its size: exit 2, the one line names it."""
    with _folder(tmp_path_factory) as name:
        folder = pathlib.Path(name)
        cxi = folder / "truncated.cxi"
        data = base.read_bytes()
        cxi.write_bytes(data[: int(fraction * len(data))])
        assert run_and_check(_write_config(folder, base_config(cxi)), folder / "out", capfd) == 2


# config edits


def schema_paths() -> list[tuple]:
    """Every key the config schema knows, as a path into the config (`fit.stages[]` keys at
    stage 0 and 1), with the model components' `type`."""
    paths = []
    for table, keys in SCHEMA.items():
        for key in keys:
            if key == "*":  # any other key: the reader's or the penalty's own arguments
                continue
            if table == "":
                paths.append((key,))
            elif table == "fit.stages[]":
                paths += [("fit", "stages", i, key) for i in (0, 1)]
            elif table == "loss.penalties[]":
                paths.append(("loss", "penalties", 0, key))
            else:
                paths.append((*table.split("."), key))
    paths += [("model", c, "type") for c in COMPONENTS]
    return paths


WRONG = [
    math.nan,
    math.inf,
    -math.inf,
    0,
    0.0,
    -1,
    -0.5,
    1e300,
    1e-300,
    2**63 - 1,
    -(2**63),
    True,
    "",
    "text",
    [],
    [1, 2],
    {},
    {"x": 1},
    datetime.datetime(1979, 5, 27, 7, 32),
]
"""Values of the wrong type or out of range for some key (every key gets them all)."""

SMALL = {  # valid values by key (the last part of a path): short runs
    "file": st.sampled_from(["", ".", "config.toml", "missing.cxi", "a" * 300, "x\x00y"]),
    "propagation": st.sampled_from(["near_field", "far_field", "Near_Field"]),
    "focus_to_sample": st.floats(1e-3, 1e-2),
    "padding": st.integers(0, 8),
    "slices": st.integers(1, 2),
    "slice_spacing": st.floats(1e-7, 1e-5),
    "probe_modes": st.integers(1, 2),
    "kind": st.sampled_from(["poisson", "amplitude", "gauss"]),
    "seed": st.integers(0, 2**64),
    "checkpoint_every": st.integers(0, 3),
    "epochs": st.integers(1, 2),
    "learning_rate": st.floats(0, 0.1),
    "batch_size": st.integers(1, 40),
    "type": st.sampled_from(["direct", "phase_only", "non_negative", "index_slice", "no_such"]),
    "reader": st.sampled_from(["cxi", "no_such", "direct"]),
    "component": st.sampled_from(["object", "probe", "weights", "no_such"]),
    "on": st.sampled_from(["value", "phase", "imag", "angle"]),
    "weight": st.floats(0, 1),
    "penalties": st.sampled_from([[], [{}], [{"type": "no_such", "component": "object"}]]),
    "stages": st.sampled_from(
        [
            [],
            [{}],
            [{"epochs": 1}, {"epochs": 1, "learning_rate": 0.01, "batch_size": 16}],
            [1],
            [[{"epochs": 1}]],
        ]
    ),
}
for c in COMPONENTS:
    SMALL[c] = st.sampled_from([{}, {"type": "direct"}, {"type": "direct", "unknown": 1}])


TABLES = [(), ("data",), ("geometry",), ("model",), ("model", "object"), ("loss",), ("fit",)]
TABLES += [("fit", "stages", 0), ("fit", "rate_scale"), ("fit", "start_epoch")]
"""Where unknown keys are added."""


@st.composite
def config_edits(draw) -> list[tuple]:
    """One to three edits of the base config: ("delete", path), ("set", path, value) (a wrong
    value or a small valid one) or ("add", table path, unknown key, value)."""
    paths = schema_paths()
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "set", "set", "set", "add"]))
        path = draw(st.sampled_from(paths))
        if kind == "delete":
            edits.append(("delete", path))
        elif kind == "set":
            valid = SMALL.get(path[-1], st.floats(0, 2))
            wrong = st.sampled_from(WRONG)
            edits.append(("set", path, draw(st.one_of(wrong, wrong, valid))))
        else:
            table = draw(st.sampled_from(TABLES))
            key = draw(st.sampled_from(["sede", "extra", "Data", "a b", "", "é"]))
            edits.append(("add", (*table, key), draw(st.sampled_from([1, "x", 0.5]))))
    return edits


def apply_config_edit(config: dict, edit: tuple) -> None:
    """Apply one edit of `config_edits` (tables and stages on the way made where missing; an
    edit whose way an earlier edit made a value of another kind is left out)."""
    kind, path, *value = edit
    node = config
    for part in path[:-1]:
        if isinstance(node, dict) and isinstance(part, str):
            if part not in node:
                if kind == "delete":
                    return
                node[part] = [] if part in ("stages", "penalties") else {}
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                if kind == "delete":
                    return
                node.extend({} for _ in range(part + 1 - len(node)))
            node = node[part]
        else:
            return
    if not isinstance(node, dict):
        return
    if kind == "delete":
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value[0])


@st.composite
def text_damage(draw):
    """None, or damage to the config's text: ("truncate", fraction) or ("byte", fraction,
    byte) (one byte replaced: a NUL, a quote, invalid UTF-8, ...)."""
    return draw(
        st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.tuples(st.just("truncate"), st.floats(0, 1)),
            st.tuples(
                st.just("byte"), st.floats(0, 1), st.sampled_from([0, 0x22, 0x5B, 0xFF, 0x0A])
            ),
        )
    )


@settings(BOUNDED, max_examples=80 * max(FUZZ, 1))
@given(edits=config_edits(), damage=text_damage())
def test_an_edited_config_is_one_line_and_exit_2_or_a_finite_result(
    base, tmp_path_factory, capfd, edits, damage
):
    """Config keys deleted, added (unknown) or given wrong, non-finite, absurd or small valid
    values, for every key of the schema, and the TOML text cut or with a byte replaced: the
    contract."""
    config = base_config(base)
    for edit in edits:
        apply_config_edit(config, edit)
    with _folder(tmp_path_factory) as name:
        folder = pathlib.Path(name)
        text = to_toml(config).encode()
        if damage is not None and damage[0] == "truncate":
            text = text[: int(damage[1] * len(text))]
        elif damage is not None:
            at = min(int(damage[1] * len(text)), len(text) - 1)
            text = text[:at] + bytes([damage[2]]) + text[at + 1 :]
        path = folder / "config.toml"
        path.write_bytes(text)
        run_and_check(path, folder / "out", capfd)


# regressions from the issue: exact one-line messages


def _regression(base, tmp_path_factory, capfd, change, message: str) -> None:
    """The base file changed by `change(path)` gives exit 2 and the one line `message` (a
    format string of the file's path `{cxi}`) starts."""
    with _folder(tmp_path_factory) as name:
        folder = pathlib.Path(name)
        cxi = folder / "scan.cxi"
        cxi.write_bytes(base.read_bytes())
        change(cxi)
        config = _write_config(folder, base_config(cxi))
        assert main(["reconstruct", str(config), "--out", str(folder / "out"), "--quiet"]) == 2
        err = capfd.readouterr().err
        assert err.startswith(ERROR + message.format(cxi=cxi)), err
        assert err.count("\n") == 1 and "Traceback" not in err


def _replace(path: pathlib.Path, name: str, change) -> None:
    with h5py.File(path, "r+") as f:
        value = change(f[name][()])
        del f[name]
        f[name] = value


def test_a_damaged_compressed_chunk_names_the_frames_and_the_first_that_fails(
    base, tmp_path_factory, capfd
):
    """Bytes in the middle of the data's chunk at frame 4 damaged: the frames read, the first
    that fails and why."""
    with h5py.File(base, "r") as f:
        chunk = f[DATA].id.get_chunk_info_by_coord((4, 0, 0))
        offset, size = chunk.byte_offset, chunk.size

    def damage(path):
        data = bytearray(path.read_bytes())
        for at in range(offset + size // 2, offset + size // 2 + 8):
            data[at] ^= 0xFF
        path.write_bytes(bytes(data))

    _regression(
        base,
        tmp_path_factory,
        capfd,
        damage,
        "{cxi}: " + DATA + f": frames 0-{FRAMES - 1} cannot be read (frame 4 first): "
        "damaged compressed chunk\n",
    )


def test_a_nan_in_the_basis_vectors_is_named(base, tmp_path_factory, capfd):
    """A NaN among the detector basis vectors."""

    def nan(basis):
        basis = basis.astype(np.float64)
        basis[2, 1] = np.nan
        return basis

    _regression(
        base,
        tmp_path_factory,
        capfd,
        lambda p: _replace(p, f"{DETECTOR}/basis_vectors", nan),
        "{cxi}: " + DETECTOR + "/basis_vectors must be finite",
    )


def test_translations_a_million_times_too_large_do_not_overlap(base, tmp_path_factory, capfd):
    """Translations in micrometres where metres belong: the frames do not overlap."""
    _regression(
        base,
        tmp_path_factory,
        capfd,
        lambda p: _replace(p, TRANSLATION, lambda t: t.astype(np.float64) * 1e6),
        "{cxi}: " + TRANSLATION + ": neighbouring frames are ",
    )


def test_frames_all_zero_are_refused_as_empty(base, tmp_path_factory, capfd):
    """Every count zero: nothing to reconstruct."""
    _regression(
        base,
        tmp_path_factory,
        capfd,
        lambda p: _replace(p, DATA, np.zeros_like),
        "{cxi}: " + DATA + ": every frame is empty",
    )


def test_a_file_truncated_to_half_is_one_line_naming_it(base, tmp_path_factory, capfd):
    """A transfer cut at half the file."""
    _regression(
        base,
        tmp_path_factory,
        capfd,
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "{cxi}: the file is truncated",
    )
