"""k. Electron ptychography on abTEM's SrTiO3 scan: ptyrax against PtyRAD and phaser, and the
FFT floor.

The data: `examples/electron/sto.h5` (`python examples/electron/simulate.py --out
examples/electron/sto.h5`, about 80 s with abTEM): 1600 patterns of 64 x 64, 200 keV,
21.4 mrad, a 19.5 A crystal simulated in 10 slices, and its truth. Every tool reads that file
(its `frames`, 4D counts) with the same probe start (the aperture and `C10 = -78 A`, 30 %
off the true -60 A), batches of 64 and the same slices and probe modes:

- ptyrax: the example config (`examples/electron/sto.toml`: an aberration probe refining
  `C10`, a phase-only object), in this process, its frames shared over one host device a
  core (`ptyrax reconstruct --devices N`; XLA's CPU FFT runs one thread an op, and measured
  here an FFT of 256 waves of 64 x 64 costs 22 us a wave on both cores, 15 us on one); with
  K > 1 modes the probe's modes are a focal spread (10 A, trained);
- PtyRAD 1.0.0 (PyTorch, CPU) through its Python API (`benchmarks/_ptyrad_peer.py`);
- phaser 0.3.1 (JAX) with its LSQ-ML engine (`benchmarks/_phaser_peer.py`).

The peers run in their own Pythons (`PTYRAX_PTYRAD_PYTHON`, `PTYRAX_PHASER_PYTHON`, or this
one where it has the package); where one is missing its rows say so.

Speed: seconds an iteration (every frame once) with 1 and 6 slices x 1 and 4 modes. Rounds
alternate the tools (ptyrax, PtyRAD, phaser, then phaser, PtyRAD, ptyrax, ...); a round
gives each tool's median iteration (a peer's first iteration, which compiles or warms up, left
out; ptyrax's compiled before) and a ratio to ptyrax's of the same round. The target is judged
on the ratio of each tool's fastest iteration: PtyRAD's torch threads slow down up to tenfold
while other processes load a 2-core machine (measured: 0.6 s and 4.3 s medians of the same
iteration), and the fastest is each tool with the machine to itself. The FFT floor of
that iteration: the FFTs it needs, timed alone under jit in batches of 64: per frame and mode,
`2 S - 1` fft2 + ifft2 pairs (the forward model's `S - 1` propagations and its detector FFT,
and their adjoints in the gradient).

Quality: the projected phase (the slices' phases summed) against the truth over wall time
(from the start of each tool's reconstruction call: reading, compiling and every iteration),
with 5 slices and 1 mode, each tool as its documentation runs such data. The error: both
phases band-limited to the detected angle, registered to a sub-pixel shift, the mean
difference removed, RMS over the scanned region (the probe centres' bounding box).
"""

import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

import numpy as np

from ._report import Row
from ._timing import median_seconds, ms

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "electron" / "sto.h5"
EXAMPLE = ROOT / "examples" / "electron" / "sto.toml"
PLOT = ROOT / "docs" / "images" / "electron-peers.png"
TITLE = "k. electron (abTEM SrTiO3)"
THICKNESS = 19.525  # A, the crystal
BATCH = 64
C10 = -78.0  # A, the start (truth -60)
SPEED_CASES = {"full": ((1, 1), (1, 4), (6, 1), (6, 4)), "smoke": ((2, 2),)}
ROUNDS = {"full": 3, "smoke": 1}
EPOCHS = {"full": 4, "smoke": 2}  # ptyrax's timed epochs a round
PEER_ITERATIONS = {"full": 4, "smoke": 2}  # a peer's iterations a round (first not timed)
QUALITY_SLICES = 5
QUALITY = {  # iterations each tool runs for the error-over-time curve
    "full": {"ptyrax": 10, "PtyRAD": 30, "phaser": 30},
    "smoke": {"ptyrax": 2, "PtyRAD": 2, "phaser": 2},
}
PEERS = {"PtyRAD": ("ptyrad", "_ptyrad_peer.py"), "phaser": ("phaser", "_phaser_peer.py")}
TARGET_SPEED = 1 / 3  # ptyrax's iteration against PtyRAD's
TARGET_FLOOR = 3.0  # ptyrax's iteration against its FFT floor
TARGET_REACH = 1 / 3  # ptyrax's time to PtyRAD's final error against PtyRAD's time


