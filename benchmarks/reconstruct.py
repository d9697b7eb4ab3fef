"""f. Reconstruction of the measured PETRA III scan: ptyrax against cdtools, and the FFT floor.

Each side runs the example schedule in a process of its own, alternately (ptyrax, cdtools,
cdtools, ptyrax, ...): ptyrax as the README's main job (`ptyrax reconstruct` on
examples/petra-p25-near-field.toml), cdtools 0.3.2 as its own example for this dataset
(`benchmarks/_cdtools_peer.py`). Every pair gives a ratio of the median epoch times; the final
reduced deviance is computed the same way for both (all frames, fixed parameters). cdtools
runs where it is installed (`tox run -e bench-peer`, or a Python of its own named by
`PTYRAX_PEER_PYTHON`); elsewhere its rows say so.

The FFT floor: the FFTs an epoch needs, timed alone under jit: 200 frames of 100 x 100
complex64, six `fft2` + `ifft2` pairs per frame (shift, propagate, shift back, and their
gradients: what a model written the usual way needs), and three (what ptyrax's near-field
model needs: the probe's spectrum is computed once per batch and the shift back rides on the
transfer function).
"""

import importlib.util
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

from ._report import Row
from ._timing import Paired, format_ratio, median_seconds, ms

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "petra-p25-near-field.toml"
DATA = ROOT / "examples" / "data" / "PETRAIII_P25_Near_Field_Ptycho.cxi"
PEER_EPOCH = (0.38, 0.50)  # the figure for cdtools on this machine class, s
PEER_DEVIANCE = 5.41


def _config(folder: pathlib.Path, smoke: bool) -> pathlib.Path:
    """The example config; in a smoke run with a schedule of 3 + 2 epochs."""
    text = EXAMPLE.read_text().replace('file = "data/', f'file = "{DATA.parent}/')
    if smoke:
        text = re.sub(r"epochs = 100", "epochs = 3", text)
        text = re.sub(r"epochs = 50", "epochs = 2", text)
    path = folder / "config.toml"
    path.write_text(text)
    return path


def _ours(config: pathlib.Path, out: pathlib.Path) -> dict:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ptyrax_core.cli",
            "reconstruct",
            str(config),
            "--out",
            str(out),
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["wall_seconds"] = time.perf_counter() - start
    return metrics


def _peer_python() -> str | None:
    """The Python with cdtools: `$PTYRAX_PEER_PYTHON` (a virtual environment of its own), else
    this one where cdtools is installed here, else None."""
    if os.environ.get("PTYRAX_PEER_PYTHON"):
        return os.environ["PTYRAX_PEER_PYTHON"]
    return sys.executable if importlib.util.find_spec("cdtools") is not None else None


def _peer(python: str, out: pathlib.Path, smoke: bool) -> dict:
    epochs = ["--epochs-1", "3", "--epochs-2", "2"] if smoke else []
    subprocess.run(
        [
            python,
            str(ROOT / "benchmarks" / "_cdtools_peer.py"),
            "--data",
            str(DATA),
            "--out",
            str(out),
            "--threads",
            str(os.cpu_count() or 2),
            "--no-fft-reference",
            *epochs,
        ],
        check=True,
        capture_output=True,
    )
    return json.loads(out.read_text())


def _fft_floor(pairs_per_frame: int, frames: int = 200, repeats: int = 7) -> float:
    """Seconds for `pairs_per_frame` fft2 + ifft2 pairs on each of `frames` 100 x 100 frames."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    waves = jnp.asarray(
        np.random.default_rng(0).normal(size=(frames, 100, 100)) + 0j, jnp.complex64
    )

    @jax.jit
    def pairs(x):
        for _ in range(pairs_per_frame):
            x = jnp.fft.ifft2(jnp.fft.fft2(x) * 1.0001)
        return x

    return median_seconds(lambda: pairs(waves), repeats)


def _epoch(metrics: dict) -> float:
    """The median epoch time, without each stage's first epoch (which compiles)."""
    seconds, skip, first = metrics["epoch_seconds"], set(), 0
    for stage in metrics["settings"]["stages"]:
        skip.add(first)
        first += stage["epochs"]
    warm = [s for i, s in enumerate(seconds) if i not in skip]
    return statistics.median(warm or seconds)


def run(mode: str) -> list[Row]:
    smoke = mode == "smoke"
    pairs = 1 if smoke else 2
    peer = _peer_python()
    title = "f. measured scan (PETRA III, 200 frames)"
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        config = _config(folder, smoke)
        for i in range(pairs):
            order = ("ours", "peer") if i % 2 == 0 else ("peer", "ours")
            for side in order:
                if side == "ours":
                    ours.append(_ours(config, folder / f"ours-{i}"))
                elif peer is not None:
                    theirs.append(_peer(peer, folder / f"peer-{i}.json", smoke))
    floor6, floor3 = _fft_floor(6), _fft_floor(3)
    judged = not smoke
    epoch = statistics.median(_epoch(m) for m in ours)
    deviance = ours[-1]["final_deviance"]
    wall = max(m["wall_seconds"] for m in ours)
    rows = []
    if peer is not None:
        paired = Paired(
            tuple(_epoch(m) for m in ours),
            tuple(m["epoch_seconds_median_excl_first"] for m in theirs),
        )
        peer_deviance = theirs[-1]["final_deviance"]
        rows += [
            Row(
                title,
                "epoch time, example schedule (100 + 50 epochs), against cdtools 0.3.2",
                ms(paired.a_median),
                ms(paired.b_median),
                format_ratio(paired),
                "<= 0.333",
                paired.ratio <= 1 / 3 if judged else None,
                f"{pairs} pairs of whole runs, alternating; cdtools with torch "
                f"{theirs[-1]['torch_version']}, {theirs[-1]['threads']} threads",
            ),
            Row(
                title,
                "final reduced Poisson deviance (all frames, fixed parameters)",
                f"{deviance:.3f}",
                f"{peer_deviance:.3f}",
                f"{deviance - peer_deviance:+.3f}",
                f"<= {PEER_DEVIANCE}",
                deviance <= PEER_DEVIANCE if judged else None,
                "cdtools fits the amplitude loss (its default), ptyrax the Poisson one",
            ),
        ]
    else:
        rows += [
            Row(
                title,
                "epoch time, example schedule, against cdtools 0.3.2",
                ms(epoch),
                "not measured",
                "",
                "<= 0.333",
                None,
                "cdtools is not installed here: `tox run -e bench-peer` measures it "
                f"(the issue's figure: {PEER_EPOCH[0]}-{PEER_EPOCH[1]} s per epoch)",
            ),
            Row(
                title,
                "final reduced Poisson deviance (all frames, fixed parameters)",
                f"{deviance:.3f}",
                f"{PEER_DEVIANCE} (issue)",
                "",
                f"<= {PEER_DEVIANCE}",
                deviance <= PEER_DEVIANCE if judged else None,
                "",
            ),
        ]
    rows += [
        Row(
            title,
            "epoch time against the FFT floor (6 pairs per frame)",
            ms(epoch),
            ms(floor6),
            f"{epoch / floor6:.2f}x",
            "<= 2x",
            epoch / floor6 <= 2 if judged else None,
            f"3 pairs per frame, what ptyrax's model needs: {ms(floor3)}",
        ),
        Row(
            title,
            "README main job: `ptyrax reconstruct` on the example, whole process",
            f"{wall:.1f} s",
            "",
            "",
            "<= 60 s",
            wall <= 60 if judged else None,
            "start-up, reading, compiling, 150 epochs and the outputs",
        ),
    ]
    return rows
