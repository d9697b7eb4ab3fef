"""How close a reconstruction came to a known truth (simulated data, or a test object).

Blind ptychography cannot tell some changes apart, so the scores remove them, as is usual:

- a common shift of every scan position (it is a shift of the object);
- a shift of the object and the probe together (the exit waves move with them);
- a constant phase offset and a linear phase ramp on the object (an object
  `o * exp(1j * (k . r + c))` with the probe `p * exp(-1j * k . r)` gives the same exit waves
  up to one constant phase per position, hence the same intensities).
"""

import dataclasses
import itertools
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class PhaseScore:
    """The object's phase error after removing what the data cannot tell.

    Attributes:
        rmse: RMS of `error` inside the scored area, radians.
        error: the phase error map, radians, 0 outside the scored area.
        registered: the reconstruction's phase, radians, registered: shifted, offset and ramp
            removed (the whole array).
        shift: the subpixel shift `(y, x)`, px, applied to the reconstruction to register it.
        ramp: the removed linear phase ramp `(d/dy, d/dx)`, rad/px.
    """

    rmse: float
    error: np.ndarray
    registered: np.ndarray
    shift: tuple[float, float]
    ramp: tuple[float, float]


def phase_score(
    reconstructed: np.ndarray, true: np.ndarray, mask: np.ndarray, max_shift: float = 2.0
) -> PhaseScore:
    """Score `reconstructed` against `true` inside `mask` (boolean), both `(M, M)` complex.

    The reconstruction is registered by the shift (searched within `max_shift` px, to 0.02 px)
    that minimizes the RMS error after removing the best-fitting offset and linear ramp.
    """
    spectrum, conj_true = np.fft.fft2(reconstructed), np.conj(true[mask])
    plane = phase_plane(mask)

    def moved(shift):
        return np.fft.ifft2(shifted_spectrum(spectrum, shift))

    def residual(shift):
        return plane(moved(shift)[mask] * conj_true)

    best = (0.0, 0.0)
    for step, reach in ((0.25, max_shift), (0.05, 0.25), (0.02, 0.05)):
        offsets = np.arange(-reach, reach + step / 2, step)
        candidates = [(best[0] + a, best[1] + b) for a, b in itertools.product(offsets, offsets)]
        best = min(candidates, key=lambda s: np.mean(residual(s)[0] ** 2))
    error_in_mask, coefficients = residual(best)
    ramp_y, ramp_x, _ = coefficients
    error = np.zeros(mask.shape)
    error[mask] = error_in_mask
    registered = np.angle(moved(best) * np.exp(-1j * plane_phase(coefficients, mask.shape)))
    return PhaseScore(
        rmse=float(np.sqrt(np.mean(error_in_mask**2))),
        error=error,
        registered=registered,
        shift=(float(best[0]), float(best[1])),
        ramp=(float(ramp_y), float(ramp_x)),
    )


def shifted_spectrum(spectrum: np.ndarray, shift) -> np.ndarray:
    """The spectrum (`fft2`) of an image moved by `shift` (rows, columns) px, periodic: the
    image's `spectrum` times `exp(-2 pi i (ky shift_0 + kx shift_1))`."""
    ky, kx = (np.fft.fftfreq(n) for n in spectrum.shape[-2:])
    return spectrum * np.exp(-2j * np.pi * (ky[:, None] * shift[0] + kx[None, :] * shift[1]))


def phase_plane(mask: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A fit of a phase plane over the pixels of `mask` (boolean, `(M, N)`).

    The function it returns takes complex values at those pixels (`a[mask]`), about
    `|a| exp(1j * (ramp_y * y + ramp_x * x + offset))`, and returns their phase with that plane
    removed (radians, wrapped to `(-pi, pi]`) and `(ramp_y, ramp_x, offset)` (rad/px, rad): the
    offset from the mean unit phasor, the ramp by least squares on the phase around it (which
    must stay within `(-pi, pi]` of it, a ramp well below pi per mask width).

    Example:
        >>> mask = np.ones((4, 5), bool)
        >>> y, x = np.nonzero(mask)
        >>> residual, plane = phase_plane(mask)(2 * np.exp(1j * (0.1 * y - 0.2 * x + 1)))
        >>> plane.round(12).tolist(), bool(np.abs(residual).max() < 1e-12)
        ([0.1, -0.2, 1.0], True)
    """
    y, x = np.nonzero(mask)
    basis = np.stack([y, x, np.ones_like(y)], axis=1).astype(np.float64)
    fit = np.linalg.pinv(basis)  # least squares onto ramp + offset

    def remove(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offset = np.angle(np.sum(values / np.maximum(np.abs(values), 1e-30)))
        wrapped = np.angle(values * np.exp(-1j * offset))
        coefficients = fit @ wrapped
        residual = np.angle(np.exp(1j * (wrapped - basis @ coefficients)))
        return residual, coefficients + np.array([0.0, 0.0, offset])

    return remove


def plane_phase(coefficients, shape: tuple[int, int]) -> np.ndarray:
    """The phase plane `ramp_y * y + ramp_x * x + offset` over a whole `shape` (radians), from
    `(ramp_y, ramp_x, offset)` as `phase_plane` fits it."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    return coefficients[0] * y + coefficients[1] * x + coefficients[2]


def position_rmse(positions: np.ndarray, true: np.ndarray) -> float:
    """RMS distance in px between `positions` and `true`, `(K, 2)` each, after removing their
    mean offset."""
    error = positions - true
    error = error - error.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(error**2, axis=1))))
