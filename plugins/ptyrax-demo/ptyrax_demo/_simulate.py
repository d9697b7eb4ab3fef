"""A simulated far-field ptychography dataset, generated in code (no downloads)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

WAVELENGTH = 1e-10
"""The simulated instrument (metres): with 64 px frames, a sample pixel of 15.6 nm."""
DISTANCE = 1.0
DETECTOR_PIXEL = 1e-4


def far_field_intensities(obj: np.ndarray, probe: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The engine's far-field forward model: `|FFT(exit wave)|**2` at each position, `(K, P, P)`,
    the zero frequency at `[0, 0]`."""
    from ptyrax_reconstruct import detector_waves, exit_waves, intensities

    spectrum = jnp.fft.fft2(jnp.asarray(probe))[None]

    def one(position):
        waves = exit_waves(jnp.asarray(obj), spectrum, position)
        return intensities(detector_waves(waves, None, position))

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(positions, jnp.float32)), np.float64)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What the demo reconstructs from, and the truth it is scored against.

    Attributes:
        counts: the measured diffraction patterns, Poisson photon counts, `(K, P, P)` float32.
        nominal_positions: the scan grid the instrument was told to visit, `(K, 2)` (y, x) px.
        true_positions: where it went: the grid plus random subpixel jitter, `(K, 2)`.
        true_object: the complex object, unit magnitude, `(M, M)` complex64.
        true_probe: the illumination, `(P, P)` complex64, `sum |probe|**2 == dose`.
        probe_guess: the probe the optics model predicts (a wrong defocus), `(P, P)`.
        scanned: where the object is scored: boolean `(M, M)`, the area the probe centres
            cover, grown by a quarter probe.
    """

    counts: np.ndarray
    nominal_positions: np.ndarray
    true_positions: np.ndarray
    true_object: np.ndarray
    true_probe: np.ndarray
    probe_guess: np.ndarray
    scanned: np.ndarray


def phase_pattern(size: int, rng: np.random.Generator) -> np.ndarray:
    """A phase test pattern in radians, `(size, size)`: a Siemens star and discs on a random
    texture (without texture, a probe over a flat area could not tell where it is), blurred."""
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    r, theta = np.hypot(y + 0.15, x - 0.1), np.arctan2(y + 0.15, x - 0.1)
    star = np.where(r < 0.45, np.sign(np.sin(12 * theta)), 0.0)
    discs = sum(
        a * (np.hypot(y - cy, x - cx) < rad)
        for a, cy, cx, rad in [
            (1.0, -0.55, -0.5, 0.2),
            (-0.8, 0.5, 0.55, 0.25),
            (0.6, 0.55, -0.45, 0.15),
        ]
    )
    texture = _blur(rng.standard_normal((size, size)), sigma=3.0)
    phase = 0.6 * star + discs + 0.3 * texture / texture.std()
    return _blur(phase, sigma=1.0)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    ky, kx = (np.fft.fftfreq(n) for n in image.shape)
    gauss = np.exp(-2 * (np.pi * sigma) ** 2 * (ky[:, None] ** 2 + kx[None, :] ** 2))
    return np.fft.ifft2(np.fft.fft2(image) * gauss).real


def defocused_aperture(size: int, radius: float, fresnel_number: float) -> np.ndarray:
    """A circular aperture of `radius` px propagated to `fresnel_number = radius**2 / (lambda z)`.

    Unit total intensity, `(size, size)` complex64.
    """
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    aperture = np.clip(radius + 0.5 - np.hypot(y, x), 0.0, 1.0)  # antialiased edge
    ky, kx = (np.fft.fftfreq(size) for _ in range(2))
    lambda_z = radius**2 / fresnel_number
    transfer = np.exp(-1j * np.pi * lambda_z * (ky[:, None] ** 2 + kx[None, :] ** 2))
    probe = np.fft.ifft2(np.fft.fft2(np.fft.ifftshift(aperture)) * transfer)
    probe = np.fft.fftshift(probe)
    return (probe / np.sqrt(np.sum(np.abs(probe) ** 2))).astype(np.complex64)


def simulate(
    *,
    seed: int = 0,
    grid: int = 12,
    step: float = 10.0,
    probe_size: int = 64,
    jitter: float = 1.0,
    dose: float = 1e6,
) -> Dataset:
    """Simulate a scan of `grid x grid` overlapping positions over a phase object.

    Arguments:
        seed: seeds the jitter and the Poisson noise (NumPy), so the data do not depend on the
            devices used.
        grid: positions per side.
        step: the nominal distance between neighbouring positions, px.
        probe_size: the side of the probe and of each diffraction pattern, px.
        jitter: each true position is the nominal one plus a uniform offset in
            `[-jitter, jitter]` per axis, px.
        dose: expected photons per diffraction pattern.
    """
    rng = np.random.default_rng(seed)
    margin = int(np.ceil(jitter)) + 2
    size = int(np.ceil((grid - 1) * step)) + probe_size + 2 * margin
    obj = np.exp(1j * phase_pattern(size, rng)).astype(np.complex64)
    probe = defocused_aperture(probe_size, probe_size / 5, fresnel_number=6.0) * np.sqrt(dose)
    guess = defocused_aperture(probe_size, probe_size / 5, fresnel_number=4.5) * np.sqrt(dose)
    yy, xx = np.meshgrid(np.arange(grid) * step, np.arange(grid) * step, indexing="ij")
    nominal = np.stack([yy.ravel(), xx.ravel()], axis=1) + margin
    true = nominal + rng.uniform(-jitter, jitter, nominal.shape)
    counts = rng.poisson(far_field_intensities(obj, probe, true)).astype(np.float32)
    low, high = nominal.min(0) + probe_size / 4, nominal.max(0) + 3 * probe_size / 4
    y, x = np.mgrid[:size, :size]
    scanned = (y >= low[0]) & (y < high[0]) & (x >= low[1]) & (x < high[1])
    return Dataset(
        counts=counts,
        nominal_positions=nominal.astype(np.float32),
        true_positions=true.astype(np.float32),
        true_object=obj,
        true_probe=probe.astype(np.complex64),
        probe_guess=guess.astype(np.complex64),
        scanned=scanned,
    )
