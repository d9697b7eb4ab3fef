"""wavelet_decompose and wavelet_reconstruct: the transform itself, for arrays of any origin."""

from jaxtyping import Array, Inexact

import ptyrax_core

from . import _dwt


def _check(shape: tuple[int, ...], wavelet: str, level: int, argname: str) -> None:
    _dwt.check_wavelet(wavelet)
    if len(shape) < 2:
        raise ValueError(
            f"{argname} must have at least 2 dimensions (..., H, W); got shape {shape}."
        )
    _dwt.check_level(level, shape[-2:], wavelet)
    if any(n % 2**level for n in shape[-2:]):
        raise ValueError(
            f"{argname} has size {shape[-2]}x{shape[-1]}, not divisible by 2 ** level = "
            f"{2**level}: pad it first, or use WaveletArrayParametrization, which pads."
        )


@ptyrax_core.typechecked
def wavelet_decompose(
    x: ptyrax_core.HostOrDeviceArray, wavelet: str = "haar", level: int = 1
) -> Inexact[Array, "..."]:
    """The periodized 2-D wavelet coefficients of `x` over its last two axes, in one array.

    Equal to `pywt.coeffs_to_array(pywt.wavedec2(x, wavelet, mode="periodization",
    level=level), axes=(-2, -1))[0]`, in pure JAX (jit, grad and vmap work), and orthonormal:
    the coefficients have the norm of `x`. The layout is that of
    `WaveletArrayParametrization.wavelet_coefficients`.

    Arguments:
        x: shape `(..., H, W)`, H and W divisible by `2 ** level`; real or complex.
        wavelet: an orthogonal wavelet by its PyWavelets name (haar, dbN, symN, coifN).
        level: from 1 to `floor(log2(min(H, W) / (filter_len - 1)))`.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> c = wavelet_decompose(x)  # Haar: the sum / 2, and differences / 2
        >>> bool(jnp.allclose(c, jnp.array([[5.0, -1.0], [-2.0, 0.0]]), atol=1e-6))
        True
    """
    _check(x.shape, wavelet, level, "x")
    return _dwt.pad_and_decompose(x, wavelet=wavelet, level=level, padded_shape=x.shape[-2:])


@ptyrax_core.typechecked
def wavelet_reconstruct(
    coefficients: ptyrax_core.HostOrDeviceArray, wavelet: str = "haar", level: int = 1
) -> Inexact[Array, "..."]:
    """The inverse of `wavelet_decompose`: the array whose coefficients these are.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.arange(64.0).reshape(8, 8)
        >>> c = wavelet_decompose(x, "db2", level=1)
        >>> bool(jnp.allclose(wavelet_reconstruct(c, "db2", level=1), x, atol=1e-5))
        True
    """
    _check(coefficients.shape, wavelet, level, "coefficients")
    shape = coefficients.shape[-2:]
    return _dwt.reconstruct_and_crop(coefficients, wavelet=wavelet, level=level, shape=shape)
