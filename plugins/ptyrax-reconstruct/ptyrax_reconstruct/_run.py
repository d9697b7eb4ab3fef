"""A run: config -> scan and model -> fit -> result (and the outputs, when given a folder)."""

import dataclasses
import itertools
import json
import os
import pathlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import ptyrax_core

from . import _memory
from ._config import Config, load_config
from ._cxi import Scan
from ._distributed import is_writer, local, mesh_devices, peak_rss_mb
from ._errors import (
    DivergedError,
    Interrupted,
    NoiseFitWarning,
    ReconstructError,
    ReconstructWarning,
    RisingLossWarning,
)
from ._fit import (
    PER_FRAME,
    Fitter,
    frames_per_process,
    make_problem,
    mean_frame,
    minibatches,
    resolve,
)
from ._geometry import Geometry, geometry
from ._guess import check_object, check_positions, pixel_positions, probe_guess
from ._model import build_component, is_index_dependent, takes
from ._penalties import build_terms, check_terms
from ._propagate import angular_phase, angular_spectrum
from ._readers import read_data

CHECKPOINT = "checkpoint.ptyrax"
_FORMAT = "ptyrax-reconstruct"


@dataclasses.dataclass(frozen=True)
class Result:
    """What a reconstruction produced.

    Attributes:
        model: the fitted model (parametrizations), the probe at unit scale.
        object: `(rows, columns)` complex64; `(slices, rows, columns)` for a multislice one.
        probe: `(modes, p, q)` complex64, in `sqrt(counts)`; with per-position probes,
            their mean over the frames.
        probes: the per-position probes `(N, modes, p, q)`, or None for a shared probe.
        positions: the probe's top-left corner on the object, `(N, 2)` pixels.
        initial_positions: the same, as read from the file.
        translations: the refined sample translations, `(N, 3)` metres.
        background, weights: `(p, q)` counts and `(N,)`, or None where the model has none.
        geometry: the sampling and propagation.
        epoch_loss, epoch_deviance, epoch_seconds: one per epoch.
        epoch_noise_floor: the reduced deviance that a model exactly right would have on
            average, estimated at each epoch's model intensities (`deviance_moments`): one
            per epoch where `fit.stop_at_noise_floor` is set, else none (it costs about 5 %
            of an epoch).
        final_deviance: the reduced Poisson deviance over every frame at the final parameters.
        noise_floor, noise_floor_spread: the noise floor at the final parameters and its
            standard deviation (over the Poisson draws of the counts): a final deviance
            below `noise_floor - 2 * noise_floor_spread` fits noise (`NoiseFitWarning`).
        stopped_at_noise_floor: the epoch (from 1) after which `fit.stop_at_noise_floor`
            ended the fit, or None.
        final_loss: the loss per pixel over every frame at the final parameters.
        config: the run's config.
        devices, processes: the mesh's devices in all, and the processes they belong to.
        frames_per_process: the real frames each process held and read from the file.
        peak_rss_mb: every process's peak resident memory (MiB) at the end, in process order.
        memory_need_mb: what the engine worked out before the run that a device needs (MiB).
        frames_dtype: the type the frames were held in on the devices (`compact_dtype`).

    `outside` counts the frames whose refined window runs off the object (its edge is used
    there instead: raise `geometry.padding`).
    """

    model: dict
    object: np.ndarray
    probe: np.ndarray
    positions: np.ndarray
    initial_positions: np.ndarray
    translations: np.ndarray
    background: np.ndarray | None
    weights: np.ndarray | None
    geometry: Geometry
    epoch_loss: list[float]
    epoch_deviance: list[float]
    epoch_seconds: list[float]
    final_deviance: float
    final_loss: float
    config: Config
    probes: np.ndarray | None = None
    devices: int = 1
    processes: int = 1
    frames_per_process: tuple[int, ...] = ()
    peak_rss_mb: tuple[float, ...] = ()
    memory_need_mb: float | None = None
    frames_dtype: str = "float32"
    epoch_noise_floor: list[float] = dataclasses.field(default_factory=list)
    noise_floor: float = float("nan")
    noise_floor_spread: float = float("nan")
    stopped_at_noise_floor: int | None = None

    @property
    def outside(self) -> int:
        corner = np.round(self.positions)
        limit = np.array(self.object.shape[-2:]) - np.array(self.probe.shape[1:])
        return int(np.sum(np.any((corner < 0) | (corner > limit), axis=1)))


