"""The periodized 2-D discrete wavelet transform of orthogonal wavelets, in pure JAX.

Polyphase: along one axis, split the samples into even and odd ones, and compute each output
sample as one multiply-add per filter tap on those half-length arrays, shifted periodically
(strided slices and one wrap-around concatenation; no convolution, no dense matrix). The
synthesis is the adjoint of the analysis, which for an orthogonal wavelet is its inverse.

Conventions are PyWavelets' `mode="periodization"`: the analysis of `x` (even length `n`) is
`a[o] = sum_j dec_lo[j] * x[(2 o + L / 2 - j) % n]` (and `d` likewise with `dec_hi`), for a filter
of even length `L`. Coefficients of several levels are packed as by `pywt.coeffs_to_array`.
"""

import functools
import operator
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Inexact, Shaped

from ._filters import DEC_LO

WAVELETS: tuple[str, ...] = tuple(DEC_LO)
"""The supported wavelet names: PyWavelets' orthogonal haar, db, sym and coif families."""

_SUPPORTED = "haar, db1-db38, sym2-sym20, coif1-coif17 (PyWavelets' orthogonal wavelets)"


def check_wavelet(wavelet: str) -> None:
    """A `ValueError` naming `wavelet` and what is supported, unless it is supported."""
    if wavelet not in DEC_LO:
        raise ValueError(
            f"wavelet={wavelet!r} is not supported; use one of {_SUPPORTED}. Biorthogonal "
            "wavelets (bior, rbio), dmey and the continuous ones are not orthogonal "
            "or not discrete."
        )


def filter_bank(wavelet: str) -> tuple[tuple[float, ...], ...]:
    """`(dec_lo, dec_hi, rec_lo, rec_hi)` of `wavelet`, as PyWavelets defines them.

    Only `dec_lo` is stored; the others follow by the orthogonal quadrature-mirror relations
    `dec_hi[j] = (-1) ** (j + 1) * dec_lo[L - 1 - j]`, `rec_lo = dec_lo[::-1]`,
    `rec_hi = dec_hi[::-1]`.
    """
    check_wavelet(wavelet)
    dec_lo = DEC_LO[wavelet]
    n = len(dec_lo)
    dec_hi = tuple((-1.0) ** (j + 1) * dec_lo[n - 1 - j] for j in range(n))
    return dec_lo, dec_hi, dec_lo[::-1], dec_hi[::-1]


