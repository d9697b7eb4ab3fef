"""Fourier ring correlation (FRC): up to which spatial frequency two independent images of one
object agree, and the resolution that gives, by the half-bit criterion (M. van Heel and
M. Schatz, "Fourier shell correlation threshold criteria", J. Struct. Biol. 151, 250 (2005)).

Everything here is numpy in float64: the images are small (a scanned area) and done once.
"""

import dataclasses

import numpy as np

from ._errors import ReconstructError
from ._score import phase_plane, plane_phase, shifted_spectrum

HALF_BIT_SNR = (np.sqrt(2.0) - 1.0) / 2.0
"""The signal-to-noise ratio of each half data set at the half-bit criterion: the whole data
set (both halves) carries half a bit per Fourier pixel, `log2(1 + SNR) = 1/2`, an SNR of
`sqrt(2) - 1 = 0.4142`, and each half half of that, `0.2071`."""

TAPER = 0.25
"""The default apodization: the fraction of each axis in the Tukey window's cosine edges
(half of it at each end)."""


@dataclasses.dataclass(frozen=True)
class Rings:
    """An FRC, ring by ring, from the first nonzero frequency up to Nyquist.

    Attributes:
        frequency: each ring's frequency, cycles per pixel: `k / n` for ring `k = 1 .. n // 2`,
            `n` the shorter side (0.5, Nyquist, last for an even `n`).
        correlation: the FRC of each ring: the real part of the cross spectrum's sum over it,
            over the root of the product of the two power sums; NaN where a power sum is 0.
        pixels: how many Fourier pixels each ring holds.
    """

    frequency: np.ndarray
    correlation: np.ndarray
    pixels: np.ndarray


