"""i. Many devices and processes: `ptyrax reconstruct` on 1, 2, 4 and 8 devices, and over 1, 2
and 4 processes.

Each run is a whole `ptyrax reconstruct` process (host devices by `--devices`), on the
measured PETRA III scan or on a larger one made by repeating its frames; the runs of a table
alternate in rounds, and each gives the median of its epochs' times (`metrics.json`).

- Strong scaling: the 200 frames, batches of 40, on D = 1, 2, 4, 8 devices: speed-up
  `t(1) / t(D)`. Each host device computes on one core, as each GPU of a node computes on its
  own: a run of D devices is held to D of the machine's cores (`sched_setaffinity`; XLA's
  CPU client otherwise runs independent operations of one device on every core, so one
  device would have the whole machine), with `--xla_cpu_multi_thread_eigen=false`.
- Weak scaling: 200 D frames, batches of 10 D (the same work per device), on D devices: the
  epoch time `t(D)`, ideally constant; the target is that `t(2) / t(1)` stays within 1.3 (on
  2 cores, 2 devices is as far as the machine can run devices side by side), judged on the
  median of the ratios of 11 pairs of runs next to each other (1 then 2 devices, then 2 then
  1, ...): on a shared 2-vCPU machine one run's epochs can take 1.5x another's an hour apart,
  and five pairs left the median at the mercy of one. Beside it, the machine's own floor: two
  independent 1-device runs side by side, one core each, no communication at all, against
  one alone.
- Memory: a scan of 4000 frames (160 MB of counts) over P = 1, 2, 4 processes of one device
  each (`jax.distributed`, gloo collectives on 127.0.0.1): the peak resident memory of every
  process (`metrics.json`), which falls as each reads only its share of the frames.
"""

import dataclasses
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from ptyrax_reconstruct import read_cxi, write_cxi

from ._report import Row
from ._timing import ms
from .reconstruct import DATA, EXAMPLE

TITLE = "i. devices and processes"
DEVICES = {"full": (1, 2, 4, 8), "smoke": (1, 2)}
PROCESSES = {"full": (1, 2, 4), "smoke": (1, 2)}
ROUNDS = {"full": 5, "smoke": 1}
PAIRS = {"full": 11, "smoke": 1}  # judged weak-scaling pairs
EPOCHS = {"full": 6, "smoke": 2}
BIG = {"full": 4000, "smoke": 400}  # frames of the memory benchmark's scan
WEAK_TARGET = 1.3
SINGLE_CORE = "--xla_cpu_multi_thread_eigen=false"
# The CLI held to some cores before JAX starts its threads (which inherit the affinity).
_PINNED = (
    "import os, sys; os.sched_setaffinity(0, {cores}); "
    "from ptyrax_core.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _config(folder: pathlib.Path, data: pathlib.Path, epochs: int, batch: int) -> pathlib.Path:
    text = EXAMPLE.read_text().split("[[fit.stages]]")[0]
    text = text.replace('file = "data/PETRAIII_P25_Near_Field_Ptycho.cxi"', f'file = "{data}"')
    text = re.sub(r"(?m)^checkpoint_every = .*$", "checkpoint_every = 0", text)
    text += f"\n[[fit.stages]]\nepochs = {epochs}\nlearning_rate = 0.04\nbatch_size = {batch}\n"
    path = folder / f"config-{data.stem}-{batch}.toml"
    path.write_text(text)
    return path


def _repeated(folder: pathlib.Path, frames: int) -> pathlib.Path:
    """The scan with its frames repeated to `frames` (positions too: the same object)."""
    path = folder / f"repeated-{frames}.cxi"
    if not path.exists():
        scan = read_cxi(DATA)
        take = np.arange(frames) % scan.frames_shape[0]
        write_cxi(
            path,
            dataclasses.replace(
                scan,
                path=None,
                frames_shape=(frames, *scan.frames_shape[1:]),
                translations=scan.translations[take],
                counts=scan.frames()[take],
            ),
        )
    return path


def _command(config: pathlib.Path, out: pathlib.Path, *options: str) -> list[str]:
    cli = [sys.executable, "-m", "ptyrax_core.cli", "reconstruct", str(config)]
    return [*cli, "--out", str(out), "--quiet", *options]


def _cores(devices: int, first: int = 0) -> list[int]:
    """`devices` of this process's cores from the `first`-th (fewer if the machine has
    fewer): one core a device."""
    cores = sorted(os.sched_getaffinity(0))
    return sorted((cores[first:] + cores[:first])[: max(1, min(devices, len(cores)))])


def _start(config: pathlib.Path, out: pathlib.Path, devices: int, first: int = 0):
    """A run on `devices` host devices of one core each, held to that many cores."""
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_CORE}"}
    pinned = _PINNED.format(cores=_cores(devices, first))
    command = _command(config, out, "--devices", str(devices))
    command[1:3] = ["-c", pinned]  # the command's own module, held to the cores first
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _median_epoch(run: subprocess.Popen, out: pathlib.Path) -> float:
    _, err = run.communicate()
    if run.returncode != 0:
        raise RuntimeError(f"a run of benchmark i failed: {err.decode()[-2000:]}")
    return json.loads((out / "metrics.json").read_text())["median_epoch_seconds"]


def _epoch(config: pathlib.Path, out: pathlib.Path, devices: int) -> float:
    """The median epoch of a run on `devices` host devices of one core each."""
    return _median_epoch(_start(config, out, devices), out)


