"""AberrationProbeArrayParametrization."""

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Real

import ptyrax_core

from . import _aberrations as ab

_TRAINABLE = (*ab.TERMS, "focal_spread")
_METRES_TO_ANGSTROM = 1e10


class AberrationProbeArrayParametrization(ptyrax_core.ArrayParametrization):
    """An electron probe from its aperture and aberrations: `IFFT[A(k) exp(-i chi(k))]`.

    The probe of a convergent beam: `A` a soft-edged aperture of semi-angle
    `convergence_angle`, `chi` the aberration function of Krivanek's polar notation as abTEM
    writes it (lengths in Angstrom, angles in radians, `alpha = wavelength * |k|`):

        chi = 2 pi / wavelength * (alpha**2 / 2 * (C10 + C12 cos 2(phi - phi12))
                                 + alpha**3 / 3 * (C21 cos(phi - phi21) + C23 cos 3(phi - phi23))
                                 + alpha**4 / 4 * C30)

    Signs: `C10 > 0` is overfocus (the crossover before the sample): abTEM's `defocus` is
    `-C10`, and `C10 = dz` is the focused probe propagated by `dz` with the Fresnel
    propagator `exp(-i pi wavelength k**2 dz)`. Axes: `x` is axis 0 (rows), `y` axis 1
    (columns), `phi = atan2(ky, kx)`, as in abTEM's arrays. The probe is centred at pixel
    `(rows // 2, columns // 2)` and its total power `sum |probe|**2` is `scale**2`.

    **Modes.** With `output_shape = (K, rows, columns)`, the `K` modes are the probe at the
    defocus `C10 + delta_k`, weighted so that their incoherent sum is a Gaussian spread of
    defocus of standard deviation `focal_spread` (temporal incoherence, `K`-point
    Gauss-Hermite quadrature): `mode_k = sqrt(w_k) * probe(C10 + sqrt(2) x_k focal_spread)`,
    `sum w_k = 1`. `K >= 2` needs `focal_spread > 0`. For partial coherence of any other kind,
    hand the modes to `orthogonal_modes` (ptyrax-probe-modes), which orthogonalizes them
    keeping their incoherent intensity: `docs/parametrizations/aberrations.md`.

    **What is trained.** The coefficients named in `trainable` are stored in `edge_phases`
    as the phase their term reaches at the aperture edge, in radians (`C10 pi alpha**2 /
    wavelength` for defocus), and non-round ones as a Cartesian pair `C (cos m phi, sin m
    phi)` times that: every parameter is a phase of order one, so one learning rate suits all
    of them, and astigmatism, coma and trefoil train smoothly through zero. `coefficients()`
    gives them back in Angstrom and radians. The amplitude scale trains as `log_scale`. The
    other coefficients are folded into a fixed phase; the aperture and the basis of each
    trainable term on the k-grid are computed once (frozen arrays): a call is a weighted sum
    of the basis, one `exp`, one multiply and one FFT.

    Arguments:
        output_shape: `(rows, columns)`, or `(K, rows, columns)` for `K` modes.
        wavelength: the electron wavelength in metres (200 kV: 2.508e-12).
        pixel_size: the sample-plane pixel in metres, one number or `(rows, columns)`.
        convergence_angle: the aperture's semi-angle in mrad; at most the largest angle the
            sampling holds, `wavelength / (2 pixel_size)` along each axis.
        aberrations: coefficient name -> value: `C10`, `C12`, `C21`, `C23`, `C30` in Angstrom,
            `phi12`, `phi21`, `phi23` in radians; missing ones are 0. The values of trainable
            coefficients may be traced (build under `jax.grad` to differentiate in Angstrom).
        trainable: the coefficients that train, among `C10`, `C12`, `C21`, `C23`, `C30`
            (each with its angle) and `focal_spread`; the rest are fixed. Default: the five
            aberrations.
        aperture_softness: the width in mrad over which the aperture falls from 1 to 0,
            centred on `convergence_angle`; None (default) one angular pixel, as abTEM's
            soft aperture; 0 a hard edge.
        scale: the amplitude scale, positive: the total power is `scale**2`.
        focal_spread: the standard deviation of the defocus spread, Angstrom (modes only).

    Attributes:
        edge_phases: the trainable coefficients, name -> their phase at the aperture edge in
            radians (a `(2,)` Cartesian pair for `C12`, `C21`, `C23`).
        log_scale: the trainable natural log of `scale`.

    Raises:
        ValueError: an unknown name in `aberrations` or `trainable` (the message lists the
            valid ones), a wavelength, pixel size or convergence angle that is not positive
            and finite (or a length that is not in metres), an aperture the sampling cannot
            hold, modes without a focal spread, or a focal spread without modes.
        TypeError: an argument of the wrong type.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> probe = AberrationProbeArrayParametrization(
        ...     (64, 64), wavelength=2.508e-12, pixel_size=0.2e-10, convergence_angle=20.0,
        ...     aberrations={"C10": 100.0, "C12": 20.0, "phi12": 0.5}, trainable=("C10",),
        ... )
        >>> psi = probe()
        >>> psi.shape, psi.dtype, round(float(jnp.sum(jnp.abs(psi) ** 2)), 4)
        ((64, 64), dtype('complex64'), 1.0)
        >>> round(float(probe.coefficients()["C10"]), 3)
        100.0
        >>> grads = jax.grad(lambda p: jnp.sum(jnp.abs(p()[30:34, 30:34]) ** 2))(probe)
        >>> sorted(grads.edge_phases), bool(grads.edge_phases["C10"] != 0)
        (['C10'], True)
    """

    registry_name: ClassVar[str] = "aberration_probe"
    frozen_fields: ClassVar[tuple[str, ...]] = (
        "_pupil",
        "_basis",
        "_fixed_phase",
        "_defocus_basis",
    )

    edge_phases: dict[str, Real[Array, "..."]]
    log_scale: Real[Array, ""]
    _pupil: Complex[Array, "r c"]
    _fixed_phase: Real[Array, "r c"]
    _basis: Real[Array, "t r c"] | None
    _defocus_basis: Real[Array, "r c"] | None
    wavelength: float = eqx.field(static=True)
    pixel_size: tuple[float, float] = eqx.field(static=True)
    convergence_angle: float = eqx.field(static=True)
    aperture_softness: float | None = eqx.field(static=True)
    trainable: tuple[str, ...] = eqx.field(static=True)
    _fixed: tuple[tuple[str, float], ...] = eqx.field(static=True)
    _units: tuple[tuple[str, float], ...] = eqx.field(static=True)
    _nodes: tuple[float, ...] = eqx.field(static=True)
    _weights: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        output_shape: tuple[int, ...],
        wavelength: float,
        pixel_size: float | tuple[float, float],
        convergence_angle: float,
        aberrations: Mapping[str, Any] | None = None,
        trainable: Sequence[str] = tuple(ab.TERMS),
        aperture_softness: float | None = None,
        scale: float = 1.0,
        focal_spread: float = 0.0,
    ):
        shape = _output_shape(output_shape)
        modes = shape[0] if len(shape) == 3 else 1
        grid = shape[-2:]
        wavelength = _positive(wavelength, "wavelength", metres=True)
        pixel = _pixel_size(pixel_size)
        angle = _positive(convergence_angle, "convergence_angle")
        softness = None
        if aperture_softness is not None:
            softness = ptyrax_core.static_float(aperture_softness, "aperture_softness")
            if softness < 0:
                raise ValueError(
                    f"aperture_softness must be at least 0 (mrad; 0 is a hard edge); got "
                    f"{softness}."
                )
        scale = _positive(scale, "scale")
        spread = ptyrax_core.static_float(focal_spread, "focal_spread")
        names = _trainable(trainable)
        values = _aberrations(aberrations, names)
        if spread < 0:
            raise ValueError(f"focal_spread must be at least 0 (Angstrom); got {spread}.")
        if modes > 1 and spread == 0:
            raise ValueError(
                f"focal_spread must be positive for output_shape {shape}: its {modes} modes "
                "are the probe over a spread of defocus; give focal_spread (Angstrom), or one "
                "mode, output_shape (rows, columns)."
            )
        if modes == 1 and (spread > 0 or "focal_spread" in names):
            raise ValueError(
                "focal_spread needs modes: output_shape (K, rows, columns) with K >= 2 holds "
                f"the probe over a spread of defocus; output_shape {shape} is one probe."
            )

        wavelength_a = wavelength * _METRES_TO_ANGSTROM
        pixel_a = (pixel[0] * _METRES_TO_ANGSTROM, pixel[1] * _METRES_TO_ANGSTROM)
        alpha_max = angle * 1e-3
        for axis, dx in enumerate(pixel_a):
            largest = wavelength_a / (2 * dx) * 1e3
            if angle > largest:
                raise ValueError(
                    f"convergence_angle {angle:g} mrad is larger than the sampling holds along "
                    f"{('rows', 'columns')[axis]}, wavelength / (2 pixel_size) = "
                    f"{largest:.4g} mrad: give a smaller pixel_size."
                )
        alpha, phi = ab.polar_grid(grid, pixel_a, wavelength_a)
        angular_pixel = (
            wavelength_a / (grid[0] * pixel_a[0]),
            wavelength_a / (grid[1] * pixel_a[1]),
        )
        soft = None if softness is None else softness * 1e-3
        aperture = ab.soft_aperture(alpha, phi, alpha_max, soft, angular_pixel)
        inside = aperture > 0
        rho = np.where(inside, alpha / alpha_max, 0.0)
        # centred at (rows // 2, columns // 2): the shift theorem's ramp, folded into the pupil
        ramp = np.exp(
            -2j
            * np.pi
            * (
                np.fft.fftfreq(grid[0])[:, None] * (grid[0] // 2)
                + np.fft.fftfreq(grid[1])[None, :] * (grid[1] // 2)
            )
        )
        pupil = aperture / np.sqrt(np.sum(aperture**2)) * ramp

        real = jnp.result_type(float)
        units = {
            name: ab.edge_phase_per_angstrom(name, wavelength_a, alpha_max) for name in ab.TERMS
        }
        units["focal_spread"] = units["C10"]
        terms = tuple(name for name in ab.TERMS if name in names)
        fixed = np.zeros(grid)
        edge_phases = {}
        for name in ab.TERMS:
            magnitude = values.get(name, 0.0)
            m = ab.TERMS[name][1]
            angle_name = f"phi{name[1:]}"
            azimuth = values.get(angle_name, 0.0)
            if name in terms:
                c = jnp.asarray(magnitude, real) * units[name]
                edge_phases[name] = (
                    jnp.stack([c * jnp.cos(m * azimuth), c * jnp.sin(m * azimuth)]).astype(real)
                    if m
                    else c.astype(real)
                )
            elif magnitude:
                pair = np.array([math.cos(m * azimuth), math.sin(m * azimuth)])[
                    : ab.components(name)
                ]
                fixed = fixed + units[name] * magnitude * np.tensordot(
                    pair, ab.basis(name, rho, phi), axes=1
                )
        nodes, weights = np.polynomial.hermite.hermgauss(modes)
        nodes = np.sqrt(2.0) * nodes
        if "focal_spread" in names:
            edge_phases["focal_spread"] = jnp.asarray(spread * units["C10"], real)
        else:
            nodes = nodes * spread * units["C10"]  # the defocus offsets, as edge phases

        self.output_shape = shape
        self.edge_phases = edge_phases
        self.log_scale = jnp.asarray(math.log(scale), real)
        self._pupil = jnp.asarray(pupil, jnp.result_type(real, jnp.complex64))
        self._fixed_phase = jnp.asarray(np.where(inside, fixed, 0.0), real)
        self._basis = (
            jnp.asarray(np.concatenate([ab.basis(n, rho, phi) for n in terms]), real)
            if terms
            else None
        )
        self._defocus_basis = jnp.asarray(rho**2, real) if modes > 1 else None
        self.wavelength = wavelength
        self.pixel_size = pixel
        self.convergence_angle = angle
        self.aperture_softness = softness
        self.trainable = tuple(n for n in _TRAINABLE if n in names)
        self._fixed = tuple(
            (n, float(values.get(n, 0.0)))
            for n in ab.VALID
            if n not in terms and ab.ANGLES.get(n) not in terms
        ) + (() if "focal_spread" in names else (("focal_spread", spread),))
        self._units = tuple(units.items())
        self._nodes = tuple(float(x) for x in nodes)
        self._weights = tuple(float(math.sqrt(w / math.sqrt(math.pi))) for w in weights)

    def __call__(self) -> Complex[Array, "*k r c"]:
        """The probe `(rows, columns)`, or its modes `(K, rows, columns)`, complex."""
        chi = self.aberration_phase()
        amplitude = jnp.exp(self.log_scale)
        pupil = jax.lax.stop_gradient(self._pupil)
        if self._defocus_basis is None:
            spectrum = (pupil * amplitude) * jnp.exp(-1j * chi)
        else:
            offsets = jnp.asarray(self._nodes, chi.dtype)
            if "focal_spread" in self.edge_phases:
                offsets = offsets * self.edge_phases["focal_spread"]
            defocus = jax.lax.stop_gradient(self._defocus_basis)
            chi = chi[None] + offsets[:, None, None] * defocus[None]
            weights = jnp.asarray(self._weights, chi.dtype) * amplitude
            spectrum = (weights[:, None, None] * pupil[None]) * jnp.exp(-1j * chi)
        return jnp.fft.ifft2(spectrum, norm="ortho").reshape(self.output_shape)

    def aberration_phase(self) -> Real[Array, "r c"]:
        """`chi(k)` in radians on the FFT grid `(rows, columns)`, zero frequency at `[0, 0]`
        (`x` along rows), 0 outside the aperture; at the nominal defocus (no focal spread).

        The probe is `fftshift(ifft2(A * exp(-1j * chi)))`, normalized. For one member.

        Example:
            >>> import jax.numpy as jnp
            >>> probe = AberrationProbeArrayParametrization(
            ...     (16, 16), 2.508e-12, 0.4e-10, 20.0, {"C10": 100.0}
            ... )
            >>> chi = probe.aberration_phase()  # pi * wavelength * k**2 * C10 in the aperture
            >>> k = 1 / (16 * 0.4)  # one pixel of k, 1 / Angstrom
            >>> bool(jnp.isclose(chi[0, 1], jnp.pi * 0.02508 * k**2 * 100.0))
            True
        """
        chi = jax.lax.stop_gradient(self._fixed_phase)
        if self._basis is None:
            return chi
        order = [n for n in ab.TERMS if n in self.edge_phases]
        p = jnp.concatenate([jnp.ravel(self.edge_phases[n]) for n in order])
        return chi + jnp.tensordot(p, jax.lax.stop_gradient(self._basis), axes=1)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy with the same aberrations whose total power `sum |probe|**2` is `target`'s.

        The engine starts a probe at its guess this way: the guess fixes the scale (the
        counts), the aberrations stay as given. `target` has shape `output_shape` (JAX or
        NumPy, real or complex); for several modes, the power of all of them together. A
        zero target gives the smallest positive power of the dtype. Works under `jax.jit`.

        Example:
            >>> import jax.numpy as jnp
            >>> probe = AberrationProbeArrayParametrization((8, 8), 2.508e-12, 0.5e-10, 20.0)
            >>> copy = probe.with_array(3.0 * jnp.ones((8, 8)))  # power 9 * 64
            >>> round(float(jnp.sum(jnp.abs(copy()) ** 2)), 2)
            576.0
        """
        data = ptyrax_core.read_target(target, self)
        power = jnp.sum(jnp.real(data) ** 2 + jnp.imag(data) ** 2)
        tiny = jnp.finfo(power.dtype).tiny
        log_scale = 0.5 * jnp.log(jnp.maximum(power, tiny))
        return eqx.tree_at(lambda p: p.log_scale, self, log_scale.astype(self.log_scale.dtype))

    def coefficients(self) -> dict[str, Array]:
        """Every coefficient in the document's units, name -> a 0-d JAX array.

        `C10`, `C12`, `C21`, `C23`, `C30` and `focal_spread` in Angstrom, `phi12`, `phi21`,
        `phi23` in radians, and `scale`. A trained non-round term comes back with its
        magnitude `>= 0` and its angle in `(-pi/m, pi/m]`. Works under `jax.jit`; for one
        member (not a stack).

        Example:
            >>> probe = AberrationProbeArrayParametrization(
            ...     (8, 8), 2.508e-12, 0.5e-10, 20.0, {"C12": -5.0, "phi12": 0.3}
            ... )
            >>> c = probe.coefficients()
            >>> round(float(c["C12"]), 4), round(float(c["phi12"]), 4)  # 5 at 0.3 - pi / 2
            (5.0, -1.2708)
        """
        dtype = self.log_scale.dtype
        units = dict(self._units)
        out = {name: jnp.asarray(value, dtype) for name, value in self._fixed}
        for name, value in self.edge_phases.items():
            value = value / units[name]
            if value.ndim:
                m = ab.TERMS[name][1]
                out[name] = jnp.hypot(value[0], value[1])
                out[f"phi{name[1:]}"] = jnp.arctan2(value[1], value[0]) / m
            else:
                out[name] = value
        out["scale"] = jnp.exp(self.log_scale)
        return {name: out[name] for name in (*ab.VALID, "focal_spread", "scale")}


def _output_shape(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, tuple | list) and all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) for n in value
    )
    if not ok or len(value) not in (2, 3) or not all(n >= 1 for n in value):
        raise ValueError(
            "output_shape must be (rows, columns) or (modes, rows, columns), positive "
            f"integers; got {value!r}."
        )
    return tuple(int(n) for n in value)


def _positive(value: Any, argname: str, metres: bool = False) -> float:
    number = ptyrax_core.static_float(value, argname)
    unit = "metres" if metres else "mrad" if argname == "convergence_angle" else ""
    if number <= 0:
        raise ValueError(f"{argname} must be positive{f' ({unit})' if unit else ''}; got {number}.")
    if metres and number >= 1e-3:
        raise ValueError(
            f"{argname} is in metres; got {number}, which looks like Angstrom or nanometres "
            "(200 kV electrons: wavelength 2.508e-12 m)."
        )
    return number


def _pixel_size(value: Any) -> tuple[float, float]:
    if isinstance(value, tuple | list | np.ndarray):
        if len(value) != 2:
            raise ValueError(
                f"pixel_size must be one number or (rows, columns) in metres; got {value!r}."
            )
        return tuple(_positive(v, "pixel_size", metres=True) for v in value)
    size = _positive(value, "pixel_size", metres=True)
    return (size, size)


def _trainable(value: Any) -> set[str]:
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, Sequence | set | frozenset):
        raise TypeError(f"trainable must be a sequence of names; got {value!r}.")
    for name in names:
        if name in ab.ANGLES:
            raise ValueError(
                f"trainable: {name!r} trains with {ab.ANGLES[name]!r}, magnitude and angle "
                f"together: name {ab.ANGLES[name]!r}."
            )
        if name not in _TRAINABLE:
            raise ValueError(
                f"trainable has the unknown name {name!r}; valid: {', '.join(_TRAINABLE)}."
            )
    return set(names)


def _aberrations(value: Any, trainable: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"aberrations must be a mapping of names to values, such as {{'C10': 100.0}}; got "
            f"{type(value).__name__}."
        )
    out = {}
    for name, v in value.items():
        if name not in ab.VALID:
            hint = ab.HINTS.get(name)
            raise ValueError(
                f"aberrations has the unknown name {name!r}"
                + (f" ({hint})" if hint else "")
                + f"; valid: {', '.join(ab.VALID)} (Angstrom and radians)."
            )
        term = ab.ANGLES.get(name, name)
        if term in trainable and isinstance(v, jax.core.Tracer):
            out[name] = v  # a trainable value may be traced: differentiable in Angstrom
            continue
        out[name] = ptyrax_core.static_float(v, f"aberrations[{name!r}]")
    return out
