"""Tolerances from a dtype's rounding, so that a test's verdict is the same on any machine."""

from typing import Any

import jax.numpy as jnp
import numpy as np

# Elementwise functions (exp, sin, angle, ...) are correct to a few units in the last place on
# every XLA backend; 8 covers them with room, and no test should need more than a factor of 8.
_ULPS = 8.0


def rounding_tolerance(dtype: Any, *, terms: float = 1, scale: float = 1.0) -> float:
    """An absolute bound on the rounding error of a result computed in `dtype`.

    `8 * terms * eps(dtype) * scale`: `terms` is how many roundings can pile up in one
    element (1 for an elementwise op, `n` for a sum or product of `n` terms, about
    `log2(n)` per FFT of size `n`), and `scale` the magnitude the errors are relative to
    (the largest `|value|` of the reference, or `sum |term|` for a sum). Complex dtypes use
    the precision of their parts.

    Example:
        >>> import jax.numpy as jnp
        >>> rounding_tolerance(jnp.float32) == 8 * 2.0**-23
        True
        >>> rounding_tolerance(jnp.complex64, terms=8, scale=4.0) == 8 * 8 * 2.0**-23 * 4.0
        True
    """
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(f"rounding_tolerance: dtype must be a float or complex dtype, got {dtype}")
    if not terms >= 1:
        raise ValueError(f"rounding_tolerance: terms must be at least 1, got {terms!r}")
    if not scale >= 0:
        raise ValueError(f"rounding_tolerance: scale must be non-negative, got {scale!r}")
    return _ULPS * float(terms) * float(jnp.finfo(dtype).eps) * float(scale)


def assert_close(
    actual: Any, expected: Any, *, terms: float = 1, scale: float | None = None
) -> None:
    """Assert `|actual - expected| <= rounding_tolerance(actual.dtype, terms, scale)` everywhere.

    `scale` defaults to `max(|expected|)` (1 where that is 0), so the bound is relative to the
    size of the values, whatever their units. Shapes must match; `expected` may be computed in
    a wider dtype (a float64 reference), the bound is that of `actual`'s dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.linspace(0.0, 3.0, 7)
        >>> assert_close(jnp.exp(jnp.log(x + 1.0)), x + 1.0, terms=2)
        >>> assert_close(x + 1e-3, x)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        AssertionError: not equal to rounding: max |actual - expected| = 0.001 > 2.86e-06 ...
    """
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shapes differ: actual {a.shape}, expected {e.shape}")
    if scale is None:
        scale = float(np.max(np.abs(e))) if e.size else 1.0
        scale = scale if scale > 0 else 1.0
    tol = rounding_tolerance(a.dtype, terms=terms, scale=scale)
    error = float(np.max(np.abs(_wide(a) - _wide(e)))) if a.size else 0.0
    if not error <= tol:
        raise AssertionError(
            f"not equal to rounding: max |actual - expected| = {error:.3g} > {tol:.3g} "
            f"({a.dtype}, terms={terms:g}, scale={scale:g})"
        )


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.complex128 if jnp.iscomplexobj(x) else np.float64)
