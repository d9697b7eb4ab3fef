"""a. A far-field ptychography step, parametrized and resolved per index under vmap, against
the same loss written by hand on raw arrays.

The model: a phase-only object, a normalized probe and scan positions (one per index). The
step is `jax.jit(jax.value_and_grad(loss))`, where the loss resolves the model at each scan
index inside `jax.vmap`. The hand-written loss takes the phase, the probe's stored array and
the positions, and computes `exp(1j * phase)`, `probe * scale` and `positions[i]` itself.
Compared: the optimized HLO of both (op histograms) and the step time, paired.
"""

import jax
import jax.numpy as jnp
import numpy as np
from ptyrax_normalized import NormalizedArrayParametrization
from ptyrax_phase_only import PhaseOnlyArrayParametrization

from ptyrax_core import IndexSliceParameter, resolve_parametrizations

from ._report import Row, same_program_and_time
from ._timing import pairs_of, program_and_calls

TITLE = "a. ptychography step"
SIZES = {"full": (256, 64, 64), "smoke": (32, 8, 4)}  # object, probe, positions
PAIRS = {"full": 100, "smoke": 3}
CALLS = 3  # timed calls a side per pair, after an untimed one
TARGET = 1.05
PROBE_SCALE = 30.0


def far_field_amplitude(obj, probe, position):
    """`|FFT(probe shifted to position * object window)|`: the probe's top-left corner sits
    at `position` (y, x); the window starts at the nearest whole pixel, and the probe moves
    by the rest through a Fourier shift, so the gradient reaches the position."""
    whole = jnp.round(position)
    window = jax.lax.dynamic_slice(obj, whole.astype(jnp.int32), probe.shape)
    ky, kx = (jnp.fft.fftfreq(n) for n in probe.shape)
    shift = position - whole
    ramp = jnp.exp(-2j * jnp.pi * (ky[:, None] * shift[0] + kx[None, :] * shift[1]))
    shifted = jnp.fft.ifft2(jnp.fft.fft2(probe) * ramp)
    return jnp.abs(jnp.fft.fft2(shifted * window, norm="ortho"))


def loss_at(obj, probe, position, measured):
    return jnp.mean((far_field_amplitude(obj, probe, position) - measured) ** 2)


def parametrized_loss(model, measured):
    def at(index):
        m = resolve_parametrizations(model, index)
        return loss_at(m["object"], m["probe"], m["positions"].at_current_index(), measured[index])

    return jnp.mean(jax.vmap(at)(jnp.arange(measured.shape[0])))


def raw_loss(arrays, measured):
    obj = jnp.exp(1j * arrays["phase"])
    probe = arrays["probe"] * PROBE_SCALE

    def at(index):
        return loss_at(obj, probe, arrays["positions"][index], measured[index])

    return jnp.mean(jax.vmap(at)(jnp.arange(measured.shape[0])))


def problem(object_size: int, probe_size: int, positions: int):
    """The parametrized model, the same state as raw arrays, and measured amplitudes."""
    rng = np.random.default_rng(0)
    side = int(np.ceil(np.sqrt(positions)))
    grid = np.linspace(1, object_size - probe_size - 2, side)
    yx = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)[:positions]
    positions_true = yx + rng.uniform(-0.5, 0.5, yx.shape)
    phase_true = rng.uniform(-1.0, 1.0, (object_size, object_size))
    yy, xx = np.mgrid[:probe_size, :probe_size] - (probe_size - 1) / 2
    probe = PROBE_SCALE * np.exp(-(yy**2 + xx**2) / (0.1 * probe_size**2)).astype(np.complex64)
    measured = jax.vmap(far_field_amplitude, in_axes=(None, None, 0))(
        jnp.exp(1j * jnp.asarray(phase_true, jnp.float32)),
        jnp.asarray(probe),
        jnp.asarray(positions_true, jnp.float32),
    )
    # The state being fitted: a flat phase, the true probe, positions off by up to a pixel.
    start_positions = (positions_true + rng.uniform(-1.0, 1.0, yx.shape)).astype(np.float32)
    model = {
        "object": PhaseOnlyArrayParametrization((object_size, object_size)),
        "probe": NormalizedArrayParametrization(jnp.asarray(probe), scale=PROBE_SCALE),
        "positions": IndexSliceParameter(jnp.asarray(start_positions)),
    }
    arrays = {
        "phase": model["object"].phase,
        "probe": model["probe"]._data,
        "positions": model["positions"].parameters,
    }
    return model, arrays, measured


def run(mode: str) -> list[Row]:
    object_size, probe_size, positions = SIZES[mode]
    model, arrays, measured = problem(object_size, probe_size, positions)
    step = jax.jit(jax.value_and_grad(parametrized_loss))
    raw_step = jax.jit(jax.value_and_grad(raw_loss))

    value, grads = step(model, measured)
    raw_value, raw_grads = raw_step(arrays, measured)
    np.testing.assert_allclose(value, raw_value, rtol=1e-5)
    np.testing.assert_allclose(grads["object"].phase, raw_grads["phase"], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(grads["probe"]._data, raw_grads["probe"], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(
        grads["positions"].parameters, raw_grads["positions"], rtol=1e-3, atol=1e-7
    )

    ops, paired = program_and_calls(
        step, (model, measured), raw_step, (arrays, measured), PAIRS[mode], CALLS, warm=True
    )
    judged = mode == "full"
    case = (
        f"object {object_size}x{object_size} (phase-only), probe {probe_size}x{probe_size} "
        f"(normalized), {positions} positions (index slice); "
        "jit(value_and_grad), resolved per index under vmap"
    )
    return same_program_and_time(
        TITLE, case, ops, paired, TARGET, judged, pairs_of(PAIRS[mode], CALLS)
    )
