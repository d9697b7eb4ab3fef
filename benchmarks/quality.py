"""l. Image quality on a known truth: ptyrax against cdtools on simulated scans.

Each case is a scan the benchmark simulates (seconds) and writes as a CXI file: 11 x 11
positions (jittered by up to 1 px from the nominal grid the file holds), 64 x 64 frames,
Poisson counts, a phase object (the demo's test pattern), in the far field (the demo's
instrument and defocused aperture probe) or the near field (PETRA III P25's Fresnel-scaled
geometry and a diffuser-like probe), at 1e2 to 1e5 photons a frame and about 75 % or 50 %
linear overlap (the scan step against the probe's diameter). The counts are drawn from the
engine's own forward model (`exit_waves`, `detector_waves`, `intensities`), and before any
fit the benchmark checks that the engine, given the file and the config, predicts the
noiseless intensities at the true object, probe and positions (to float32 rounding).

Both tools read the same file and run the same schedule, cdtools' near-field example's
(100 epochs at learning rate 0.04 in batches of 10, then 50 at 0.005 in batches of 50), each
with its defaults: ptyrax through `ptyrax_reconstruct.reconstruct` (object, probe and
positions, the amplitude loss), cdtools 0.3.2 as its examples run it
(`benchmarks/_cdtools_quality_peer.py`: `FancyPtycho.from_dataset`, the amplitude loss,
object, probe, background, frame weights and position offsets). Variants of ptyrax's config
(`VARIANTS`, or `--variant NAME=JSON`) run on the same cases. `python -m benchmarks.run
--only l` runs `FULL`: 12 cases (75 % overlap at every dose, 50 % at 1e3 and 1e5) with the
variants default, poisson and stopfloor, 15 to 25 minutes on 2 cores.

Scores, by the same code for every run: the object's phase error against the truth (`score`:
the whole-pixel shift that best matches the truth, then `ptyrax_reconstruct.phase_score`:
offset, ramp and subpixel shift removed; RMS over the probe centres' box grown by a quarter
of the probe's diameter), the final reduced Poisson deviance (the engine's `final_deviance`;
for cdtools, its final intensities through `ptyrax_reconstruct.poisson_deviance`), the
deviance of the true model's noiseless intensities, and the engine's noise floor where
metrics.json has it. Quality is the point, not speed: cdtools runs on one torch thread (with
two, on a shared 2-core machine, its epochs ran 10 to 50 times slower) and the seconds in the
notes are only what the study cost.

    .venv/bin/python -m benchmarks.quality --cases far-1e3-75 --variants default,lowlr --no-peer
"""

import argparse
import copy
import dataclasses
import importlib.util
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from ._report import Row

ROOT = pathlib.Path(__file__).resolve().parent.parent
TITLE = "l. quality on a known truth"
SCHEDULE = ((100, 0.04, 10), (50, 0.005, 50))  # epochs, learning rate, batch size
MARGIN = 10  # px around the nominal scan: the engine's default padding, so its frame is ours
JITTER = 1.0  # px, the true positions' largest offset from the nominal ones
FAR = {"wavelength": 1e-10, "distance": 1.0, "pixel": 1e-4}  # the demo's instrument
NEAR = {  # PETRA III P25 (the shipped example): magnification 307.85, sample pixel 178.7 nm
    "wavelength": 9.794912e-11,
    "distance": 1.12,
    "pixel": 55e-6,
    "focus_to_sample": 3.65e-3,
}
CHECK = 1e-5  # the engine at the truth against the simulation: float32 rounding, with margin
PEER_THREADS = 1

VARIANTS: dict[str, dict] = {
    "default": {},
    "lowlr": {"fit": {"rate_scale": {"object": 0.5, "probe": 0.5, "positions": 0.5}}},
    "poisson": {"loss": {"kind": "poisson"}},
    "amplitude": {"loss": {"kind": "amplitude"}},
    "fixedpos": {"fit": {"rate_scale": {"positions": 0.0}}},
    "cdtools-model": {"model": {"weights": {}, "background": {}}, "loss": {"kind": "amplitude"}},
    "stopfloor": {"fit": {"stop_at_noise_floor": True}},
    "phase-only": {"model": {"object": {"type": "phase_only"}}},
}
"""ptyrax's config overrides by name, merged into the case's config (tables merged key by
key, anything else replaced): what an engineer tries against the defaults."""


