"""h. Multislice objects: the cost of an epoch of `ptyrax reconstruct` on the measured PETRA III
scan with S = 1, 2, 3 and 4 slices, which should grow linearly in S.

Each slice adds one object window product and one free-space propagation (an FFT pair) per
frame and mode. The epochs of the four models run in interleaved rounds (1, 2, 3, 4, then
4, 3, 2, 1, ...), each an epoch of the example's first stage (batches of 10) after one untimed
epoch that compiles it; a least-squares line `t(S) = a + b S` is fitted to the medians, and
the target is that every median lies within 10 % of that line.
"""

import dataclasses
import gc
import statistics
import time

import numpy as np
from ptyrax_reconstruct import load_config, read_cxi
from ptyrax_reconstruct._fit import minibatches
from ptyrax_reconstruct._run import prepare

from ._report import Row
from ._timing import ms
from .reconstruct import EXAMPLE

TITLE = "h. multislice epoch"
SLICES = {"full": (1, 2, 3, 4), "smoke": (1, 2)}
ROUNDS = {"full": 8, "smoke": 1}
TARGET = 0.10  # largest relative distance of a median from the fitted line
SPACING = 2e-6  # m between slices


def _epoch(setup, carry: dict, batches) -> float:
    """One more epoch (the fit goes on from `carry`'s params and state): seconds."""
    start = time.perf_counter()
    params, state, report = setup.fitter.epoch(
        carry["params"], carry["state"], setup.config.rates(0), batches
    )
    report["loss"].block_until_ready()
    carry.update(params=params, state=state)
    return time.perf_counter() - start


def run(mode: str) -> list[Row]:
    config = load_config(EXAMPLE)
    scan = None
    if mode == "smoke":  # the first 20 frames
        full = read_cxi(config.data)
        scan = dataclasses.replace(
            full,
            path=None,
            frames_shape=(20, *full.frames_shape[1:]),
            translations=full.translations[:20],
            counts=full.frames(slice(0, 20)),
        )
    setups, carries, batches = {}, {}, {}
    for s in SLICES[mode]:
        setup = prepare(dataclasses.replace(config, slices=s, slice_spacing=SPACING), scan)
        setups[s] = setup
        carries[s] = {"params": setup.params, "state": setup.fitter.init(setup.params)}
        batches[s] = minibatches(setup.fitter.problem, config.stages[0].batch_size, 0, 0)
        for _ in range(2):  # compiles, for the first params and for those an epoch returns
            _epoch(setup, carries[s], batches[s])
    times: dict[int, list[float]] = {s: [] for s in setups}
    gc.collect()
    gc.disable()
    try:
        for k in range(ROUNDS[mode]):
            order = list(setups) if k % 2 == 0 else list(reversed(setups))
            for s in order:
                times[s].append(_epoch(setups[s], carries[s], batches[s]))
    finally:
        gc.enable()
    slices = np.array(list(times), float)
    medians = np.array([statistics.median(times[s]) for s in times])
    b, a = np.polyfit(slices, medians, 1)
    line = a + b * slices
    worst = float(np.max(np.abs(medians - line) / line))
    judged = mode == "full"
    per = ", ".join(f"S={int(s)}: {ms(t)}" for s, t in zip(slices, medians, strict=True))
    frames = setups[1].fitter.problem.n_frames
    return [
        Row(
            TITLE,
            f"epoch of {frames} frames 100x100 (near field, batches of 10), S = "
            + ", ".join(str(int(s)) for s in slices)
            + " slices",
            per,
            f"t(S) = {ms(a)} + {ms(b)} S",
            f"{100 * worst:.1f} % off the line at most",
            f"<= {100 * TARGET:.0f} % (linear in S)",
            worst <= TARGET if judged else None,
            f"{ROUNDS[mode]} interleaved rounds; each slice costs {b / (a + b):.2f} of a "
            "1-slice epoch",
        )
    ]
