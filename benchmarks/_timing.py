"""Interleaved paired timing, compiled-op histograms and the machine record.

Shared machines are noisy: a background job slows whatever runs while it runs. So the two sides
of every comparison run alternately, A then B, then B then A, and each pair gives one ratio
(or difference); the median over many pairs, with its interquartile range, is the result. A
slow spell hits both sides of the pairs it spans, and cancels out of their ratios.
"""

import collections
import dataclasses
import datetime
import gc
import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Paired:
    """Seconds of side `a` and side `b`, pair by pair."""

    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def ratios(self) -> list[float]:
        return [x / y for x, y in zip(self.a, self.b, strict=True)]

    @property
    def differences(self) -> list[float]:
        return [x - y for x, y in zip(self.a, self.b, strict=True)]

    @property
    def ratio(self) -> float:
        """The median of the pairs' ratios a / b."""
        return statistics.median(self.ratios)

    @property
    def difference(self) -> float:
        """The median of the pairs' differences a - b, in seconds."""
        return statistics.median(self.differences)

    @property
    def a_median(self) -> float:
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b)


def quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles (the interquartile range's ends)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    pairs: int,
    *,
    calls: int = 1,
    warm: bool = False,
    warmup: int = 2,
    self_timed: bool = False,
) -> Paired:
    """Time `a()` against `b()` in `pairs` interleaved pairs, after `warmup` untimed pairs.

    In each pair, each side runs `calls` times in a row, and its sample is the mean time of
    those calls. With `warm`, one untimed call comes first: on CPU, a jitted call that follows
    other work pays for waking XLA's worker threads (about 1 ms on a 2-core virtual machine),
    which is no property of the function; in a loop, calls follow each other and do not pay
    it. The sides alternate their order (a b, b a, a b, ...), so that neither always runs
    first. The callables must wait for their work to finish (`block_until_ready`). With
    `self_timed`, a call returns its own time in seconds instead of being timed here (work in
    a subprocess). Garbage collection is paused while timing.
    """
    for _ in range(warmup):
        a()
        b()
    times: dict[str, list[float]] = {"a": [], "b": []}

    def sample(name: str, f: Callable[[], Any]) -> None:
        if warm:
            f()
        total = 0.0
        for _ in range(calls):
            start = time.perf_counter()
            result = f()
            elapsed = time.perf_counter() - start
            total += float(result) if self_timed else elapsed
        times[name].append(total / calls)

    gc.collect()
    gc.disable()
    try:
        for k in range(pairs):
            if k % 2 == 0:
                sample("a", a)
                sample("b", b)
            else:
                sample("b", b)
                sample("a", a)
    finally:
        gc.enable()
    return Paired(tuple(times["a"]), tuple(times["b"]))


def pairs_of(pairs: int, calls: int = 1, what: str = "calls") -> str:
    """`100 pairs of 3 calls`, `1 pair`: how a result was sampled."""
    text = f"{pairs} pair{'s' if pairs != 1 else ''}"
    return text + (f" of {calls} {what}" if calls != 1 else "")


def format_ratio(paired: Paired, digits: int = 3) -> str:
    """`1.004 [0.991, 1.018]`: the median ratio and its interquartile range."""
    q1, q3 = quartiles(paired.ratios)
    return f"{paired.ratio:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def format_speedup(paired: Paired) -> str:
    """How many times faster side a is than side b: median of b / a, with its quartiles."""
    speedups = [y / x for x, y in zip(paired.a, paired.b, strict=True)]
    q1, q3 = quartiles(speedups)
    return f"{statistics.median(speedups):.1f}x [{q1:.1f}, {q3:.1f}]"


def speedup(paired: Paired) -> float:
    return statistics.median(y / x for x, y in zip(paired.a, paired.b, strict=True))


def median_seconds(call: Callable[[], Any], repeats: int) -> float:
    """The median wall time of `repeats` calls of `call` (a jitted call whose result it
    waits for), after one untimed call."""
    import jax

    jax.block_until_ready(call())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with a precision that fits their size."""
    value = 1e3 * seconds
    if abs(value) >= 100:
        return f"{value:.0f} ms"
    if abs(value) >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


# An HLO instruction: `%name = type opcode(operands)`; fused computations' bodies included.
_HLO_OP = re.compile(r"=\s.*?\s([a-z][\w.-]*)\(")


def op_histogram(compiled: Any) -> collections.Counter:
    """How often each HLO opcode occurs in a compiled function (`jit(f).lower(...).compile()`),
    in every computation of its optimized program, fused ones included."""
    return collections.Counter(_HLO_OP.findall(compiled.as_text()))


def compare_ops(a: collections.Counter, b: collections.Counter) -> tuple[bool, str]:
    """Whether two op histograms are equal, and `412 vs 412 ops, identical` or what differs."""
    text = f"{sum(a.values())} vs {sum(b.values())} ops"
    if a == b:
        return True, text + ", identical"
    diff = {op: a[op] - b[op] for op in sorted(set(a) | set(b)) if a[op] != b[op]}
    return False, text + "; differ: " + ", ".join(f"{op} {d:+d}" for op, d in diff.items())


def program_and_calls(
    step: Any, args: tuple, raw_step: Any, raw_args: tuple, pairs: int, calls: int, warm: bool
) -> tuple[tuple[bool, str], Paired]:
    """Two jitted steps: their optimized programs compared, and their calls paired."""
    import jax

    ops = compare_ops(
        op_histogram(step.lower(*args).compile()),
        op_histogram(raw_step.lower(*raw_args).compile()),
    )
    paired = interleaved(
        lambda: jax.block_until_ready(step(*args)),
        lambda: jax.block_until_ready(raw_step(*raw_args)),
        pairs,
        calls=calls,
        warm=warm,
    )
    return ops, paired


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_state() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if dirty else "")


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def host_devices() -> None:
    """One CPU device a usable core, asked for before JAX starts (a benchmark that shards
    over them, k, uses them; the others run on the first, as before). XLA's CPU FFT runs one
    thread an op, so FFT-bound work needs a device a core to use the machine."""
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", usable_cores())
    except RuntimeError:  # JAX has started already: keep its devices
        pass


def environment() -> dict[str, str]:
    """What a result depends on: the machine, its load, the device and the versions."""
    import jax

    devices = jax.devices()
    cpus = os.cpu_count()
    usable = usable_cores()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}, {platform.machine()}, {_cpu_model()}",
        "CPUs": f"{cpus} ({usable} usable by this process)",
        "load average at start (1, 5, 15 min)": load,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "device": f"{jax.default_backend()}: "
        + ", ".join(f"{d} ({d.device_kind})" for d in devices),
        "versions": ", ".join(
            f"{name} {_version(name)}"
            for name in ("jax", "jaxlib", "equinox", "numpy", "PyWavelets", "jaxwt", "pluggy")
        ),
        "ptyrax": ", ".join(
            f"{name} {_version(name)}"
            for name in sorted(
                {
                    d.metadata["Name"]
                    for d in importlib.metadata.distributions()
                    if d.metadata["Name"] and d.metadata["Name"].lower().startswith("ptyrax")
                }
            )
        ),
        "source": _git_state(),
    }