@dataclasses.dataclass(frozen=True)
class Case:
    """A simulated scan: geometry, photons a frame, linear overlap in percent."""

    propagation: str
    dose: float
    overlap: int
    grid: int = 11
    frame: int = 64
    seed: int = 0

    @property
    def name(self) -> str:
        short = "far" if self.propagation == "far_field" else "near"
        name = f"{short}-1e{round(math.log10(self.dose))}-{self.overlap}"
        return name if (self.grid, self.frame) == (11, 64) else f"{name}-{self.grid}x{self.frame}"

    @property
    def diameter(self) -> float:
        """The probe's diameter, px: the far field's aperture, the near field's envelope."""
        return self.frame * (0.4 if self.propagation == "far_field" else 0.7)

    @property
    def step(self) -> int:
        return max(1, round(self.diameter * (1 - self.overlap / 100)))


CASES = {
    c.name: c
    for c in (
        Case(p, d, o)
        for p in ("far_field", "near_field")
        for d in (1e2, 1e3, 1e4, 1e5)
        for o in (75, 50)
    )
}
FULL = {  # cases and variants of `python -m benchmarks.run --only l`
    "cases": [n for n, c in CASES.items() if c.overlap == 75 or c.dose in (1e3, 1e5)],
    "variants": ["default", "poisson", "stopfloor"],
}
SMOKE = Case("far_field", 1e4, 75, grid=3, frame=32)
SMOKE_SCHEDULE = ((2, 0.04, 4), (1, 0.005, 9))


@dataclasses.dataclass(frozen=True)
class Truth:
    """A simulated scan and what made it.

    Attributes:
        case: what was simulated.
        object: `(M, M)` complex64, unit magnitude.
        probe: `(P, P)` complex64, in `sqrt(counts)`: `sum |probe|**2` is the dose.
        positions: the true top-left corners of the probe on the object `(K, 2)` px.
        nominal: the nominal ones (the file's translations), `(K, 2)` px, the smallest at
            `MARGIN`.
        mask: `(M, M)` bool, where the phase is scored.
        intensities: the noiseless intensities `(K, P, P)` float64, as the engine holds them
            (the far field's zero frequency at `[0, 0]`).
        counts: their Poisson draws, float32, the same layout.
        geometry: wavelength, detector distance and pixel (and `focus_to_sample`), metres.
        pixel: the sample-plane pixel, metres.
        distance: the near field's effective propagation distance, metres (0: far field).
    """

    case: Case
    object: np.ndarray
    probe: np.ndarray
    positions: np.ndarray
    nominal: np.ndarray
    mask: np.ndarray
    intensities: np.ndarray
    counts: np.ndarray
    geometry: dict
    pixel: float
    distance: float

    def file_frames(self, frames: np.ndarray) -> np.ndarray:
        """`frames` as a CXI file holds them: the far field's zero frequency at the centre."""
        far = self.case.propagation == "far_field"
        return np.fft.fftshift(frames, axes=(-2, -1)) if far else frames


# ---------------------------------------------------------------------------------------------
# the scans


def diffuser_probe(size: int, diameter: float, transfer: np.ndarray, rng) -> np.ndarray:
    """A near-field probe `(size, size)` complex64 of unit power: a flat-topped disc of
    `diameter` px behind a random phase screen (2 rad RMS, correlated over 2 px), propagated
    by `transfer` (its speckle)."""
    from ptyrax_demo._simulate import _blur

    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    envelope = np.exp(-((np.hypot(y, x) / (diameter / 2)) ** 8))
    screen = _blur(rng.standard_normal((size, size)), sigma=2.0)
    wave = envelope * np.exp(2j * screen / screen.std())
    probe = np.fft.ifft2(np.fft.fft2(wave) * transfer)
    return (probe / np.sqrt(np.sum(np.abs(probe) ** 2))).astype(np.complex64)


