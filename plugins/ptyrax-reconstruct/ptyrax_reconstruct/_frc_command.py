"""`ptyrax frc CONFIG`: the resolution of a reconstruction, from two half-data reconstructions.

The scan's frames are split into two interleaved halves (even and odd frames), each is
reconstructed with the same config, the second object is registered onto the first and
their Fourier ring correlation (`_frc`) over the scanned area meets the half-bit threshold
at the resolution.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ._command import config_and_out
from ._errors import DivergedError, Interrupted, ReconstructError
from ._frc import (
    LOWEST,
    TAPER,
    Registration,
    Rings,
    crossing,
    fourier_ring_correlation,
    half_bit_threshold,
    register,
)
from ._units import LENGTH_NAMES, LENGTH_UNITS

JSON, FIGURE = "frc.json", "frc.png"
HALVES = ("half-0", "half-1")


@dataclasses.dataclass(frozen=True)
class FrcResult:
    """The FRC of two half-data reconstructions and the resolution it gives.

    Attributes:
        rings: the FRC ring by ring (frequencies in cycles per pixel).
        threshold: the half-bit threshold of each ring.
        crossing: where the FRC first falls below the threshold, cycles per pixel; None
            where it never does (the resolution is then better than the Nyquist limit, 2 px).
        pixel: the object's pixel, metres (the mean of rows and columns).
        halves: the two reconstructions (`Result`), of the even and of the odd frames.
        registration: how the second half's object was registered onto the first's.
        compared: the two complex images compared: the first half's object and the second's
            registered, over the scanned area both cover.
        length_unit: the config's unit of length.

    `resolution` is `pixel / crossing` in metres: the full period of the finest resolved
    spatial frequency (a line pair); `half_period` is half of it (a line's width). Both are
    None where the FRC never crosses.
    """

    rings: Rings
    threshold: np.ndarray
    crossing: float | None
    pixel: float
    halves: tuple[Any, Any]
    registration: Registration
    compared: tuple[np.ndarray, np.ndarray]
    length_unit: str = "m"

    @property
    def resolution(self) -> float | None:
        return None if self.crossing is None else self.pixel / self.crossing

    @property
    def half_period(self) -> float | None:
        return None if self.crossing is None else self.pixel / (2.0 * self.crossing)


def frc(
    config,
    *,
    out: str | os.PathLike | None = None,
    devices: int | None = None,
    progress: Callable[[int, int, int, float], None] | None = None,
    stop: Any = None,
    taper: float = TAPER,
    lowest: int = LOWEST,
) -> FrcResult:
    """Reconstruct the even and the odd frames of `config`'s scan apart and measure the
    resolution by Fourier ring correlation; write `frc.json`, `frc.png` and each half's
    outputs (in `half-0/`, `half-1/`) into `out` if given.

    Arguments:
        config: a `Config`, a TOML file or a dict, as for `reconstruct`.
        devices, stop: as for `reconstruct`, for each half.
        progress: called as `progress(half, epoch, epochs, loss)` after every epoch (`half`
            0 or 1).
        taper: the apodizing window's edges (`_frc.tukey`).
        lowest: the first ring at which the FRC may cross (`_frc.crossing`).

    Raises:
        ReconstructError: bad input, as for `reconstruct`, or a scan of fewer than 4 frames.
        DivergedError, Interrupted: as `reconstruct` raises them, for either half.
    """
    from ._config import Config, load_config
    from ._readers import read_data
    from ._run import _check_writable, reconstruct

    if not isinstance(config, Config):
        config = load_config(config)
    out = None if out is None else _check_writable(pathlib.Path(out))
    scan = read_data(
        config.data, config.reader, config.reader_arguments, length_unit=config.length_unit
    )
    n = scan.frames_shape[0]
    if n < 4:
        raise ReconstructError(
            f"{scan.where('data')}: {n} frame(s) cannot be halved: `ptyrax frc` needs 4 at "
            "least (two halves of 2, even and odd frames)"
        )
    halves = [_half(scan, np.arange(parity, n, 2)) for parity in (0, 1)]
    results = []
    for h, half in enumerate(halves):
        report = None if progress is None else lambda e, es, loss, h=h: progress(h, e, es, loss)
        results.append(
            reconstruct(
                config,
                scan=half,
                out=None if out is None else out / HALVES[h],
                devices=devices,
                progress=report,
                stop=stop,
            )
        )
    reference, moving, mask = _common(results, halves)
    registration = register(reference, moving, mask)
    rows, columns = (slice(i.min(), i.max() + 1) for i in np.nonzero(mask))
    compared = (reference[rows, columns], registration.registered[rows, columns])
    rings = fourier_ring_correlation(*compared, taper=taper)
    threshold = half_bit_threshold(rings.pixels)
    result = FrcResult(
        rings=rings,
        threshold=threshold,
        crossing=crossing(rings.frequency, rings.correlation, threshold, lowest),
        pixel=float(np.mean(results[0].geometry.pixel)),
        halves=(results[0], results[1]),
        registration=registration,
        compared=compared,
        length_unit=config.length_unit,
    )
    if out is not None:
        write_frc(out, result)
    return result


def _half(scan, indices: np.ndarray):
    """The scan of the frames at `indices` only (read from the same file, when asked)."""
    if scan.counts is not None:
        counts, source = scan.counts[indices], None
    else:
        counts, source = None, lambda part: scan.frames(indices[part])
    return dataclasses.replace(
        scan,
        frames_shape=(len(indices), *scan.frames_shape[1:]),
        translations=scan.translations[indices],
        counts=counts,
        source=source,
        scan_shape=None,
    )


def _common(results, halves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two objects (a multislice one: the product of its slices) on the first one's
    pixels, cut to the part both hold, and the mask of the area both halves scanned there.

    Each half's object starts at its own first position: the whole-pixel offset between
    the two comes from the translations; what is left (subpixel) is for `register`."""
    from ._outputs import scanned_region

    objects, origins, masks = [], [], []
    for result, half in zip(results, halves, strict=True):
        obj = result.object if result.object.ndim == 2 else np.prod(result.object, axis=0)
        objects.append(obj)
        where = result.geometry.to_pixels(half.translations) - result.initial_positions
        origins.append(np.mean(where, axis=0))  # the object's pixel 0 in the scan's pixels
        mask = np.zeros(obj.shape, bool)
        mask[scanned_region(result)] = True
        masks.append(mask)
    step = np.rint(origins[1] - origins[0]).astype(int)  # object 1's pixel j is 0's j + step
    low = np.maximum(step, 0)
    high = np.minimum(objects[0].shape, np.array(objects[1].shape) + step)
    if np.any(high <= low):
        raise ReconstructError("the two halves' objects do not overlap: the scan cannot be halved")
    first = tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))
    second = tuple(slice(lo - s, hi - s) for lo, hi, s in zip(low, high, step, strict=True))
    mask = masks[0][first] & masks[1][second]
    if mask.sum() < 16:
        raise ReconstructError(
            "the two halves scanned no common area of 4 x 4 pixels: the scan cannot be halved"
        )
    return objects[0][first], objects[1][second], mask