def tukey(n: int, taper: float = TAPER) -> np.ndarray:
    """A Tukey window of `n` points (float64): 1 in the middle, raised-cosine edges over the
    fraction `taper` of the points (half at each end) down to 0 at the first and last point;
    `taper = 0` is flat (no window), 1 a Hann window.

    Example:
        >>> tukey(5, 1.0).round(12).tolist()
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if not 0.0 <= taper <= 1.0:
        raise ReconstructError(f"taper must be between 0 and 1; got {taper}")
    x = np.linspace(0.0, 1.0, n) if n > 1 else np.full(n, 0.5)
    edge = np.minimum(x, 1.0 - x)  # distance to the nearer end, 0 to 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = 0.5 * (1.0 - np.cos(2.0 * np.pi * edge / taper))
    return np.where(edge < taper / 2.0, ramp, 1.0)


def fourier_ring_correlation(a: np.ndarray, b: np.ndarray, taper: float = TAPER) -> Rings:
    """The FRC of two images `(M, N)` (complex or real) of one object, registered.

    Each image loses its mean (weighted by the window) and is multiplied by a Tukey window
    (`tukey`, `taper` of each axis in its edges) before the FFT: the crop's edges would
    otherwise be sharp steps, the same in both images, whose spectrum reaches every ring and
    correlates there though the object does not. Rings are one Fourier pixel wide in
    frequency normalized per axis (cycles per pixel, `sqrt(fy**2 + fx**2)`), a pixel of the
    shorter side: ring `k` holds the frequencies within half a ring of `k / min(M, N)`. The
    mean (ring 0) is left out; rings end at Nyquist, 0.5 cycles per pixel.

    Example:
        >>> a = np.random.default_rng(0).standard_normal((32, 32))
        >>> rings = fourier_ring_correlation(a, a)
        >>> rings.frequency[[0, -1]].tolist(), bool(np.allclose(rings.correlation, 1.0))
        ([0.03125, 0.5], True)
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape or min(a.shape) < 2:
        raise ReconstructError(
            f"fourier_ring_correlation: expected two images of one shape (M, N), M, N >= 2; "
            f"got {a.shape} and {b.shape}"
        )
    w = np.outer(tukey(a.shape[0], taper), tukey(a.shape[1], taper))
    spectra = []
    for image in (a, b):
        image = image.astype(np.complex128 if np.iscomplexobj(image) else np.float64)
        spectra.append(np.fft.fft2((image - np.sum(w * image) / np.sum(w)) * w))
    fy, fx = (np.fft.fftfreq(n) for n in a.shape)
    n = min(a.shape)
    ring = np.rint(np.hypot(fy[:, None], fx[None, :]) * n).astype(np.int64).ravel()
    count = n // 2 + 1  # rings 0 .. n // 2; beyond Nyquist (the corners) left out
    inside = ring < count

    def ring_sums(values: np.ndarray) -> np.ndarray:
        return np.bincount(ring[inside], values.ravel()[inside], minlength=count)[1:]

    cross = ring_sums(np.real(spectra[0] * np.conj(spectra[1])))
    power = ring_sums(np.abs(spectra[0]) ** 2) * ring_sums(np.abs(spectra[1]) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.where(power > 0, cross / np.sqrt(power), np.nan)
    pixels = np.bincount(ring[inside], minlength=count)[1:]
    return Rings(np.arange(1, count) / n, correlation, pixels)


def half_bit_threshold(n: np.ndarray | float) -> np.ndarray:
    """The half-bit threshold curve of van Heel and Schatz (2005) for rings of `n` Fourier
    pixels: the FRC that a signal of `HALF_BIT_SNR` in each half reaches, plus three standard
    deviations of the FRC of noise over `n` pixels, `1 / sqrt(n)` each:

        T(n) = (s + (2 sqrt(s) + 1) / sqrt(n)) / (1 + s + 2 sqrt(s) / sqrt(n)),

    `s = (sqrt(2) - 1) / 2`; the paper's rounded form is
    `(0.2071 + 1.9102 / sqrt(n)) / (1.2071 + 0.9102 / sqrt(n))`. It is 1 at `n = 1` and falls
    to `s / (1 + s) = 3 - 2 sqrt(2) = 0.1716` as `n` grows.

    Example:
        >>> half_bit_threshold(np.array([1.0, 100.0, np.inf])).round(4).tolist()
        [1.0, 0.3067, 0.1716]
    """
    root = 1.0 / np.sqrt(np.asarray(n, np.float64))
    s, r = HALF_BIT_SNR, np.sqrt(HALF_BIT_SNR)
    return (s + (2.0 * r + 1.0) * root) / (1.0 + s + 2.0 * r * root)


LOWEST = 3
"""The first ring (counted from 1) at which the FRC may cross the threshold: below it rings
hold a handful of pixels, where the threshold is near 1 and says nothing."""


def crossing(
    frequency: np.ndarray, correlation: np.ndarray, threshold: np.ndarray, lowest: int = LOWEST
) -> float | None:
    """The first frequency, at ring `lowest` (counted from 1) or beyond, at which the FRC
    falls below the threshold, interpolated linearly between the ring before, where it was
    still at or above, and that ring; None where it never does (rings of NaN never cross).

    Example:
        >>> crossing(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.9, 0.8, 0.6, 0.2]),
        ...          np.full(4, 0.4), lowest=2)
        0.35
    """
    above = correlation - threshold
    for k in range(max(lowest, 1) - 1, len(frequency)):
        if above[k] < 0:
            if k == 0 or not above[k - 1] >= 0:  # below from the start: no interpolation
                return float(frequency[k])
            part = above[k - 1] / (above[k - 1] - above[k])
            return float(frequency[k - 1] + part * (frequency[k] - frequency[k - 1]))
    return None


@dataclasses.dataclass(frozen=True)
class Registration:
    """How one image was registered onto another (`register`).

    Attributes:
        registered: the moving image, its phase plane removed and moved onto the reference:
            `moved(moving * exp(-1j * plane), shift)`, the whole array.
        shift: `(y, x)`, px, by which the moving image was moved (subpixel, periodic).
        ramp: the linear phase ramp removed, `(d/dy, d/dx)`, rad/px.
        offset: the constant phase removed, rad (the plane's value at the moving image's
            pixel `(0, 0)`).
    """

    registered: np.ndarray
    shift: tuple[float, float]
    ramp: tuple[float, float]
    offset: float


def register(
    reference: np.ndarray,
    moving: np.ndarray,
    mask: np.ndarray | None = None,
    iterations: int = 20,
    tolerance: float = 1e-10,
) -> Registration:
    """Register `moving` onto `reference` (complex, `(M, N)` each) up to what blind
    ptychography cannot tell (`_score`): a shift, a constant phase and a linear phase ramp.

    The shift is the peak of the two images' cross-correlation (means removed): the whole
    pixel first, then to 0.05 px on an upsampled grid (a DFT evaluated there), then Newton
    steps on the correlation's squared modulus until a step is below `tolerance` px. The
    phase plane is then fitted (`_score.phase_plane`) to `moving` times the conjugate of the
    reference moved onto it, over `mask` (boolean, in the reference's pixels, default all),
    and removed; shift and plane are found in turn, `iterations` times at most, until the
    shift stops moving.

    Example:
        >>> y, x = np.mgrid[:32, :32]
        >>> a = np.exp(1j * np.exp(-((y - 16) ** 2 + (x - 12) ** 2) / 20))
        >>> b = np.roll(a, (3, -2), axis=(0, 1)) * np.exp(1j * (0.5 + 0.01 * x))
        >>> r = register(a, b)
        >>> np.round(r.shift, 6).tolist(), round(r.offset, 6), np.round(r.ramp, 6).tolist()
        ([-3.0, 2.0], 0.5, [0.0, 0.01])
    """
    a, b = np.asarray(reference, np.complex128), np.asarray(moving, np.complex128)
    if a.ndim != 2 or a.shape != b.shape:
        raise ReconstructError(
            f"register: expected two images of one shape (M, N); got {a.shape} and {b.shape}"
        )
    mask = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool)
    if mask.shape != a.shape or not mask.any():
        raise ReconstructError(
            f"register: mask must be boolean of shape {a.shape} and mark a pixel; got "
            f"{mask.shape}, {int(mask.sum())} marked"
        )
    spectrum = np.fft.fft2(a)
    centred = np.fft.fft2(a - a.mean())
    coefficients, shift = np.zeros(3), np.zeros(2)
    for _ in range(iterations):
        flat = b * np.exp(-1j * plane_phase(coefficients, b.shape))
        new = _correlation_peak(centred * np.conj(np.fft.fft2(flat - flat.mean())))
        back = np.fft.ifft2(shifted_spectrum(spectrum, -new))  # the reference on `moving`
        there = np.roll(mask, tuple(-np.rint(new).astype(int)), axis=(0, 1))
        _, coefficients = phase_plane(there)(b[there] * np.conj(back[there]))
        done = np.abs(new - shift).max() < tolerance
        shift = new
        if done:
            break
    flat = b * np.exp(-1j * plane_phase(coefficients, b.shape))
    return Registration(
        registered=np.fft.ifft2(shifted_spectrum(np.fft.fft2(flat), shift)),
        shift=(float(shift[0]), float(shift[1])),
        ramp=(float(coefficients[0]), float(coefficients[1])),
        offset=float(coefficients[2]),
    )