def model_intensities(
    obj: np.ndarray, probe: np.ndarray, positions: np.ndarray, transfer: np.ndarray | None
) -> np.ndarray:
    """The engine's forward model: the intensities `(K, P, P)` float64 of a probe `(P, P)`
    with its top-left corner at each of `positions` on `obj`, far field (`transfer` None,
    zero frequency at `[0, 0]`) or near field."""
    import jax
    import jax.numpy as jnp
    from ptyrax_reconstruct import detector_waves, exit_waves, intensities

    spectrum = jnp.fft.fft2(jnp.asarray(probe, jnp.complex64))[None]
    h = None if transfer is None else jnp.asarray(transfer, jnp.complex64)

    def one(position):
        waves = exit_waves(jnp.asarray(obj, jnp.complex64), spectrum, position)
        return intensities(detector_waves(waves, h, position))

    run = jax.jit(jax.vmap(one))
    return np.asarray(run(jnp.asarray(positions, jnp.float32)), np.float64)


def simulate(case: Case) -> Truth:
    """The scan of `case`, drawn from the engine's forward model (seeded: the same every
    time)."""
    from ptyrax_demo._simulate import defocused_aperture, phase_pattern
    from ptyrax_reconstruct import angular_spectrum

    rng = np.random.default_rng([case.seed, round(case.dose), case.overlap])
    p, step = case.frame, case.step
    size = (case.grid - 1) * step + p + 2 * MARGIN
    obj = np.exp(1j * phase_pattern(size, rng)).astype(np.complex64)
    if case.propagation == "far_field":
        geo, distance, transfer = FAR, 0.0, None
        pixel = geo["wavelength"] * geo["distance"] / (p * geo["pixel"])
        probe = defocused_aperture(p, case.diameter / 2, fresnel_number=6.0)
    else:
        geo = NEAR
        magnification = (geo["focus_to_sample"] + geo["distance"]) / geo["focus_to_sample"]
        pixel, distance = geo["pixel"] / magnification, geo["distance"] / magnification
        transfer = angular_spectrum((p, p), (pixel, pixel), geo["wavelength"], distance)
        probe = diffuser_probe(p, case.diameter, transfer, rng)
    probe = (probe * np.sqrt(case.dose)).astype(np.complex64)
    yy, xx = np.meshgrid(np.arange(case.grid) * step, np.arange(case.grid) * step, indexing="ij")
    nominal = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64) + MARGIN
    true = nominal + rng.uniform(-JITTER, JITTER, nominal.shape)
    intensity = model_intensities(obj, probe, true, transfer)
    counts = rng.poisson(intensity).astype(np.float32)
    grow = case.diameter / 4
    low, high = nominal.min(0) + p / 2 - grow, nominal.max(0) + p / 2 + grow
    y, x = np.mgrid[:size, :size]
    mask = (y >= low[0]) & (y < high[0]) & (x >= low[1]) & (x < high[1])
    return Truth(case, obj, probe, true, nominal, mask, intensity, counts, geo, pixel, distance)


def write(truth: Truth, path: pathlib.Path) -> None:
    """The scan as a CXI file (`write_cxi`): frames, the nominal positions as sample
    translations in metres (rows along lab y, columns along lab x, the CXI default basis),
    the detector's distance and pixel, the wavelength."""
    from ptyrax_reconstruct import Scan, write_cxi

    n, p, q = truth.counts.shape
    d = truth.geometry["pixel"]
    basis = np.array([[0.0, -d], [-d, 0.0], [0.0, 0.0]])
    # the engine's probe position is -basis^-1 t, at the sample-plane pixel: t = +pixel * (x, y)
    translations = np.zeros((n, 3))
    translations[:, 0] = truth.nominal[:, 1] * truth.pixel
    translations[:, 1] = truth.nominal[:, 0] * truth.pixel
    write_cxi(
        path,
        Scan(
            path=None,
            frames_shape=(n, p, q),
            translations=translations,
            valid=np.ones((p, q), bool),
            wavelength=truth.geometry["wavelength"],
            distance=truth.geometry["distance"],
            basis=basis,
            counts=truth.file_frames(truth.counts),
        ),
    )


