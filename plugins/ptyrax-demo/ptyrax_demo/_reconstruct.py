"""Gradient-based reconstruction: parametrized model, optax, data-parallel over scan positions."""

import dataclasses
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from ptyrax_core import IndexSliceParameter, resolve_parametrizations
from ptyrax_core.parametrizations import (
    NormalizedArrayParametrization,
    PhaseOnlyArrayParametrization,
    WaveletArrayParametrization,
)

from ._forward import far_field_amplitude
from ._simulate import Dataset

OBJECTS = ("phase_only", "wavelet")
"""The object parametrizations the demo can use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the reconstruction runs.

    Attributes:
        steps: gradient steps (every position each step).
        object: `"phase_only"` (a `PhaseOnlyArrayParametrization`) or `"wavelet"` (a complex
            `WaveletArrayParametrization`, Haar, 2 levels).
        devices: how many devices share the scan positions.
        object_rate, probe_rate, position_rate: Adam learning rates (rad, relative, px).
        position_start: the fraction of the steps after which positions are refined.
    """

    steps: int = 300
    object: str = "phase_only"
    devices: int = 1
    object_rate: float = 0.05
    probe_rate: float = 0.01
    position_rate: float = 0.05
    position_start: float = 0.2


@dataclasses.dataclass(frozen=True)
class Result:
    """What a reconstruction produced, as NumPy values.

    Attributes:
        object: the reconstructed object, `(M, M)` complex.
        probe: the reconstructed probe, `(P, P)` complex.
        positions: the refined positions, `(K, 2)`.
        losses: the loss before each step, `(steps,)`, and after the last one appended.
        seconds: wall time of the optimization, compilation included.
    """

    object: np.ndarray
    probe: np.ndarray
    positions: np.ndarray
    losses: np.ndarray
    seconds: float


def build_model(data: Dataset, object_kind: str) -> dict:
    """The parametrized model a lab would write: object, probe and positions."""
    size = data.true_object.shape
    if object_kind == "phase_only":
        obj = PhaseOnlyArrayParametrization(size)
    elif object_kind == "wavelet":
        obj = WaveletArrayParametrization(jnp.ones(size, jnp.complex64), wavelet="haar", level=2)
    else:
        raise ValueError(f"object must be one of {OBJECTS}; got {object_kind!r}.")
    guess = jnp.asarray(data.probe_guess)
    return {
        "object": obj,
        "probe": NormalizedArrayParametrization(guess, scale=float(jnp.abs(guess).max())),
        "positions": IndexSliceParameter(jnp.asarray(data.nominal_positions)),
    }


def loss_at(model: dict, index, amplitude) -> jax.Array:
    """The amplitude loss of one scan position: `mean((|model| - sqrt(counts))**2)`."""
    m = resolve_parametrizations(model, index=index)
    position = m["positions"].at_current_index()
    return jnp.mean((far_field_amplitude(m["object"], m["probe"], position) - amplitude) ** 2)


def _keep_centroid() -> optax.GradientTransformation:
    """Remove the mean of the position updates: a common shift of every position is a shift of
    the object that no data can tell, so it is held where the nominal scan put it."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda u: u - jnp.mean(u, axis=0), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _optimizer(settings: Settings, params: dict) -> optax.GradientTransformation:
    start = int(settings.position_start * settings.steps)
    position_rate = optax.join_schedules(
        [optax.constant_schedule(0.0), optax.constant_schedule(settings.position_rate)], [start]
    )
    transforms = {
        "object": optax.adam(settings.object_rate),
        "probe": optax.adam(settings.probe_rate),
        "positions": optax.chain(optax.adam(position_rate), _keep_centroid()),
    }
    labels = {key: jax.tree.map(lambda _, key=key: key, part) for key, part in params.items()}
    return optax.multi_transform(transforms, labels)


@dataclasses.dataclass(frozen=True)
class Fit:
    """A reconstruction ready to run: what `prepare` returns.

    Attributes:
        step: jitted, `(params, state, batch) -> (params, state, loss)`: one Adam step.
        loss: jitted, `(params, batch) -> loss`.
        params: the trainable arrays of the model (`eqx.partition`), replicated.
        state: the optimizer's state, replicated.
        batch: `(indices, amplitudes, weights)`, split over the devices along the positions.
        static: the rest of the model; `eqx.combine(params, static)` is the model.
    """

    step: Callable
    loss: Callable
    params: dict
    state: optax.OptState
    batch: tuple
    static: dict


def prepare(data: Dataset, settings: Settings) -> Fit:
    """Build the model, the optimizer and the data-parallel step.

    The positions are split over `settings.devices` devices: a one-axis `Mesh`, the number of
    positions padded with zero-weight ones to a multiple of it. The model is replicated, and
    JAX's partitioner sums the gradients across devices.
    """
    mesh = jax.make_mesh(
        (settings.devices,),
        ("scan",),
        axis_types=(AxisType.Auto,),  # the partitioner places the gradient sums
        devices=jax.devices()[: settings.devices],
    )
    by_position = NamedSharding(mesh, PartitionSpec("scan"))
    replicated = NamedSharding(mesh, PartitionSpec())

    n = len(data.counts)
    padded = -(-n // settings.devices) * settings.devices
    indices = np.arange(padded) % n
    weights = (np.arange(padded) < n) / n
    batch = jax.device_put(
        (indices.astype(np.int32), np.sqrt(data.counts)[indices], weights.astype(np.float32)),
        by_position,
    )
    model = jax.device_put(build_model(data, settings.object), replicated)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optimizer = _optimizer(settings, params)

    def loss(params, batch):
        indices, amplitudes, weights = batch
        model = eqx.combine(params, static)
        per_position = jax.vmap(loss_at, in_axes=(None, 0, 0))(model, indices, amplitudes)
        return jnp.sum(weights * per_position)

    def step(params, state, batch):
        value, grads = jax.value_and_grad(loss)(params, batch)
        grads = jax.tree.map(jnp.conj, grads)  # JAX gives the conjugate for complex leaves
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    state = jax.device_put(optimizer.init(params), replicated)
    return Fit(jax.jit(step), jax.jit(loss), params, state, batch, static)


def reconstruct(
    data: Dataset, settings: Settings, progress: Callable[[int, float], None] | None = None
) -> Result:
    """Fit the model to `data.counts`: `settings.steps` Adam steps over every position.

    `progress(step, loss)` is called every 10 steps and after the last.
    """
    fit = prepare(data, settings)
    params, state = fit.params, fit.state
    start = time.perf_counter()
    losses = []
    for i in range(settings.steps):
        params, state, value = fit.step(params, state, fit.batch)
        losses.append(value)
        if progress is not None and (i % 10 == 9 or i == settings.steps - 1):
            progress(i + 1, float(value))
    losses.append(fit.loss(params, fit.batch))
    losses = np.asarray(jax.device_get(losses), np.float64)
    seconds = time.perf_counter() - start

    final = resolve_parametrizations(eqx.combine(params, fit.static))
    return Result(
        object=np.asarray(final["object"]),
        probe=np.asarray(final["probe"]),
        positions=np.asarray(final["positions"]),
        losses=losses,
        seconds=seconds,
    )
