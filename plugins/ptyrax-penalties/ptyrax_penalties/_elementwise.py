"""Elementwise pieces that keep a penalty's gradient finite where its value has a kink."""

import jax
import jax.numpy as jnp


def magnitude(x: jax.Array) -> jax.Array:
    """`|x|` (real or complex), with the gradient 0 at `x = 0` (a subgradient: a zero stays)."""
    zero = x == 0
    return jnp.where(zero, 0.0, jnp.abs(jnp.where(zero, 1, x)))


def squared_magnitude(x: jax.Array) -> jax.Array:
    """`|x|**2`, real: `x**2`, or `re**2 + im**2` for complex `x`."""
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def root(s: jax.Array) -> jax.Array:
    """`sqrt(s)` for `s >= 0`, with the gradient 0 at `s = 0` instead of infinity."""
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1.0)), 0.0)
