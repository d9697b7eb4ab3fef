"""ptyrax-wavelet: arrays stored as their 2-D wavelet coefficients (orthogonal, periodized)."""

import ptyrax_core

from ._transform import (
    wavelet_decompose as wavelet_decompose,
    wavelet_reconstruct as wavelet_reconstruct,
)
from ._wavelet import WaveletArrayParametrization as WaveletArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [WaveletArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_functions():
    return [wavelet_decompose, wavelet_reconstruct]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 16))
    return [
        WaveletArrayParametrization(x[0]),
        WaveletArrayParametrization(x * jnp.exp(1j * x), wavelet="db2", level=2),
        WaveletArrayParametrization(x[0, :7, :9], wavelet="sym2", level=1),
    ]