def _side_by_side(config: pathlib.Path, folder: pathlib.Path) -> float:
    """The mean median epoch of two independent 1-device runs at once, on cores 0 and 1."""
    outs = [folder / "side-0", folder / "side-1"]
    runs = [_start(config, out, 1, first=k) for k, out in enumerate(outs)]
    return statistics.mean(_median_epoch(run, out) for run, out in zip(runs, outs, strict=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss(config: pathlib.Path, out: pathlib.Path, processes: int) -> list[float]:
    """Every process's peak resident memory in MiB (`metrics.json`'s `peak_rss_mb`)."""
    port = _free_port()
    running = []
    for i in range(processes):
        options = ["--devices", "1"]
        if processes > 1:
            options += ["--coordinator", f"127.0.0.1:{port}", "--process-id", str(i)]
            options += ["--num-processes", str(processes)]
        running.append(
            subprocess.Popen(
                _command(config, out, *options),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    if any(p.wait() != 0 for p in running):
        raise RuntimeError("a process of the memory benchmark failed")
    return json.loads((out / "metrics.json").read_text())["peak_rss_mb"]


def run(mode: str) -> list[Row]:
    judged = mode == "full"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        strong = _config(folder, DATA, EPOCHS[mode], 40)
        weak = {
            d: _config(folder, _repeated(folder, 200 * d), EPOCHS[mode], 10 * d)
            for d in DEVICES[mode]
        }
        times: dict[tuple[str, int], list[float]] = {}
        for k in range(ROUNDS[mode]):
            order = DEVICES[mode] if k % 2 == 0 else tuple(reversed(DEVICES[mode]))
            for d in order:
                for kind, config in (("strong", strong), ("weak", weak[d])):
                    out = folder / f"{kind}-{d}"
                    times.setdefault((kind, d), []).append(_epoch(config, out, d))
            if len(os.sched_getaffinity(0)) >= 2:
                times.setdefault(("side by side", 1), []).append(_side_by_side(weak[1], folder))
        median = {key: statistics.median(v) for key, v in times.items()}
        cores = len(os.sched_getaffinity(0))
        devices = DEVICES[mode]
        rows.append(
            Row(
                TITLE,
                "strong scaling: 200 frames, batches of 40, epoch time on D = "
                + ", ".join(map(str, devices))
                + " devices",
                ", ".join(f"D={d}: {ms(median['strong', d])}" for d in devices),
                "",
                "speed-up "
                + ", ".join(f"{median['strong', 1] / median['strong', d]:.2f}x" for d in devices),
                "",
                None,
                f"{ROUNDS[mode]} rounds of whole runs; host devices of one core each, on "
                f"{cores} cores",
            )
        )
        # the judged t(2) / t(1): pairs of runs next to each other, in alternating order
        paired = []
        for k in range(PAIRS[mode]):
            t = {d: _epoch(weak[d], folder / f"pair-{d}", d) for d in ((1, 2), (2, 1))[k % 2]}
            paired.append(t[2] / t[1])
        ratio = statistics.median(paired)
        quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [ratio] * 3
        floor = ""
        if ("side by side", 1) in median:
            side = median["side by side", 1]
            floor = f"{ms(side)}, {side / median['weak', 1]:.2f}x one alone"
        rows.append(
            Row(
                TITLE,
                "weak scaling: 200 D frames, batches of 10 D, epoch time on D = "
                + ", ".join(map(str, devices))
                + " devices",
                ", ".join(f"D={d}: {ms(median['weak', d])}" for d in devices),
                (f"two 1-device runs side by side, no communication: {floor}" if floor else ""),
                f"t(2) / t(1) paired: {ratio:.2f} [{quartiles[0]:.2f}, {quartiles[2]:.2f}]; "
                "t(D) / t(1): "
                + ", ".join(f"{median['weak', d] / median['weak', 1]:.2f}" for d in devices),
                f"t(2) / t(1) <= {WEAK_TARGET}",
                ratio <= WEAK_TARGET if judged else None,
                f"{ROUNDS[mode]} rounds of whole runs, and {PAIRS[mode]} pairs for the judged "
                f"ratio (range {min(paired):.2f} to {max(paired):.2f}); host devices of one "
                "core each: beyond "
                f"{cores} devices they share the {cores} cores, so the time grows with the work",
            )
        )
        big = _repeated(folder, BIG[mode])
        memory = _config(folder, big, 1, 50)
        peaks = {p: _peak_rss(memory, folder / f"memory-{p}", p) for p in PROCESSES[mode]}
        rows.append(
            Row(
                TITLE,
                f"peak resident memory per process: {BIG[mode]} frames of 100x100 "
                f"({BIG[mode] * 100 * 100 * 4 / 1e6:.0f} MB of counts), one epoch, over P = "
                + ", ".join(map(str, PROCESSES[mode]))
                + " processes of 1 device",
                ", ".join(
                    f"P={p}: " + " / ".join(f"{x:.0f}" for x in v) + " MiB"
                    for p, v in peaks.items()
                ),
                "",
                "largest process / 1 process: "
                + ", ".join(f"{max(v) / max(peaks[1]):.2f}" for v in peaks.values()),
                "",
                None,
                "jax.distributed with gloo on 127.0.0.1; each process reads its share of the "
                "frames",
            )
        )
    return rows
