"""The periodized 2-D discrete wavelet transform of orthogonal wavelets, in pure JAX.

Polyphase, one multiply-add per filter tap on half-length arrays; no convolution, no dense
matrix, no loop over pixels. Analysis along one axis: wrap the array around once, then each tap
reads a strided slice. Synthesis: each tap reads a periodically shifted (wrapped, sliced) copy
of the half-length sub-bands, giving the even and odd output samples; both axes stay in this
polyphase form and the four phases are interleaved once per level. The synthesis is the adjoint
of the analysis, which for an orthogonal wavelet is its inverse.

Conventions are PyWavelets' `mode="periodization"`: the analysis of `x` (even length `n`) is
`a[o] = sum_j dec_lo[j] * x[(2 o + L / 2 - j) % n]` (and `d` likewise with `dec_hi`), for a filter
of even length `L`. Coefficients of several levels are packed as by `pywt.coeffs_to_array`.
"""

import functools
import operator
from collections.abc import Callable, Sequence

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
        ((half - j) % 2, (half - j) // 2, lo, hi)
        for j, (lo, hi) in enumerate(zip(dec_lo, dec_hi, strict=True))
    )


def _shifted(y: Array, shifts: set[int], axis: int) -> dict[int, Array]:
    """`{s: z}` with `z[o] = y[(o + s) % m]` along `axis` (length `m`), for each shift `s`."""
    m = y.shape[axis]
    before, after = max(0, -min(shifts)), max(0, max(shifts))
    if before or after:  # wrap around once; every shift is then a slice
        y = jnp.concatenate(
            [
                lax.slice_in_dim(y, m - before, m, axis=axis),
                y,
                lax.slice_in_dim(y, 0, after, axis=axis),
            ],
            axis=axis,
        )
    return {s: lax.slice_in_dim(y, before + s, before + s + m, axis=axis) for s in shifts}


def _sum(terms: list[Array]) -> Array:
    return functools.reduce(operator.add, terms)


def _analysis(x: Array, wavelet: str, axis: int) -> tuple[Array, Array]:
    """One level along `axis` (even length): the low-pass and high-pass halves."""
    taps = _polyphase(wavelet)
    n = x.shape[axis]
    shifts = [s for _, s, _, _ in taps]
    before, after = max(0, -min(shifts)), max(0, max(shifts))
    if before or after:  # wrap around once; every tap is then a strided slice
        x = jnp.concatenate(
            [
                lax.slice_in_dim(x, n - 2 * before, n, axis=axis),
                x,
                lax.slice_in_dim(x, 0, 2 * after, axis=axis),
            ],
            axis=axis,
        )
    sampled = {
        (p, s): lax.slice_in_dim(x, 2 * (before + s) + p, 2 * (before + s) + p + n - 1, 2, axis)
        for p, s, _, _ in taps
    }
    low = _sum([lo * sampled[p, s] for p, s, lo, _ in taps])
    high = _sum([hi * sampled[p, s] for p, s, _, hi in taps])
    return low, high


def _synthesis(low: Array, high: Array, wavelet: str, axis: int) -> tuple[Array, Array]:
    """The adjoint (and inverse) of `_analysis`: the even and odd samples."""
    taps = _polyphase(wavelet)
    shifts = {-s for _, s, _, _ in taps}
    low_shifted, high_shifted = _shifted(low, shifts, axis), _shifted(high, shifts, axis)
    even, odd = (
        _sum([lo * low_shifted[-s] + hi * high_shifted[-s] for q, s, lo, hi in taps if q == p])
        for p in (0, 1)
    )
    return even, odd


def _decompose(x: Inexact[Array, "*batch h w"], wavelet: str, level: int) -> Array:
    """Packed coefficients of `x` (sizes divisible by `2 ** level`), shape of `x`."""
    low_w, high_w = _analysis(x, wavelet, axis=-1)
    aa, da = _analysis(low_w, wavelet, axis=-2)
    ad, dd = _analysis(high_w, wavelet, axis=-2)
    if level > 1:
        aa = _decompose(aa, wavelet, level - 1)
    # (..., 2, m, 2, n) -> (..., 2m, 2n): the four sub-bands as blocks, in one pass
    packed = jnp.stack([jnp.stack(row, axis=-2) for row in ((aa, ad), (da, dd))], axis=-4)
    return packed.reshape((*aa.shape[:-2], 2 * aa.shape[-2], 2 * aa.shape[-1]))


