"""One run over many processes (and hosts): `jax.distributed` setup, the mesh across them,
and reading replicated arrays back.

A run of P processes with d devices each is one mesh of `P * d` devices, ordered by process.
Process p holds the mesh's devices `p * d` to `p * d + d - 1`, so a contiguous block of the
padded frames, and reads only that block from the file. The model, the optimizer's state and
the minibatch indices are replicated: every process computes the same updates, and only
process 0 writes files.

The JAX runtime ends a process with SIGABRT (exit 134, a long log) when the processes do not
all join in time or one of them dies; `supervise` runs the command in a child process and
turns that into one line. Everything that can be checked before JAX starts is checked here
first, as one-line errors.
"""

import dataclasses
import math
import os
import pathlib
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

from ._errors import ReconstructError, SlowStepWarning

_ENV = {
    "coordinator": "PTYRAX_COORDINATOR",
    "process_id": "PTYRAX_PROCESS_ID",
    "num_processes": "PTYRAX_NUM_PROCESSES",
}
_FLAGS = {"coordinator": "--coordinator", "process_id": "--process-id"}
_FLAGS |= {"num_processes": "--num-processes", "timeout": "--timeout"}
_FLAGS |= {"heartbeat": "--heartbeat-timeout", "cluster": "--cluster"}
_CHILD = "PTYRAX_SUPERVISED_READY_FD"  # set in the supervised child: the fd to say "joined" on


