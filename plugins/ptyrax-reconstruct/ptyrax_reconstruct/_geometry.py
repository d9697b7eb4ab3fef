"""From the instrument to the computation: propagation, sample-plane pixel, pixel positions."""

import dataclasses

import numpy as np

from ._errors import ReconstructError

PROPAGATIONS = ("far_field", "near_field")


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The sampling of the object and how the exit wave reaches the detector.

    Attributes:
        propagation: `"far_field"` (a centred FFT) or `"near_field"` (angular spectrum).
        wavelength: metres.
        pixel: the sample-plane pixel (rows, columns), metres.
        distance: the near-field propagation distance in the sample's frame, metres (the
            effective distance `z2 / M` under Fresnel scaling); 0 in the far field.
        magnification: `(z1 + z2) / z1` under Fresnel scaling, else 1.
        basis: `(3, 2)`, the lab-frame vector (metres) of one step along the object's rows and
            columns.
    """

    propagation: str
    wavelength: float
    pixel: tuple[float, float]
    distance: float
    magnification: float
    basis: np.ndarray

    def to_pixels(self, translations: np.ndarray) -> np.ndarray:
        """Sample translations `(N, 3)` in metres as probe positions on the object `(N, 2)` in
        pixels (rows, columns), by least squares on `basis`. The probe is fixed and the sample
        moves, so a translation `t` puts the probe at `-t` in the sample's frame."""
        pixels, *_ = np.linalg.lstsq(
            self.basis, -np.asarray(translations, np.float64).T, rcond=None
        )
        return pixels.T

    def to_metres(self, pixels: np.ndarray) -> np.ndarray:
        """The inverse of `to_pixels`: `(N, 2)` pixels back to `(N, 3)` translations in metres."""
        return -(self.basis @ np.asarray(pixels, np.float64).T).T


@np.errstate(all="ignore")  # absurd inputs give 0 or inf, which `_checked` refuses
def geometry(
    *,
    propagation: str,
    wavelength: float,
    detector_distance: float,
    detector_basis: np.ndarray,
    frame_shape: tuple[int, int],
    focus_to_sample: float | None = None,
) -> Geometry:
    """The geometry of a scan.

    Far field: the sample-plane pixel is `wavelength * distance / (n * detector_pixel)` along
    each axis. Near field: with `focus_to_sample` (`z1`, a divergent beam from a focus), the
    Fresnel scaling theorem: magnification `M = (z1 + z2) / z1` for `z2 = detector_distance`,
    sample pixel `detector_pixel / M` and effective distance `z2 / M`; without it, a plane
    wave: the detector pixel and `z2` as they are.

    Example:
        >>> import numpy as np
        >>> basis = np.array([[0.0, -55e-6], [-55e-6, 0.0], [0.0, 0.0]])  # rows, columns
        >>> g = geometry(propagation="near_field", wavelength=9.794912e-11,
        ...              detector_distance=1.12, detector_basis=basis,
        ...              frame_shape=(100, 100), focus_to_sample=3.65e-3)
        >>> round(g.magnification, 2), round(g.distance * 1e3, 3), round(g.pixel[0] * 1e9, 1)
        (307.85, 3.638, 178.7)
        >>> g.to_pixels(np.array([[0.0, -g.pixel[0], 0.0]])).round(6)  # moved -1 px along y
        array([[-1.,  0.]])
    """
    if propagation not in PROPAGATIONS:
        raise ReconstructError(
            f"propagation must be one of {list(PROPAGATIONS)}; got {propagation!r}"
        )
    basis = np.asarray(detector_basis, np.float64)
    steps = np.linalg.norm(basis, axis=0)  # metres per detector row and column
    if propagation == "far_field":
        if focus_to_sample is not None:
            raise ReconstructError("focus_to_sample applies to the near field only")
        pixel = tuple(
            wavelength * detector_distance / (n * s)
            for n, s in zip(frame_shape, steps, strict=True)
        )
        return _checked(
            Geometry(propagation, wavelength, pixel, 0.0, 1.0, basis / steps * np.asarray(pixel))
        )
    magnification = 1.0
    if focus_to_sample is not None:
        magnification = (focus_to_sample + detector_distance) / focus_to_sample
    return _checked(
        Geometry(
            propagation,
            wavelength,
            tuple(float(s / magnification) for s in steps),
            detector_distance / magnification,
            magnification,
            basis / magnification,
        )
    )


def _checked(geo: Geometry) -> Geometry:
    """`geo`, whose sample-plane pixel (and distance, in the near field) must be normal
    positive floats (a wavelength, distance or detector pixel absurd enough makes them 0 or
    infinite, and every later number with them) and twice the wavelength at least (else
    every spatial frequency but zero is evanescent)."""
    tiny, big = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    values = {"pixel": geo.pixel, "distance": (geo.distance,)}
    for name, value in values.items():
        if name == "distance" and geo.propagation == "far_field":
            continue
        if not all(tiny <= v <= big for v in value):  # also NaN
            raise ReconstructError(
                f"the sample-plane {name} ({', '.join(f'{v:.4g}' for v in value)}) m, from "
                f"wavelength {geo.wavelength:.4g} m, detector pixel and distance, magnification "
                f"{geo.magnification:.4g}: must be a positive finite number"
            )
    if not geo.wavelength < 2 * min(geo.pixel):
        raise ReconstructError(
            f"the wavelength {geo.wavelength:.4g} m is not below twice the sample-plane pixel "
            f"{min(geo.pixel):.4g} m: no wave but the mean one would reach the detector "
            "(wavelength, distance or pixel size in the wrong unit? they are metres)"
        )
    return geo