def _reconstruct(coefficients: Inexact[Array, "*batch h w"], wavelet: str, level: int) -> Array:
    """The inverse (and transpose) of `_decompose`; each sub-band is a slice of `coefficients`."""
    h, w = coefficients.shape[-2:]
    c = coefficients
    x = c[..., : h >> level, : w >> level]
    for j in range(level, 0, -1):
        m, n = h >> j, w >> j
        # Both axes in the polyphase domain; the four phases are interleaved once, at the end.
        low_w = _synthesis(x, c[..., m : 2 * m, :n], wavelet, axis=-2)
        high_w = _synthesis(c[..., :m, n : 2 * n], c[..., m : 2 * m, n : 2 * n], wavelet, axis=-2)
        phases = [
            _synthesis(lo, hi, wavelet, axis=-1) for lo, hi in zip(low_w, high_w, strict=True)
        ]
        # (..., m, 2, n, 2) -> (..., 2m, 2n): x[2i + p, 2k + q] = phases[p][q][i, k]
        x = jnp.stack([jnp.stack(pair, axis=-1) for pair in phases], axis=-3)
        x = x.reshape((*x.shape[:-4], 2 * m, 2 * n))
    return x


# Derivatives. Both transforms are linear, and each is the transpose of the other. JAX's own
# reverse mode would transpose the slices, wraps and interleaves of a transform op by op (3 to 7
# times slower than the transform on CPU). So each transform's derivative is declared as the
# transpose of the other one (`jax.linear_transpose`, exact): reverse mode, transposing that
# again, runs the other transform's own code, and forward mode keeps working.


def _transpose(f: Callable[..., Array], y: Array, wavelet: str, level: int) -> Array:
    """`f`'s transpose applied to `y`; `f` maps arrays of `y`'s shape and dtype to the same."""
    (out,) = jax.linear_transpose(
        lambda v: f(v, wavelet, level), jax.ShapeDtypeStruct(y.shape, y.dtype)
    )(y)
    return out


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def decompose(x: Inexact[Array, "*batch h w"], wavelet: str, level: int) -> Array:
    """Packed coefficients of `x` (sizes divisible by `2 ** level`), shape of `x`."""
    return _decompose(x, wavelet, level)


@decompose.defjvp
def _decompose_jvp(wavelet, level, primals, tangents):
    (x,), (dx,) = primals, tangents
    return decompose(x, wavelet, level), _transpose(_reconstruct, dx, wavelet, level)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def reconstruct(coefficients: Inexact[Array, "*batch h w"], wavelet: str, level: int) -> Array:
    """The inverse (and transpose) of `decompose`."""
    return _reconstruct(coefficients, wavelet, level)


@reconstruct.defjvp
def _reconstruct_jvp(wavelet, level, primals, tangents):
    (c,), (dc,) = primals, tangents
    return reconstruct(c, wavelet, level), _transpose(_decompose, dc, wavelet, level)


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
    pad = [(0, 0)] * (x.ndim - 2) + [
        (0, p - n) for p, n in zip(padded_shape, x.shape[-2:], strict=True)
    ]
    return decompose(jnp.pad(x, pad, mode="edge"), wavelet, level)


@functools.partial(jax.jit, static_argnames=("wavelet", "level", "shape"))
def reconstruct_and_crop(
    coefficients: Shaped[Array, "*batch h w"], wavelet: str, level: int, shape: tuple[int, int]
) -> Array:
    """`reconstruct`, then the leading `shape` of the last two axes."""
    x = reconstruct(as_inexact(coefficients), wavelet, level)
    if x.shape[-2:] != shape:
        x = x[..., : shape[0], : shape[1]]
    return x
