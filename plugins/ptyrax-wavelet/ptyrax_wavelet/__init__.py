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