# ---------------------------------------------------------------------------------------------
# data and evaluation


def _small_copy(source: pathlib.Path, target: pathlib.Path, scan: int) -> None:
    """The first `scan x scan` positions of the scan, with its truth and calibration."""
    import h5py

    with h5py.File(source) as f, h5py.File(target, "w") as g:
        rows, cols = f["frames"].shape[:2]
        keep = (np.arange(rows)[:scan, None] * cols + np.arange(cols)[None, :scan]).ravel()
        g["frames"] = f["frames"][:scan, :scan]
        g["mask"] = f["mask"][()]
        for name in ("phase", "probe", "slice_phase"):
            g[f"truth/{name}"] = f[f"truth/{name}"][()]
        g["truth/corners"] = f["truth/corners"][()][keep]
        g["truth/intensities"] = f["truth/intensities"][:scan, :scan]
        for k, v in f.attrs.items():
            g.attrs[k] = v
        g.attrs["scan_shape"] = np.array([scan, scan])


def _band(image: np.ndarray, cutoff: float) -> np.ndarray:
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    return np.real(np.fft.ifft2(np.fft.fft2(image) * (np.hypot(ky, kx) <= cutoff)))


def _shift_to(reference: np.ndarray, image: np.ndarray, search: int = 2) -> np.ndarray:
    """`image` moved by the sub-pixel shift (cross-correlation peak within `search` pixels,
    refined by a parabola) that best lays it on `reference`."""
    cc = np.real(
        np.fft.ifft2(
            np.fft.fft2(reference - reference.mean()) * np.conj(np.fft.fft2(image - image.mean()))
        )
    )
    n0, n1 = cc.shape
    i, j = max(
        ((a, b) for a in range(-search, search + 1) for b in range(-search, search + 1)),
        key=lambda ab: cc[ab[0] % n0, ab[1] % n1],
    )

    def vertex(m, c, p):
        d = m - 2 * c + p
        return 0.5 * (m - p) / d if d else 0.0

    c = cc[i % n0, j % n1]
    s = (
        i + vertex(cc[(i - 1) % n0, j % n1], c, cc[(i + 1) % n0, j % n1]),
        j + vertex(cc[i % n0, (j - 1) % n1], c, cc[i % n0, (j + 1) % n1]),
    )
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (ky * s[0] + kx * s[1]))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * ramp))