def reduced_deviance(intensities: np.ndarray, counts: np.ndarray) -> float:
    """The reduced Poisson deviance as the engine defines it: `poisson_deviance` summed over
    the valid pixels (all, here) over the number of valid pixels with a count."""
    import jax.numpy as jnp
    from ptyrax_reconstruct import poisson_deviance

    valid = jnp.ones(counts.shape[-2:], bool)
    total = sum(
        float(jnp.sum(poisson_deviance(jnp.asarray(i, jnp.float32), jnp.asarray(c), valid)))
        for i, c in zip(intensities, counts, strict=True)
    )
    return total / max(int(np.sum(counts >= 1)), 1)


# ---------------------------------------------------------------------------------------------
# ptyrax


def config(truth: Truth, data: pathlib.Path, schedule, overrides: dict | None = None) -> dict:
    """ptyrax's config for the scan: its geometry, the schedule, the engine's defaults
    otherwise, and `overrides` merged in."""
    geometry = {"propagation": truth.case.propagation}
    if truth.case.propagation == "near_field":
        geometry["focus_to_sample"] = truth.geometry["focus_to_sample"]
    base = {
        "data": {"file": str(data)},
        "geometry": geometry,
        "fit": {
            "stages": [{"epochs": e, "learning_rate": lr, "batch_size": b} for e, lr, b in schedule]
        },
    }
    return merge(base, overrides or {})


