"""Rerun what the docs show, and rewrite the docs' pictures and numbers from those runs.

    python docs/figures.py              # the README's main job (about 20 s on 2 cores)
    python docs/figures.py --demo       # and `ptyrax demo`'s picture (about 20 s more)
    python docs/figures.py --electron   # and the electron page's pictures and numbers

`tox run -e docs-figures` runs the first. The main job is `examples/petra-p25-near-field.toml`:
its `reconstruction.png` becomes `docs/images/petra-reconstruction.png`, its numbers
`docs/images/petra-reconstruction.json`, and the sentences about it in README.md and
docs/reconstruct.md, between the markers below, are written from that JSON. The electron
example (`ptyrax reconstruct examples/electron/sto.toml`, on `sto.h5`, which
`examples/electron/simulate.py` makes with abTEM) likewise: its two pictures, its numbers and
their scores against the file's truth `docs/images/electron-sto.json`, and docs/electron.md's
table from that. tests/core/test_figures.py checks that each block and picture still agrees
with its record.
"""

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CONFIG = "examples/petra-p25-near-field.toml"
PICTURE = "docs/images/petra-reconstruction.png"
RECORD = "docs/images/petra-reconstruction.json"
DEMO = "docs/images/demo-reconstruction.png"
ELECTRON = "examples/electron/sto.toml"
ELECTRON_DATA = "examples/electron/sto.h5"
ELECTRON_PICTURES = {
    "reconstruction.png": "docs/images/electron-sto-reconstruction.png",
    "reconstruction_slices.png": "docs/images/electron-sto-slices.png",
}
ELECTRON_RECORD = "docs/images/electron-sto.json"
COLUMN_RADIUS = 2  # pixels (0.39 A): a column's phase is the highest this near its site
BEGIN = "<!-- BEGIN figures: written by python docs/figures.py; do not edit -->"
END = "<!-- END figures -->"


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def steady_epochs(seconds: list[float], stage_epochs: list[int]) -> list[float]:
    """The epoch times without each stage's first epoch (the one that compiles).

    >>> steady_epochs([9.0, 1.0, 1.0, 8.0, 2.0], [3, 2])
    [1.0, 1.0, 2.0]
    """
    firsts, start = set(), 0
    for n in stage_epochs:
        firsts.add(start)
        start += n
    return [s for i, s in enumerate(seconds) if i not in firsts]


def run_main_job(out: pathlib.Path) -> dict:
    """Run the main job into `out`; its picture to docs/images, and its record."""
    import jax
    import numpy as np
    from ptyrax_reconstruct import reconstruct

    load = os.getloadavg()[0]  # other work on the machine slows the run
    start = time.perf_counter()
    result = reconstruct(ROOT / CONFIG, out=out)
    wall = time.perf_counter() - start
    shutil.copyfile(out / "reconstruction.png", ROOT / PICTURE)
    steady = steady_epochs(result.epoch_seconds, [s.epochs for s in result.config.stages])
    return {
        "command": "python docs/figures.py",
        "config": CONFIG,
        "final_deviance": result.final_deviance,
        "median_epoch_seconds": float(np.median(steady)),
        "wall_seconds": wall,
        "frames": len(result.positions),
        "epochs": len(result.epoch_seconds),
        "cpu_count": os.cpu_count(),
        "load_average_before": load,
        "platform": jax.devices()[0].platform,
        "device_kind": jax.devices()[0].device_kind,
        "jax_version": jax.__version__,
        "date": datetime.date.today().isoformat(),
        "picture": PICTURE,
        "picture_sha256": sha256(ROOT / PICTURE),
    }


def numbers(record: dict) -> str:
    """The run's numbers as the docs quote them."""
    on = (
        f"{record['cpu_count']} CPU cores"
        if record["platform"] == "cpu"
        else f"one {record['device_kind']} ({record['platform']})"
    )
    return (
        f"a final reduced Poisson deviance of {record['final_deviance']:.2f} over all "
        f"{record['frames']} frames, {record['median_epoch_seconds']:.3f} s an epoch (the median "
        f"of {record['epochs']}, each stage's first, which compiles, left out) and "
        f"{record['wall_seconds']:.1f} s in all (reading, compiling, fitting and writing; not "
        f"Python's and JAX's start-up), on {on} with jax {record['jax_version']}"
    )


def readme_block(record: dict) -> str:
    return (
        f"The run in the picture: {numbers(record)}. `tox run -e docs-figures` reruns it and "
        "rewrites the picture and these numbers (`docs/images/petra-reconstruction.json`)."
    )


def reconstruct_block(record: dict) -> str:
    return (
        f"The run in the picture above: {numbers(record)}. `tox run -e docs-figures` "
        "(`python docs/figures.py`) reruns it and rewrites the picture and these numbers "
        "(`docs/images/petra-reconstruction.json`)."
    )


