"""The far-field forward model: one diffraction pattern per scan position."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


def fourier_shift(image: Complex[Array, "p p"], shift: Float[Array, "2"]) -> Complex[Array, "p p"]:
    """`image` moved by `shift` (y, x) pixels, subpixel, periodic; differentiable in `shift`."""
    ky, kx = (jnp.fft.fftfreq(n) for n in image.shape)
    ramp = jnp.exp(-2j * jnp.pi * (ky[:, None] * shift[0] + kx[None, :] * shift[1]))
    return jnp.fft.ifft2(jnp.fft.fft2(image) * ramp)


def exit_wave(
    obj: Complex[Array, "n m"], probe: Complex[Array, "p p"], position: Float[Array, "2"]
) -> Complex[Array, "p p"]:
    """The wave leaving the object where the probe's top-left corner sits at `position` (y, x).

    The object window starts at the nearest whole pixel; the probe moves by the rest (at most
    half a pixel), so the gradient reaches `position` through the Fourier shift.
    """
    whole = jnp.round(position)
    window = jax.lax.dynamic_slice(obj, whole.astype(jnp.int32), probe.shape)
    return fourier_shift(probe, position - whole) * window


def far_field_amplitude(
    obj: Complex[Array, "n m"], probe: Complex[Array, "p p"], position: Float[Array, "2"]
) -> Float[Array, "p p"]:
    """`|FFT(exit wave)|`, orthonormal, so the counts sum to the exit wave's `sum |psi|**2`."""
    return jnp.abs(jnp.fft.fft2(exit_wave(obj, probe, position), norm="ortho"))
