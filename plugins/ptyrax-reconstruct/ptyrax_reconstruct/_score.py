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
    y, x = np.nonzero(mask)
    basis = np.stack([y, x, np.ones_like(y)], axis=1).astype(np.float64)
    fit = np.linalg.pinv(basis)  # least squares onto offset + ramp
    spectrum, conj_true = np.fft.fft2(reconstructed), np.conj(true[mask])
    ky, kx = (np.fft.fftfreq(n) for n in reconstructed.shape)

    def moved(shift):
        return np.fft.ifft2(
            spectrum * np.exp(-2j * np.pi * (ky[:, None] * shift[0] + kx[None, :] * shift[1]))
        )

    def residual(shift):
        difference = moved(shift)[mask] * conj_true
        offset = np.angle(np.sum(difference / np.maximum(np.abs(difference), 1e-30)))
        wrapped = np.angle(difference * np.exp(-1j * offset))
        coefficients = fit @ wrapped
        error = np.angle(np.exp(1j * (wrapped - basis @ coefficients)))
        return error, coefficients + np.array([0.0, 0.0, offset])

    best = (0.0, 0.0)
    for step, reach in ((0.25, max_shift), (0.05, 0.25), (0.02, 0.05)):
        offsets = np.arange(-reach, reach + step / 2, step)
        candidates = [(best[0] + a, best[1] + b) for a, b in itertools.product(offsets, offsets)]
        best = min(candidates, key=lambda s: np.mean(residual(s)[0] ** 2))
    error_in_mask, (ramp_y, ramp_x, offset) = residual(best)
    error = np.zeros(mask.shape)
    error[mask] = error_in_mask
    y, x = np.mgrid[: mask.shape[0], : mask.shape[1]]
    registered = np.angle(moved(best) * np.exp(-1j * (ramp_y * y + ramp_x * x + offset)))
    return PhaseScore(
        rmse=float(np.sqrt(np.mean(error_in_mask**2))),
        error=error,
        registered=registered,
        shift=(float(best[0]), float(best[1])),
        ramp=(float(ramp_y), float(ramp_x)),
    )


def position_rmse(positions: np.ndarray, true: np.ndarray) -> float:
    """RMS distance in px between `positions` and `true`, `(K, 2)` each, after removing their
    mean offset."""
    error = positions - true
    error = error - error.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(error**2, axis=1))))