def max_level(size: int, wavelet: str) -> int:
    """PyWavelets' `dwt_max_level`: `floor(log2(size / (filter_len - 1)))`, at least 0."""
    taps = len(DEC_LO[wavelet]) - 1
    return 0 if size < taps else (size // taps).bit_length() - 1


def check_level(level: int, sizes: Sequence[int], wavelet: str) -> None:
    """A `ValueError` naming `level` and the maximum, unless `1 <= level <= max_level`."""
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be an int; got {level!r}.")
    if level < 1:
        raise ValueError(f"level must be at least 1; got level={level}.")
    size = min(sizes)
    deepest = max_level(size, wavelet)
    if level > deepest:
        raise ValueError(
            f"level={level} is too deep for an array of size {sizes[0]}x{sizes[1]} with "
            f"wavelet {wavelet!r} ({len(DEC_LO[wavelet])} taps): the maximum is {deepest} "
            f"(PyWavelets' dwt_max_level of the smaller size, "
            f"floor(log2({size} / {len(DEC_LO[wavelet]) - 1})))."
        )


@functools.cache
def _polyphase(wavelet: str) -> tuple[tuple[int, int, float, float], ...]:
    """Taps `(parity, shift, lo, hi)`: `a[o] = sum lo * x[2 (o + shift) + parity]`, periodic."""
    dec_lo, dec_hi, _, _ = filter_bank(wavelet)
    half = len(dec_lo) // 2
    return tuple(
        ((half - j) % 2, (half - j) // 2, lo, hi) for j, (lo, hi) in enumerate(zip(dec_lo, dec_hi))
    )


def _shifted(y: Array, shifts: set[int], axis: int) -> dict[int, Array]:
    """`{s: z}` with `z[o] = y[(o + s) % m]` along `axis` (length `m`), for each shift `s`."""
    m = y.shape[axis]
    before, after = max(0, -min(shifts)), max(0, max(shifts))
    if before or after:  # wrap around once; every shift is then a slice
        y = jnp.concatenate(
            [lax.slice_in_dim(y, m - before, m, axis=axis), y]
            + [lax.slice_in_dim(y, 0, after, axis=axis)],
            axis=axis,
        )
    return {s: lax.slice_in_dim(y, before + s, before + s + m, axis=axis) for s in shifts}


def _sum(terms: list[Array]) -> Array:
    return functools.reduce(operator.add, terms)


def _analysis(x: Array, wavelet: str, axis: int) -> tuple[Array, Array]:
    """One level along `axis` (even length): the low-pass and high-pass halves."""
    taps = _polyphase(wavelet)
    phases = [lax.slice_in_dim(x, p, None, stride=2, axis=axis) for p in (0, 1)]
    shifted = [_shifted(phases[p], {s for q, s, _, _ in taps if q == p}, axis) for p in (0, 1)]
    low = _sum([lo * shifted[p][s] for p, s, lo, _ in taps])
    high = _sum([hi * shifted[p][s] for p, s, _, hi in taps])
    return low, high


def _synthesis(low: Array, high: Array, wavelet: str, axis: int) -> Array:
    """The adjoint (and inverse) of `_analysis`: the interleaved even and odd samples."""
    taps = _polyphase(wavelet)
    shifts = {-s for _, s, _, _ in taps}
    low_shifted, high_shifted = _shifted(low, shifts, axis), _shifted(high, shifts, axis)
    even, odd = (
        _sum([lo * low_shifted[-s] + hi * high_shifted[-s] for q, s, lo, hi in taps if q == p])
        for p in (0, 1)
    )
    axis %= even.ndim
    interleaved = jnp.stack([even, odd], axis=axis + 1)
    return interleaved.reshape(even.shape[:axis] + (-1,) + even.shape[axis + 1 :])


def decompose(x: Inexact[Array, "*batch h w"], wavelet: str, level: int) -> Array:
    """Packed coefficients of `x` (sizes divisible by `2 ** level`), shape of `x`."""
    low_w, high_w = _analysis(x, wavelet, axis=-1)
    aa, da = _analysis(low_w, wavelet, axis=-2)
    ad, dd = _analysis(high_w, wavelet, axis=-2)
    if level > 1:
        aa = decompose(aa, wavelet, level - 1)
    return jnp.concatenate(
        [jnp.concatenate([aa, ad], axis=-1), jnp.concatenate([da, dd], axis=-1)], axis=-2
    )


def reconstruct(coefficients: Inexact[Array, "*batch h w"], wavelet: str, level: int) -> Array:
    """The inverse of `decompose`, reading each sub-band as a slice of `coefficients`."""
    h, w = coefficients.shape[-2:]
    c = coefficients
    x = c[..., : h >> level, : w >> level]
    for j in range(level, 0, -1):
        m, n = h >> j, w >> j
        low_w = _synthesis(x, c[..., m : 2 * m, :n], wavelet, axis=-2)
        high_w = _synthesis(c[..., :m, n : 2 * n], c[..., m : 2 * m, n : 2 * n], wavelet, axis=-2)
        x = _synthesis(low_w, high_w, wavelet, axis=-1)
    return x


def as_inexact(x: Shaped[Array, "..."]) -> Array:
    """`x`, with integer and boolean dtypes converted to the default float dtype."""
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


@functools.partial(jax.jit, static_argnames=("wavelet", "level", "padded_shape"))
def pad_and_decompose(
    x: Shaped[Array, "*batch h w"], wavelet: str, level: int, padded_shape: tuple[int, int]
) -> Array:
    """Pad the last two axes at their end to `padded_shape` by repeating the last row and
    column (NumPy's `mode="edge"`), then `decompose`."""
    x = as_inexact(x)
    pad = [(0, 0)] * (x.ndim - 2) + [(0, p - n) for p, n in zip(padded_shape, x.shape[-2:])]
    return decompose(jnp.pad(x, pad, mode="edge"), wavelet, level)


@functools.partial(jax.jit, static_argnames=("wavelet", "level", "shape"))
def reconstruct_and_crop(
    coefficients: Inexact[Array, "*batch h w"], wavelet: str, level: int, shape: tuple[int, int]
) -> Array:
    """`reconstruct`, then the leading `shape` of the last two axes."""
    x = reconstruct(coefficients, wavelet, level)
    if x.shape[-2:] != shape:
        x = x[..., : shape[0], : shape[1]]
    return x
