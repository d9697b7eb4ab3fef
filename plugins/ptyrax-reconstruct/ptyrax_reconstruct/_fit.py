"""The fitting loop: one jitted call per epoch, data-parallel over a mesh of devices.

Each device holds a contiguous share of the frames (the last padded with zero-weight frames);
the mesh may span several processes (`_distributed`), each holding and reading the shares of
its own devices.
An epoch shuffles every share from `(seed, epoch)` alone, so a resumed run draws the same
minibatches as an uninterrupted one; each minibatch takes the same number of frames from
every share, the gradients are summed across devices (one all-reduce a step, under
`shard_map`), and the Adam update runs replicated. The minibatch loop of an epoch is a
`lax.scan` inside one jit.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from ptyrax_core import (
    BoundSliceParameter,
    IndexDependentParameter,
    expi,
    resolve_array_parametrizations,
    resolve_index_dependent_parameters,
)

from ._distributed import local
from ._forward import detector_waves, exit_waves, intensities
from ._loss import deviance_moments, loss_function, poisson_deviance
from ._penalties import Term, penalty_sum

AXIS = "frames"


@dataclasses.dataclass(frozen=True)
class Problem:
    """What the loop fits, on the devices.

    Attributes:
        frames: `(devices * share, rows, columns)` counts in their compact type
            (`compact_dtype`: uint8, uint16 or float32), split along axis 0; the step
            converts a minibatch's to float32.
        valid: `(rows, columns)` bool, False at bad pixels.
        transfer: the near-field transfer function, or None in the far field.
        slice_transfer: the transfer function between the slices of a multislice object, or
            None for a thin one.
        slice_phase: its phase (`angular_phase`, float32, 0 where it is 0), where the model
            refines the spacing (`slice_spacing`, a multiple of the configured one); else None.
        n_frames: the real frames (the rest are padding).
        share: frames per device.
        loss: `"poisson"` or `"amplitude"`.
        mesh: the one-axis mesh of the devices.
    """

    frames: jax.Array
    valid: jax.Array
    transfer: jax.Array | None
    n_frames: int
    share: int
    loss: str
    mesh: jax.sharding.Mesh
    slice_transfer: jax.Array | None = None
    slice_phase: jax.Array | None = None

    @property
    def devices(self) -> int:
        return self.mesh.devices.size

    def specs(self) -> "Problem":
        """How `shard_map` splits it: the frames along the mesh, the rest replicated."""
        spec = lambda x: None if x is None else P()  # noqa: E731
        return dataclasses.replace(
            self,
            frames=P(AXIS),
            valid=P(),
            transfer=spec(self.transfer),
            slice_transfer=spec(self.slice_transfer),
            slice_phase=spec(self.slice_phase),
        )


# An argument of the jitted functions, not a constant they close over: a multi-process mesh's
# arrays can only be passed in.
jax.tree_util.register_dataclass(
    Problem,
    data_fields=["frames", "valid", "transfer", "slice_transfer", "slice_phase"],
    meta_fields=["n_frames", "share", "loss", "mesh"],
)


class _WithProblem:
    """A jitted function called with the problem as its last argument."""

    def __init__(self, function: Callable, problem: Problem, **jit):
        self.jitted, self.problem = jax.jit(function, **jit), problem

    def __call__(self, *args):
        return self.jitted(*args, self.problem)

    def lower(self, *args):
        return self.jitted.lower(*args, self.problem)


def make_problem(
    frames: Callable[[slice], np.ndarray],
    n_frames: int,
    valid: np.ndarray,
    transfer: np.ndarray | None,
    loss: str,
    devices: list,
    slice_transfer: np.ndarray | None = None,
    slice_phase: np.ndarray | None = None,
) -> Problem:
    """Put the frames on `devices` (`mesh_devices`: of every process, ordered by process),
    padded to a multiple of their number with empty frames. `frames(slice)` reads frames
    from the file: each process reads only the contiguous block its devices hold."""
    mesh = jax.sharding.Mesh(np.asarray(devices), (AXIS,))
    share = -(-n_frames // len(devices))
    mine = [k for k, d in enumerate(devices) if d.process_index == jax.process_index()]
    start, stop = mine[0] * share, (mine[-1] + 1) * share  # contiguous: ordered by process
    block = np.zeros((stop - start, *valid.shape), np.float32)
    read = frames(slice(min(start, n_frames), min(stop, n_frames)))
    block[: len(read)] = read
    block = block.astype(compact_dtype(block), copy=False)
    replicated = NamedSharding(mesh, P())
    return Problem(
        frames=jax.make_array_from_process_local_data(
            NamedSharding(mesh, P(AXIS)), block, (share * len(devices), *valid.shape)
        ),
        valid=jax.device_put(np.asarray(valid, bool), replicated),
        transfer=None
        if transfer is None
        else jax.device_put(np.asarray(transfer, np.complex64), replicated),
        n_frames=n_frames,
        share=share,
        loss=loss,
        mesh=mesh,
        slice_transfer=None
        if slice_transfer is None
        else jax.device_put(np.asarray(slice_transfer, np.complex64), replicated),
        slice_phase=None
        if slice_phase is None
        else jax.device_put(np.nan_to_num(slice_phase).astype(np.float32), replicated),
    )


COMPACT = (np.uint8, np.uint16)
"""The types frames may be held in where every count fits, smallest first: a frame of
256 x 256 uint16 counts takes 128 KiB of the device, float32 256 KiB."""


def compact_dtype(block: np.ndarray, chunk: int = 256) -> np.dtype:
    """The smallest type that holds every count of `block` (float32) exactly: uint8 or uint16
    where every count is a whole number in its range, else float32. Every process of a run
    holds the same type (its blocks' verdicts are gathered). Read `chunk` frames at a time:
    no copy of the block.

    Example:
        >>> compact_dtype(np.array([[0.0, 3.0], [255.0, 7.0]], np.float32))
        dtype('uint8')
        >>> compact_dtype(np.array([0.0, 256.0], np.float32)), compact_dtype(np.array([0.5]))
        (dtype('uint16'), dtype('float32'))
    """
    whole, top = True, 0.0
    for k in range(0, max(len(block), 1), chunk):
        part = block[k : k + chunk]
        if part.size:
            whole = whole and bool(np.all(part == np.floor(part))) and float(part.min()) >= 0
            top = max(top, float(part.max()))
    if jax.process_count() > 1:  # one type for the global array
        from jax.experimental import multihost_utils

        gathered = multihost_utils.process_allgather(np.array([float(whole), top]))
        whole, top = bool(np.all(gathered[:, 0])), float(np.max(gathered[:, 1]))
    fits = [t for t in COMPACT if whole and top <= np.iinfo(t).max]
    return np.dtype(fits[0] if fits else np.float32)


def mean_frame(problem: Problem) -> np.ndarray:
    """The mean of the real frames `(rows, columns)`: each device sums its share, the sums
    are reduced across devices (and processes)."""
    total = jax.jit(
        lambda f: jnp.sum(f.astype(jnp.float32), axis=0),
        out_shardings=NamedSharding(problem.mesh, P()),
    )
    return np.asarray(local(total(problem.frames))) / problem.n_frames


def lit_pixels(problem: Problem) -> int:
    """The valid pixels of the real frames that hold a count (the reduced deviance divides by
    it): counted once, not in every step (a sum of each step would be one more all-reduce a
    step, which on host devices costs about as much as the gradient's); per frame on the
    devices, summed on the host in int64."""
    count = lambda f, valid: jnp.sum((f >= 1) & valid, axis=(1, 2))  # noqa: E731
    per_frame = jax.jit(count, out_shardings=NamedSharding(problem.mesh, P()))
    return int(np.sum(np.asarray(local(per_frame(problem.frames, problem.valid))), dtype=np.int64))


def frames_per_process(problem: Problem) -> list[int]:
    """How many real frames each process holds (and reads from the file)."""
    counts = [0] * jax.process_count()
    for k, d in enumerate(problem.mesh.devices.flat):
        counts[d.process_index] += max(0, min(problem.share, problem.n_frames - k * problem.share))
    return counts


def minibatches(problem: Problem, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """The minibatches of `epoch`: `(steps, devices, per_device)` local frame indices, -1 for
    an empty slot. Every device's share is shuffled by a generator seeded with
    `(seed, epoch, device)` alone."""
    d, share = problem.devices, problem.share
    per_device = -(-batch_size // d)
    real = [min(share, max(0, problem.n_frames - k * share)) for k in range(d)]
    steps = max(-(-r // per_device) for r in real)
    out = np.full((d, steps * per_device), -1, np.int32)
    for k, r in enumerate(real):
        out[k, :r] = np.random.default_rng([seed, epoch, k]).permutation(r)
    return out.reshape(d, steps, per_device).transpose(1, 0, 2)


def predict(
    arrays: dict,
    index: jax.Array,
    transfer: jax.Array | None,
    slice_transfer: jax.Array | None = None,
) -> jax.Array:
    """The intensities of frame `index` from resolved `arrays` (from `resolve`).

    Every index-dependent component is read at `index`: positions and weights, and also the
    probe (per-position probes: its spectrum is then one FFT a frame and mode), the object
    or the background where the model makes them index-dependent.
    """
    bound = resolve_index_dependent_parameters(arrays, index)
    position = _at(bound, "positions", index)
    spectrum = arrays.get("probe_spectrum")
    if spectrum is None:  # a probe per position, at unit scale
        probe = _at(bound, "probe", index)
        spectrum = jnp.fft.fft2(probe if probe.ndim == 3 else probe[None]) * arrays["probe_scale"]
    waves = exit_waves(_at(bound, "object", index), spectrum, position, slice_transfer)
    weight, background = _at(bound, "weights", index), _at(bound, "background", index)
    return intensities(detector_waves(waves, transfer, position), weight, background)


PER_FRAME = ("positions", "weights")
"""The components that hold one value a frame, whatever their type."""


def _at(bound: dict, name: str, index: jax.Array) -> Any:
    """Component `name` of a model bound at `index`: its value there (None if absent). A
    per-frame component of an array parametrization's type (`non_negative` weights, say) is
    its array's row `index`."""
    x = bound.get(name)
    if isinstance(x, BoundSliceParameter):
        return x.at_current_index()
    return x[index] if name in PER_FRAME and x is not None else x


def resolve(model: dict, probe_scale: float = 1.0) -> dict:
    """The model's arrays, with the probe as modes `(K, P, Q)` times `probe_scale` (the model
    holds it at unit scale) and its spectrum, once per batch. A per-position probe (an
    index-dependent one) stays a parameter, read in `predict` with `probe_scale`."""
    arrays = dict(resolve_array_parametrizations(model))
    if isinstance(arrays["probe"], IndexDependentParameter):
        arrays["probe_scale"] = jnp.float32(probe_scale)
        return arrays
    probe = arrays["probe"] * probe_scale
    arrays["probe"] = probe if probe.ndim == 3 else probe[None]
    arrays["probe_spectrum"] = jnp.fft.fft2(arrays["probe"])
    return arrays


WAVES_PER_PASS = 32
"""Probe modes x frames the forward model computes at once, where a minibatch has more (with
several modes). Measured on a 2-core CPU, 64 x 64 waves, 64 frames of 4 modes: an epoch of
1600 frames took 0.59 s at once and 0.46 s in passes of 8 frames (1 slice), 3.9 s and 2.8 s
(6 slices); an FFT of 256 waves costs 20 us a wave against 13 us for 64 or fewer. With one
mode a single pass is fastest (0.10 s against 0.15 s in passes of 32)."""


def frames_per_pass(probe_spectrum: jax.Array | None, frames: int) -> int:
    """How many of a minibatch's `frames` the forward model computes at once: all of them
    with one probe mode, else `WAVES_PER_PASS` waves' worth."""
    if probe_spectrum is None or probe_spectrum.shape[0] == 1:
        return frames
    return max(1, WAVES_PER_PASS // probe_spectrum.shape[0])


def slice_transfer(arrays: dict, problem: Problem) -> jax.Array | None:
    """The transfer function between slices: the problem's, or where the model refines the
    spacing (`arrays["slice_spacing"]`, a multiple of the configured one), the problem's
    phase times that multiple (the phase is linear in the distance)."""
    if "slice_spacing" not in arrays or problem.slice_phase is None:
        return problem.slice_transfer
    factor = jnp.reshape(arrays["slice_spacing"], ())
    passed = problem.slice_transfer != 0  # 0: evanescent, at any distance
    return jnp.where(passed, expi(factor * problem.slice_phase), 0)


def _local_sums(
    arrays: dict,
    frames: jax.Array,
    local: jax.Array,
    problem: Problem,
    per_pixel: Callable,
    floor: bool = True,
):
    """Sums over this device's frames `local` (-1: none) of the model's resolved `arrays`
    (`resolve`): the loss, the deviance, and where `floor`, the deviance's mean and variance
    were the model right (`deviance_moments`: the noise floor at the model's intensities;
    else 0: they cost about 5 % of a step)."""
    offset = jax.lax.axis_index(AXIS) * problem.share
    present = local >= 0
    local = jnp.where(present, local, 0)
    slices = slice_transfer(arrays, problem)
    frame = lambda i: predict(arrays, i, problem.transfer, slices)  # noqa: E731
    chunk = frames_per_pass(arrays.get("probe_spectrum"), local.shape[0])
    if chunk < local.shape[0]:  # in passes of a few frames: each pass's waves stay in cache
        predicted = jax.lax.map(frame, offset + local, batch_size=chunk)
    else:
        predicted = jax.vmap(frame)(offset + local)
    counts = frames[local].astype(jnp.float32)  # exact: compact types hold whole counts
    keep = present[:, None, None]
    loss = jnp.sum(jnp.where(keep, per_pixel(predicted, counts, problem.valid), 0.0))
    if per_pixel is poisson_deviance:
        deviance = loss
    else:
        deviance = jnp.sum(jnp.where(keep, poisson_deviance(predicted, counts, problem.valid), 0.0))
    if not floor:
        return loss, deviance, jnp.float32(0), jnp.float32(0)
    mean, variance = deviance_moments(predicted, problem.valid)
    return loss, deviance, *(jnp.sum(jnp.where(keep, m, 0.0)) for m in (mean, variance))


def _finite(tree: Any) -> jax.Array:
    """Whether every element of every leaf of `tree` is finite (one bool)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _psum(tree: Any, devices: int) -> Any:
    """`psum` over the mesh of `devices` as one all-reduce of one flat buffer: XLA's CPU
    all-reduce meets the other devices once for every buffer it sums, and each meeting costs
    a core waking another. The leaves (complex ones as their real and imaginary parts) are
    written into the buffer in place (a concatenate compiles to a slow loop on the CPU) and
    read back as slices; all are float (the sums are of float losses and gradients)."""
    if devices == 1:
        return tree
    leaves, treedef = jax.tree.flatten(tree)
    parts = [q for x in leaves for q in ((x.real, x.imag) if jnp.iscomplexobj(x) else (x,))]
    dtype = jnp.result_type(*parts)
    starts = np.cumsum([0] + [p.size for p in parts])
    flat = jnp.zeros(int(starts[-1]), dtype)
    for p, start in zip(parts, starts[:-1], strict=True):
        flat = jax.lax.dynamic_update_slice(flat, p.ravel().astype(dtype), (int(start),))
    flat = jax.lax.psum(flat, AXIS)
    summed = iter(
        flat[a:b].reshape(p.shape).astype(p.dtype)
        for p, a, b in zip(parts, starts[:-1], starts[1:], strict=True)
    )
    back = [
        jax.lax.complex(next(summed), next(summed)) if jnp.iscomplexobj(x) else next(summed)
        for x in leaves
    ]
    return treedef.unflatten(back)


class Fitter:
    """Compiled epochs for one problem and one model structure.

    `epoch(params, state, rates, batches)` runs one epoch of Adam steps and returns the new
    params and state and its report (the sums over the epoch's frames of the loss, the
    deviance and the noise floor's mean and variance, and whether it stayed finite);
    `diagnose` replays one that did not.
    `rates` maps each component to its learning rate for the epoch (0 holds it still).

    The components in `lazy` (the per-frame and index-dependent ones) take lazy Adam
    steps: a frame's values move, and their moments change, only in the steps whose minibatch
    holds the frame. Plain Adam would go on moving them on their momentum for the steps after
    (each frame is in one minibatch of an epoch): a free probe per frame diverges that way.

    The `penalties` add to each step's loss (not to its reported sums). With
    `floor_each_epoch`, an epoch's report sums the noise floor too (else 0 there; `evaluate`
    always sums it).
    """

    def __init__(
        self,
        problem: Problem,
        static: dict,
        probe_scale: float = 1.0,
        centred: tuple[str, ...] = ("positions",),
        lazy: tuple[str, ...] = (),
        penalties: tuple[Term, ...] = (),
        floor_each_epoch: bool = False,
    ):
        self.problem = problem
        self.floor_each_epoch = floor_each_epoch
        self.static = static
        self.probe_scale = probe_scale
        self.centred = centred
        self.lazy = lazy
        self.penalties = penalties
        self.pixels_per_frame = int(np.sum(np.asarray(local(problem.valid))))
        self.lit_pixels = lit_pixels(problem)
        self.adam = optax.scale_by_adam()
        self._epoch = _WithProblem(self._epoch_impl, problem)
        self._diagnose = None
        self._evaluate = _WithProblem(self._evaluate_impl, problem)

    def init(self, params: dict) -> Any:
        """Adam's state for `params`, replicated on the mesh."""
        return jax.device_put(self.adam.init(params), NamedSharding(self.problem.mesh, P()))

    def _sharded_sums(self, params, local_batch, problem: Problem, grad: bool):
        per_pixel = loss_function(problem.loss)

        def local(params, problem, batch):
            batch = batch[0]  # (1, per_device) on each device
            norm = self.pixels_per_frame * batch.shape[0] * problem.devices

            def scaled(params):
                arrays = resolve(eqx.combine(params, self.static), self.probe_scale)
                floor = self.floor_each_epoch or not grad  # evaluate: always
                sums = _local_sums(arrays, problem.frames, batch, problem, per_pixel, floor)
                total = sums[0] / norm
                if self.penalties:  # the same on every device: its share on each
                    total += penalty_sum(self.penalties, arrays) / problem.devices
                return total, sums

            if grad:
                (_, sums), grads = jax.value_and_grad(scaled, has_aux=True)(params)
                return _psum((grads, sums), problem.devices)
            return _psum(scaled(params)[1], problem.devices)

        return jax.shard_map(
            local,
            mesh=problem.mesh,
            in_specs=(P(), problem.specs(), P(AXIS)),
            out_specs=P(),
            check_vma=False,
        )(params, problem, local_batch)

    def _lazy(self, grads, state, updates, new_state):
        """Lazy Adam for the index-dependent components: an element whose gradient is 0 (its
        frame was not in the minibatch) keeps its moments and does not move."""
        updates, mu, nu = dict(updates), dict(new_state.mu), dict(new_state.nu)
        for k in self.lazy:
            seen = jax.tree.map(lambda g: g != 0, grads[k])
            keep = lambda new, old, seen: jnp.where(seen, new, old)  # noqa: E731
            updates[k] = jax.tree.map(lambda u, m: jnp.where(m, u, 0), updates[k], seen)
            mu[k] = jax.tree.map(keep, mu[k], state.mu[k], seen)
            nu[k] = jax.tree.map(keep, nu[k], state.nu[k], seen)
        return updates, new_state._replace(mu=mu, nu=nu)

    def _centre(self, u: jax.Array) -> jax.Array:
        """`u` less its mean over the frames, for a per-frame array `(frames, 2)`; other arrays
        (an affine scan's matrix and shift, say) as they are."""
        if u.shape == (self.problem.n_frames, 2):
            return u - jnp.mean(u, axis=0)
        return u

    def _step(self, params, state, rates, batch, problem):
        """One Adam step on one minibatch: the new params and state, the sums and gradients."""
        grads, sums = self._sharded_sums(params, batch, problem, grad=True)
        grads = jax.tree.map(jnp.conj, grads)  # JAX gives the conjugate for complex leaves
        updates, new_state = self.adam.update(grads, state, params)
        if self.lazy:
            updates, new_state = self._lazy(grads, state, updates, new_state)
        updates = {k: jax.tree.map(lambda u, k=k: -rates[k] * u, v) for k, v in updates.items()}
        for k in self.centred:
            if k in updates:  # a common shift of every position is a shift of the object
                updates[k] = jax.tree.map(self._centre, updates[k])
        return optax.apply_updates(params, updates), new_state, sums, grads

    def _epoch_impl(self, params, state, rates, batches, problem):
        def step(carry, batch):
            params, state, sums, _ = self._step(*carry, rates, batch, problem)
            return (params, state), sums

        (params, state), sums = jax.lax.scan(step, (params, state), batches)
        bad = ~(jnp.isfinite(sums[0]) & jnp.isfinite(sums[1]))  # per step: free, they exist
        report = {
            "loss": jnp.sum(sums[0]),
            "deviance": jnp.sum(sums[1]),
            "floor": jnp.sum(sums[2]),
            "floor_variance": jnp.sum(sums[3]),
            "bad_step": jnp.where(jnp.any(bad), jnp.argmax(bad), -1),
            "finite": {k: _finite(v) for k, v in params.items()},  # one pass an epoch
        }
        return params, state, report

    def _diagnose_impl(self, params, state, rates, batches, problem):
        def step(carry, batch):
            params, state, first, k = carry
            params, state, sums, grads = self._step(params, state, rates, batch, problem)
            now = {"loss": ~(jnp.isfinite(sums[0]) & jnp.isfinite(sums[1]))}
            now |= {f"gradient {c}": ~_finite(g) for c, g in grads.items()}
            now |= {c: ~_finite(v) for c, v in params.items()}
            first = {e: jnp.where((first[e] < 0) & now[e], k, first[e]) for e in first}
            return (params, state, first, k + 1), None

        events = ["loss", *(f"gradient {c}" for c in params), *params]
        first = {e: jnp.int32(-1) for e in events}
        return jax.lax.scan(step, (params, state, first, jnp.int32(0)), batches)[0][2]

    def diagnose(self, params, state, rates: dict, batches: np.ndarray) -> tuple[str, int]:
        """Replay an epoch that went non-finite from its start, step by step: what went
        non-finite first (`"loss"`, or a component, by its gradient or its values) and at
        which step (from 0). Compiled only when needed: the epoch itself checks nothing a
        step."""
        if self._diagnose is None:
            self._diagnose = _WithProblem(self._diagnose_impl, self.problem)
        sharding = NamedSharding(self.problem.mesh, P(None, AXIS))
        rates = {k: np.float32(v) for k, v in rates.items()}
        first = jax.device_get(
            local(self._diagnose(params, state, rates, jax.device_put(batches, sharding)))
        )
        order = {e: i for i, e in enumerate(first)}  # loss, then gradients, then values
        seen = [(int(k), order[e], e) for e, k in first.items() if k >= 0]
        if not seen:
            return "loss", -1
        step, _, event = min(seen)
        return event.removeprefix("gradient "), step

    def epoch(self, params, state, rates: dict, batches: np.ndarray):
        """One epoch: the new params and state, and its report: the sums of `loss`,
        `deviance`, `floor` and `floor_variance` (`deviance_moments`) over its frames,
        `bad_step` (the first step whose loss was not finite, or -1) and `finite` (whether
        each component's values are all finite at its end). The inputs are kept (not
        donated): a run that goes non-finite goes back to them."""
        sharding = NamedSharding(self.problem.mesh, P(None, AXIS))
        batches = jax.device_put(batches, sharding)
        return self._epoch(params, state, {k: np.float32(v) for k, v in rates.items()}, batches)

    def _evaluate_impl(self, params, batches, problem):
        sums = jax.lax.map(lambda b: self._sharded_sums(params, b, problem, grad=False), batches)
        return jax.tree.map(jnp.sum, sums)

    def evaluate(self, params, batch_size: int = 50):
        """`(loss, deviance, floor, floor_variance)`, each summed over every frame at fixed
        `params` (`_local_sums`)."""
        batches = minibatches(self.problem, batch_size, 0, 0)
        batches = jax.device_put(batches, NamedSharding(self.problem.mesh, P(None, AXIS)))
        return self._evaluate(params, batches)
