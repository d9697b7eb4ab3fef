"""Losses of model intensities against measured counts, per pixel; masked pixels add nothing.

Both return an array of per-pixel contributions; the fitting loop sums them. The Poisson one
is the deviance, `2 (I - y + y log(y / I))`: the negative log-likelihood up to a constant of
the data, so its gradient is the likelihood's and its mean over pixels with `y >= 1` is the
reduced deviance that other tools report (1 at the photon-noise floor).
"""

import jax.numpy as jnp
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
