"""Rerun what the docs show, and rewrite the docs' pictures and numbers from those runs.

    python docs/figures.py              # the README's main job (about 20 s on 2 cores)
    python docs/figures.py --demo       # and `ptyrax demo`'s picture (about 20 s more)
    python docs/figures.py --electron   # and the electron page's pictures (needs sto.h5)

`tox run -e docs-figures` runs the first. The main job is `examples/petra-p25-near-field.toml`:
its `reconstruction.png` becomes `docs/images/petra-reconstruction.png`, its numbers
`docs/images/petra-reconstruction.json`, and the sentences about it in README.md and
docs/reconstruct.md, between the markers below, are written from that JSON
(tests/core/test_figures.py checks that they still agree).
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


BLOCKS = {"README.md": readme_block, "docs/reconstruct.md": reconstruct_block}
"""Each file that quotes the main job's run, and its block's text from the record."""


def block(text: str) -> str:
    """`text` between the markers, as the files hold it: lines of at most 95 characters."""
    lines = textwrap.wrap(text, 95, break_long_words=False, break_on_hyphens=False)
    return "\n".join([BEGIN, "", *lines, "", END])


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


def write_docs(record: dict) -> None:
    for name, render in BLOCKS.items():
        path = ROOT / name
        path.write_text(replace_block(path.read_text(), render(record), name))


def run_demo(out: pathlib.Path) -> None:
    """`ptyrax demo` with its defaults; its picture to docs/images."""
    ptyrax = shutil.which("ptyrax", path=os.path.dirname(sys.executable)) or "ptyrax"
    subprocess.run([ptyrax, "demo", "--out", str(out), "--quiet"], check=True)
    shutil.copyfile(out / "reconstruction.png", ROOT / DEMO)


def run_electron(out: pathlib.Path) -> None:
    """The electron example; its two pictures to docs/images."""
    from ptyrax_reconstruct import reconstruct

    if not (ROOT / ELECTRON_DATA).exists():
        raise SystemExit(
            f"{ELECTRON_DATA} is missing: make it first (abTEM): "
            f"python examples/electron/simulate.py --out {ELECTRON_DATA}"
        )
    result = reconstruct(ROOT / ELECTRON, out=out)
    for name, target in ELECTRON_PICTURES.items():
        shutil.copyfile(out / name, ROOT / target)
    print(f"electron: final reduced deviance {result.final_deviance:.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="also `ptyrax demo`'s picture")
    parser.add_argument("--electron", action="store_true", help="also the electron pictures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        record = run_main_job(tmp / "petra-p25")
        (ROOT / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        write_docs(record)
        print(f"{PICTURE}, {RECORD}, {', '.join(BLOCKS)}: {numbers(record)}")
        if args.demo:
            run_demo(tmp / "demo")
        if args.electron:
            run_electron(tmp / "electron")
    return 0


if __name__ == "__main__":
    sys.exit(main())
