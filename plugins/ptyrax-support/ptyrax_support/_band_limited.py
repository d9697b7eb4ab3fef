"""BandLimitedArrayParametrization."""

from collections.abc import Callable
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Real

import ptyrax_core

from ._aperture import circular_aperture
from ._probe_support import RealNumber
from ._support import is_mask, read_probe, read_support


class BandLimitedArrayParametrization(ptyrax_core.ArrayParametrization):
    """A probe whose spectrum is zero outside a fixed band (the aperture of the optics):
    returns `ifft2(fft2(data) * band)` over the last two axes.

    A focused probe is band-limited by the aperture that forms it (a zone plate's or a
    condenser's numerical aperture; an electron microscope's probe-forming aperture, the
    convergence semi-angle): its spectrum holds nothing beyond. The band is a disc of a radius
    in frequency pixels (pixel `k` of an `n`-pixel axis is `k / n` cycles a pixel), or a mask,
    both in the centred layout of `jnp.fft.fftshift` (zero frequency at `(y // 2, x // 2)`).
    It is fixed, never trained, and the output is complex (a band need not be symmetric).
    What `data` holds outside the band never reaches the output, and its gradient is zero.

    Arguments:
        data_or_initializer: the probe, of shape `(..., y, x)` with at least two axes (real
            data becomes complex), or a zero-argument callable returning it.
        band: a radius in frequency pixels (a positive finite real number) for the disc
            `(ky - cy)**2 + (kx - cx)**2 <= band**2`, the same for every leading index; or a
            mask of booleans or 0s and 1s, centred, that broadcasts to the data's shape.
        center: for a radius, the disc's centre `(cy, cx)` in the centred layout (static);
            default zero frequency, `(y // 2, x // 2)`. Not allowed with a mask.

    Attributes:
        data: the trainable probe, complex, shape `output_shape`.
        mask: the fixed 0.0 / 1.0 band in the centred layout, or None for a radius (frozen).
        radius, center: the disc (static), or None for a mask.

    Raises:
        ValueError, TypeError: as `ProbeSupportArrayParametrization` for its `support`, with
            the argument named `band`.

    Example:
        >>> import jax.numpy as jnp
        >>> point = jnp.zeros((8, 8)).at[4, 4].set(1.0)  # every frequency at once
        >>> probe = BandLimitedArrayParametrization(point, band=1.0)
        >>> spectrum = jnp.fft.fftshift(jnp.fft.fft2(probe()))
        >>> int(jnp.sum(jnp.abs(spectrum) > 1e-6))  # the disc of radius 1: 5 frequencies
        5
        >>> bool(jnp.allclose(probe.with_array(probe())(), probe(), atol=1e-6))  # a projection
        True
    """

    registry_name: ClassVar[str] = "band_limited"
    frozen_fields: ClassVar[tuple[str, ...]] = ("mask",)
    data: Complex[Array, "*batch y x"]
    mask: Real[Array, "..."] | None
    radius: float | None = eqx.field(static=True)
    center: tuple[float, float] | None = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(
        self,
        data_or_initializer: ptyrax_core.HostOrDeviceArray | Callable[[], Any],
        band: RealNumber | ptyrax_core.HostOrDeviceArray,
        center: tuple[RealNumber, RealNumber] | None = None,
    ):
        data = read_probe(data_or_initializer, complex_only=True)
        height, width = data.shape[-2:]
        zero = None if is_mask(band) else (float(height // 2), float(width // 2))
        real_dtype = jnp.finfo(data.dtype).dtype
        self.radius, self.center, self.mask = read_support(
            band, center, data.shape, real_dtype, name="band", default_center=zero
        )
        self.data = data
        self.output_shape = tuple(data.shape)

    def band_mask(self) -> Real[Array, "..."]:
        """The band as 0.0 / 1.0 in the centred layout, never trained."""
        if self.mask is not None:
            return jax.lax.stop_gradient(self.mask)
        dtype = jnp.finfo(self.data.dtype).dtype
        return circular_aperture(self.output_shape[-2:], self.radius, self.center, dtype)

    def __call__(self) -> Complex[Array, "*batch y x"]:
        """`ifft2(fft2(data) * band)`: the probe with nothing outside the band."""
        band = jnp.fft.ifftshift(self.band_mask(), axes=(-2, -1))
        return jnp.fft.ifft2(jnp.fft.fft2(self.data) * band)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy that returns `target` band-limited: the nearest array whose spectrum is
        zero outside the band (an orthogonal projection), and `target` itself when it
        already is. `data` stores `target` whole, as `__init__` does; a real target becomes
        complex.

        Example:
            >>> import jax.numpy as jnp
            >>> probe = BandLimitedArrayParametrization(jnp.zeros((4, 4)), band=0.5)
            >>> probe.with_array(jnp.full((4, 4), 2.0))().real  # a constant: zero frequency
            Array([[2., 2., 2., 2.],
                   [2., 2., 2., 2.],
                   [2., 2., 2., 2.],
                   [2., 2., 2., 2.]], dtype=float32)
        """
        return eqx.tree_at(lambda p: p.data, self, ptyrax_core.read_target(target, self))
