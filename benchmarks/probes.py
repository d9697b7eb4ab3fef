"""g. Probe parametrizations in a jitted step: orthogonal probe modes and per-position probes
(orthogonal probe relaxation), against the same arrays written by hand on raw leaves.

The step is `jax.jit(jax.value_and_grad(loss))` of a far-field amplitude error over a batch of
frames, as the engine computes it: the model's arrays resolved once per batch, then each frame
bound at its index under `jax.vmap`. The hand-written loss takes the parametrizations' raw
leaves and computes the same arrays itself: for the modes, the QR of the basis with its
phases fixed and the powers from their log differences; for per-position probes, each frame's
probe as its weights times the eigen-probes. Compared: the optimized HLO's op counts and the
step time, paired.
"""

import jax
import jax.numpy as jnp
import numpy as np
from ptyrax_probe_modes import OrthogonalModesArrayParametrization
from ptyrax_probe_relaxation import ProbeRelaxationParameter

from ptyrax_core import (
    IndexSliceParameter,
    resolve_array_parametrizations,
    resolve_index_dependent_parameters,
)

from ._report import Row
from ._timing import compare_ops, format_ratio, interleaved, ms, op_histogram, pairs_of

TITLE = "g. probe parametrizations"
SIZES = {"full": (192, 64, 64), "smoke": (24, 8, 4)}  # object, probe, frames
PAIRS = {"full": 60, "smoke": 3}
CALLS = 3
TARGET = 1.1
MODES = 3  # orthogonal modes
RANK = 3  # eigen-probes of the per-position probes


def _amplitude(obj, probe, position):
    """`sqrt(sum_k |FFT(probe_k shifted to position * window)|^2)` for modes `(K, P, Q)`."""
    whole = jnp.round(position)
    window = jax.lax.dynamic_slice(obj, whole.astype(jnp.int32), probe.shape[1:])
    ky, kx = (jnp.fft.fftfreq(n) for n in probe.shape[1:])
    rest = position - whole
    ramp = jnp.exp(-2j * jnp.pi * (ky[:, None] * rest[0] + kx[None, :] * rest[1]))
    shifted = jnp.fft.ifft2(jnp.fft.fft2(probe) * ramp)
    waves = jnp.fft.fft2(shifted * window, norm="ortho")
    return jnp.sqrt(jnp.sum(jnp.real(waves) ** 2 + jnp.imag(waves) ** 2, axis=0))


def _error(amplitude, measured):
    return jnp.mean((amplitude - measured) ** 2)


def parametrized_loss(model, measured):
    arrays = resolve_array_parametrizations(model)  # once per batch, as the engine does

    def at(index):
        bound = resolve_index_dependent_parameters(arrays, index)
        probe = bound["probe"]
        if not isinstance(probe, jax.Array):  # per-position probes
            probe = probe.at_current_index()
        probe = probe if probe.ndim == 3 else probe[None]
        position = bound["positions"].at_current_index()
        return _error(_amplitude(bound["object"], probe, position), measured[index])

    return jnp.mean(jax.vmap(at)(jnp.arange(measured.shape[0])))


def _modes_by_hand(basis, power_steps):
    """Orthogonal modes from their raw leaves: QR with R's diagonal real positive, times
    `sqrt(power)`, the powers the reversed cumulative sum of `exp(power_steps)`."""
    k = basis.shape[0]
    q, r = jnp.linalg.qr(basis.reshape(k, -1).T)
    d = jnp.diagonal(r)
    q = q * jnp.where(d == 0, 1.0, d / jnp.abs(d))[None, :]
    powers = jnp.cumsum(jnp.exp(power_steps)[::-1])[::-1]
    return (q.T * jnp.sqrt(powers).astype(q.dtype)[:, None]).reshape(basis.shape)


def raw_modes_loss(raw, measured):
    modes = _modes_by_hand(raw["basis"], raw["power_steps"])

    def at(index):
        return _error(_amplitude(raw["object"], modes, raw["positions"][index]), measured[index])

    return jnp.mean(jax.vmap(at)(jnp.arange(measured.shape[0])))


def raw_relaxation_loss(raw, measured):
    def at(index):
        weights = raw["weights"][index]  # (R,): this frame's weights of the eigen-probes
        probe = jnp.tensordot(weights, raw["eigenprobes"], axes=1)[None]
        return _error(_amplitude(raw["object"], probe, raw["positions"][index]), measured[index])

    return jnp.mean(jax.vmap(at)(jnp.arange(measured.shape[0])))


