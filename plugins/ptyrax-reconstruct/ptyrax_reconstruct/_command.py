"""`ptyrax reconstruct CONFIG`: reconstruct a measured scan as a config file says."""

import argparse
import pathlib
import sys

from ._errors import ReconstructError


def add_parser(commands) -> None:
    """Add `reconstruct` to the `ptyrax` command's sub-parsers."""
    parser = commands.add_parser(
        "reconstruct",
        help="reconstruct a measured ptychography scan (CXI) from a config file",
        description="Reconstruct object, probe, positions and more from a CXI scan, as the "
        "TOML config says (geometry, the model's parametrizations by registry name, loss, "
        "schedule). Writes metrics.json, reconstruction.png, reconstruction.h5 and "
        "checkpoint.ptyrax into --out.",
    )
    parser.add_argument("config", type=pathlib.Path, help="the TOML config file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=pathlib.Path,
        default=pathlib.Path("ptyrax-reconstruct"),
        help="the folder for the outputs (default: ./ptyrax-reconstruct)",
    )
    parser.add_argument(
        "--devices",
        metavar="N",
        type=int,
        default=1,
        help="devices to share the frames (default 1)",
    )
    parser.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        type=pathlib.Path,
        help="continue the run saved in CHECKPOINT (an earlier run's checkpoint.ptyrax)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run a reconstruction; bad input prints one line and returns 2."""
    try:
        if args.devices < 1:
            raise ReconstructError(f"--devices must be at least 1; got {args.devices}")
        use_devices(args.devices)
        return _reconstruct(args)
    except ReconstructError as e:
        print(f"ptyrax reconstruct: error: {e}", file=sys.stderr)
        return 2


def use_devices(n: int) -> None:
    """Make `n` devices available: on a CPU, `n` host devices (asked for before JAX starts).

    Raises:
        ReconstructError: fewer than `n` devices can be had.
    """
    import jax

    if n > 1:
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # JAX already started (a plugin ran JAX at import): keep what is
            pass
    available = jax.devices()
    if len(available) < n:
        hint = (
            f" (start with XLA_FLAGS=--xla_force_host_platform_device_count={n} for host devices)"
            if available[0].platform == "cpu"
            else ""
        )
        raise ReconstructError(
            f"--devices {n}: only {len(available)} {available[0].platform} device(s) can be "
            f"had here{hint}"
        )


def _reconstruct(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ._config import load_config
    from ._outputs import FIGURE, METRICS
    from ._run import reconstruct

    config = load_config(args.config)
    with tqdm(total=config.epochs, desc="reconstructing", unit="epoch", disable=args.quiet) as bar:

        def progress(epoch: int, epochs: int, loss: float) -> None:
            bar.update(epoch - bar.n)
            bar.set_postfix(loss=f"{loss:.4g}")

        result = reconstruct(
            config, out=args.out, devices=args.devices, resume=args.resume, progress=progress
        )
    if result.outside:
        print(
            f"ptyrax reconstruct: warning: {result.outside} refined positions moved the probe "
            "off the object; raise geometry.padding",
            file=sys.stderr,
        )
    seconds = result.epoch_seconds
    median = sorted(seconds)[len(seconds) // 2] if seconds else float("nan")
    print(
        f"final deviance {result.final_deviance:.4g} over {len(result.positions)} frames, "
        f"{len(seconds)} epochs, {median:.3f} s per epoch (median) on {args.devices} device(s)\n"
        f"wrote {args.out / METRICS}, {args.out / FIGURE}, reconstruction.h5 and "
        "checkpoint.ptyrax"
    )
    return 0