class Truth:
    """The file's projected phase; `error(phase, corners)` for any tool's object, given each
    window's top-left corner in that object's pixels (frame order of the file)."""

    def __init__(self, path: pathlib.Path):
        import h5py

        with h5py.File(path) as f:
            self.phase = f["truth/phase"][()]
            self.corners = f["truth/corners"][()]
            self.window = f["frames"].shape[-1]
            self.cutoff = f.attrs["detected_angle_mrad"] / (
                f.attrs["angle_pixel_mrad"] * self.window
            )

    def aligned(self, phase: np.ndarray, corners: np.ndarray):
        """`phase` and the truth, band-limited to the detected angle, over the probe centres'
        box: `phase` shifted onto the truth (sub-pixel) and its constant removed; with the
        box's top-left pixel in `phase` and the truth's whole-pixel offset from it."""
        offset = np.round(self.corners[0] - corners[0]).astype(int)
        g = self.phase.shape[0]
        rows, cols = (np.arange(k) for k in phase.shape)
        truth = self.phase[np.ix_((offset[0] + rows) % g, (offset[1] + cols) % g)]
        lo = np.ceil(corners.min(axis=0) + self.window // 2).astype(int)
        hi = np.floor(corners.max(axis=0) + self.window // 2).astype(int) + 1
        region = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
        t = _band(truth, self.cutoff)[region]
        p = _shift_to(t, _band(phase, self.cutoff)[region])
        return p - (p - t).mean(), t, lo, offset

    def error(self, phase: np.ndarray, corners: np.ndarray) -> float:
        p, t, _, _ = self.aligned(phase, corners)
        return float(np.sqrt(np.mean((p - t) ** 2)))


# ---------------------------------------------------------------------------------------------
# ptyrax, in this process


def _config(data: pathlib.Path, slices: int, modes: int, epochs: int):
    from ptyrax_reconstruct import load_config

    raw = tomllib.loads(EXAMPLE.read_text())
    raw["data"]["file"] = str(data)
    raw["geometry"]["slices"] = slices
    if slices == 1:
        raw["geometry"].pop("slice_spacing")
    else:
        raw["geometry"]["slice_spacing"] = THICKNESS / slices
    raw["model"]["probe"]["aberrations"]["C10"] = C10
    if modes > 1:
        raw["model"]["probe_modes"] = modes
        raw["model"]["probe"]["focal_spread"] = 10.0
        raw["model"]["probe"]["trainable"] = ["C10", "focal_spread"]
    raw["fit"]["stages"] = [{"epochs": epochs, "learning_rate": 0.02, "batch_size": BATCH}]
    return load_config(raw, base_dir=data.parent)


def _devices() -> int:
    """The devices ptyrax's fit shares its frames over: on a CPU every host device (one a
    core, `run.py` asks for them), as `ptyrax reconstruct --devices N` does; else one."""
    import jax

    return len(jax.devices()) if jax.default_backend() == "cpu" else 1


class _Ours:
    """A prepared ptyrax fit that goes on epoch after epoch."""

    def __init__(self, data: pathlib.Path, slices: int, modes: int, epochs: int = 10):
        from ptyrax_reconstruct._run import prepare

        self.config = _config(data, slices, modes, epochs)
        self.setup = prepare(self.config, devices=_devices())
        self.params = self.setup.params
        self.state = self.setup.fitter.init(self.params)
        self.epochs = 0

    def epoch(self) -> float:
        import jax
        from ptyrax_reconstruct._fit import minibatches

        fitter = self.setup.fitter
        batches = minibatches(fitter.problem, BATCH, self.config.seed, self.epochs)
        start = time.perf_counter()
        self.params, self.state, report = fitter.epoch(
            self.params, self.state, self.config.rates(self.epochs), batches
        )
        jax.block_until_ready((self.params, report["loss"]))
        self.epochs += 1
        return time.perf_counter() - start

    def phase_and_corners(self) -> tuple[np.ndarray, np.ndarray]:
        import equinox as eqx
        import jax

        import ptyrax_core

        model = eqx.combine(self.params, self.setup.static)
        arrays = jax.device_get(ptyrax_core.resolve_parametrizations(model))
        obj = np.asarray(arrays["object"])
        phase = np.angle(obj).sum(0) if obj.ndim == 3 else np.angle(obj)
        return phase, np.asarray(arrays["positions"], np.float64)


def _fft_floor(pairs: int, frames: int, n: int, modes: int = 1, repeats: int = 5) -> float:
    """Seconds for `pairs` fft2 + ifft2 pairs on each of `frames` x `modes` n x n waves, in
    batches of BATCH frames one after another, each batch's frames shared over the devices
    ptyrax uses (`_devices`), each device's share one FFT of its frames x `modes` waves."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    rng = np.random.default_rng(0)
    steps = -(-frames // BATCH)
    mesh = Mesh(np.array(jax.devices()[: _devices()]), ("d",))
    spec = PartitionSpec(None, "d")
    waves = jax.device_put(
        jnp.asarray(rng.normal(size=(steps, BATCH, modes, n, n)) + 0j, jnp.complex64),
        NamedSharding(mesh, spec),
    )

    def step(x):
        for _ in range(pairs):
            x = jnp.fft.ifft2(jnp.fft.fft2(x) * 1.0001)
        return x

    epoch = jax.jit(
        jax.shard_map(lambda w: jax.lax.map(step, w), mesh=mesh, in_specs=spec, out_specs=spec)
    )
    return median_seconds(lambda: epoch(waves), repeats)


# ---------------------------------------------------------------------------------------------
# the peers, in their own Pythons


def _peer_python(tool: str) -> str | None:
    module, _ = PEERS[tool]
    name = f"PTYRAX_{tool.upper()}_PYTHON"
    if os.environ.get(name):
        return os.environ[name] if os.path.exists(os.environ[name]) else None
    return sys.executable if importlib.util.find_spec(module) is not None else None


def _peer(
    tool: str,
    python: str,
    data: pathlib.Path,
    out: pathlib.Path,
    slices: int,
    modes: int,
    iterations: int,
    scan: int,
    snapshots: str = "",
) -> dict:
    _, script = PEERS[tool]
    command = [
        python,
        str(ROOT / "benchmarks" / script),
        "--data",
        str(data),
        "--out",
        str(out),
        "--slices",
        str(slices),
        "--thickness",
        str(THICKNESS),
        "--modes",
        str(modes),
        "--batch",
        str(BATCH),
        "--iterations",
        str(iterations),
        "--c10",
        str(C10),
        "--scan",
        str(scan),
        str(scan),
        "--snapshots",
        snapshots,
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(out.read_text())


def _peer_iteration(result: dict) -> float:
    seconds = result["iteration_seconds"]
    return statistics.median(seconds[1:] or seconds)


# ---------------------------------------------------------------------------------------------
# the benchmark


def _speed(mode: str, data: pathlib.Path, scan: int, pythons: dict, folder: pathlib.Path):
    rows = []
    judged = mode == "full"
    frames = scan * scan
    for slices, modes in SPEED_CASES[mode]:
        case = f"{slices} slice{'s' if slices > 1 else ''}, {modes} mode{'s' if modes > 1 else ''}"
        ours = _Ours(data, slices, modes, epochs=2 + ROUNDS[mode] * EPOCHS[mode])
        for _ in range(2):  # compiles, for the first params and for those an epoch returns
            ours.epoch()
        times = {"ptyrax": [], **{t: [] for t in pythons}}
        every = {t: [] for t in times}  # every timed iteration, for the fastest
        for r in range(ROUNDS[mode]):
            order = ["ptyrax", *pythons]
            for tool in order if r % 2 == 0 else order[::-1]:
                if tool == "ptyrax":
                    epochs = [ours.epoch() for _ in range(EPOCHS[mode])]
                    times["ptyrax"].append(statistics.median(epochs))
                    every["ptyrax"] += epochs
                else:
                    result = _peer(
                        tool,
                        pythons[tool],
                        data,
                        folder / f"{tool}-{slices}-{modes}-{r}.json",
                        slices,
                        modes,
                        PEER_ITERATIONS[mode],
                        scan,
                    )
                    times[tool].append(_peer_iteration(result))
                    every[tool] += result["iteration_seconds"][1:]
        del ours
        epoch = statistics.median(times["ptyrax"])
        floor = _fft_floor((2 * slices - 1) * modes, frames, 64)
        batched = _fft_floor(2 * slices - 1, frames, 64, modes) if modes > 1 else floor
        for tool in PEERS:
            if tool not in pythons:
                rows.append(
                    Row(
                        TITLE,
                        f"{case}: s an iteration against {tool}",
                        ms(epoch),
                        "not measured",
                        "",
                        "<= 0.333" if tool == "PtyRAD" else "",
                        None,
                        f"no Python with {tool} here: set PTYRAX_{tool.upper()}_PYTHON",
                    )
                )
                continue
            ratios = [a / b for a, b in zip(times["ptyrax"], times[tool], strict=True)]
            ratio = statistics.median(ratios)
            fastest = min(every["ptyrax"]) / min(every[tool])
            target = tool == "PtyRAD"
            rows.append(
                Row(
                    TITLE,
                    f"{case}: s an iteration ({frames} frames, batch {BATCH}) against {tool}",
                    f"{ms(epoch)} (fastest {ms(min(every['ptyrax']))})",
                    f"{ms(statistics.median(times[tool]))} (fastest {ms(min(every[tool]))})",
                    f"fastest {fastest:.3f}; paired medians {ratio:.3f} ["
                    + ", ".join(f"{x:.3f}" for x in ratios)
                    + "]",
                    "<= 0.333" if target else "",
                    (fastest <= TARGET_SPEED if judged else None) if target else None,
                    f"ptyrax on {_devices()} device(s) (one a core: --devices {_devices()}), "
                    f"{tool} on the same cores; "
                    f"{ROUNDS[mode]} rounds, tools alternating; per round ptyrax's median of "
                    f"{EPOCHS[mode]} epochs, a peer's of {PEER_ITERATIONS[mode] - 1} iterations "
                    "after its first; judged on the fastest iterations: torch's threads slow by "
                    "up to 10x while other processes load the cores",
                )
            )
        rows.append(
            Row(
                TITLE,
                f"{case}: ptyrax's iteration against its FFT floor",
                ms(epoch),
                ms(floor),
                f"{epoch / floor:.2f}x",
                f"<= {TARGET_FLOOR:g}x",
                epoch / floor <= TARGET_FLOOR if judged else None,
                f"{(2 * slices - 1) * modes} fft2 + ifft2 pairs a frame, 64 x 64 complex64, "
                f"jitted, {BATCH} transforms an FFT split over {_devices()} device(s)"
                + (
                    f"; with the {modes} modes in each FFT's batch ({BATCH * modes} transforms, "
                    f"as the model does them): {ms(batched)}"
                    if modes > 1
                    else ""
                ),
            )
        )
    return rows


def _curve(ends: list[float], errors: list[float], at: float) -> float:
    """The error of the last snapshot made by wall time `at` (nan before the first)."""
    done = [e for t, e in zip(ends, errors, strict=True) if t <= at]
    return done[-1] if done else float("nan")


def _reach(ends: list[float], errors: list[float], level: float) -> float:
    """The wall time at which the error first is `level` or lower (inf if never)."""
    return next((t for t, e in zip(ends, errors, strict=True) if e <= level), float("inf"))


def _quality(mode: str, data: pathlib.Path, scan: int, pythons: dict, folder: pathlib.Path):
    truth = Truth(data)
    counts = QUALITY[mode]
    curves = {}
    # ptyrax: the reconstruction call's work (read, prepare, compile, epochs), snapshots aside
    start = time.perf_counter()
    ours = _Ours(data, QUALITY_SLICES, 1, counts["ptyrax"])
    ends, errors, paused = [], [], 0.0
    for _ in range(counts["ptyrax"]):
        ours.epoch()
        ends.append(time.perf_counter() - start - paused)
        t0 = time.perf_counter()
        errors.append(truth.error(*ours.phase_and_corners()))
        paused += time.perf_counter() - t0
    curves["ptyrax"] = (ends, errors)
    del ours
    for tool, python in pythons.items():
        n = counts[tool]
        out = folder / f"{tool}-quality.json"
        result = _peer(
            tool,
            python,
            data,
            out,
            QUALITY_SLICES,
            1,
            n,
            scan,
            ",".join(str(i) for i in range(1, n + 1)),
        )
        snaps = np.load(result["npz"])
        corners = snaps["corners"]
        curves[tool] = (
            result["iteration_end_seconds"],
            [truth.error(snaps[f"phase_{i}"], corners) for i in range(1, n + 1)],
        )
    return curves


def _plot(curves: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for tool, (ends, errors) in curves.items():
        ax.plot(ends, errors, "o-", ms=3, label=tool)
    ax.set_xlabel("wall time from the start of the reconstruction call (s)")
    ax.set_ylabel("projected phase error (rad RMS)")
    ax.set_title("SrTiO3 (abTEM), 5 slices, 1 mode, batch 64, 2-core CPU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _quality_rows(mode: str, curves: dict) -> list[Row]:
    judged = mode == "full"
    ends, errors = curves["ptyrax"]
    final_time, final_error = ends[-1], errors[-1]
    rows = []
    for tool in PEERS:
        if tool not in curves:
            rows.append(
                Row(
                    TITLE,
                    f"phase error after the same wall time, against {tool}",
                    f"{final_error:.4f} rad at {final_time:.1f} s",
                    "not measured",
                    "",
                    "lower",
                    None,
                    f"no Python with {tool} here: set PTYRAX_{tool.upper()}_PYTHON",
                )
            )
            continue
        peer_ends, peer_errors = curves[tool]
        theirs = _curve(peer_ends, peer_errors, final_time)
        rows.append(
            Row(
                TITLE,
                f"phase error after ptyrax's {len(ends)} epochs' wall time, against {tool}",
                f"{final_error:.4f} rad at {final_time:.1f} s",
                f"{theirs:.4f} rad" if np.isfinite(theirs) else "no iteration done yet",
                f"{final_error - theirs:+.4f} rad" if np.isfinite(theirs) else "",
                "lower",
                (not np.isfinite(theirs) or final_error < theirs) if judged else None,
                f"{tool}'s final: {peer_errors[-1]:.4f} rad after {len(peer_ends)} iterations, "
                f"{peer_ends[-1]:.1f} s; truth's own RMS (band-limited) about 0.34 rad",
            )
        )
    if "PtyRAD" in curves:
        peer_ends, peer_errors = curves["PtyRAD"]
        level = peer_errors[-1]
        reach = _reach(ends, errors, level)
        ratio = reach / peer_ends[-1]
        rows.append(
            Row(
                TITLE,
                "time to reach PtyRAD's final phase error",
                f"{reach:.1f} s" if np.isfinite(reach) else "not reached",
                f"{peer_ends[-1]:.1f} s ({level:.4f} rad)",
                f"{ratio:.3f}" if np.isfinite(reach) else "",
                "<= 0.333",
                ratio <= TARGET_REACH if judged else None,
                f"PtyRAD: {len(peer_ends)} iterations of its standard template; ptyrax: "
                "the example config, wall time from the reconstruction call's start",
            )
        )
    return rows


def run(mode: str) -> list[Row]:
    smoke = mode == "smoke"
    if not DATA.exists():
        return [
            Row(
                TITLE,
                "all",
                "not measured",
                "",
                "",
                "",
                None,
                f"no {DATA.relative_to(ROOT)}: make it with examples/electron/simulate.py "
                "(abTEM 1.0.11, about 80 s)",
            )
        ]
    pythons = {t: p for t in PEERS if (p := _peer_python(t)) is not None}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        data, scan = DATA, 40
        if smoke:  # the first 8 x 8 positions
            data, scan = folder / "small.h5", 8
            _small_copy(DATA, data, scan)
        rows = _speed(mode, data, scan, pythons, folder)
        curves = _quality(mode, data, scan, pythons, folder)
        (folder / "curves.json").write_text(json.dumps(curves))
    if not smoke:
        _plot(curves, PLOT)
        print(f"[k] curves: {json.dumps(curves)}", file=sys.stderr)
    return rows + _quality_rows(mode, curves)
