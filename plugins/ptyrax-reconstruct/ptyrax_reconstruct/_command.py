"""`ptyrax reconstruct CONFIG`: reconstruct a measured scan as a config file says."""

import argparse
import contextlib
import pathlib
import signal
import sys
import threading
import warnings

from ._errors import DivergedError, Interrupted, ReconstructError, ReconstructWarning

EXIT_STATUS = {"done": 0, "bad input": 2, "diverged": 3, "lost a process": 1}
"""The exit statuses of `ptyrax reconstruct`; a signal that stopped it gives 128 + its number
(SIGINT 130, SIGTERM 143)."""


def config_and_out(parser: argparse.ArgumentParser, out: str) -> None:
    """The arguments a command that runs a config takes first: the config file, and `--out`
    (default `./out`)."""
    parser.add_argument("config", type=pathlib.Path, help="the TOML config file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=pathlib.Path,
        default=pathlib.Path(out),
        help=f"the folder for the outputs (default: ./{out})",
    )


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
    config_and_out(parser, "ptyrax-reconstruct")
    parser.add_argument(
        "--devices",
        metavar="N",
        type=int,
        help="devices to share the frames, per process (default: 1 in a run of one process, "
        "all of a process's devices in a run of several)",
    )
    parser.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        type=pathlib.Path,
        help="continue the run saved in CHECKPOINT (an earlier run's checkpoint.ptyrax)",
    )
    parser.add_argument(
        "--device-memory",
        metavar="GIB",
        type=float,
        help="GiB each device may use (default: what it has free; on a CPU, the host's "
        "available memory, shared by its devices): a run that needs more is refused",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    many = parser.add_argument_group(
        "several processes and hosts (docs/distributed.md)",
        "One run over N processes, each with its --devices: start the same command in every "
        "process, with the same --coordinator and --num-processes and its own --process-id "
        "(or --cluster under srun or mpirun). Process 0 writes the outputs.",
    )
    many.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="where process 0 serves, reachable from every process (env PTYRAX_COORDINATOR)",
    )
    many.add_argument(
        "--process-id",
        metavar="I",
        help="this process's number, 0 to N-1 (env PTYRAX_PROCESS_ID)",
    )
    many.add_argument(
        "--num-processes",
        metavar="N",
        help="how many processes the run has (env PTYRAX_NUM_PROCESSES)",
    )
    many.add_argument(
        "--cluster",
        action="store_true",
        help="take the three from SLURM (srun) or Open MPI (mpirun)",
    )
    many.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="for every process to join (default 60)",
    )
    many.add_argument(
        "--heartbeat-timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="a process silent this long counts as dead, and the others stop (default 60)",
    )
    parser.set_defaults(run=run)
    parser.epilog = (
        "exit status: 0 done, 2 bad input (one line says what), 3 the fit went non-finite "
        "(the checkpoint holds the last finite state), 130/143 stopped by SIGINT/SIGTERM at "
        "an epoch's end (checkpoint written), 1 another process of the run was lost"
    )


_NAMES = {
    "coordinator": "--coordinator",
    "process_id": "--process-id",
    "num_processes": "--num-processes",
    "cluster": "--cluster",
    "timeout": "--timeout",
    "heartbeat": "--heartbeat-timeout",
    "devices": "--devices",
}
_SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


def run(args: argparse.Namespace) -> int:
    """Run a reconstruction; the exit status is `EXIT_STATUS`'s, or 128 + a signal's number."""
    from . import _distributed
    from ._config import load_config

    try:
        if args.devices is not None and args.devices < 1:
            raise ReconstructError(f"--devices must be at least 1; got {args.devices}")
        if args.device_memory is not None and not 0 < args.device_memory < float("inf"):
            raise ReconstructError(
                f"--device-memory must be a positive number of GiB; got {args.device_memory}"
            )
        options = _distributed.cluster_options(
            args.coordinator,
            args.process_id,
            args.num_processes,
            cluster=args.cluster,
            timeout=args.timeout,
            heartbeat=args.heartbeat_timeout,
            names=_NAMES,
        )
        config = load_config(args.config)  # in every process, before any waits for the others
        with _one_line_warnings():
            if options is None:
                _distributed.use_devices(args.devices or 1)
            elif not _distributed.supervised():  # the JAX runtime may abort: run it in a child
                _distributed.precheck(options, _NAMES)
                return _distributed.supervise(_argv(args), options, _NAMES)
            else:
                _distributed.join(options, args.devices, _NAMES)
                _distributed.joined()
            with _stop_on_signals() as stop:
                return _reconstruct(args, config, stop)
    except ReconstructError as e:
        print(f"ptyrax reconstruct: error: {e}", file=sys.stderr)
        return EXIT_STATUS["bad input"]
    except DivergedError as e:
        print(f"ptyrax reconstruct: error: {e}", file=sys.stderr)
        return EXIT_STATUS["diverged"]
    except Interrupted as e:
        name = _SIGNALS.get(e.signal, "a stop request")
        if e.checkpoint is None:  # a process that writes nothing
            return 128 + (e.signal or 0)
        print(
            f"ptyrax reconstruct: stopped by {name} after epoch {e.epoch}; checkpoint "
            f"{e.checkpoint}: continue with `ptyrax reconstruct {args.config} --out {args.out} "
            f"--resume {e.checkpoint}`",
            file=sys.stderr,
        )
        return 128 + (e.signal or 0)


