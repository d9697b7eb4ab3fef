"""The engine's initial guesses: positions from the file, object of ones, probe from the data."""

import numpy as np

from ._geometry import Geometry
from ._propagate import angular_spectrum


def pixel_positions(
    geometry: Geometry, translations: np.ndarray, padding: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """The probe's top-left corner on the object for each frame `(N, 2)` (rows, columns), the
    smallest at `padding`, and the extent `(rows, columns)` the corners span."""
    pixels = geometry.to_pixels(translations)
    pixels = pixels - pixels.min(axis=0) + padding
    span = np.ceil(pixels.max(axis=0)).astype(int) + 1 + padding
    return pixels, (int(span[0]), int(span[1]))


def probe_guess(
    mean_counts: np.ndarray, valid: np.ndarray, geometry: Geometry, modes: int
) -> np.ndarray:
    """Probe modes `(modes, rows, columns)` complex64 that, through an object of ones, give the
    mean measured pattern: its square root (bad pixels filled with the mean), propagated back
    to the sample. Modes after the first carry 5 % of the first's power each and a phase ramp
    of k cycles, so they start linearly independent."""
    amplitude = np.sqrt(np.where(valid, np.maximum(mean_counts, 0), mean_counts[valid].mean()))
    if geometry.propagation == "far_field":
        probe = np.fft.fftshift(np.fft.ifft2(amplitude, norm="ortho"))  # centred in the window
    else:
        transfer = angular_spectrum(
            amplitude.shape, geometry.pixel, geometry.wavelength, geometry.distance
        )
        probe = np.fft.ifft2(np.fft.fft2(amplitude) * np.conj(transfer))
    rows = np.arange(amplitude.shape[0])[:, None] / amplitude.shape[0]
    stack = [probe] + [
        np.sqrt(0.05) * probe * np.exp(2j * np.pi * k * rows) for k in range(1, modes)
    ]
    stack = np.stack(stack) / np.sqrt(1 + 0.05 * (modes - 1))  # together, the mean pattern
    return stack.astype(np.complex64)
