"""DepthFilteredArrayParametrization."""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Real

import ptyrax_core

from ._weight import depth_weight

_AXES = (-3, -2, -1)


class DepthFilteredArrayParametrization(ptyrax_core.ArrayParametrization):
    """A multislice object `(slices, rows, columns)` whose slices are depth-smooth by
    construction: `exp(F(log_amplitude) + 1j * F(phase))`.

    The trained arrays, `phase` and `log_amplitude` (one value a voxel), pass through a fixed
    linear low-pass `F` in 3-D Fourier space, `F(x) = IFFT3[W * FFT3[x]]`, whose weight
    attenuates high frequencies along the depth, `kz`, relative to the lateral frequency
    `kr = hypot(kx, ky)`:

        W(kz, kr) = 1 - (2 / pi) * arctan((strength * |kz| / kr)**2)

    the depth ("kz") filter that PtyRAD and fold_slice (PtychoShelves) apply to the object
    after every step, here a parametrization: the output is always filtered, and a gradient
    reaches a Fourier component of the free arrays times `W`. `kz` and `kr` are in cycles per
    metre (from `slice_spacing` and `pixel_size`), so `strength` is dimensionless: `W = 1/2`
    on the double cone `|kz| = kr / strength`, `W = 1` at `kz = 0` (a stack constant along
    the depth passes unchanged), `W = 0` at `kr = 0, kz != 0` (each slice's mean phase and
    mean log-amplitude follow the stack's: a constant phase per slice is unmeasurable).
    `strength = 1 / alpha`, `alpha` the probe's convergence semi-angle in radians, puts the
    cone on the edge of the missing cone; `strength = 0` is the unfiltered stack (no FFT at
    all). `docs/parametrizations/depth.md` has the peers' parameters in these terms.

    Filtering the log-amplitude and the phase together filters the complex log of the
    transmission, `log O = log|O| + 1j angle(O)`, proportional to the slices' complex
    projected potential: one complex FFT pair a call (a real one with `phase_only`).

    Arguments:
        output_shape: `(slices, rows, columns)`.
        slice_spacing: the distance between slices; in the unit of `pixel_size` (the engine
            gives both in metres).
        pixel_size: the lateral pixel, one number or `(rows, columns)`.
        slices: the number of slices, `output_shape[0]` (the engine gives it; optional).
        strength: the filter's strength, at least 0 (dimensionless; see above). Default 1.
        phase_only: keep the amplitude at 1 (weak-phase objects): only `phase` is trained.
        phase_initializer: called as `phase_initializer(output_shape)`: the initial free
            phase (before filtering, radians). Default `jnp.zeros`.
        log_amplitude_initializer: the same for the free log-amplitude. Default `jnp.zeros`.

    Attributes:
        phase: the trained free phase, real, `(slices, rows, columns)`.
        log_amplitude: the trained free log-amplitude, real, `(slices, rows, columns)`; None
            with `phase_only`.

    Raises:
        ValueError: a shape that is not three positive integers, a `slices` that differs from
            it, a spacing or pixel that is not positive and finite, a negative or non-finite
            strength; each message names the argument.

    Example:
        >>> import jax.numpy as jnp
        >>> obj = DepthFilteredArrayParametrization(
        ...     (3, 16, 16), slice_spacing=2e-10, pixel_size=0.2e-10, strength=50.0,
        ...     phase_initializer=lambda s: 0.1 * jnp.ones(s),
        ... )
        >>> o = obj()
        >>> o.shape, o.dtype, round(float(jnp.angle(o[1, 4, 4])), 4)  # constant: unchanged
        ((3, 16, 16), dtype('complex64'), 0.1)
    """

    registry_name: ClassVar[str] = "depth_filtered"
    frozen_fields: ClassVar[tuple[str, ...]] = ("_weight",)

    phase: Real[Array, "s r c"]
    log_amplitude: Real[Array, "s r c"] | None
    _weight: Real[Array, "s r c"] | None
    slice_spacing: float = eqx.field(static=True)
    pixel_size: tuple[float, float] = eqx.field(static=True)
    strength: float = eqx.field(static=True)
    phase_only: bool = eqx.field(static=True)

    def __init__(
        self,
        output_shape: tuple[int, ...],
        slice_spacing: float,
        pixel_size: float | tuple[float, float],
        slices: int | None = None,
        strength: float = 1.0,
        phase_only: bool = False,
        phase_initializer: Callable[[tuple[int, ...]], Any] = jnp.zeros,
        log_amplitude_initializer: Callable[[tuple[int, ...]], Any] = jnp.zeros,
    ):
        shape = _output_shape(output_shape, slices)
        spacing = _positive(slice_spacing, "slice_spacing")
        pixel = _pixel_size(pixel_size)
        strength = ptyrax_core.static_float(strength, "strength")
        if strength < 0:
            raise ValueError(f"strength must be at least 0 (0: no filter); got {strength}.")
        if not isinstance(phase_only, bool | np.bool_):
            raise TypeError(f"phase_only must be True or False; got {phase_only!r}.")
        phase = _free(phase_initializer, shape, "phase_initializer")
        log_amplitude = None
        if not phase_only:
            log_amplitude = _free(log_amplitude_initializer, shape, "log_amplitude_initializer")
            log_amplitude = log_amplitude.astype(jnp.result_type(phase, log_amplitude))
            phase = phase.astype(log_amplitude.dtype)
        self.output_shape = shape
        self.phase = phase
        self.log_amplitude = log_amplitude
        self._weight = (
            jnp.asarray(depth_weight(shape, spacing, pixel, strength), phase.dtype)
            if strength > 0
            else None
        )
        self.slice_spacing = spacing
        self.pixel_size = pixel
        self.strength = strength
        self.phase_only = bool(phase_only)

    @property
    def slices(self) -> int:
        """The number of slices, `output_shape[0]`."""
        return self.output_shape[0]

    def __call__(self) -> Complex[Array, "s r c"]:
        """The object stack `exp(F(log_amplitude) + 1j * F(phase))`, complex."""
        if self.log_amplitude is None:
            return ptyrax_core.expi(self._filter(self.phase))
        if self._weight is None:
            return jnp.exp(self.log_amplitude) * ptyrax_core.expi(self.phase)
        spectrum = jnp.fft.fftn(self.log_amplitude + 1j * self.phase, axes=_AXES)
        weight = jax.lax.stop_gradient(self._weight)
        log = jnp.fft.ifftn(spectrum * weight, axes=_AXES)
        return jnp.exp(jnp.real(log)) * ptyrax_core.expi(jnp.imag(log))

    def filtered(self) -> tuple[Real[Array, "s r c"], Real[Array, "s r c"]]:
        """`(F(phase), F(log_amplitude))`: the output's phase (not wrapped) and log-amplitude
        (zeros with `phase_only`).

        Example:
            >>> import jax.numpy as jnp
            >>> obj = DepthFilteredArrayParametrization((2, 4, 4), 1.0, 1.0, phase_only=True)
            >>> [x.shape for x in obj.filtered()]
            [(2, 4, 4), (2, 4, 4)]
        """
        phase = self._filter(self.phase)
        if self.log_amplitude is None:
            return phase, jnp.zeros_like(phase)
        return phase, self._filter(self.log_amplitude)

    def weight(self) -> Real[Array, "s r c"]:
        """The filter's weight `W` on the grid of `jnp.fft.fftn` over the three axes (zero
        frequency at `[0, 0, 0]`); ones for `strength = 0`.

        Example:
            >>> obj = DepthFilteredArrayParametrization((4, 8, 8), 1.0, 1.0, strength=1.0)
            >>> w = obj.weight()
            >>> float(w[0, 3, 2]), float(w[2, 0, 0]), round(float(w[1, 2, 0]), 4)
            (1.0, 0.0, 0.5)
        """
        if self._weight is None:
            return jnp.ones(self.output_shape, self.phase.dtype)
        return jax.lax.stop_gradient(self._weight)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose output is `target` projected onto the stacks this one can make.

        The target's phase (`jnp.angle`) and log-amplitude (`log |target|`, zeros read as the
        smallest positive number; not with `phase_only`) go through the filter's
        pseudo-inverse, `IFFT3[FFT3[x] / W]` where `W` is above the dtype's epsilon and 0
        where it is not. So the copy's output is `target` but for what the filter removes:
        each slice's mean phase and mean log-amplitude become the stack's (a constant phase
        a slice, which no measurement sees; the phase wrap's jumps shift those means). A
        stack whose slices have the same means, its own output among them, comes back to
        rounding; a target with content where `W` is small (sharp along the depth) needs
        large free arrays, and comes back to the rounding of those. `target` has shape
        `output_shape` (JAX or NumPy, complex or real). Works under `jax.jit`.

        Example:
            >>> import jax.numpy as jnp
            >>> obj = DepthFilteredArrayParametrization((3, 8, 8), 2.0, 1.0, strength=5.0)
            >>> lateral = jnp.exp(0.3j * jnp.cos(jnp.arange(8.0)))
            >>> smooth = lateral[None, None, :] * jnp.ones((3, 8, 1))  # constant along depth
            >>> bool(jnp.allclose(obj.with_array(smooth)(), smooth, atol=1e-6))
            True
        """
        data = ptyrax_core.read_target(target, self)
        copy = eqx.tree_at(lambda p: p.phase, self, self._inverse(jnp.angle(data)))
        if self.log_amplitude is None:
            return copy
        tiny = jnp.finfo(self.log_amplitude.dtype).tiny
        log_amplitude = jnp.log(jnp.maximum(jnp.abs(data), tiny))
        return eqx.tree_at(lambda p: p.log_amplitude, copy, self._inverse(log_amplitude))

    def _filter(self, x: Real[Array, "s r c"]) -> Real[Array, "s r c"]:
        """`F(x)` for a real stack: a real FFT pair (the weight is even in every axis)."""
        if self._weight is None:
            return x
        weight = jax.lax.stop_gradient(self._weight)[..., : self.output_shape[2] // 2 + 1]
        spectrum = jnp.fft.rfftn(x, axes=_AXES) * weight
        return jnp.fft.irfftn(spectrum, s=self.output_shape, axes=_AXES)

    def _inverse(self, x: Real[Array, "s r c"]) -> Real[Array, "s r c"]:
        """The pseudo-inverse of `F`, in the free arrays' dtype."""
        dtype = self.phase.dtype
        x = x.astype(dtype)
        if self._weight is None:
            return x
        weight = jax.lax.stop_gradient(self._weight)[..., : self.output_shape[2] // 2 + 1]
        kept = weight > jnp.finfo(dtype).eps
        gain = jnp.where(kept, 1 / jnp.where(kept, weight, 1), 0)
        spectrum = jnp.fft.rfftn(x, axes=_AXES) * gain
        return jnp.fft.irfftn(spectrum, s=self.output_shape, axes=_AXES).astype(dtype)


def _output_shape(value: Any, slices: Any) -> tuple[int, int, int]:
    ok = isinstance(value, tuple | list) and all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) for n in value
    )
    if not ok or len(value) != 3 or not all(n >= 1 for n in value):
        raise ValueError(
            f"output_shape must be (slices, rows, columns), positive integers; got {value!r}."
        )
    shape = tuple(int(n) for n in value)
    if slices is not None:
        if not isinstance(slices, int | np.integer) or isinstance(slices, bool) or slices < 1:
            raise ValueError(f"slices must be a positive integer; got {slices!r}.")
        if slices != shape[0]:
            raise ValueError(
                f"slices is {slices}, but output_shape {shape} has {shape[0]}: give "
                "(slices, rows, columns)."
            )
    return shape


def _positive(value: Any, argname: str) -> float:
    number = ptyrax_core.static_float(value, argname)
    if number <= 0:
        raise ValueError(f"{argname} must be positive (a length, metres); got {number}.")
    return number


def _pixel_size(value: Any) -> tuple[float, float]:
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"pixel_size must be one number or (rows, columns); got {value!r}.")
        return (_positive(value[0], "pixel_size"), _positive(value[1], "pixel_size"))
    size = _positive(value, "pixel_size")
    return (size, size)


def _free(initializer: Any, shape: tuple[int, ...], argname: str) -> Array:
    if not callable(initializer):
        raise TypeError(
            f"{argname} must be a callable taking the shape, such as jnp.zeros; got "
            f"{type(initializer).__name__}."
        )
    array = ptyrax_core.initialize(initializer, shape, argname)
    if jnp.iscomplexobj(array):
        raise ValueError(f"{argname} must return a real array; got dtype {array.dtype}.")
    return array