@dataclasses.dataclass
class _Setup:
    config: Config
    scan: Scan
    geometry: Geometry
    fitter: Fitter
    params: Any
    static: Any
    probe_scale: float
    initial_positions: np.ndarray
    need: _memory.Need | None = None


def prepare(
    config: Config,
    scan: Scan | None = None,
    devices: int | None = None,
    initial: dict[str, np.ndarray] | None = None,
    device_memory: float | None = None,
) -> _Setup:
    """Read the scan (this process's share of the frames), make the geometry, the initial
    guesses, the model and the compiled loop; refuse, before anything large is allocated, a
    run whose positions do not overlap, whose object is too large or that does not fit the
    devices' memory (`device_memory`: GiB a device may use, instead of what it has)."""
    terms = build_terms(config.penalties, list(config.model))
    if scan is None:
        scan = read_data(
            config.data, config.reader, config.reader_arguments, length_unit=config.length_unit
        )
    mesh = mesh_devices(devices, "--devices")
    n, rows, columns = scan.frames_shape
    if len(mesh) > n:
        raise ReconstructError(
            f"--devices {devices}: {len(mesh)} devices in all is more than the {n} frames to share"
        )
    geo = geometry(
        propagation=config.propagation,
        wavelength=scan.wavelength,
        detector_distance=scan.distance,
        detector_basis=scan.basis,
        frame_shape=(rows, columns),
        focus_to_sample=config.focus_to_sample,
    )
    positions, span = pixel_positions(geo, scan.translations, config.padding)
    where = scan.where("translation") if scan.path else "scan.translations"
    check_positions(positions, (rows, columns), where, min(geo.pixel))
    shape = (span[0] + rows + config.padding, span[1] + columns + config.padding)
    check_object(shape, where)
    need = memory_need(config, scan, mesh, shape)
    _memory.check(need, mesh, jax.process_index(), device_memory)
    frames, valid = scan.frames, scan.valid
    if geo.propagation == "far_field":  # zero frequency at [0, 0], once, on the host
        frames = lambda part: np.fft.ifftshift(scan.frames(part), axes=(-2, -1))  # noqa: E731
        valid = np.fft.ifftshift(valid)
    slice_transfer = slice_phase = None
    if config.slices > 1:
        slice_transfer = angular_spectrum(
            (rows, columns), geo.pixel, geo.wavelength, config.slice_spacing
        )
        if "slice_spacing" in config.model:  # refined: the transfer made from its phase
            slice_phase = angular_phase(
                (rows, columns), geo.pixel, geo.wavelength, config.slice_spacing
            )
    transfer = None
    if geo.propagation == "near_field":
        transfer = angular_spectrum((rows, columns), geo.pixel, geo.wavelength, geo.distance)
    for propagator, what, z in (
        (transfer, "the detector distance", geo.distance),
        (slice_transfer, "geometry.slice_spacing", config.slice_spacing),
    ):
        if propagator is not None and not np.isfinite(propagator).all():
            raise ReconstructError(
                f"{what}: the propagator over {z:g} m (wavelength {geo.wavelength:g} m, pixel "
                f"{geo.pixel[0]:g} m) is not finite"
            )
    problem = make_problem(
        frames, n, valid, transfer, config.loss, mesh, slice_transfer, slice_phase
    )
    mean = mean_frame(problem)
    if not np.any(mean[valid] > 0):
        raise ReconstructError(
            f"{scan.where('data')}: every frame is empty (no count in any valid pixel): "
            "nothing to reconstruct"
        )
    probe = probe_guess(mean, valid, geo, config.probe_modes)
    initial = dict(initial or {})
    if "probe" in initial and np.shape(initial["probe"]) == probe.shape:
        probe = np.asarray(initial.pop("probe"), np.complex64)
    scale = float(np.abs(probe).max())  # the model holds the probe at unit scale
    guesses = {
        "object": np.ones(shape, np.complex64),
        "probe": probe / scale,
        "positions": positions.astype(np.float32),
        "weights": np.ones(n, np.float32),
        "background": np.full((rows, columns), 1e-2, np.float32),
        "slice_spacing": np.ones(1, np.float32),  # a multiple of geometry.slice_spacing
    }
    for name, guess in initial.items():
        if name not in guesses or np.shape(guess) != np.shape(guesses[name]):
            raise ReconstructError(
                f"initial[{name!r}]: expected a guess for one of {list(guesses)} of shape "
                f"{np.shape(guesses.get(name))}; got shape {np.shape(guess)}"
            )
        if not np.isfinite(guess).all():
            raise ReconstructError(f"initial[{name!r}]: holds non-finite values")
        guesses[name] = np.asarray(guess, guesses[name].dtype)
    sampling = {"wavelength": geo.wavelength, "pixel_size": [float(p) for p in geo.pixel]}
    whole = config.slices > 1 and takes(config.model["object"], "slices")
    if whole:  # the object's type makes every slice at once
        guesses["object"] = np.repeat(guesses["object"][None], config.slices, axis=0)
    model = {
        c: build_component(
            c,
            spec,
            guesses[c],
            config.base_dir,
            n if c in SHARED else None,
            {**sampling, "slices": config.slices, "slice_spacing": config.slice_spacing}
            if c == "object" and whole
            else sampling,
        )
        for c, spec in config.model.items()
    }
    for c, component in model.items():
        leaves = jax.tree.leaves(eqx.filter(component, eqx.is_inexact_array))
        if not all(np.isfinite(np.asarray(x)).all() for x in leaves):
            raise ReconstructError(
                f"config: model.{c}: its parametrization holds non-finite values when started "
                f"at the {c} guess (type {config.model[c]['type']!r})"
            )
    if config.slices > 1 and not whole:  # a multislice object: one member a slice
        model["object"] = jax.tree.map(lambda x: jnp.stack([x] * config.slices), model["object"])
    model = jax.device_put(
        model, jax.sharding.NamedSharding(problem.mesh, jax.sharding.PartitionSpec())
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    lazy = tuple(  # elementwise: a per-frame array type's rows move with their frames too
        c
        for c, x in model.items()
        if c in PER_FRAME or isinstance(x, ptyrax_core.IndexDependentParameter)
    )
    check_terms(terms, resolve(model, scale))
    fitter = Fitter(
        problem,
        static,
        probe_scale=scale,
        lazy=lazy,
        penalties=terms,
        floor_each_epoch=config.stop_at_noise_floor,
    )
    return _Setup(config, scan, geo, fitter, params, static, scale, positions, need)


SHARED = ("object", "probe", "background", "slice_spacing")
"""The components with one guess for all frames; the rest have one a frame."""


def memory_need(config: Config, scan: Scan, mesh: list, object_shape) -> _memory.Need:
    """What the run needs on each device of `mesh` (`_memory.need`), from the sizes alone."""
    n, rows, columns = scan.frames_shape
    per_frame = {"positions": (n, 2)}
    shared = {}
    sizes = {"weights": (n,), "background": (rows, columns)}
    for c in config.model:
        if c in sizes:
            (shared if c in SHARED else per_frame)[c] = sizes[c]
    if is_index_dependent(config.model["probe"]):  # one probe a frame
        per_frame["probe"] = (n, config.probe_modes, rows, columns)
    return _memory.need(
        frames=n,
        frame_shape=(rows, columns),
        devices=len(mesh),
        local_devices=sum(d.process_index == jax.process_index() for d in mesh),
        object_shape=object_shape,
        slices=config.slices,
        modes=config.probe_modes,
        batch_size=max(min(s.batch_size, n) for s in config.stages),
        per_frame=per_frame,
        shared=shared,
    )


def reconstruct(
    config: Config | str | os.PathLike | dict,
    *,
    out: str | os.PathLike | None = None,
    devices: int | None = None,
    resume: str | os.PathLike | None = None,
    scan: Scan | None = None,
    initial: dict[str, np.ndarray] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    stop: Any = None,
    device_memory: float | None = None,
) -> Result:
    """Reconstruct a scan as `config` says; write the outputs into `out` if given.

    Arguments:
        config: a `Config`, a TOML file or a dict (see the config reference).
        out: the folder for metrics.json, reconstruction.png, reconstruction.h5 and the
            checkpoint (written every `fit.checkpoint_every` epochs and at the end).
        devices: how many devices of each process share the frames (None: 1 in a run of one
            process, all of each process's after `initialize_distributed`).
        resume: a checkpoint of this model (`checkpoint.ptyrax` from an earlier run, of any
            number of processes): the run continues after its last epoch, and ends as the
            uninterrupted run would.
        scan: the scan itself, instead of the config's file (simulated data, say).
        initial: initial guesses to use instead of the engine's, by component (`"probe"`:
            `(modes, p, q)` in `sqrt(counts)`; `"object"`; `"positions"`: pixels, as
            `Result.positions`; `"weights"`; `"background"`), such as an earlier result.
        progress: called as `progress(epoch, epochs, loss)` after every epoch.
        stop: asked before every epoch (`stop.is_set()`, a `threading.Event` say): when set,
            the run writes its checkpoint and raises `Interrupted` (its `signal` attribute, if
            any, is passed on). The processes of a run agree on it.
        device_memory: GiB each device may use (default: what it has free; on a CPU, the
            host's available memory, shared by its devices).

    In a run of several processes every process calls it alike and gets the same result;
    only process 0 writes into `out`.

    Raises:
        ReconstructError: bad input (one line that says what and where), found before the
            fit starts: a run that cannot fit the devices' memory among it.
        DivergedError: the loss or a component went non-finite; the checkpoint then holds
            the last finite state (the start of that epoch). No other output is written.
        Interrupted: `stop` was set.
    """
    if not isinstance(config, Config):
        config = load_config(config)
    out = None if out is None or not is_writer() else _check_writable(pathlib.Path(out))
    setup = prepare(config, scan, devices, initial, device_memory)
    fitter, params = setup.fitter, setup.params
    n = fitter.problem.n_frames
    for i, stage in enumerate(config.stages):
        if stage.batch_size > n and is_writer():
            warnings.warn(
                f"fit.stages[{i}].batch_size {stage.batch_size} is more than the {n} frames: "
                f"batches of {n}",
                ReconstructWarning,
                stacklevel=2,
            )
    state = fitter.init(params)
    history = {"epoch_loss": [], "epoch_deviance": [], "epoch_seconds": []}
    if fitter.floor_each_epoch:
        history["epoch_noise_floor"] = []
    first = 0
    if resume is not None:
        params, state, history, first = _resume(pathlib.Path(resume), setup, state)
    if out is not None:
        _make(out)
    checkpoint = None if out is None else out / CHECKPOINT
    rising, stopped = False, None
    for epoch in range(first, config.epochs):
        asked = _stop_asked(stop)
        if asked:
            if checkpoint is not None:
                _checkpoint(checkpoint, setup, params, state, history, epoch)
            raise Interrupted(epoch, checkpoint, None if asked < 0 else asked)
        stage = config.stage_at(epoch)
        rates = config.rates(epoch)
        batches = minibatches(fitter.problem, min(stage.batch_size, n), config.seed, epoch)
        start = time.perf_counter()
        new_params, new_state, report = fitter.epoch(params, state, rates, batches)
        report = jax.device_get(local(report))
        seconds = time.perf_counter() - start
        if report["bad_step"] >= 0 or not all(report["finite"].values()):
            what, step = fitter.diagnose(params, state, rates, batches)
            if checkpoint is not None:  # the last finite state: this epoch's start
                _checkpoint(checkpoint, setup, params, state, history, epoch)
            raise _diverged(epoch + 1, what, f"step {step + 1} of {len(batches)}", checkpoint)
        params, state = new_params, new_state
        history["epoch_seconds"].append(seconds)
        history["epoch_loss"].append(float(report["loss"]) / fitter.pixels_per_frame / n)
        lit = max(fitter.lit_pixels, 1)
        history["epoch_deviance"].append(float(report["deviance"]) / lit)
        if fitter.floor_each_epoch:
            history["epoch_noise_floor"].append(float(report["floor"]) / lit)
        drift = None if rising or not is_writer() else _rising(history["epoch_loss"])
        if drift:
            rising = True
            warnings.warn(
                f"the loss {drift} (epoch {epoch + 1}): a learning rate too high for this "
                "data? (the run goes on)",
                RisingLossWarning,
                stacklevel=2,
            )
        if progress is not None:
            progress(epoch + 1, config.epochs, history["epoch_loss"][-1])
        if config.stop_at_noise_floor and (
            history["epoch_deviance"][-1] <= history["epoch_noise_floor"][-1]
        ):
            stopped = epoch + 1
        last = epoch + 1 == config.epochs or stopped is not None
        every = config.checkpoint_every
        if checkpoint is not None and (last or (every and (epoch + 1) % every == 0)):
            _checkpoint(checkpoint, setup, params, state, history, epoch + 1)
        if stopped is not None:
            break
    if checkpoint is not None and config.epochs == first:  # resumed at the end: nothing to run
        _checkpoint(checkpoint, setup, params, state, history, first)
    loss, deviance, floor, variance = (float(x) for x in local(fitter.evaluate(params)))
    if not (np.isfinite(loss) and np.isfinite(deviance)):
        raise _diverged(config.epochs, "loss", "the final evaluation over every frame", None)
    lit = max(fitter.lit_pixels, 1)
    result = _result(setup, params, history, deviance / lit, loss / fitter.pixels_per_frame / n)
    result = dataclasses.replace(
        result,
        noise_floor=floor / lit,
        noise_floor_spread=np.sqrt(variance) / lit,
        stopped_at_noise_floor=stopped,
    )
    below = result.noise_floor - result.final_deviance
    if below > 2 * result.noise_floor_spread and is_writer():
        warnings.warn(
            f"the final deviance {result.final_deviance:.4g} is below the noise floor "
            f"{result.noise_floor:.4g} by {below / result.noise_floor_spread:.0f} times its "
            "spread: the model fits photon noise (fewer epochs, a lower learning_rate, or "
            "fit.stop_at_noise_floor = true)",
            NoiseFitWarning,
            stacklevel=2,
        )
    if out is not None:
        from ._outputs import write_outputs

        write_outputs(out, result)
    return result


RISING = 5
"""Epochs in a row that make `RisingLossWarning`: each with a higher loss than the one before
(by 5 % in all); or twice as many, each above twice the lowest loss so far, the last no lower
than the first (a run that jumps away early and comes back is no warning)."""


def _rising(losses: list[float]) -> str | None:
    """How the loss has been drifting away over the last epochs, or None."""
    last = losses[-RISING - 1 :]
    if len(last) < RISING + 1:
        return None
    if all(b > a for a, b in itertools.pairwise(last)) and last[-1] > 1.05 * last[0]:
        return f"rose in each of the last {RISING} epochs, by {last[-1] / last[0] - 1:.0%} in all"
    best, stuck = min(losses), losses[-2 * RISING :]
    if len(losses) > 2 * RISING and all(x > 2 * best for x in stuck) and stuck[-1] >= stuck[0]:
        return (
            f"has stayed above twice its lowest ({best:.4g}) for {2 * RISING} epochs without "
            "coming down"
        )
    return None


def _stop_asked(stop: Any) -> int:
    """0 to go on; else the signal that asked (-1: none), agreed by every process (the
    largest code of any)."""
    if stop is None:
        return 0
    mine = 0
    if stop.is_set():
        mine = 1 + (getattr(stop, "signal", None) or 0)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        mine = int(np.max(multihost_utils.process_allgather(np.int32(mine))))
    return 0 if mine == 0 else (mine - 1 or -1)


def _diverged(epoch: int, what: str, when: str, checkpoint: pathlib.Path | None) -> DivergedError:
    first = "the loss" if what == "loss" else f"model.{what}"
    kept = (
        f"; {checkpoint} holds the last finite state (epoch {epoch - 1}): --resume it with a "
        "lower learning_rate"
        if checkpoint is not None
        else "; lower the learning_rate"
    )
    return DivergedError(
        f"the fit went non-finite in epoch {epoch} ({when}): {first} first{kept}",
        epoch,
        what,
        checkpoint,
    )


def _result(
    setup: _Setup, params: Any, history: dict, final_deviance: float, final_loss: float
) -> Result:
    model = local(eqx.combine(params, setup.static))
    arrays = jax.device_get(ptyrax_core.resolve_parametrizations(model))
    probe = np.asarray(arrays["probe"]) * setup.probe_scale
    probes = None
    if isinstance(model["probe"], ptyrax_core.IndexDependentParameter):  # one per frame
        probes = probe if probe.ndim == 4 else probe[:, None]
        probe = probes.mean(axis=0)
    positions = np.asarray(arrays["positions"], np.float64)
    initial, problem = setup.initial_positions, setup.fitter.problem
    return Result(
        model=model,
        object=np.asarray(arrays["object"]),
        probe=probe if probe.ndim == 3 else probe[None],
        probes=probes,
        positions=positions,
        initial_positions=initial,
        translations=setup.scan.translations + setup.geometry.to_metres(positions - initial),
        background=None if "background" not in arrays else np.asarray(arrays["background"]),
        weights=None if "weights" not in arrays else np.asarray(arrays["weights"]),
        geometry=setup.geometry,
        epoch_loss=history["epoch_loss"],
        epoch_deviance=history["epoch_deviance"],
        epoch_noise_floor=history.get("epoch_noise_floor", []),
        epoch_seconds=history["epoch_seconds"],
        final_deviance=final_deviance,
        final_loss=final_loss,
        config=setup.config,
        devices=problem.devices,
        processes=jax.process_count(),
        frames_per_process=tuple(frames_per_process(problem)),
        peak_rss_mb=tuple(peak_rss_mb()),
        memory_need_mb=None if setup.need is None else setup.need.device / 2**20,
        frames_dtype=str(problem.frames.dtype),
    )


def _fingerprint(setup: _Setup) -> str:
    """What a checkpoint must match to resume: the model's structure, shapes and types."""
    leaves, tree = jax.tree_util.tree_flatten(setup.params)
    shapes = [(tuple(x.shape), str(x.dtype)) for x in leaves]
    return json.dumps([str(tree), shapes, setup.scan.frames_shape, setup.config.loss])


def _checkpoint(path: pathlib.Path, setup: _Setup, params, state, history, epoch: int) -> None:
    ptyrax_core.save(
        path,
        {
            "format": _FORMAT,
            "epoch": epoch,
            "fingerprint": _fingerprint(setup),
            "model": local(eqx.combine(params, setup.static)),
            "optimizer": jax.tree_util.tree_leaves(local(state)),
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
            "config": json.dumps(setup.config.settings()),
        },
    )


def _resume(path: pathlib.Path, setup: _Setup, state) -> tuple:
    try:
        saved = ptyrax_core.load(path)
    except FileNotFoundError:
        raise ReconstructError(f"--resume {path}: no such file") from None
    except (ptyrax_core.CheckpointError, ptyrax_core.MissingPluginError, OSError) as e:
        raise ReconstructError(f"--resume {path}: {' '.join(str(e).split())}") from None
    if not (isinstance(saved, dict) and saved.get("format") == _FORMAT):
        raise ReconstructError(f"--resume {path}: not a checkpoint of ptyrax reconstruct")
    if saved["fingerprint"] != _fingerprint(setup):
        raise ReconstructError(
            f"--resume {path}: a checkpoint of another model (its components, shapes or data "
            "differ from this config's)"
        )
    if saved["epoch"] > setup.config.epochs:
        raise ReconstructError(
            f"--resume {path}: it is at epoch {saved['epoch']}, beyond this config's "
            f"{setup.config.epochs} epochs"
        )
    sharding = jax.sharding.NamedSharding(setup.fitter.problem.mesh, jax.sharding.PartitionSpec())
    host = lambda tree: jax.tree.map(np.asarray, tree)  # noqa: E731  (any process count)
    params = jax.device_put(host(eqx.filter(saved["model"], eqx.is_inexact_array)), sharding)
    tree = jax.tree_util.tree_structure(state)
    state = jax.device_put(host(jax.tree_util.tree_unflatten(tree, saved["optimizer"])), sharding)
    history = {k: list(v) for k, v in saved["history"].items()}
    floors = history.pop("epoch_noise_floor", [])  # each epoch's, where it was computed
    if setup.fitter.floor_each_epoch:  # unknown (NaN) for the epochs that did not compute it
        history["epoch_noise_floor"] = [float("nan")] * (int(saved["epoch"]) - len(floors)) + floors
    return params, state, history, int(saved["epoch"])


def _check_writable(out: pathlib.Path) -> pathlib.Path:
    """Refuse an `--out` that cannot be written, before anything is read or written."""
    if out.exists() and not out.is_dir():
        raise ReconstructError(f"--out {out}: is a file; give a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ReconstructError(f"--out {out}: cannot write there ({existing} is not writable)")
    return out


def _make(out: pathlib.Path) -> None:
    from ._outputs import remove_leftovers

    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_leftovers(out)
    except OSError as e:
        raise ReconstructError(f"--out {out}: cannot write there ({e.strerror or e})") from None
