"""`ptyrax inspect FILE`: what a reader finds in a file, on one screen (and in a picture)."""

import argparse
import pathlib
import sys
import tomllib

import numpy as np

from ._errors import ReconstructError


def add_parser(commands) -> None:
    """Add `inspect` to the `ptyrax` command's sub-parsers."""
    parser = commands.add_parser(
        "inspect",
        help="show what a reader finds in a data file: shapes, calibration, positions, mask",
        description="Read FILE as `ptyrax reconstruct` would and print what the reader "
        "found: the frames' shape and type, the calibration, the positions' extent and the "
        "mask; with --png, a picture of the mean pattern and the positions.",
    )
    parser.add_argument("file", type=pathlib.Path, help="the data file")
    parser.add_argument(
        "--reader",
        metavar="NAME",
        help="the reader's registry name (default: the one that opens FILE by its name)",
    )
    parser.add_argument(
        "--arg",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="an argument of the reader, VALUE as in TOML (repeat for more): --arg "
        "wavelength=1e-10",
    )
    parser.add_argument("--png", metavar="PATH", type=pathlib.Path, help="write a picture")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print what the reader found; 2 (one line) if it cannot read the file."""
    from ._readers import read_data

    try:
        arguments = _arguments(args.arg)
        scan = read_data(args.file, args.reader, arguments, require=False)
        mean = _mean_pattern(scan)
        print(summary(scan, mean))
        if args.png is not None:
            _picture(scan, mean, args.png)
            print(f"wrote {args.png}")
    except ReconstructError as e:
        print(f"ptyrax inspect: error: {e}", file=sys.stderr)
        return 2
    return 0


def _arguments(pairs: list[str]) -> dict:
    arguments = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ReconstructError(f"--arg {pair!r}: expected KEY=VALUE")
        try:
            arguments[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            arguments[key.strip()] = value  # a bare word: a string
    return arguments


def _mean_pattern(scan, chunk: int = 256) -> np.ndarray:
    """The mean frame, read a chunk of frames at a time."""
    n = scan.frames_shape[0]
    total = np.zeros(scan.frames_shape[1:], np.float64)
    for start in range(0, n, chunk):
        total += scan.frames(slice(start, min(n, start + chunk))).sum(axis=0)
    return total / n


def summary(scan, mean: np.ndarray) -> str:
    """The lines `ptyrax inspect` prints for `scan` (whose mean frame is `mean`)."""
    from ._calibration import MISSING

    n, rows, columns = scan.frames_shape
    bad = int((~np.asarray(scan.valid)).sum())
    grid = f", a {scan.scan_shape[0]} x {scan.scan_shape[1]} scan" if scan.scan_shape else ""
    lines = [
        f"file         {scan.path}",
        f"frames       {n} of {rows} x {columns}{grid} ({scan.locations[0]})",
        f"counts       mean {mean.mean():.4g} a pixel, {mean.sum():.4g} a frame; "
        f"brightest pixel of the mean frame {mean.max():.4g}",
        f"mask         {bad} bad pixel(s) of {rows * columns}",
    ]
    absent = "not in the file: give {}"
    if scan.wavelength is None:
        lines.append("wavelength   " + absent.format(MISSING["wavelength"]))
    else:
        lines.append(f"wavelength   {scan.wavelength:.6g} m")
    if scan.distance is None:
        lines.append("distance     " + absent.format(MISSING["distance"]))
    else:
        lines.append(f"distance     {scan.distance:.6g} m (sample to detector)")
    if scan.basis is None:
        lines.append("pixel        " + absent.format(MISSING["basis"]))
    else:
        steps = np.linalg.norm(np.asarray(scan.basis, np.float64), axis=0)
        lines.append(f"pixel        {steps[0]:.6g} x {steps[1]:.6g} m (detector rows x columns)")
    if scan.translations is None:
        lines.append("translations " + absent.format(MISSING["translations"]))
    else:
        low, high = scan.translations.min(axis=0), scan.translations.max(axis=0)
        lines.append(
            "translations "
            + ", ".join(
                f"{axis} {lo * 1e6 + 0.0:.4g} to {hi * 1e6 + 0.0:.4g} um"
                for axis, lo, hi in zip("xyz", low, high, strict=True)
            )
            + f" ({scan.locations[1]})"
        )
    return "\n".join(lines)


def _picture(scan, mean: np.ndarray, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = scan.translations is not None
    figure, axes = plt.subplots(1, 1 + positions, figsize=(4.5 * (1 + positions), 4.2))
    left = axes[0] if positions else axes
    left.imshow(np.log10(np.maximum(mean, 1e-3) + 1), cmap="magma")
    left.set_title("mean pattern, log10(1 + counts)")
    if positions:
        t = scan.translations * 1e6
        axes[1].plot(t[:, 0], t[:, 1], ".-", markersize=3, linewidth=0.5)
        axes[1].set_aspect("equal")
        axes[1].set_xlabel("x (um)")
        axes[1].set_ylabel("y (um)")
        axes[1].set_title(f"{len(t)} positions")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=100)
    except OSError as e:
        raise ReconstructError(f"--png {path}: cannot be written ({e.strerror or e})") from None
    finally:
        plt.close(figure)