def summary(result: FrcResult) -> dict:
    """What `frc.json` holds: the rings (frequencies in cycles per pixel, per metre and per
    config unit), the FRC, the threshold, the resolution (full period) and half period in
    metres and in the config's unit (null where the FRC never crosses), the registration."""
    unit = result.length_unit
    per_metre = result.rings.frequency / result.pixel

    def numbers(values) -> list:
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(values)]

    def length(metres: float | None) -> float | None:
        return None if metres is None else metres / LENGTH_UNITS[unit]

    reg = result.registration
    return {
        "definition": "resolution = pixel / f at the first crossing of the FRC below the "
        "half-bit threshold (van Heel & Schatz 2005): the full period; half_period = "
        "resolution / 2",
        "length_unit": unit,
        "pixel_size_m": result.pixel,
        "pixel_size": length(result.pixel),
        "resolution_m": result.resolution,
        "resolution": length(result.resolution),
        "half_period_m": result.half_period,
        "half_period": length(result.half_period),
        "crossing_cycles_per_pixel": result.crossing,
        "frequency_cycles_per_pixel": numbers(result.rings.frequency),
        "frequency_per_m": numbers(per_metre),
        "frequency_per_unit": numbers(per_metre * LENGTH_UNITS[unit]),
        "frc": numbers(result.rings.correlation),
        "half_bit_threshold": numbers(result.threshold),
        "ring_pixels": [int(n) for n in result.rings.pixels],
        "compared_shape_px": list(result.compared[0].shape),
        "frames_per_half": [len(h.positions) for h in result.halves],
        "registration": {
            "shift_px": list(reg.shift),
            "phase_ramp_rad_per_px": list(reg.ramp),
            "phase_offset_rad": reg.offset,
        },
        "halves": list(HALVES),
    }


def picture_unit(length_unit: str) -> str:
    """The unit of the picture and the printed line: Å for an electron config (its lengths
    in Å), nm otherwise."""
    return "A" if length_unit == "A" else "nm"


def describe(result: FrcResult) -> str:
    """The line `ptyrax frc` prints."""
    if result.resolution is None:
        return (
            "resolution better than the Nyquist limit 2 px (the FRC never falls below the "
            "half-bit threshold)"
        )
    unit = picture_unit(result.length_unit)
    scale = LENGTH_UNITS[unit]
    return (
        f"resolution {result.resolution / scale:.4g} {LENGTH_NAMES[unit]} (full period; half "
        f"period {result.half_period / scale:.4g} {LENGTH_NAMES[unit]}), half-bit FRC of "
        f"{len(result.halves[0].positions)} + {len(result.halves[1].positions)} frames"
    )


def write_frc(out: pathlib.Path, result: FrcResult) -> None:
    """Write `frc.json` and `frc.png` into `out`."""
    from ._outputs import _atomic

    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary(result), indent=2) + "\n"
    _atomic(out / JSON, lambda path: path.write_text(text))
    _atomic(out / FIGURE, lambda path: _figure(path, result))