def _correlation_peak(cross: np.ndarray, upsample: int = 20, steps: int = 20) -> np.ndarray:
    """The shift `s` (px) at which `|sum(cross * exp(2 pi i (fy s_0 + fx s_1)))|` peaks: the
    shift that moves the second image of the cross spectrum `A conj(B)` onto the first."""
    shape = np.array(cross.shape)
    whole = np.unravel_index(np.argmax(np.abs(np.fft.ifft2(cross))), cross.shape)
    start = (np.array(whole) + shape // 2) % shape - shape // 2  # signed
    fy, fx = (np.fft.fftfreq(n) for n in cross.shape)
    grid = np.arange(-upsample, upsample + 1) / upsample
    rows = np.exp(2j * np.pi * np.outer(start[0] + grid, fy))
    columns = np.exp(2j * np.pi * np.outer(start[1] + grid, fx))
    near = np.abs(rows @ cross @ columns.T)
    i, j = np.unravel_index(np.argmax(near), near.shape)
    s = start + grid[[i, j]]
    best = None
    for _ in range(steps):  # Newton on f = |c|^2, in closed form from the sums below
        terms = cross * np.outer(np.exp(2j * np.pi * fy * s[0]), np.exp(2j * np.pi * fx * s[1]))
        ky, kx = 2j * np.pi * fy[:, None], 2j * np.pi * fx[None, :]
        c = terms.sum()
        grad = np.array([(ky * terms).sum(), (kx * terms).sum()])
        hess = np.array(
            [
                [(ky * ky * terms).sum(), (ky * kx * terms).sum()],
                [(ky * kx * terms).sum(), (kx * kx * terms).sum()],
            ]
        )
        value = abs(c) ** 2
        if best is not None and value < best[0]:  # no longer climbing: keep the best
            return best[1]
        best = (value, s)
        df = 2.0 * np.real(np.conj(c) * grad)
        d2f = 2.0 * np.real(np.outer(np.conj(grad), grad) + np.conj(c) * hess)
        if not np.all(np.linalg.eigvalsh(d2f) < 0):  # not a peak's neighbourhood: stop
            return s
        step = -np.linalg.solve(d2f, df)
        if np.abs(step).max() > 1.0 / upsample:  # Newton leaving the grid's cell: stop
            return s
        s = s + step
        if np.abs(step).max() < 1e-13:
            return s
    return s