def electron_block(record: dict) -> str:
    """docs/electron.md's table of the electron example's run."""
    on = (
        f"the {record['cpu_count']}-core CPU of these machines"
        if record["platform"] == "cpu"
        else f"one {record['device_kind']} ({record['platform']})"
    )
    c10, start, truth = record["c10"], record["c10_start"], record["c10_truth"]
    off = 100 * abs(c10 - truth) / abs(truth)
    v = record["vacancy"]
    rows = {
        "time": f"{record['median_epoch_seconds']:.2f} s an epoch (median, each stage's first, "
        f"which compiles, left out), {record['epochs']} epochs, "
        f"{record['command_seconds']:.0f} s for the command",
        "final reduced deviance": f"{record['final_deviance']:.2f} "
        f"({record['first_epoch_deviance']:.3g} after the first epoch)",
        "refined defocus": f"`C10 = {c10:.1f} Å`, from {start:g} Å "
        f"(truth {truth:g} Å: {off:.1f} % off)",
        "projected phase against the truth": f"{record['phase_error_rad']:.3f} rad RMS over "
        "the scanned area, after sub-pixel registration and removing a constant (the truth's "
        f"own RMS: {record['truth_rms_rad']:.2f} rad)",
        "the vacancy": f"{v['empty']:.2f} rad at the empty column against {v['median']:.2f} "
        f"rad (median; lowest {v['lowest']:.2f}) at the {v['others']} other Sr columns of the "
        f"scanned area; the truth: {v['truth_empty']:.2f} against {v['truth_median']:.2f}",
    }
    table = ["| | |", "| --- | --- |", *(f"| {k} | {text} |" for k, text in rows.items())]
    method = (
        "Both phases are band-limited to the detected angle, as benchmark k scores them, and a "
        f"column's phase is the highest within {v['radius_A']:.2f} Å of its site (the Sr "
        "lattice through the emptied column, within the probe centres' bounding box). "
        "`python docs/figures.py --electron` reruns the run once `sto.h5` is made (above) and "
        "rewrites the pictures, this table and its record, `docs/images/electron-sto.json`."
    )
    intro = f"On {on}, the run above (jax {record['jax_version']}) gives:"
    return "\n\n".join([intro, "\n".join(table), method])


BLOCKS = {
    "README.md": (RECORD, readme_block),
    "docs/reconstruct.md": (RECORD, reconstruct_block),
    "docs/electron.md": (ELECTRON_RECORD, electron_block),
}
"""Each file that quotes a run: the run's record, and the block's text from that record."""


def block(text: str) -> str:
    """`text` between the markers, as the files hold it: its paragraphs in lines of at most 95
    characters, a table (a paragraph of lines that start with `|`) as it is."""
    wrap = textwrap.TextWrapper(95, break_long_words=False, break_on_hyphens=False)
    paragraphs = [p if p.startswith("|") else wrap.fill(p) for p in text.split("\n\n")]
    return "\n".join([BEGIN, "", "\n\n".join(paragraphs), "", END])


def replace_block(document: str, text: str, name: str) -> str:
    """`document` with its one marked block's text replaced by `text`.

    >>> replace_block(f"a\\n{BEGIN}\\n\\nold\\n\\n{END}\\nb\\n", "new", "x.md")
    '...\\n\\nnew\\n\\n...\\nb\\n'
    """
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    found = len(pattern.findall(document))
    if found != 1:
        raise SystemExit(f"{name}: expected one block between {BEGIN!r} and {END!r}; found {found}")
    return pattern.sub(lambda _: block(text), document)


def write_docs(record: dict, source: str = RECORD) -> None:
    """Rewrite the block of every file that quotes the run whose record (`source`) this is."""
    for name, (quoted, render) in BLOCKS.items():
        if quoted == source:
            path = ROOT / name
            path.write_text(replace_block(path.read_text(), render(record), name))


def run_demo(out: pathlib.Path) -> None:
    """`ptyrax demo` with its defaults; its picture to docs/images."""
    ptyrax = shutil.which("ptyrax", path=os.path.dirname(sys.executable)) or "ptyrax"
    subprocess.run([ptyrax, "demo", "--out", str(out), "--quiet"], check=True)
    shutil.copyfile(out / "reconstruction.png", ROOT / DEMO)


def column_phases(phase, sites, radius: float) -> np.ndarray:
    """The highest value of `phase` within `radius` pixels of each `(row, column)` site.

    >>> column_phases(np.arange(25.0).reshape(5, 5), np.array([[2, 2], [0, 0]]), 1)
    array([17.,  5.])
    """
    rows, cols = np.indices(phase.shape)
    return np.array(
        [phase[np.hypot(rows - r, cols - c) <= radius].max() for r, c in np.asarray(sites)]
    )