@dataclasses.dataclass(frozen=True)
class Cluster:
    """How this process joins a multi-process run.

    Attributes:
        coordinator: `(host, port)` of process 0's coordination service, or None to detect it
            (with `detect`).
        process_id: this process's number, `0 <= process_id < num_processes` (None: detect).
        num_processes: how many processes the run has (None: detect).
        detect: take what is not given from SLURM (`srun`) or Open MPI (`mpirun`).
        timeout: seconds for every process to join.
        heartbeat: seconds without a heartbeat after which a process counts as dead.
    """

    coordinator: tuple[str, int] | None
    process_id: int | None
    num_processes: int | None
    detect: bool = False
    timeout: float = 60.0
    heartbeat: float = 60.0

    @property
    def address(self) -> str:
        host, port = self.coordinator
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cluster_options(
    coordinator: str | None = None,
    process_id: int | str | None = None,
    num_processes: int | str | None = None,
    *,
    cluster: bool = False,
    timeout: float = 60.0,
    heartbeat: float = 60.0,
    environ: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> Cluster | None:
    """The checked options of a multi-process run (missing ones from the `PTYRAX_*`
    environment variables), or None for a run of one process. No JAX call.

    Raises:
        ReconstructError: an option is malformed, out of range or missing (named as in
            `names`: the arguments' own names by default, the flags for the command).
    """
    names = names or {k: k for k in _FLAGS}
    environ = os.environ if environ is None else environ
    given = {"coordinator": coordinator, "process_id": process_id, "num_processes": num_processes}
    source = {k: names[k] for k in given}
    for k, v in given.items():
        if v is None and environ.get(_ENV[k]):
            given[k], source[k] = environ[_ENV[k]], _ENV[k]
    for k, seconds in (("timeout", timeout), ("heartbeat", heartbeat)):
        if not (isinstance(seconds, int | float) and seconds > 0 and math.isfinite(seconds)):
            raise ReconstructError(
                f"{names[k]} must be a positive number of seconds; got {seconds}"
            )
    if cluster:
        if any(v is not None for v in given.values()):
            explicit = next(source[k] for k, v in given.items() if v is not None)
            raise ReconstructError(
                f"{names['cluster']} detects the processes from SLURM or Open MPI; "
                f"leave out {explicit} (or {names['cluster']})"
            )
        return Cluster(None, None, None, detect=True, timeout=timeout, heartbeat=heartbeat)
    if all(v is None for v in given.values()):
        return None
    count = _integer(given["num_processes"], source["num_processes"], 1)
    if count == 1 and given["coordinator"] is None:
        return None  # one process: nothing to join
    for k in ("coordinator", "process_id"):
        if given[k] is None:
            raise ReconstructError(
                f"{names[k]} is needed for a run of {count} processes "
                f"({names['coordinator']} HOST:PORT of process 0, {names['process_id']} 0 to "
                f"{count - 1}, the same {names['num_processes']} everywhere)"
            )
    address = parse_coordinator(given["coordinator"], source["coordinator"])
    index = _integer(given["process_id"], source["process_id"], 0)
    if index >= count:
        raise ReconstructError(
            f"{source['process_id']} {index}: must be 0 to {count - 1} for a run of "
            f"{count} processes ({source['num_processes']} {count})"
        )
    return Cluster(address, index, count, timeout=timeout, heartbeat=heartbeat)


def _integer(value: Any, name: str, least: int) -> int:
    if value is None:
        raise ReconstructError(f"{name} is needed: how many processes the run has (at least 1)")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ReconstructError(f"{name} must be a whole number; got {value!r}") from None
    if number < least:
        raise ReconstructError(f"{name} must be at least {least}; got {number}")
    return number


def parse_coordinator(text: str, name: str = "coordinator") -> tuple[str, int]:
    """`(host, port)` from `"HOST:PORT"` (`"[::1]:PORT"` for an IPv6 address).

    Raises:
        ReconstructError: not of that form, or the port is not 1 to 65535.
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^\s:\[\]]+):(\d+)", str(text).strip())
    if match is None:
        raise ReconstructError(
            f"{name} {text!r}: expected HOST:PORT, such as node001:51234 or 127.0.0.1:51234"
        )
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ReconstructError(f"{name} {text!r}: the port must be 1 to 65535; got {port}")
    return host, port


def initialize_distributed(
    coordinator: str | None = None,
    process_id: int | None = None,
    num_processes: int | None = None,
    *,
    cluster: bool = False,
    timeout: float = 60.0,
    heartbeat: float = 60.0,
    devices: int | None = None,
) -> None:
    """Join a run of several processes (call it in every process, before any other JAX
    call); `reconstruct` then spans every process's devices.

    Arguments:
        coordinator: `"HOST:PORT"` where process 0 serves (the same in every process).
        process_id: this process's number, 0 to `num_processes - 1`.
        num_processes: how many processes the run has.
        cluster: detect all three from SLURM (`srun`) or Open MPI (`mpirun`) instead.
        timeout: seconds for every process to join.
        heartbeat: seconds without a heartbeat after which a process counts as dead (the JAX
            runtime then ends the others).
        devices: devices of this process to use (on a CPU: host devices to make); None: all.

    Missing arguments are read from `PTYRAX_COORDINATOR`, `PTYRAX_PROCESS_ID` and
    `PTYRAX_NUM_PROCESSES`. One process (`num_processes=1`) needs no call.

    Raises:
        ReconstructError: bad arguments, the coordinator does not answer within `timeout`
            (process ids above 0), its port is taken (process 0), or the coordinator runs
            another number of processes.
    """
    options = cluster_options(
        coordinator,
        process_id,
        num_processes,
        cluster=cluster,
        timeout=timeout,
        heartbeat=heartbeat,
    )
    if options is not None:
        join(options, devices)


def join(options: Cluster, devices: int | None = None, names: Mapping[str, str] | None = None):
    """`jax.distributed.initialize` as `options` say, after the checks that need no JAX."""
    import jax

    names = names or {k: k for k in _FLAGS}
    deadline = time.monotonic() + options.timeout
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
    local_ids = None
    if options.detect:
        options, local_ids = _detected(options, names)
    if options.num_processes > 1:
        precheck(options, names, deadline)
        jax.distributed.initialize(
            options.address,
            options.num_processes,
            options.process_id,
            local_device_ids=local_ids,
            initialization_timeout=max(1, math.ceil(deadline - time.monotonic())),
            heartbeat_timeout_seconds=max(1, math.ceil(options.heartbeat)),
        )
    use_devices(devices, names.get("devices", "devices"))
    if options.num_processes > 1:
        _check_agreement(options, names["num_processes"])
        if (warning := one_core_warning(options.process_id)) is not None:
            warnings.warn(warning, SlowStepWarning, stacklevel=3)


def one_core_warning(process_id: int) -> str | None:
    """What to tell a process of a CPU run over several processes that may use one core only;
    None otherwise. gloo's threads then share the core with the computation, and each
    all-reduce waits a scheduler tick: 4 ms for 600 KB, against about 1 ms on two cores."""
    import jax

    if jax.process_count() < 2 or jax.default_backend() != "cpu":
        return None
    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) > 1:
        return None
    return (
        f"process {process_id} may use 1 core: every step's all-reduce (gloo) will wait "
        "milliseconds for a thread on that core; give each process 2 cores or more "
        "(SLURM: --cpus-per-task=2)"
    )


def _check_agreement(options: Cluster, name: str) -> None:
    """Every process must say the run has as many processes as joined it."""
    import numpy as np
    from jax.experimental import multihost_utils

    said = multihost_utils.process_allgather(np.int32(options.num_processes)).tolist()
    if set(said) != {len(said)}:
        says = ", ".join(f"process {p} says {n}" for p, n in enumerate(said))
        raise ReconstructError(
            f"{name} {options.num_processes}: {len(said)} processes joined at "
            f"{options.address}; {says}"
        )


def precheck(options: Cluster, names: Mapping[str, str], deadline: float | None = None) -> None:
    """What can be checked with a plain socket: process 0's port is free here, and the other
    processes wait (until `deadline`, else `options.timeout`) for it to answer.

    Raises:
        ReconstructError: the port is taken, the host unknown, or nothing answers in time.
    """
    if options.coordinator is None:  # detected later, in `join`
        return
    if options.process_id == 0:
        _check_port_free(options, names["coordinator"])
    else:
        deadline = time.monotonic() + options.timeout if deadline is None else deadline
        _wait_reachable(options, deadline, names["coordinator"])


def _detected(options: Cluster, names: Mapping[str, str]) -> tuple[Cluster, Any]:
    """Coordinator, process id and count (and local device ids) from SLURM or Open MPI."""
    from jax._src import clusters  # what jax.distributed.initialize() detects

    found = [c.name for c in clusters.ClusterEnv._cluster_types if c.is_env_present()]
    if not {"slurm", "ompi"} & set(found):
        raise ReconstructError(
            f"{names['cluster']}: no SLURM (srun) or Open MPI (mpirun) environment here; run "
            f"under one, or give {names['coordinator']}, {names['process_id']} and "
            f"{names['num_processes']}"
        )
    address, count, index, local_ids = clusters.ClusterEnv.auto_detect_unset_distributed_params(
        None, None, None, None, None, math.ceil(options.timeout)
    )
    detected = cluster_options(
        address,
        index,
        count,
        timeout=options.timeout,
        heartbeat=options.heartbeat,
        environ={},
        names={k: f"{names['cluster']} ({k} detected)" for k in _FLAGS},
    )
    if detected is None:  # one process
        return dataclasses.replace(options, process_id=0, num_processes=1), None
    return detected, local_ids


def _wait_reachable(options: Cluster, deadline: float, name: str) -> None:
    """Connect to the coordinator until it answers; a plain socket (the JAX runtime aborts the
    process when it cannot register in time)."""
    host, port = options.coordinator
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except socket.gaierror:
            raise ReconstructError(f"{name} {options.address}: unknown host {host!r}") from None
        except OSError:
            if time.monotonic() > deadline:
                raise ReconstructError(
                    f"{name} {options.address}: nothing answers there after {options.timeout:g} s "
                    "(is process 0 running, with this same address?)"
                ) from None
            time.sleep(0.2)


def _check_port_free(options: Cluster, name: str) -> None:
    """Process 0 serves at the coordinator's port: it must be free here."""
    port = options.coordinator[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError as e:
            raise ReconstructError(
                f"{name} {options.address}: process 0 serves there, but port {port} cannot be "
                f"had on this host ({e.strerror or e}); choose another port"
            ) from None


def mesh_devices(devices: int | None, name: str = "devices") -> list:
    """The mesh's devices: the first `devices` of every process (all of them for None in a
    run of several processes, one for None in a run of one), ordered by process.

    Raises:
        ReconstructError: a process has fewer than `devices`.
    """
    import jax

    local = jax.local_devices()
    processes = jax.process_count()
    wanted = (len(local) if processes > 1 else 1) if devices is None else devices
    if wanted > len(local):
        where = "in this process" if processes > 1 else "here"
        raise ReconstructError(
            f"{name} {wanted}: only {len(local)} {local[0].platform} device(s) {where}"
        )
    ordered = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    by_process = [[d for d in ordered if d.process_index == p] for p in range(processes)]
    return [d for mine in by_process for d in mine[:wanted]]


def local(tree: Any) -> Any:
    """`tree` with each JAX array as this process's copy of it (`addressable_data(0)`): a
    replicated array of a multi-process mesh is not readable whole (`np.asarray` refuses it),
    but every process holds all of it. For replicated arrays only."""
    import jax

    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


def is_writer() -> bool:
    """Whether this process writes the run's files (process 0 does; the others compute the
    same and write nothing)."""
    import jax

    return jax.process_index() == 0


def peak_rss_mb() -> list[float]:
    """Every process's peak resident memory, MiB, in process order (call it in every
    process: it is a collective). On Linux from `VmHWM` (`/proc/self/status`): the peak of this
    program alone, where `ru_maxrss` also keeps that of the process it was started from."""
    import numpy as np
    from jax.experimental import multihost_utils

    try:
        status = pathlib.Path("/proc/self/status").read_text()
        peak = int(re.search(r"VmHWM:\s*(\d+) kB", status).group(1)) / 2**10
    except (OSError, AttributeError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, bytes on macOS
        peak = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    return [float(x) for x in multihost_utils.process_allgather(np.float64(peak))]


def joined() -> None:
    """In a supervised child: tell the supervisor that every process has joined."""
    fd = os.environ.pop(_CHILD, None)
    if fd is not None:
        os.write(int(fd), b"joined")
        os.close(int(fd))


def supervised() -> bool:
    """Whether this process is the supervised child of `supervise`."""
    return _CHILD in os.environ


def supervise(argv: list[str], options: Cluster, names: Mapping[str, str]) -> int:
    """Run `ptyrax ARGV` in a child process and return its exit status; where the JAX runtime
    aborts it, print one line that says why instead (2 before every process has joined,
    1 after: another process died or stopped answering)."""
    ready_read, ready_write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "ptyrax_core.cli", *argv],
        stderr=subprocess.PIPE,
        env={**os.environ, _CHILD: str(ready_write)},
        pass_fds=(ready_write,),
        preexec_fn=_die_with_parent,
    )
    os.close(ready_write)
    forwarded = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for s in forwarded:
            signal.signal(s, lambda number, frame: child.send_signal(number))
    except ValueError:  # not the main thread: the child gets what the process group gets
        forwarded = {}
    ready, held, tail = False, bytearray(), bytearray()
    try:
        with selectors.DefaultSelector() as streams:
            streams.register(child.stderr.fileno(), selectors.EVENT_READ)
            streams.register(ready_read, selectors.EVENT_READ)
            while streams.get_map():
                for key, _ in streams.select():
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        streams.unregister(key.fd)
                    elif key.fd == ready_read:
                        ready = True  # joined: from now on its log goes straight through
                        sys.stderr.buffer.write(held)
                        held.clear()
                    else:
                        tail[:] = (tail + data)[-(1 << 16) :]
                        if ready:
                            sys.stderr.buffer.write(data)
                            sys.stderr.buffer.flush()
                        else:
                            held.extend(data)
        status = child.wait()
    finally:
        os.close(ready_read)
        for s, handler in forwarded.items():
            signal.signal(s, handler)
    if status in (-signal.SIGABRT, 128 + signal.SIGABRT):
        reason = _why_aborted(bytes(tail), ready, options, names)
        print(f"ptyrax reconstruct: error: {reason}", file=sys.stderr)
        return 1 if ready else 2
    sys.stderr.buffer.write(held)
    sys.stderr.flush()
    if status < 0:
        print(f"ptyrax reconstruct: error: killed by signal {-status}", file=sys.stderr)
        return 128 - status
    return status


def _why_aborted(log: bytes, ready: bool, options: Cluster, names: Mapping[str, str]) -> str:
    who = "" if options.process_id is None else f"process {options.process_id}: "
    if not ready:
        count = options.num_processes or "all"
        return (
            f"{who}the run's {count} processes did not all join at "
            f"{options.address if options.coordinator else 'the detected coordinator'} within "
            f"{names['timeout']} {options.timeout:g} s (start every one, with the same "
            f"{names['coordinator']} and {names['num_processes']})"
        )
    if b"stopped sending heartbeats" in log:
        return (
            f"{who}another process of the run died or stopped answering (no heartbeat for "
            f"{names['heartbeat']} {options.heartbeat:g} s); this one stopped too"
        )
    if b"coordination service" in log:
        return (
            f"{who}lost the coordinator (process 0): it died or cannot be reached; this one "
            "stopped too"
        )
    return f"{who}the JAX runtime aborted (another process may have died; see the log above)"


def _die_with_parent() -> None:
    """In the child, before it runs: die when the supervisor dies (Linux), so that killing a
    process of the run kills its computation too."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def use_devices(n: int | None, name: str = "--devices") -> None:
    """Make `n` devices available in this process: on a CPU, `n` host devices (asked for
    before JAX starts); None: as many as there are.

    Raises:
        ReconstructError: fewer than `n` devices can be had.
    """
    import jax

    if n is not None and n > 1:
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # JAX already started (a plugin ran JAX at import): keep what is
            pass
    available = jax.local_devices()
    if n is not None and len(available) < n:
        hint = (
            f" (start with XLA_FLAGS=--xla_force_host_platform_device_count={n} for host devices)"
            if available[0].platform == "cpu"
            else ""
        )
        raise ReconstructError(
            f"{name} {n}: only {len(available)} {available[0].platform} device(s) can be "
            f"had here{hint}"
        )
