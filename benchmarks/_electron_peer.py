"""What the peers of benchmark k share: their command line and their clock.

Imported by `_ptyrad_peer.py` and `_phaser_peer.py`, which run as scripts in their own
Pythons (their folder is then on `sys.path`); it needs numpy alone.
"""

import argparse
import json
import os
import time

import numpy as np


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every peer takes: the file, the model's size, the run and the probe."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--slices", type=int, default=1)
    ap.add_argument("--thickness", type=float, default=19.525, help="A, all slices")
    ap.add_argument("--modes", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--snapshots", default="", help="iterations whose phase to keep")
    ap.add_argument("--kv", type=float, default=200.0)
    ap.add_argument("--aperture", type=float, default=21.4, help="mrad")
    ap.add_argument("--c10", type=float, default=-78.0, help="A, Krivanek C10")
    ap.add_argument("--step", type=float, default=0.781, help="A")
    ap.add_argument("--scan", type=int, nargs=2, default=(40, 40))
    return ap


class Clock:
    """Each iteration's end, in seconds from `start()`, less the snapshots' own time; and the
    projected phase with the windows' top-left corners at the iterations in `snapshots`."""

    def __init__(self, snapshots: str):
        self.wanted = {int(x) for x in snapshots.split(",") if x}
        self.ends: list[float] = []
        self.phases: dict[int, np.ndarray] = {}
        self.corners = None
        self._start = time.perf_counter()
        self._paused = 0.0

    def start(self) -> None:
        self._start, self._paused = time.perf_counter(), 0.0

    def iteration(self, snapshot) -> None:
        """An iteration has ended; `snapshot()` gives `(phase, corners)` when one is wanted."""
        self.ends.append(time.perf_counter() - self._start - self._paused)
        if len(self.ends) in self.wanted:
            t0 = time.perf_counter()
            self.phases[len(self.ends)], self.corners = snapshot()
            self._paused += time.perf_counter() - t0

    def write(self, out: str, result: dict) -> None:
        """The JSON `out` (`result` with the clock's numbers) and the snapshots' .npz beside."""
        npz = os.path.splitext(out)[0] + ".npz"
        np.savez(npz, corners=self.corners, **{f"phase_{k}": v for k, v in self.phases.items()})
        result = {
            **result,
            "iteration_end_seconds": self.ends,
            "snapshots": sorted(self.phases),
            "npz": npz,
        }
        if "iteration_seconds" not in result:
            result["iteration_seconds"] = [
                b - a for a, b in zip([0.0, *self.ends[:-1]], self.ends, strict=True)
            ]
        with open(out, "w") as f:
            json.dump(result, f, indent=1)