def _figure(path: pathlib.Path, result: FrcResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._outputs import _scale_bar

    unit = picture_unit(result.length_unit)
    name, scale = LENGTH_NAMES[unit], LENGTH_UNITS[unit]
    first, second = result.compared
    turn = np.exp(-1j * np.angle(np.sum(first)))  # the global phase is arbitrary
    phases = [np.angle(first * turn), np.angle(second * turn)]
    h, w = first.shape  # the colour scale from the central half, the best-lit part
    low, high = np.percentile(phases[0][h // 4 : h - h // 4, w // 4 : w - w // 4], [0.5, 99.5])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    titles = ("phase, half 1 (even frames)", "phase, half 2 (odd frames), registered")
    for ax, phase, title in zip(axes[:2], phases, titles, strict=True):
        shown = ax.imshow(phase, cmap="gray", vmin=low, vmax=high)
        ax.set_title(title)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, label="rad")
        _scale_bar(ax, phase.shape[1], result.pixel / scale, name)
    curve = axes[2]
    per = "A" if unit == "A" else "um"  # frequencies per um for X-rays: numbers near 1
    f_name, f_scale = LENGTH_NAMES[per], LENGTH_UNITS[per]
    f = result.rings.frequency / result.pixel * f_scale
    curve.plot(f, result.rings.correlation, label="FRC")
    curve.plot(f, result.threshold, "--", label="half-bit threshold")
    curve.axhline(0.0, color="gray", linewidth=0.5)
    if result.crossing is None:
        title = "resolution better than Nyquist (2 px)"
    else:
        at = result.crossing / result.pixel * f_scale
        level = np.interp(result.crossing, result.rings.frequency, result.threshold)
        curve.axvline(at, color="C3", linewidth=0.8)
        curve.plot([at], [level], "o", color="C3")
        title = (
            f"resolution {result.resolution / scale:.4g} {name} "
            f"(half period {result.half_period / scale:.4g} {name})"
        )
    curve.set_xlabel(f"spatial frequency (1/{f_name}; Nyquist {0.5 / result.pixel * f_scale:.3g})")
    curve.set_ylabel("Fourier ring correlation")
    curve.set_ylim(-0.2, 1.05)
    curve.set_title(title)
    curve.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)


def add_parser(commands) -> None:
    """Add `frc` to the `ptyrax` command's sub-parsers."""
    parser = commands.add_parser(
        "frc",
        help="the resolution of a reconstruction: Fourier ring correlation of two half-data "
        "reconstructions",
        description="Reconstruct the even and the odd frames of the config's scan apart, "
        "register the two objects and measure their Fourier ring correlation over the "
        "scanned area; the resolution (full period) is where it falls below the half-bit "
        "threshold. Writes frc.json, frc.png and each half's outputs (half-0/, half-1/) "
        "into --out.",
    )
    config_and_out(parser, "ptyrax-frc")
    parser.add_argument(
        "--devices", metavar="N", type=int, help="devices to share the frames (default 1)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    parser.epilog = (
        "exit status: 0 done, 2 bad input (one line says what), 3 a half's fit went "
        "non-finite, 130/143 stopped by SIGINT/SIGTERM"
    )


def run(args: argparse.Namespace) -> int:
    """Run `frc` and print the resolution; 2 for bad input (one line), as `ptyrax reconstruct`."""
    from tqdm import tqdm

    from . import _distributed
    from ._command import EXIT_STATUS, _one_line_warnings, _stop_on_signals
    from ._config import load_config

    try:
        if args.devices is not None and args.devices < 1:
            raise ReconstructError(f"--devices must be at least 1; got {args.devices}")
        config = load_config(args.config)
        with _one_line_warnings(), _stop_on_signals() as stop:
            _distributed.use_devices(args.devices or 1)
            bars: dict[int, Any] = {}

            def progress(half: int, epoch: int, epochs: int, loss: float) -> None:
                if half not in bars:  # one bar a half, the one before closed
                    for bar in bars.values():
                        bar.close()
                    bars[half] = tqdm(total=epochs, desc=f"half {half + 1} of 2",
                                      unit="epoch", disable=args.quiet)  # fmt: skip
                bars[half].update(epoch - bars[half].n)
                bars[half].set_postfix(loss=f"{loss:.4g}")

            try:
                result = frc(
                    config, out=args.out, devices=args.devices, progress=progress, stop=stop
                )
            finally:
                for bar in bars.values():
                    bar.close()
    except ReconstructError as e:
        print(f"ptyrax frc: error: {e}", file=sys.stderr)
        return EXIT_STATUS["bad input"]
    except DivergedError as e:
        print(f"ptyrax frc: error: {e}", file=sys.stderr)
        return EXIT_STATUS["diverged"]
    except Interrupted as e:
        print(f"ptyrax frc: stopped after epoch {e.epoch} of a half", file=sys.stderr)
        return 128 + (e.signal or 0)
    print(f"{describe(result)}; wrote {args.out / JSON} and {args.out / FIGURE}")
    return 0
