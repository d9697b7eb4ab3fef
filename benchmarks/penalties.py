"""j. What a penalty costs an epoch: `ptyrax reconstruct`'s compiled epoch on the measured
PETRA III scan with no penalty, against the same with a total variation of the object's phase
(`[[loss.penalties]] type = "total_variation" component = "object" on = "phase" weight = 0.1`).

Both models are prepared as `ptyrax reconstruct` prepares the example (examples/
petra-p25-near-field.toml) and compiled before timing; their epochs then alternate (no
penalty, penalty, then penalty, no penalty, ...), each going on from its own last params.
Each pair's ratio of epoch times (with penalty / without) is one sample; the result is the
median with its interquartile range, for an epoch of each stage of the example's schedule:
batches of 10 (20 steps an epoch, the penalty evaluated at each) and of 50 (4 steps). The
target: at most 1.10 in the first stage, two thirds of the schedule's epochs.

The smoke mode takes the scan's first 20 frames and a few pairs. Both modes check that the
two models have the same data term at their first params (a penalty changes the steps, not
the loss they report) and that every epoch stayed finite.
"""

import dataclasses

import numpy as np
from ptyrax_reconstruct import load_config, read_cxi
from ptyrax_reconstruct._fit import minibatches
from ptyrax_reconstruct._penalties import PenaltySpec
from ptyrax_reconstruct._run import prepare

from ._report import Row
from ._timing import format_ratio, interleaved, ms, pairs_of
from .reconstruct import EXAMPLE

TITLE = "j. penalty cost"
TV = PenaltySpec("total_variation", "object", "phase", 0.1, {})
PAIRS = {"full": 40, "smoke": 2}
CALLS = 3  # epochs a side in each pair
TARGET = 1.10


class _Run:
    """A prepared model going on epoch after epoch at one stage's batch size and rate."""

    def __init__(self, config, scan, penalties, stage: int):
        self.setup = prepare(dataclasses.replace(config, penalties=penalties), scan)
        fitter = self.setup.fitter
        self.params, self.state = self.setup.params, fitter.init(self.setup.params)
        self.rates = self.setup.config.rates(stage)
        batch = config.stages[stage].batch_size
        self.batches = minibatches(fitter.problem, min(batch, fitter.problem.n_frames), 0, 0)
        self.losses: list[float] = []

    def epoch(self) -> None:
        self.params, self.state, report = self.setup.fitter.epoch(
            self.params, self.state, self.rates, self.batches
        )
        self.losses.append(float(report["loss"]))  # waits for the epoch


def _signed(seconds: float) -> str:
    return ("+" if seconds >= 0 else "") + ms(seconds)


def _scan(config, smoke: bool):
    if not smoke:
        return None
    full = read_cxi(config.data)
    return dataclasses.replace(
        full,
        path=None,
        frames_shape=(20, *full.frames_shape[1:]),
        translations=full.translations[:20],
        counts=full.frames(slice(0, 20)),
    )


def run(mode: str) -> list[Row]:
    smoke = mode == "smoke"
    config = load_config(EXAMPLE)
    scan = _scan(config, smoke)
    rows = []
    for stage in range(len(config.stages)):
        plain, penalized = _Run(config, scan, (), stage), _Run(config, scan, (TV,), stage)
        batch = config.stages[stage].batch_size
        steps = len(plain.batches)
        start = [
            [float(v) for v in r.setup.fitter.evaluate(r.setup.params)] for r in (plain, penalized)
        ]
        if start[0] != start[1]:
            raise AssertionError(f"{TITLE}: the data terms differ at the first params: {start}")
        paired = interleaved(penalized.epoch, plain.epoch, PAIRS[mode], calls=CALLS, warmup=2)
        losses = plain.losses + penalized.losses
        if not np.all(np.isfinite(losses)):
            raise AssertionError(f"{TITLE}: an epoch went non-finite: {losses}")
        ratios = paired.ratios
        judged = not smoke and stage == 0
        rows.append(
            Row(
                TITLE,
                f"epoch of {plain.setup.fitter.problem.n_frames} frames 100x100 in batches of "
                f"{batch} ({steps} step{'s' if steps != 1 else ''}), total_variation on the "
                "object's phase (weight 0.1), against no penalty",
                ms(paired.a_median),
                ms(paired.b_median),
                format_ratio(paired),
                f"<= {TARGET}" if stage == 0 else "",
                paired.ratio <= TARGET if judged else None,
                f"{pairs_of(PAIRS[mode], CALLS, 'epochs')}, interleaved; range "
                f"{min(ratios):.3f} to {max(ratios):.3f}; {_signed(paired.difference)} an epoch, "
                f"{_signed(paired.difference / steps)} a step (median of the differences); "
                + (
                    "the judged stage: 100 of the example's 150 epochs"
                    if stage == 0
                    else "the example's last 50 epochs"
                ),
            )
        )
        del plain, penalized
    return rows
