"""WaveletArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
from jaxtyping import Array, Inexact

import ptyrax_core

from . import _dwt


class WaveletArrayParametrization(ptyrax_core.ArrayParametrization):
    """An array stored as its 2-D wavelet coefficients (over the last two axes), which are trained.

    A multi-scale representation: an L1 penalty on `wavelet_coefficients` favours arrays that
    are sparse in the wavelet basis. The transform is PyWavelets' periodized discrete wavelet
    transform (`mode="periodization"`) of an orthogonal wavelet, computed in pure JAX; for
    sizes divisible by `2 ** level` it is orthonormal, so a gradient step on the coefficients
    is a gradient step of the same length on the array.

    Sizes: each of the last two axes is padded at its end to the next multiple of `2 ** level`
    by repeating the last row and column (NumPy's `mode="edge"`), and the padded array is
    transformed; calling the parametrization inverts the transform and drops the padding, so the
    output has exactly the original shape. `wavelet_coefficients` equals
    `pywt.coeffs_to_array(pywt.wavedec2(padded, wavelet, mode="periodization", level=level),
    axes=(-2, -1))[0]`.

    Arguments:
        data_or_initializer: the initial array, shape `(..., H, W)` with any leading batch
            dimensions, real or complex (JAX or NumPy; integers become floats), or a
            zero-argument callable returning one.
        wavelet: an orthogonal wavelet by its PyWavelets name: `"haar"`, `"db1"` to `"db38"`,
            `"sym2"` to `"sym20"`, `"coif1"` to `"coif17"` (static).
        level: the number of decomposition levels, from 1 to PyWavelets' `dwt_max_level`
            of `min(H, W)` and the filter length, `floor(log2(min(H, W) / (filter_len - 1)))`
            (static).

    Attributes:
        wavelet_coefficients: the trainable coefficients, shape `(..., Hp, Wp)` (the padded
            shape), the dtype of the data, one array laid out as `pywt.coeffs_to_array` does:
            the approximation at the top left, `[..., :Hp >> level, :Wp >> level]`, and the
            details of level `j` (1 is the finest) with `m, n = Hp >> j, Wp >> j` at
            `[..., :m, n:2n]` (low-pass along H, high-pass along W), `[..., m:2m, :n]`
            (high along H, low along W) and `[..., m:2m, n:2n]`.
        wavelet: the wavelet name (static).
        level: the number of levels (static).
        padded_shape: `(Hp, Wp)` (static).
        output_shape: the shape of the array, `(..., H, W)` (static).

    Raises:
        ValueError: `data_or_initializer` has fewer than 2 dimensions; `wavelet` is not
            supported; `level` is below 1 or above the maximum for the array.
        jaxtyping.TypeCheckError: an argument of the wrong type.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> initial_array = jax.random.normal(jax.random.PRNGKey(0), (2, 64, 60))
        >>> param = WaveletArrayParametrization(initial_array, wavelet="db2", level=2)
        >>> param.wavelet_coefficients.shape  # 60 is padded to a multiple of 2 ** 2
        (2, 64, 60)
        >>> reconstructed = param()  # spatial-domain array
        >>> reconstructed.shape, bool(jnp.allclose(reconstructed, initial_array, atol=1e-5))
        ((2, 64, 60), True)
        >>> WaveletArrayParametrization(jnp.ones((5, 7)), level=2).padded_shape
        (8, 8)
    """

    registry_name: ClassVar[str] = "wavelet"
    supported_wavelets: ClassVar[tuple[str, ...]] = _dwt.WAVELETS
    wavelet_coefficients: Inexact[Array, "*batch hp wp"]
    wavelet: str = eqx.field(static=True)
    level: int = eqx.field(static=True)
    padded_shape: tuple[int, int] = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(
        self,
        data_or_initializer: ptyrax_core.HostOrDeviceArray | Callable[[], Any],
        wavelet: str = "haar",
        level: int = 1,
    ):
        _dwt.check_wavelet(wavelet)
        if isinstance(level, bool):
            raise TypeError(f"level must be an int; got {level!r}.")
        data = ptyrax_core.as_array(data_or_initializer, "data_or_initializer")
        if data.ndim < 2:
            raise ValueError(
                "data_or_initializer must have at least 2 dimensions (..., H, W), the last two "
                f"transformed; got shape {data.shape}."
            )
        size = data.shape[-2:]
        _dwt.check_level(level, size, wavelet)
        block = 2**level
        self.padded_shape = tuple(-(-n // block) * block for n in size)
        self.wavelet_coefficients = _dwt.pad_and_decompose(
            data, wavelet=wavelet, level=level, padded_shape=self.padded_shape
        )
        self.wavelet = wavelet
        self.level = level
        self.output_shape = tuple(data.shape)

    def __call__(self) -> Inexact[Array, "*batch h w"]:
        """The array: the inverse transform of `wavelet_coefficients`, padding dropped."""
        return _dwt.reconstruct_and_crop(
            self.wavelet_coefficients,
            wavelet=self.wavelet,
            level=self.level,
            shape=tuple(self.output_shape[-2:]),
        )

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy that returns `target`: it stores `target`'s coefficients.

        `target` (shape `output_shape`) is padded and transformed as in `__init__`, with the
        same wavelet, level and padded shape, so every array is represented exactly (up to
        round-off). A real target for complex coefficients gets a zero imaginary part; a
        complex one for real coefficients raises `TypeError`.

        Example:
            >>> import jax.numpy as jnp
            >>> param = WaveletArrayParametrization(jnp.zeros((6, 10)), wavelet="db2")
            >>> target = jnp.arange(60.0).reshape(6, 10)
            >>> bool(jnp.allclose(param.with_array(target)(), target, atol=1e-5))
            True
        """
        coefficients = _dwt.pad_and_decompose(
            ptyrax_core.read_target(target, self),
            wavelet=self.wavelet,
            level=self.level,
            padded_shape=self.padded_shape,
        )
        return eqx.tree_at(lambda p: p.wavelet_coefficients, self, coefficients)
