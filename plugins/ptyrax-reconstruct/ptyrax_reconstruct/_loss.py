"""Losses of model intensities against measured counts, per pixel; masked pixels add nothing.

Both return an array of per-pixel contributions; the fitting loop sums them. The Poisson one
is the deviance, `2 (I - y + y log(y / I))`: the negative log-likelihood up to a constant of
the data, so its gradient is the likelihood's and its sum over pixels divided by the pixels
with `y >= 1` is the reduced deviance that other tools report.

The reduced deviance of a model that is exactly right is not 1: a pixel of mean `I` adds
`E[D](I)` on average, 1.147 at `I = 1` and 0.092 at `I = 0.01`, and dark pixels add to the
sum but not to the count it is divided by. `deviance_moments` gives `E[D]` and `Var[D]` per
pixel, from which the engine estimates the noise floor at its model's intensities.
"""

import functools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

LOSSES = ("poisson", "amplitude")

# Model intensities are at least this (in counts), so that log(I) stays finite where a model
# pixel is dark: far below one photon, it changes no fit.
FLOOR = 1e-6


def poisson_deviance(
    intensity: Float[Array, "*b p q"], counts: Float[Array, "*b p q"], valid: Bool[Array, "p q"]
) -> Float[Array, "*b p q"]:
    """`2 (I - y + y log(y / I))` per valid pixel (0 elsewhere), with `y log(y / I) = 0` at
    `y = 0`.

    Example:
        >>> import jax.numpy as jnp
        >>> counts, valid = jnp.array([4.0, 0.0, 9.0]), jnp.array([True, True, False])
        >>> d = poisson_deviance(jnp.array([4.0, 0.5, 1.0]), counts, valid)
        >>> [round(float(x), 4) for x in d]  # a pixel fitted exactly, an empty one, a bad one
        [0.0, 1.0, 0.0]
    """
    intensity = jnp.where(intensity >= 0, intensity, 0.0) + FLOOR  # never log of < 0
    positive = counts > 0
    log_ratio = jnp.log(jnp.where(positive, counts, 1.0)) - jnp.log(intensity)
    deviance = 2.0 * (intensity - counts + jnp.where(positive, counts * log_ratio, 0.0))
    return jnp.where(valid, deviance, 0.0)


def amplitude_error(
    intensity: Float[Array, "*b p q"], counts: Float[Array, "*b p q"], valid: Bool[Array, "p q"]
) -> Float[Array, "*b p q"]:
    """`(sqrt(I) - sqrt(y))**2` per valid pixel (0 elsewhere): the Gaussian loss on amplitudes."""
    amplitude = jnp.sqrt(jnp.where(intensity >= 0, intensity, 0.0) + FLOOR)
    return jnp.where(valid, (amplitude - jnp.sqrt(counts)) ** 2, 0.0)


def loss_function(name: str):
    """The per-pixel loss called `name` (`"poisson"` or `"amplitude"`)."""
    return {"poisson": poisson_deviance, "amplitude": amplitude_error}[name]


# The moments of the deviance of one Poisson pixel are tabulated on a uniform grid of log(I)
# from FLOOR (the least intensity the losses see) to 1e3 counts; above, their expansions
# (E[D] = 1 + 1/(6 I) + 1/(6 I^2), Var[D] = 2 + 2/(3 I): within 1e-6 of the sums there).
_LOG_LOW, _LOG_HIGH, _POINTS = np.log(FLOOR), np.log(1e3), 1024


@functools.cache
def _moment_table() -> tuple[np.ndarray, np.ndarray]:
    """`E[D]` and `Var[D]` at the grid's intensities, float64, summed over the Poisson counts
    that carry their mass (up to `I + 40 sqrt(I) + 60`)."""
    from scipy.special import gammaln, xlogy

    means, variances = [], []
    for lam in np.exp(np.linspace(_LOG_LOW, _LOG_HIGH, _POINTS)):
        k = np.arange(int(lam + 40 * np.sqrt(lam) + 60), dtype=np.float64)
        p = np.exp(k * np.log(lam) - lam - gammaln(k + 1))
        d = 2.0 * (lam - k + xlogy(k, k) - k * np.log(lam))
        mean = np.sum(p * d)
        means.append(mean)
        variances.append(np.sum(p * (d - mean) ** 2))
    return np.asarray(means), np.asarray(variances)


def deviance_moments(
    intensity: Float[Array, "*b p q"], valid: Bool[Array, "p q"]
) -> tuple[Float[Array, "*b p q"], Float[Array, "*b p q"]]:
    """The mean and variance of `poisson_deviance` per valid pixel (0 elsewhere) when the
    counts are Poisson with mean `intensity`: what a model that is exactly right scores.

    Example:
        >>> import jax.numpy as jnp
        >>> mean, var = deviance_moments(jnp.array([0.01, 1.0, 1e4]), jnp.array([True] * 3))
        >>> [round(float(x), 3) for x in mean], [round(float(x), 2) for x in var]
        ([0.092, 1.147, 1.0], [0.52, 1.36, 2.0])
    """
    means, variances = _moment_table()
    intensity = jnp.where(intensity >= 0, intensity, 0.0) + FLOOR
    step = (_LOG_HIGH - _LOG_LOW) / (_POINTS - 1)
    t = jnp.clip((jnp.log(intensity) - _LOG_LOW) / step, 0.0, _POINTS - 1.0)
    i = jnp.minimum(t.astype(jnp.int32), _POINTS - 2)  # uniform grid: no search
    w = t - i
    high = intensity > 1e3

    def look(table, above):
        table = jnp.asarray(table, jnp.float32)
        value = table[i] * (1 - w) + table[i + 1] * w
        return jnp.where(valid, jnp.where(high, above, value), 0.0)

    mean = look(means, 1.0 + 1.0 / (6.0 * intensity) + 1.0 / (6.0 * intensity**2))
    return mean, look(variances, 2.0 + 2.0 / (3.0 * intensity))
