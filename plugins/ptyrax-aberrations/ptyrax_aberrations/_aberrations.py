"""The aberration function chi(k): names, units, the convention, and its basis on a k-grid.

Krivanek's polar notation, as abTEM writes it (`abtem.transfer.polar_aberrations`), with
`alpha = wavelength * |k|` the scattering angle and `phi` its azimuth:

    chi = 2 pi / wavelength * (
          alpha**2 / 2 * (C10 + C12 cos(2 (phi - phi12)))
        + alpha**3 / 3 * (C21 cos(phi - phi21) + C23 cos(3 (phi - phi23)))
        + alpha**4 / 4 * C30
    )

Each term `C_nm alpha**(n+1) / (n+1) cos(m (phi - phi_nm))` is kept as the Cartesian pair
`(C_nm cos(m phi_nm), C_nm sin(m phi_nm))` times the basis `rho**(n+1) (cos m phi, sin m
phi)`, `rho = alpha / alpha_max` (the convergence semi-angle), scaled by the phase the term
reaches at the aperture edge: what a parameter is stored as, in radians.
"""

import math

import numpy as np

# name -> (n, m): the radial order n (chi grows as alpha**(n+1)) and the azimuthal symmetry m
TERMS: dict[str, tuple[int, int]] = {
    "C10": (1, 0),
    "C12": (1, 2),
    "C21": (2, 1),
    "C23": (2, 3),
    "C30": (3, 0),
}
"""The aberrations, Krivanek's names, with their radial order and azimuthal symmetry."""

ANGLES: dict[str, str] = {f"phi{name[1:]}": name for name, (_, m) in TERMS.items() if m}
"""The angle of each non-round aberration (radians) -> that aberration."""

VALID = ("C10", "C12", "phi12", "C21", "phi21", "C23", "phi23", "C30")
"""Every name an `aberrations` mapping may hold: lengths in Angstrom, angles in radians."""

# Names people bring from other programs, and what they are here.
HINTS = {
    "defocus": "abTEM's defocus is -C10: give C10 = -defocus (Angstrom)",
    "df": "a defocus: give C10 (Angstrom; C10 > 0 is overfocus, abTEM's defocus = -C10)",
    "Cs": "spherical aberration is C30, in Angstrom (1 mm = 1e7 Angstrom)",
    "astigmatism": "two-fold astigmatism is C12 (Angstrom) with its angle phi12 (radians)",
    "coma": "axial coma is C21 (Angstrom) with its angle phi21 (radians)",
}


def edge_phase_per_angstrom(name: str, wavelength_a: float, alpha: float) -> float:
    """Radians of `chi` at the aperture edge per Angstrom of the coefficient `name`:
    `2 pi / wavelength * alpha**(n+1) / (n+1)`."""
    n = TERMS[name][0]
    return 2.0 * math.pi / wavelength_a * alpha ** (n + 1) / (n + 1)


def components(name: str) -> int:
    """How many numbers a term is stored as: 1 for a round one, 2 (a Cartesian pair) else."""
    return 2 if TERMS[name][1] else 1


def polar_grid(
    shape: tuple[int, int], pixel_a: tuple[float, float], wavelength_a: float
) -> tuple[np.ndarray, np.ndarray]:
    """The scattering angle `alpha` (radians) and azimuth `phi` of every FFT frequency of a
    `shape` grid of `pixel_a` (Angstrom), float64, zero frequency at `[0, 0]`; `x` along
    axis 0 (rows), `y` along axis 1 (columns), `phi = atan2(ky, kx)`: abTEM's layout."""
    kx = np.fft.fftfreq(shape[0], pixel_a[0])[:, None]
    ky = np.fft.fftfreq(shape[1], pixel_a[1])[None, :]
    return wavelength_a * np.hypot(kx, ky), np.arctan2(ky, kx) * np.ones(shape)


def basis(name: str, rho: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """The term's basis `(components(name), rows, columns)`: `rho**(n+1)` for a round term,
    `rho**(n+1) * (cos(m phi), sin(m phi))` for the others (float64)."""
    n, m = TERMS[name]
    radial = rho ** (n + 1)
    if not m:
        return radial[None]
    return np.stack([radial * np.cos(m * phi), radial * np.sin(m * phi)])


def soft_aperture(
    alpha: np.ndarray,
    phi: np.ndarray,
    cutoff: float,
    softness: float | None,
    angular_pixel: tuple[float, float],
) -> np.ndarray:
    """The aperture `clip((cutoff - alpha) / width + 1/2, 0, 1)` (float64), angles in radians.

    `width` is `softness`, or for None one angular pixel along the direction `phi`,
    `hypot(cos(phi) * pixel_x, sin(phi) * pixel_y)` (abTEM's soft aperture); 0 is a hard
    edge, 1 up to `cutoff` included."""
    if softness == 0:
        return (alpha <= cutoff).astype(np.float64)
    if softness is None:
        width = np.hypot(np.cos(phi) * angular_pixel[0], np.sin(phi) * angular_pixel[1])
    else:
        width = softness
    return np.clip((cutoff - alpha) / width + 0.5, 0.0, 1.0)