def score_electron(phase: np.ndarray, corners: np.ndarray, data: pathlib.Path) -> dict:
    """The projected `phase` (object pixels; `corners`, each frame's window's top-left corner in
    them) against `data`'s truth: benchmark k's error (`benchmarks.electron.Truth`), the
    truth's own RMS over the same region, and the phase at the Sr columns: the emptied one
    (the file's `defect_px`) and the others of its lattice in the region."""
    import h5py

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.electron import Truth

    truth = Truth(data)
    error = truth.error(phase, corners)
    p, t, lo, offset = truth.aligned(phase, corners)  # the images error scores
    g = truth.phase.shape[0]
    with h5py.File(data) as f:
        defect = np.asarray(f.attrs["defect_px"], float)  # in the truth's pixels
        pixel = float(f.attrs["pixel_size_m"]) * 1e10
    period = _simulate().A_STO / pixel  # the Sr columns, a lattice constant apart
    n = int(np.ceil(g / period))
    lattice = defect + period * np.stack(np.meshgrid(range(n), range(n), indexing="ij"), -1)
    lattice = lattice.reshape(-1, 2)
    sites = (lattice - offset - lo) % g  # in the region's pixels
    inside = np.all(sites <= np.array(t.shape) - 1, axis=1)
    empty = np.all(np.isclose(lattice, defect), axis=1)[inside]
    assert empty.sum() == 1, "the emptied column is not in the scanned area"
    got, want = (column_phases(a, sites[inside], COLUMN_RADIUS) for a in (p, t))
    return {
        "phase_error_rad": error,
        "truth_rms_rad": float(t.std()),
        "vacancy": {
            "empty": float(got[empty][0]),
            "median": float(np.median(got[~empty])),
            "lowest": float(got[~empty].min()),
            "others": int((~empty).sum()),
            "truth_empty": float(want[empty][0]),
            "truth_median": float(np.median(want[~empty])),
            "truth_lowest": float(want[~empty].min()),
            "radius_px": COLUMN_RADIUS,
            "radius_A": COLUMN_RADIUS * pixel,
        },
    }


def _simulate():
    """examples/electron/simulate.py as a module (for its constants)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "simulate", ROOT / "examples/electron/simulate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_electron(out: pathlib.Path) -> dict:
    """`ptyrax reconstruct` on the electron example: its two pictures to docs/images, and its
    record: the run's numbers and their scores against the file's truth."""
    import h5py
    import jax
    from ptyrax_reconstruct import load_config

    data = ROOT / ELECTRON_DATA
    if not data.exists():
        raise SystemExit(
            f"{ELECTRON_DATA} is missing: make it first (abTEM): "
            f"python examples/electron/simulate.py --out {ELECTRON_DATA}"
        )
    ptyrax = shutil.which("ptyrax", path=os.path.dirname(sys.executable)) or "ptyrax"
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run([ptyrax, "reconstruct", str(ROOT / ELECTRON), "--out", str(out), "--quiet"],
                   check=True)  # fmt: skip
    wall = time.perf_counter() - start
    for name, target in ELECTRON_PICTURES.items():
        shutil.copyfile(out / name, ROOT / target)
    metrics = json.loads((out / "metrics.json").read_text())
    config = load_config(ROOT / ELECTRON)
    with h5py.File(out / "reconstruction.h5") as f:
        obj = f["object"][()]
        corners = f["positions_px"][()].astype(np.float64)
        c10 = float(f["coefficients/probe/C10"][()])
    with h5py.File(data) as f:
        c10_truth = float(f.attrs["C10_A"])
    phase = np.angle(obj).sum(0) if obj.ndim == 3 else np.angle(obj)
    steady = steady_epochs(metrics["epoch_seconds"], [s.epochs for s in config.stages])
    return {
        "command": "python docs/figures.py --electron",
        "run": f"ptyrax reconstruct {ELECTRON} --out DIR --quiet",
        "config": ELECTRON,
        "data": ELECTRON_DATA,
        "epochs": metrics["epochs"],
        "frames": metrics["frames"],
        "median_epoch_seconds": float(np.median(steady)),
        "command_seconds": wall,
        "final_deviance": metrics["final_deviance"],
        "first_epoch_deviance": metrics["epoch_deviance"][0],
        "c10": c10,
        "c10_start": float(config.model["probe"]["aberrations"]["C10"]),
        "c10_truth": c10_truth,
        **score_electron(phase, corners, data),
        "cpu_count": os.cpu_count(),
        "load_average_before": load,
        "platform": metrics["platform"],
        "device_kind": metrics["device_kind"],
        "jax_version": jax.__version__,
        "date": datetime.date.today().isoformat(),
        "pictures": {target: sha256(ROOT / target) for target in ELECTRON_PICTURES.values()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="also `ptyrax demo`'s picture")
    parser.add_argument("--electron", action="store_true", help="also the electron pictures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        record = run_main_job(tmp / "petra-p25")
        (ROOT / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        write_docs(record, RECORD)
        print(f"{PICTURE}, {RECORD}, README.md, docs/reconstruct.md: {numbers(record)}")
        if args.demo:
            run_demo(tmp / "demo")
        if args.electron:
            electron = run_electron(tmp / "electron")
            (ROOT / ELECTRON_RECORD).write_text(json.dumps(electron, indent=2) + "\n")
            write_docs(electron, ELECTRON_RECORD)
            print(f"{ELECTRON_RECORD}, docs/electron.md: " + electron_block(electron))
    return 0


if __name__ == "__main__":
    sys.exit(main())