def _problem(object_size: int, probe_size: int, frames: int):
    rng = np.random.default_rng(0)
    side = int(np.ceil(np.sqrt(frames)))
    grid = np.linspace(1, object_size - probe_size - 2, side)
    yx = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)[:frames]
    positions = jnp.asarray(yx + rng.uniform(-0.5, 0.5, yx.shape), jnp.float32)
    obj = jnp.asarray(np.exp(1j * rng.uniform(-1, 1, (object_size, object_size))), jnp.complex64)
    yy, xx = np.mgrid[:probe_size, :probe_size] - (probe_size - 1) / 2
    gauss = np.exp(-(yy**2 + xx**2) / (0.1 * probe_size**2))
    ramps = [np.exp(2j * np.pi * k * yy / probe_size) for k in range(MODES)]
    modes = jnp.asarray(np.stack([gauss * r / (k + 1) for k, r in enumerate(ramps)]), "c8")
    # per-position probes: the Gaussian with a focus varying over the scan (rank > RANK)
    focus = np.linspace(0.05, 0.2, frames)[:, None, None]
    each = jnp.asarray(np.exp(-(yy**2 + xx**2) * (1 + 1j * focus) / (0.1 * probe_size**2)), "c8")
    measured = jax.vmap(_amplitude, in_axes=(None, None, 0))(obj, modes, positions)
    return obj, modes, each, positions, measured * 1.1


def _rows(case: str, step, args, raw_step, raw_args, mode: str) -> list[Row]:
    a = op_histogram(step.lower(*args).compile())
    b = op_histogram(raw_step.lower(*raw_args).compile())
    _, text = compare_ops(a, b)
    ratio = sum(a.values()) / sum(b.values())
    paired = interleaved(
        lambda: jax.block_until_ready(step(*args)),
        lambda: jax.block_until_ready(raw_step(*raw_args)),
        PAIRS[mode],
        calls=CALLS,
        warm=True,
    )
    judged = mode == "full"
    return [
        Row(
            TITLE,
            case + ": compiled program",
            str(sum(a.values())),
            str(sum(b.values())),
            f"{ratio:.3f}x ops ({text})",
            f"<= {TARGET}x ops",
            ratio <= TARGET if judged else None,
            "op counts of the optimized HLO",
        ),
        Row(
            TITLE,
            case + ": step time",
            ms(paired.a_median),
            ms(paired.b_median),
            format_ratio(paired),
            f"<= {TARGET}",
            paired.ratio <= TARGET if judged else None,
            pairs_of(PAIRS[mode], CALLS),
        ),
    ]


def _check(value, grads, raw_value, raw_grads, pairs):
    np.testing.assert_allclose(value, raw_value, rtol=1e-5)
    for ours, theirs in pairs(grads, raw_grads):
        scale = float(jnp.max(jnp.abs(theirs)))
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4 * scale)


def run(mode: str) -> list[Row]:
    object_size, probe_size, frames = SIZES[mode]
    obj, modes, each, positions, measured = _problem(object_size, probe_size, frames)
    step = jax.jit(jax.value_and_grad(parametrized_loss))
    size = f"object {object_size}x{object_size}, probe {probe_size}x{probe_size}, {frames} frames"
    rows = []

    probe = OrthogonalModesArrayParametrization(modes)
    model = {"object": obj, "probe": probe, "positions": IndexSliceParameter(positions)}
    raw = {"object": obj, "basis": probe.basis, "power_steps": probe.power_steps}
    raw["positions"] = positions
    raw_step = jax.jit(jax.value_and_grad(raw_modes_loss))
    _check(
        *step(model, measured),
        *raw_step(raw, measured),
        lambda g, r: [(g["probe"].basis, r["basis"]), (g["probe"].power_steps, r["power_steps"])],
    )
    case = f"{MODES} orthogonal modes, {size}; jit(value_and_grad)"
    rows += _rows(case, step, (model, measured), raw_step, (raw, measured), mode)

    probes = ProbeRelaxationParameter(each, rank=RANK)
    model = {"object": obj, "probe": probes, "positions": IndexSliceParameter(positions)}
    raw = {"object": obj, "weights": probes.weights, "eigenprobes": probes.eigenprobes}
    raw["positions"] = positions
    raw_step = jax.jit(jax.value_and_grad(raw_relaxation_loss))
    _check(
        *step(model, measured),
        *raw_step(raw, measured),
        lambda g, r: [
            (g["probe"].weights, r["weights"]),
            (g["probe"].eigenprobes, r["eigenprobes"]),
        ],
    )
    case = f"per-position probes of rank {RANK}, {size}; jit(value_and_grad)"
    rows += _rows(case, step, (model, measured), raw_step, (raw, measured), mode)
    return rows