class _Stop:
    """Set by SIGINT or SIGTERM (the first one's number kept); the run stops at the end of
    the epoch that runs (a signal handler runs between Python's steps, so after it)."""

    def __init__(self):
        self.event, self.signal = threading.Event(), None

    def is_set(self) -> bool:
        return self.event.is_set()

    def __call__(self, number, frame) -> None:
        if self.signal is None:
            self.signal = number
        self.event.set()


@contextlib.contextmanager
def _stop_on_signals():
    """SIGINT and SIGTERM ask the run to stop (`_Stop`) while inside; the handlers before are
    put back after. Outside the main thread (no handlers can be set there) nothing stops it."""
    stop, before = _Stop(), {}
    try:
        for number in _SIGNALS:
            before[number] = signal.signal(number, stop)
    except ValueError:  # not the main thread
        pass
    try:
        yield stop
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _one_line_warnings():
    """Print the engine's warnings (`ReconstructWarning`) as `ptyrax reconstruct: warning: ...`
    as they come (above the progress bar); others as Python does."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ReconstructWarning):
            from tqdm import tqdm

            tqdm.write(f"ptyrax reconstruct: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ReconstructWarning)
        warnings.showwarning = show
        yield


def _argv(args: argparse.Namespace) -> list[str]:
    """The command line that `args` came from (for the supervised child)."""
    argv = ["reconstruct", str(args.config), "--out", str(args.out)]
    flags = ("devices", "device_memory", "resume", "coordinator", "process_id", "num_processes")
    for flag in flags:
        if getattr(args, flag) is not None:
            argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    argv += ["--timeout", repr(args.timeout), "--heartbeat-timeout", repr(args.heartbeat_timeout)]
    return argv + [f for f in ("--quiet", "--cluster") if getattr(args, f[2:])]


def _reconstruct(args: argparse.Namespace, config, stop) -> int:
    from tqdm import tqdm

    from ._distributed import is_writer
    from ._outputs import FIGURE, METRICS
    from ._run import reconstruct

    writer = is_writer()
    quiet = args.quiet or not writer
    with tqdm(total=config.epochs, desc="reconstructing", unit="epoch", disable=quiet) as bar:

        def progress(epoch: int, epochs: int, loss: float) -> None:
            bar.update(epoch - bar.n)
            bar.set_postfix(loss=f"{loss:.4g}")

        result = reconstruct(
            config,
            out=args.out,
            devices=args.devices,
            resume=args.resume,
            progress=progress,
            stop=stop,
            device_memory=args.device_memory,
        )
    if not writer:  # process 0 reports and writes
        return 0
    if result.outside:
        print(
            f"ptyrax reconstruct: warning: {result.outside} refined positions moved the probe "
            "off the object; raise geometry.padding",
            file=sys.stderr,
        )
    seconds = result.epoch_seconds
    median = sorted(seconds)[len(seconds) // 2] if seconds else float("nan")
    where = f"{result.devices} device(s)"
    if result.processes > 1:
        where += f" of {result.processes} processes"
    stopped = "" if result.stopped_at_noise_floor is None else " (stopped at the noise floor)"
    print(
        f"final deviance {result.final_deviance:.4g} (noise floor {result.noise_floor:.4g} "
        f"\u00b1 {result.noise_floor_spread:.2g}) over {len(result.positions)} frames, "
        f"{len(seconds)} epochs{stopped}, {median:.3f} s per epoch (median) on {where}\n"
        f"wrote {args.out / METRICS}, {args.out / FIGURE}, "
        + ("reconstruction_slices.png, " if result.object.ndim == 3 else "")
        + "reconstruction.h5 and checkpoint.ptyrax"
    )
    return 0
