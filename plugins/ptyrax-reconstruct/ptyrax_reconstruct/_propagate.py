"""Free-space propagators and the Fourier subpixel shift: pure functions on complex arrays.

Transfer functions are built once on the host in float64 (the phase `k z` of a near-field
step is about 1e8 rad, beyond float32) and applied as complex64 constants inside `jit`.
"""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float


def shift_ramp(shape: tuple[int, int], shift: Float[Array, "2"]) -> Complex[Array, "h w"]:
    """The Fourier-space phase ramp that moves an image by `shift` (rows, columns) pixels:
    `exp(-2 pi i (ky shift_0 + kx shift_1))`, made as the outer product of its row and column
    factors (`h + w` complex exponentials, not `h w`)."""
    ky = jnp.fft.fftfreq(shape[0]).astype(shift.dtype)
    kx = jnp.fft.fftfreq(shape[1]).astype(shift.dtype)
    rows = jnp.exp(-2j * jnp.pi * ky * shift[0])
    columns = jnp.exp(-2j * jnp.pi * kx * shift[1])
    return rows[:, None] * columns[None, :]


def fourier_shift(
    image: Complex[Array, "*b h w"], shift: Float[Array, "2"]
) -> Complex[Array, "*b h w"]:
    """`image` moved by `shift` (rows, columns) pixels, subpixel and periodic; differentiable
    in `shift`. Whole-pixel shifts are `jnp.roll` to rounding."""
    spectrum = jnp.fft.fft2(image)
    return jnp.fft.ifft2(spectrum * shift_ramp(image.shape[-2:], shift))


def angular_spectrum(
    shape: tuple[int, int], pixel: tuple[float, float], wavelength: float, distance: float
) -> np.ndarray:
    """The angular-spectrum transfer function of free space over `distance` (metres), complex64.

    `H(f) = exp(i k z (sqrt(1 - (lambda f_y)**2 - (lambda f_x)**2) - 1))` on the FFT's frequency
    grid of an image of `shape` sampled at `pixel` (metres, rows and columns); the constant
    phase `exp(i k z)` is left out (it changes no intensity). Evanescent waves (where the root
    is imaginary) are cut. `ifft2(fft2(wave) * H)` is the propagated wave.

    Example:
        >>> import numpy as np
        >>> h = angular_spectrum((64, 64), (1e-7, 1e-7), wavelength=1e-10, distance=1e-3)
        >>> h.dtype, bool(np.allclose(np.abs(h), 1.0)), complex(h[0, 0])
        (dtype('complex64'), True, (1+0j))
    """
    phase = angular_phase(shape, pixel, wavelength, distance)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(phase), np.exp(1j * phase), 0.0).astype(np.complex64)


def angular_phase(
    shape: tuple[int, int], pixel: tuple[float, float], wavelength: float, distance: float
) -> np.ndarray:
    """The phase of `angular_spectrum` (float64, radians, not wrapped), NaN where the wave is
    evanescent: linear in `distance`, so the transfer over `f * distance` is
    `exp(1j * f * phase)`.

    Example:
        >>> import numpy as np
        >>> p = angular_phase((8, 8), (1e-10, 1e-10), wavelength=2.5e-12, distance=4e-10)
        >>> abs(float(p[0, 0])), bool(np.all(p <= 0))  # none at zero frequency, lags elsewhere
        (0.0, True)
    """
    fy = np.fft.fftfreq(shape[0], d=pixel[0])[:, None]
    fx = np.fft.fftfreq(shape[1], d=pixel[1])[None, :]
    with np.errstate(over="ignore", invalid="ignore"):  # evanescent ones overflow: NaN below
        s = (wavelength * fy) ** 2 + (wavelength * fx) ** 2
        propagating = s < 1.0
        # sqrt(1 - s) - 1 written so that small s loses no digits: -s / (1 + sqrt(1 - s))
        delta = -s / (1.0 + np.sqrt(np.where(propagating, 1.0 - s, 1.0)))
        return np.where(propagating, 2 * np.pi / wavelength * distance * delta, np.nan)


def propagate_near(
    wave: Complex[Array, "*b h w"], transfer: Complex[Array, "h w"]
) -> Complex[Array, "*b h w"]:
    """`ifft2(fft2(wave) * transfer)`: the wave after free-space propagation."""
    return jnp.fft.ifft2(jnp.fft.fft2(wave) * transfer)


def propagate_far(wave: Complex[Array, "*b h w"]) -> Complex[Array, "*b h w"]:
    """`fft2(wave, norm="ortho")`: the far-field wave, zero frequency at index `[0, 0]`.

    Measured frames have the zero frequency at their centre; the reader moves it to `[0, 0]`
    once (`ifftshift`), so no frame is shifted inside the fitting loop.
    """
    return jnp.fft.fft2(wave, norm="ortho")