def merge(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` merged in: tables key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def offset(positions: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Where a tool's object frame puts the truth's `[0, 0]`: the whole-pixel offset of its
    nominal positions `(K, 2)` from ours."""
    return np.round(np.mean(positions - nominal, axis=0)).astype(int)


def in_our_frame(obj: np.ndarray, corner: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The `shape` window of a tool's object at `corner` (ones where it runs off)."""
    out = np.ones(shape, np.complex64)
    y0, x0 = (int(c) for c in corner)
    part = obj[max(y0, 0) : y0 + shape[0], max(x0, 0) : x0 + shape[1]]
    out[max(-y0, 0) : max(-y0, 0) + part.shape[0], max(-x0, 0) : max(-x0, 0) + part.shape[1]] = part
    return out


def score(obj: np.ndarray, truth: Truth) -> float:
    """The phase error of `obj` (in our frame) in rad RMS over the mask: `phase_score` after
    the whole-pixel shift that best matches the truth (blind ptychography leaves the object
    and probe free to move together, often by more than `phase_score`'s 2 px search)."""
    from ptyrax_reconstruct import phase_score

    masked = np.where(truth.mask, truth.object, 0)
    unit = obj / np.maximum(np.abs(obj), 1e-30)
    match = np.fft.ifft2(np.fft.fft2(unit) * np.conj(np.fft.fft2(masked)))  # at r + d
    d = np.array(np.unravel_index(np.argmax(np.abs(match)), match.shape))
    d = np.where(d > np.array(match.shape) // 2, d - np.array(match.shape), d)
    return phase_score(np.roll(obj, tuple(-d), axis=(0, 1)), truth.object, truth.mask).rmse


def check_engine(truth: Truth, cfg: dict) -> float:
    """The engine's predicted intensities at the true object, probe and positions, against
    the simulated noiseless ones: the largest difference over the largest intensity (the
    engine reads the file and makes its geometry from the config as in a run)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from ptyrax_reconstruct import load_config
    from ptyrax_reconstruct._fit import predict, resolve
    from ptyrax_reconstruct._run import prepare

    cfg = load_config(cfg)
    setup = prepare(cfg)
    corner = offset(setup.initial_positions, truth.nominal)
    shape = resolve(eqx.combine(setup.params, setup.static))["object"].shape
    obj = np.ones(shape, np.complex64)
    m = truth.object.shape
    obj[corner[0] : corner[0] + m[0], corner[1] : corner[1] + m[1]] = truth.object
    initial = {
        "object": obj,
        "probe": truth.probe[None],
        "positions": (truth.positions + corner).astype(np.float32),
    }
    setup = prepare(cfg, initial=initial)
    arrays = resolve(eqx.combine(setup.params, setup.static), setup.probe_scale)
    transfer = setup.fitter.problem.transfer
    predicted = jax.jit(jax.vmap(lambda i: predict(arrays, i, transfer)))(
        jnp.arange(len(truth.positions))
    )
    predicted = np.asarray(predicted, np.float64)
    return float(np.abs(predicted - truth.intensities).max() / truth.intensities.max())


def run_ptyrax(truth: Truth, cfg: dict, out: pathlib.Path) -> dict:
    """One reconstruction: its scores, deviances and wall time."""
    import warnings

    from ptyrax_reconstruct import reconstruct

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RisingLossWarning, NoiseFitWarning: scored below
        result = reconstruct(cfg, out=out)
    seconds = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    corner = offset(result.initial_positions, truth.nominal)
    obj = in_our_frame(result.object, corner, truth.object.shape)
    return {
        "phase_error": score(obj, truth),
        "deviance": float(result.final_deviance),
        "noise_floor": metrics.get("noise_floor"),
        "noise_floor_spread": metrics.get("noise_floor_spread"),
        "epochs": len(result.epoch_loss),
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------------------------
# cdtools


def peer_python() -> str | None:
    """The Python with cdtools: `$PTYRAX_PEER_PYTHON`, else this one where it has cdtools,
    else None."""
    if os.environ.get("PTYRAX_PEER_PYTHON"):
        return os.environ["PTYRAX_PEER_PYTHON"]
    return sys.executable if importlib.util.find_spec("cdtools") is not None else None


def run_peer(python: str, truth: Truth, data: pathlib.Path, folder: pathlib.Path, schedule):
    """cdtools on the file (`_cdtools_quality_peer.py`), scored here like ptyrax."""
    check = folder / "truth.npz"
    np.savez(
        check,
        object=truth.object,
        probe=truth.probe,
        positions=truth.positions,
        nominal=truth.nominal,
        intensities=truth.file_frames(truth.intensities).astype(np.float32),
    )
    out = folder / "cdtools.json"
    command = [
        python,
        str(ROOT / "benchmarks" / "_cdtools_quality_peer.py"),
        "--data",
        str(data),
        "--out",
        str(out),
        "--truth",
        str(check),
        "--stages",
        ",".join(f"{e}:{lr}:{b}" for e, lr, b in schedule),
        "--threads",
        str(PEER_THREADS),
    ]
    if truth.case.propagation == "near_field":
        command += ["--near-field", "--propagation-distance", str(NEAR["focus_to_sample"])]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"cdtools failed ({done.returncode}): {done.stderr[-2000:]}")
    seconds = time.perf_counter() - start
    result = json.loads(out.read_text())
    arrays = np.load(result["npz"])
    corner = offset(arrays["nominal_positions"], truth.nominal)
    obj = in_our_frame(arrays["object"], corner, truth.object.shape)
    predicted = truth.file_frames(arrays["intensities"])  # back in the engine's layout
    return {
        "phase_error": score(obj, truth),
        "deviance": reduced_deviance(predicted, truth.counts),
        "check": result["truth_check"],
        "epochs": len(result["epoch_seconds"]),
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------------------------
# the study


def study(
    cases: list[Case],
    variants: dict[str, dict],
    peer: str | None,
    schedule=SCHEDULE,
    echo=print,
) -> list[dict]:
    """Every case: simulate, write, check the engine's model, run cdtools (if `peer`) and
    every variant of ptyrax; one record a case.

    Raises:
        RuntimeError: the engine, given the file and the config, does not predict the
            simulated intensities at the truth (the benchmark's geometry is wrong).
    """
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            folder = pathlib.Path(tmp) / case.name
            folder.mkdir()
            truth = simulate(case)
            data = folder / "scan.cxi"
            write(truth, data)
            base = config(truth, data, schedule)
            record = {
                "case": case.name,
                "truth_deviance": reduced_deviance(truth.intensities, truth.counts),
                "engine_check": check_engine(truth, base),
                "flat": score(np.ones_like(truth.object), truth),
                "frames": len(truth.counts),
                "step": case.step,
                "ptyrax": {},
            }
            echo(
                f"{case.name:14s} truth    deviance {record['truth_deviance']:.4f}  "
                f"engine at the truth: max |I - I_sim| / max I = {record['engine_check']:.1e}"
                f"  a flat object's phase error {record['flat']:.4f} rad"
            )
            if not record["engine_check"] <= CHECK:
                raise RuntimeError(
                    f"{case.name}: at the truth the engine predicts intensities "
                    f"{record['engine_check']:.2g} (of the largest) away from the simulated "
                    f"ones, beyond float32 rounding ({CHECK:g}): the config's geometry is not "
                    "the simulation's"
                )
            if peer is not None:
                try:
                    record["cdtools"] = run_peer(peer, truth, data, folder, schedule)
                    echo(line(case.name, "cdtools", "default", record["cdtools"]))
                except (RuntimeError, OSError, KeyError, ValueError) as e:
                    record["cdtools"] = {"error": " ".join(str(e).split())[-300:]}
                    echo(f"{case.name:14s} cdtools  failed: {record['cdtools']['error']}")
            for name, overrides in variants.items():
                try:
                    got = run_ptyrax(truth, merge(base, overrides), folder / name)
                except Exception as e:  # a variant the engine refuses, or one that diverges
                    got = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}
                record["ptyrax"][name] = got
                echo(line(case.name, "ptyrax", name, got))
            records.append(record)
    return records


def line(case: str, tool: str, variant: str, got: dict) -> str:
    """One line of the study's console output."""
    if "error" in got:
        return f"{case:14s} {tool:8s} {variant:14s} failed: {got['error']}"
    extra = f"  at the truth {got['check']:.1e}" if got.get("check") is not None else ""
    return (
        f"{case:14s} {tool:8s} {variant:14s} phase error {got['phase_error']:.4f} rad  "
        f"deviance {got['deviance']:.4f}  floor {_floor(got)}  {got['epochs']} epochs "
        f"{got['seconds']:.0f} s{extra}"
    )


def _floor(got: dict) -> str:
    floor, spread = got.get("noise_floor"), got.get("noise_floor_spread")
    if floor is None:
        return "-"
    return f"{floor:.3f} ± {spread:.3f}" if spread is not None else f"{floor:.3f}"


def rows(records: list[dict], judged: bool) -> list[Row]:
    """A row a case and variant: ptyrax's phase error against cdtools' (the target, for the
    engine's defaults: no worse), the deviances in the note; and the median over the cases."""
    out, ratios = [], []
    for r in records:
        peer = r.get("cdtools")
        measured = peer is not None and "error" not in peer
        for name, got in r["ptyrax"].items():
            case = f"{r['case']} ({r['frames']} frames, step {r['step']} px): ptyrax {name}"
            target = "<= 1" if name == "default" else ""
            if "error" in got:
                out.append(Row(TITLE, case, "failed", "", "", target, None, got["error"]))
                continue
            note = (
                f"reduced deviance: ptyrax {got['deviance']:.3f}"
                + (f", cdtools {peer['deviance']:.3f}" if measured else "")
                + f", the truth {r['truth_deviance']:.3f}; ptyrax's noise floor {_floor(got)}; "
                f"a flat object's phase error {r['flat']:.3f} rad; "
                f"{got['epochs']} epochs, ptyrax {got['seconds']:.0f} s"
                + (f", cdtools {peer['seconds']:.0f} s" if measured else "")
            )
            if name == "default":
                note += f"; models at the truth: ptyrax {r['engine_check']:.0e}" + (
                    f", cdtools {peer['check']:.0e}" if measured else ""
                )
            ours = f"{got['phase_error']:.4f} rad"
            if peer is None:
                note = "no Python with cdtools: set PTYRAX_PEER_PYTHON; " + note
                out.append(Row(TITLE, case, ours, "not measured", "", target, None, note))
            elif not measured:
                out.append(Row(TITLE, case, ours, "failed", "", target, None, peer["error"]))
            else:
                ratio = got["phase_error"] / peer["phase_error"]
                if name == "default":
                    ratios.append(ratio)
                met = ratio <= 1 if judged and name == "default" else None
                out.append(
                    Row(
                        TITLE,
                        case,
                        ours,
                        f"{peer['phase_error']:.4f} rad",
                        f"{ratio:.3f}",
                        target,
                        met,
                        note,
                    )
                )
    out.extend(_below_floor(records, judged))
    if ratios:
        median = statistics.median(ratios)
        out.append(
            Row(
                TITLE,
                f"all {len(ratios)} cases: phase error, ptyrax's defaults against cdtools'",
                "",
                "",
                f"median {median:.3f} [{min(ratios):.3f} - {max(ratios):.3f}]",
                "<= 1",
                median <= 1 if judged else None,
                f"{sum(x <= 1 for x in ratios)} of {len(ratios)} cases at or below 1; "
                "the same file, schedule and scoring for both",
            )
        )
    return out


def _below_floor(records: list[dict], judged: bool) -> list[Row]:
    """The second target: no run of the defaults ends below its noise floor by more than the
    floor's spread (fitting photon noise); one row over the cases."""
    runs = [
        (r["case"], got)
        for r in records
        if "error" not in (got := r["ptyrax"].get("default", {"error": ""}))
        and got.get("noise_floor") is not None
    ]
    if not runs:
        return []
    gaps = {c: (g["deviance"] - g["noise_floor"]) / g["noise_floor_spread"] for c, g in runs}
    below = [c for c, gap in gaps.items() if gap < -1]
    worst = min(gaps, key=gaps.get)
    return [
        Row(
            TITLE,
            f"all {len(runs)} cases: ptyrax's defaults ending below the noise floor - its spread",
            f"{len(below)}",
            "",
            f"lowest (deviance - floor) / spread {gaps[worst]:.2f} ({worst})",
            "0",
            not below if judged else None,
            ", ".join(below) if below else "none fits photon noise",
        )
    ]


def scaled(schedule, factor: float):
    """The schedule with every stage's epochs times `factor` (at least 1)."""
    return tuple((max(1, round(e * factor)), lr, b) for e, lr, b in schedule)


def run(mode: str) -> list[Row]:
    def echo(text: str) -> None:
        print(f"[l] {text}", file=sys.stderr, flush=True)

    if mode == "smoke":  # cdtools too where it is installed (a few seconds)
        records = study([SMOKE], {"default": {}}, peer_python(), SMOKE_SCHEDULE, echo)
    else:
        cases = [CASES[n] for n in FULL["cases"]]
        variants = {v: VARIANTS[v] for v in FULL["variants"]}
        records = study(cases, variants, peer_python(), SCHEDULE, echo)
    return rows(records, judged=mode == "full")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--cases",
        default=",".join(FULL["cases"]),
        help="comma-separated case names, or 'all': " + ", ".join(CASES),
    )
    parser.add_argument(
        "--variants",
        default="default",
        help="comma-separated variants of ptyrax's config: " + ", ".join(VARIANTS),
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='one more variant, its overrides as JSON: lr3=\'{"fit": {"rate_scale": '
        '{"object": 0.3}}}\' (repeatable)',
    )
    parser.add_argument("--no-peer", action="store_true", help="ptyrax only")
    parser.add_argument(
        "--epochs-scale", type=float, default=1.0, help="every stage's epochs times this"
    )
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args(argv)
    names = list(CASES) if args.cases == "all" else [c.strip() for c in args.cases.split(",")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    variants = {v: VARIANTS[v] for v in chosen}
    for item in args.variant:
        name, _, text = item.partition("=")
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as e:
            parser.error(f"--variant {name}: the overrides must be JSON ({e})")
        if not name or not isinstance(overrides, dict):
            parser.error(f"--variant: expected NAME=JSON with a JSON object; got {item!r}")
        variants[name] = overrides
    if not args.epochs_scale > 0:
        parser.error(f"--epochs-scale must be positive; got {args.epochs_scale}")
    peer = None if args.no_peer else peer_python()
    if not args.no_peer and peer is None:
        print("no Python with cdtools (set PTYRAX_PEER_PYTHON): ptyrax only", file=sys.stderr)
    records = study(
        [CASES[n] for n in names],
        variants,
        peer,
        scaled(SCHEDULE, args.epochs_scale),
        echo=lambda s: print(s, flush=True),
    )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
