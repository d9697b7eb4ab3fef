"""d. `jax.value_and_grad` through `PhaseOnlyArrayParametrization`, against the same loss on
the raw phase, `exp(1j * phase)` written by hand.

The loss is a far-field amplitude error of the unit-magnitude field:
`mean((|fft2(field)| - measured) ** 2)`, jitted, on a 512x512 phase.
"""

import jax
import jax.numpy as jnp
import numpy as np
from ptyrax_phase_only import PhaseOnlyArrayParametrization

from ptyrax_core import resolve_parametrizations

from ._report import Row, same_program_and_time
from ._timing import pairs_of, program_and_calls

TITLE = "d. phase-only gradient"
SIZE = {"full": 512, "smoke": 16}
PAIRS = {"full": 2000, "smoke": 3}
CALLS = 1  # timed calls a side per pair
TARGET = 1.02


def _error(field, measured):
    return jnp.mean((jnp.abs(jnp.fft.fft2(field, norm="ortho")) - measured) ** 2)


def parametrized_loss(model, measured):
    return _error(resolve_parametrizations(model)["object"], measured)


def raw_loss(phase, measured):
    return _error(jnp.exp(1j * phase), measured)


def run(mode: str) -> list[Row]:
    size = SIZE[mode]
    rng = np.random.default_rng(0)
    truth = jnp.asarray(rng.uniform(-1, 1, (size, size)), jnp.float32)
    measured = jnp.abs(jnp.fft.fft2(jnp.exp(1j * truth), norm="ortho"))
    start = jnp.asarray(rng.uniform(-0.1, 0.1, (size, size)), jnp.float32)
    model = {"object": PhaseOnlyArrayParametrization((size, size), lambda s: start)}
    step = jax.jit(jax.value_and_grad(parametrized_loss))
    raw_step = jax.jit(jax.value_and_grad(raw_loss))

    (value, grads), (raw_value, raw_grad) = step(model, measured), raw_step(start, measured)
    np.testing.assert_allclose(value, raw_value, rtol=1e-6)
    np.testing.assert_allclose(grads["object"].phase, raw_grad, rtol=1e-5, atol=1e-9)

    # many short pairs: the target is tight, the machine noisy
    ops, paired = program_and_calls(
        step, (model, measured), raw_step, (start, measured), PAIRS[mode], CALLS, warm=False
    )
    judged = mode == "full"
    case = f"{size}x{size} phase, jit(value_and_grad) of a far-field amplitude error"
    return same_program_and_time(
        TITLE, case, ops, paired, TARGET, judged, pairs_of(PAIRS[mode], CALLS)
    )
