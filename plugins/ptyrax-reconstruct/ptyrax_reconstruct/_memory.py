"""The memory a run needs, worked out before anything is allocated, and what there is.

`need` counts what each device holds during an epoch: its share of the frames, the
propagators, the model's components with their gradient and Adam's moments (the epoch's
inputs, kept until it ends well, its outputs and the loop's own copies) and the intermediates
of a step (the waves of every frame of a minibatch, kept for the gradient). The factors were
measured on XLA's own buffer assignment of the compiled epoch (`memory_analysis()`), and the
tests hold the estimate between that figure and three times it.
"""

import dataclasses
import math
import os
import pathlib

GIB = 2**30
STATE_COPIES = 12
"""Copies of a component's array an epoch holds: the values, Adam's two moments, as the
epoch's inputs and outputs and as the loop's carry, the gradient and the update."""


@dataclasses.dataclass(frozen=True)
class Need:
    """Bytes a run needs on each device, and on the host of each process for reading."""

    frames: int
    model: int
    step: int
    host: int

    @property
    def device(self) -> int:
        return self.frames + self.model + self.step


def need(
    *,
    frames: int,
    frame_shape: tuple[int, int],
    devices: int,
    local_devices: int,
    object_shape: tuple[int, int],
    slices: int,
    modes: int,
    batch_size: int,
    per_frame: dict[str, tuple[int, ...]],
    shared: dict[str, tuple[int, ...]],
) -> Need:
    """What a run needs (`Need`), from sizes alone (Python integers: nothing overflows).

    Arguments:
        frames, frame_shape: the scan's `N` and `(rows, columns)`.
        devices, local_devices: the devices of the run and of this process.
        object_shape, slices, modes: the object's `(rows, columns)`, its slices, probe modes.
        batch_size: the largest minibatch of the schedule (at most `frames`).
        per_frame, shared: each other component's array shape, complex64 or float32 alike
            counted at 8 bytes an element: one value a frame (positions, weights, per-position
            probes: `(N, ...)`, every device holds them whole) or one in all (background).
    """
    rows, columns = frame_shape
    pixels = rows * columns
    share = -(-frames // devices)
    per_device = -(-batch_size // devices)
    elements = slices * math.prod(object_shape) + modes * pixels
    elements += sum(math.prod(s) for s in (*per_frame.values(), *shared.values()))
    # a frame of a step: its waves through every slice and mode, the detector's, the counts
    step = per_device * pixels * 8 * (4 + 4 * modes + 3 * modes * (slices - 1))
    host = 2 * share * local_devices * pixels * 4  # read as float32, then placed
    return Need(
        frames=share * pixels * 4 + 3 * pixels * 8,
        model=STATE_COPIES * 8 * elements,
        step=step,
        host=host,
    )


def available(device, budget_gib: float | None = None) -> tuple[int, str]:
    """The bytes `device` may use, and what that figure is: `budget_gib` where given; a GPU's
    free memory; for a CPU device, the host's available memory (`MemAvailable`, within a
    cgroup's limit: a SLURM job's or a container's)."""
    if budget_gib is not None:
        return int(budget_gib * GIB), "as --device-memory says"
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), "free"
    return host_available(), "available in host memory"


def host_available() -> int:
    """The host's available memory in bytes, within this process's cgroup limit if any."""
    figures = []
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                figures.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    figures += _cgroup_room()
    if not figures:
        figures.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return min(figures)


def _cgroup_room() -> list[int]:
    """A cgroup's memory limit less its use (v2, then v1), where one is set."""
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            cap = pathlib.Path(limit).read_text().strip()
            used = int(pathlib.Path(usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if cap.isdigit() and int(cap) < 2**60:
            return [max(int(cap) - used, 0)]
    return []


def gib(count: int) -> str:
    """Bytes in GiB, as the messages print them."""
    return f"{count / GIB:.3g} GiB" if count < 1000 * GIB else f"{count / GIB:.3e} GiB"


def check(need: Need, devices: list, process: int, budget_gib: float | None = None) -> None:
    """Refuse a run that `need` says cannot fit on this process's `devices` (of the mesh),
    with the figures: on a CPU its devices share the host's memory, so their needs add up.

    Raises:
        ReconstructError: it does not fit (what it needs, where, and what there is).
    """
    from ._errors import ReconstructError

    local = [d for d in devices if d.process_index == process]
    parts = (
        f"frames {gib(need.frames)}, model and optimizer {gib(need.model)}, a step {gib(need.step)}"
    )
    hint = "; use smaller batches, more devices or hosts, or fewer slices or modes"
    if local[0].platform == "cpu" and budget_gib is None:
        total, have = need.device * len(local) + need.host, host_available()
        if total > have:
            raise ReconstructError(
                f"the run needs {gib(total)} of host memory ({len(local)} cpu device(s), each "
                f"{parts}; reading {gib(need.host)}), which has {gib(have)} available{hint}"
            )
        return
    for device in local:
        have, what = available(device, budget_gib)
        if need.device > have:
            raise ReconstructError(
                f"the run needs {gib(need.device)} on {device.platform}:{device.id} ({parts}), "
                f"which has {gib(have)} {what}{hint}"
            )
    if budget_gib is None and need.host > host_available():
        raise ReconstructError(
            f"reading the frames needs {gib(need.host)} of host memory, which has "
            f"{gib(host_available())} available{hint}"
        )
