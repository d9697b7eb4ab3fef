"""The engine's initial guesses: positions from the file, object of ones, probe from the data."""

import numpy as np

from ._geometry import Geometry
from ._propagate import angular_spectrum


def pixel_positions(
    geometry: Geometry, translations: np.ndarray, padding: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """The probe's top-left corner on the object for each frame `(N, 2)` (rows, columns), the
    smallest at `padding`, and the extent `(rows, columns)` the corners span (at most 2^62:
    beyond, `check_object` refuses the object anyway)."""
    with np.errstate(all="ignore"):  # not finite: `check_positions` says so
        pixels = geometry.to_pixels(translations)
        pixels = pixels - pixels.min(axis=0) + padding
    span = np.nan_to_num(np.minimum(np.ceil(pixels.max(axis=0)), 2.0**62), nan=2.0**62)
    span = span.astype(np.int64) + 1 + padding
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


MAX_OBJECT_PIXELS = 2**31 - 1
"""XLA indexes an array's elements with 32-bit integers: an object slice has fewer."""


def check_positions(
    positions: np.ndarray, frame_shape: tuple[int, int], where: str, pixel: float | None = None
) -> None:
    """Refuse positions `(N, 2)` (pixels, of `pixel` metres where given) that are not finite,
    or whose frames do not overlap: the typical distance
    from a frame to its nearest neighbour (the median, over up to 256 frames spread over the
    scan) is more than a frame's size. Translations in the wrong unit look like this, and no
    ptychography is possible without overlap.

    Raises:
        ReconstructError: naming `where` (the translations' source), the step and the frame.
    """
    from ._errors import ReconstructError

    unit = "object pixels" if pixel is None else f"object pixels of {pixel:.4g} m"
    if not np.isfinite(positions).all():
        raise ReconstructError(f"{where}: in {unit}, the positions are not finite")
    n = len(positions)
    if n < 2:
        return
    sample = positions[np.linspace(0, n - 1, min(n, 256)).astype(int)]
    nearest = np.full(len(sample), np.inf)
    for start in range(0, n, 4096):  # (256, 4096) distances at a time
        block = positions[start : start + 4096]
        d = np.hypot(*np.moveaxis(sample[:, None, :] - block[None, :, :], -1, 0))
        d[d == 0] = np.inf  # the frame itself, or one at the same place
        nearest = np.minimum(nearest, d.min(axis=1))
    step = float(np.median(nearest))
    if step > min(frame_shape):  # also inf: every frame at one place is allowed
        if np.isinf(step):
            return
        raise ReconstructError(
            f"{where}: neighbouring frames are {step:.4g} {unit} apart, more than a "
            f"frame ({frame_shape[0]} x {frame_shape[1]}): they do not overlap (translations in "
            "the wrong unit? they are metres)"
        )


def check_object(shape: tuple[int, int], where: str) -> None:
    """Refuse an object of more pixels than an array can index."""
    from ._errors import ReconstructError

    if shape[0] * shape[1] > MAX_OBJECT_PIXELS:
        raise ReconstructError(
            f"{where}: the object would be {shape[0]} x {shape[1]} pixels, more than the "
            f"{MAX_OBJECT_PIXELS} an array can index (translations in the wrong unit, or "
            "geometry.padding too large?)"
        )
