"""ptyrax-support: probes held inside fixed bounds: zero outside a support in real space (an
aperture or a mask), or outside a band in Fourier space (the aperture of the optics)."""

import ptyrax_core

from ._band_limited import BandLimitedArrayParametrization as BandLimitedArrayParametrization
from ._probe_support import ProbeSupportArrayParametrization as ProbeSupportArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [ProbeSupportArrayParametrization, BandLimitedArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    grid = jnp.linspace(-1.0, 1.0, 48).reshape(6, 8)
    probe = jnp.exp(1j * grid) * (2.0 - grid**2)
    modes = jnp.stack([probe, 0.5 * probe.conj()])
    disc = jnp.hypot(*jnp.meshgrid(jnp.arange(8.0) - 3.5, jnp.arange(6.0) - 2.5)) <= 2.5
    per_mode = jnp.stack([disc, jnp.roll(disc, 1, axis=-1)]).astype(jnp.float32)
    return [
        ProbeSupportArrayParametrization(grid, support=2.5),  # real, a centred disc
        ProbeSupportArrayParametrization(probe, support=3.0, center=(2.0, 4.5)),
        ProbeSupportArrayParametrization(modes, support=2.0),  # one disc for every mode
        ProbeSupportArrayParametrization(probe, support=disc),  # a boolean mask
        ProbeSupportArrayParametrization(modes, support=per_mode),  # a 0/1 mask per mode
        ProbeSupportArrayParametrization(jnp.stack([grid, -grid, 2 * grid]), disc.astype(int)),
        BandLimitedArrayParametrization(probe, band=2.0),  # a disc round zero frequency
        BandLimitedArrayParametrization(modes, band=1.5, center=(3.0, 3.0)),
        BandLimitedArrayParametrization(grid, band=disc),  # real data, a centred mask
    ]
