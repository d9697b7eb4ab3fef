"""The depth filter's weight on the 3-D FFT grid, in float64 NumPy (computed once)."""

import numpy as np


def depth_weight(
    shape: tuple[int, int, int],
    slice_spacing: float,
    pixel_size: tuple[float, float],
    strength: float,
) -> np.ndarray:
    """`W(kz, kr) = 1 - (2 / pi) arctan((strength |kz| / kr)**2)` on the grid of
    `np.fft.fftn` over `(slices, rows, columns)`, zero frequency at `[0, 0, 0]`.

    `kz` (along the slices) and `kr = hypot(kx, ky)` (across them) are in cycles per unit
    length of the same unit as `slice_spacing` and `pixel_size`. Written as
    `(2 / pi) arctan2(kr**2, (strength kz)**2)`, the same function without the cancellation
    of `1 - ...` where `W` is small: 1 on the plane `kz = 0` (the origin too), 0 on the line
    `kr = 0` off it, 1/2 on the double cone `|kz| = kr / strength`, and 1 everywhere for
    `strength = 0`.
    """
    slices, rows, columns = shape
    kz = np.fft.fftfreq(slices, slice_spacing)[:, None, None]
    kx = np.fft.fftfreq(rows, pixel_size[0])[None, :, None]
    ky = np.fft.fftfreq(columns, pixel_size[1])[None, None, :]
    weight = (2 / np.pi) * np.arctan2(kx**2 + ky**2, (strength * kz) ** 2)
    weight[0, 0, 0] = 1.0  # arctan2(0, 0) is 0; the mean passes
    return weight
