"""ptyrax-probe-relaxation: one probe per position, `sum_r weights[i, r] * eigenprobes[r]`."""

import ptyrax_core

from ._relaxation import ProbeRelaxationParameter as ProbeRelaxationParameter


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [ProbeRelaxationParameter]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    # a 5 x 6 spot whose position, width and phase drift over 6 scan positions: rank 2 of it
    rows, cols = jnp.arange(5.0)[:, None], jnp.arange(6.0)[None, :]
    t = jnp.arange(6.0)[:, None, None]
    drifting = jnp.exp(
        -((rows - 2.0 - 0.1 * t) ** 2 + (cols - 2.5) ** 2) / (3.0 + 0.2 * t) + 0.3j * t * cols
    )
    # two incoherent modes of 3 x 4 at 5 positions, their intensities flickering
    spot = jnp.exp(-((jnp.arange(3.0)[:, None] - 1.0) ** 2 + (jnp.arange(4.0) - 1.5) ** 2) / 2)
    modes = jnp.stack([spot, 0.5 * spot * jnp.exp(1j * jnp.pi * jnp.arange(4.0) / 2)])
    flicker = (1.0 + 0.2 * jnp.sin(jnp.arange(5.0)))[:, None, None, None]
    mix = (
        jnp.array([1.0, 0.3j])[None, :, None, None] * jnp.cos(jnp.arange(5.0))[:, None, None, None]
    )
    return [
        ProbeRelaxationParameter(drifting.astype(jnp.complex64), rank=2),
        ProbeRelaxationParameter(flicker * modes + 0.5 * mix * modes[::-1], rank=2),
        # the engine's start: the same probe at every position, eigenprobes 1 and 2 zero
        ProbeRelaxationParameter(jnp.stack([drifting[0]] * 4), rank=3),
    ]
