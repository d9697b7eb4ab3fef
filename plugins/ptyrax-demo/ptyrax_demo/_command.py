"""`ptyrax demo`: simulate, reconstruct, score, draw."""

import argparse
import json
import os
import pathlib
import sys
import time

from ._reconstruct import OBJECTS, Settings


class DemoError(Exception):
    """Bad input to `ptyrax demo`; its message is printed as one line."""


def add_parser(commands) -> None:
    """Add `demo` to the `ptyrax` command's sub-parsers."""
    demo = commands.add_parser(
        "demo",
        help="reconstruct a simulated ptychography dataset (metrics.json, reconstruction.png)",
        description="Simulate far-field ptychography of a phase object with a jittered scan and "
        "Poisson noise, then reconstruct object, probe and positions with optax, jitted, "
        "vmapped over scan positions and data-parallel over --devices.",
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        type=pathlib.Path,
        default=pathlib.Path("ptyrax-demo"),
        help="the folder to write metrics.json and reconstruction.png in (default: ./ptyrax-demo)",
    )
    demo.add_argument(
        "--devices", metavar="N", type=int, default=1, help="devices to share the scan (default 1)"
    )
    demo.add_argument(
        "--steps", metavar="K", type=int, default=Settings.steps, help="Adam steps (default 300)"
    )
    demo.add_argument(
        "--seed", metavar="S", type=int, default=0, help="simulation seed (default 0)"
    )
    demo.add_argument(
        "--object",
        choices=OBJECTS,
        default="phase_only",
        help="the object's parametrization (default phase_only)",
    )
    demo.add_argument(
        "--grid", metavar="G", type=int, default=12, help="scan positions per side (default 12)"
    )
    demo.add_argument(
        "--dose", metavar="D", type=float, default=1e6, help="photons per pattern (default 1e6)"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; bad input prints one line and returns 2 (the engine's refusals too: a
    dose that leaves every pattern empty, a grid beyond the memory); a fit that goes
    non-finite returns 3, as `ptyrax reconstruct` does."""
    from ptyrax_reconstruct import DivergedError, ReconstructError

    try:
        _check(args)
        _use_devices(args.devices)
        return _demo(args)
    except (DemoError, ReconstructError) as e:
        print(f"ptyrax demo: error: {e}", file=sys.stderr)
        return 2
    except DivergedError as e:
        print(f"ptyrax demo: error: {e}", file=sys.stderr)
        return 3


def _check(args: argparse.Namespace) -> None:
    for name in ("steps", "devices"):
        if getattr(args, name) < 1:
            raise DemoError(f"--{name} must be at least 1; got {getattr(args, name)}.")
    if args.grid < 2:
        raise DemoError(f"--grid must be at least 2 (positions must overlap); got {args.grid}.")
    if not args.dose > 0:
        raise DemoError(f"--dose must be a positive number of photons; got {args.dose}.")
    if args.seed < 0:
        raise DemoError(f"--seed must not be negative; got {args.seed}.")
    if args.devices > args.grid**2:
        raise DemoError(
            f"--devices {args.devices} is more than the {args.grid**2} scan positions to share."
        )
    if args.out.exists() and not args.out.is_dir():
        raise DemoError(f"--out {args.out}: is a file; give a folder.")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        probe = args.out / f".ptyrax-demo-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DemoError(f"--out {args.out}: cannot write there ({e.strerror or e}).") from None


def _use_devices(n: int) -> None:
    """Make `n` devices available (on a CPU, host devices), as `ptyrax reconstruct` does."""
    from ptyrax_reconstruct import ReconstructError, use_devices

    try:
        use_devices(n)
    except ReconstructError as e:
        raise DemoError(str(e)) from None


def _demo(args: argparse.Namespace) -> int:
    import jax
    from ptyrax_reconstruct import phase_score, position_rmse
    from tqdm import tqdm

    from ._figure import save_figure
    from ._reconstruct import reconstruct
    from ._simulate import simulate

    start = time.perf_counter()
    data = simulate(seed=args.seed, grid=args.grid, dose=args.dose)
    settings = Settings(steps=args.steps, object=args.object, devices=args.devices)
    with tqdm(total=args.steps, desc="reconstructing", unit="step", disable=args.quiet) as bar:

        def progress(step: int, loss: float) -> None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{loss:.4g}")

        result = reconstruct(data, settings, progress)
    score = phase_score(result.object, data.true_object, data.scanned)
    figure = args.out / "reconstruction.png"
    save_figure(figure, data, result, score)
    device = jax.devices()[0]
    metrics = {
        "phase_rmse_rad": score.rmse,
        "initial_position_rmse_px": position_rmse(data.nominal_positions, data.true_positions),
        "position_rmse_px": position_rmse(result.positions, data.true_positions),
        "initial_loss": float(result.losses[0]),
        "final_loss": float(result.losses[-1]),
        "devices": args.devices,
        "seconds": time.perf_counter() - start,
        "reconstruction_seconds": result.seconds,
        "steps": args.steps,
        "seed": args.seed,
        "object": args.object,
        "positions": len(data.counts),
        "dose": args.dose,
        "registration_shift_px": list(score.shift),
        "removed_phase_ramp_rad_per_px": list(score.ramp),
        "platform": device.platform,
        "device_kind": device.device_kind,
        "jax_version": jax.__version__,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"phase RMSE {metrics['phase_rmse_rad']:.3f} rad, positions RMSE "
        f"{metrics['initial_position_rmse_px']:.2f} -> {metrics['position_rmse_px']:.2f} px, "
        f"loss {metrics['initial_loss']:.4g} -> {metrics['final_loss']:.4g}, "
        f"{metrics['seconds']:.1f} s on {args.devices} {device.platform} device(s)\n"
        f"wrote {args.out / 'metrics.json'} and {figure}"
    )
    return 0
