import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_support import BandLimitedArrayParametrization

import ptyrax_core
from ptyrax_core.testing import rounding_tolerance

H, W = 8, 10
RNG = np.random.default_rng(0)
PROBE = jnp.asarray(RNG.normal(size=(H, W)) + 1j * RNG.normal(size=(H, W)), jnp.complex64)
MODES = jnp.stack([PROBE, 2.0 * PROBE.conj()])


def centred_disc(radius, cy=H // 2, cx=W // 2):
    ky, kx = np.mgrid[:H, :W]
    return (ky - cy) ** 2 + (kx - cx) ** 2 <= radius**2


def spectrum(x):
    return np.fft.fftshift(np.fft.fft2(np.asarray(x, np.complex128)), axes=(-2, -1))


def tolerance(x):
    return rounding_tolerance(jnp.complex64, terms=H * W, scale=float(jnp.max(jnp.abs(x))))


@pytest.mark.parametrize(
    "band, disc",
    [(2.0, centred_disc(2.0)), (1.5, centred_disc(1.5)), (centred_disc(3.0), centred_disc(3.0))],
    ids=["radius 2", "radius 1.5", "mask"],
)
def test_the_spectrum_is_the_data_inside_the_band_and_zero_outside(band, disc):
    p = BandLimitedArrayParametrization(MODES, band=band)
    out, inside = spectrum(p()), spectrum(MODES)
    scale = np.max(np.abs(inside)) * H * W * np.finfo(np.float32).eps * 8
    assert np.all(np.abs(out[:, ~disc]) <= scale)  # nothing outside the band
    assert np.allclose(out[:, disc], inside[:, disc], atol=scale)  # untouched inside


def test_center_moves_the_band_and_defaults_to_zero_frequency():
    assert BandLimitedArrayParametrization(PROBE, band=1.0).center == (H // 2, W // 2)
    p = BandLimitedArrayParametrization(PROBE, band=1.0, center=(2.0, 3.0))
    out = spectrum(p())
    kept = np.abs(out) > 1e-3 * np.abs(out).max()
    assert np.array_equal(kept, centred_disc(1.0, 2, 3) & (np.abs(spectrum(PROBE)) > 0))


def test_a_projection_nearest_in_least_squares():
    p = BandLimitedArrayParametrization(MODES, band=2.5)
    again = p.with_array(p())
    assert jnp.max(jnp.abs(again() - p())) <= tolerance(p())  # idempotent
    # orthogonal: the residual is orthogonal to every band-limited array
    residual, other = MODES - p(), BandLimitedArrayParametrization(MODES[::-1] * 1j, band=2.5)()
    inner = jnp.vdot(residual, other)
    assert abs(complex(inner)) <= tolerance(p()) * float(jnp.linalg.norm(other)) * H * W


def test_gradient_outside_the_band_is_zero():
    p = BandLimitedArrayParametrization(PROBE, band=2.0)
    target = jnp.asarray(RNG.normal(size=(H, W)), jnp.complex64)
    grads = jax.grad(lambda q: jnp.sum(jnp.abs(q() - target) ** 2))(p)
    g = spectrum(grads.data)
    assert np.all(np.abs(g[~centred_disc(2.0)]) <= tolerance(grads.data) * H * W)
    assert np.abs(g[centred_disc(2.0)]).max() > 0.1  # and trained inside


def test_real_data_becomes_complex_and_resolves_under_jit():
    p = BandLimitedArrayParametrization(np.ones((H, W), np.float32), band=1.0)
    assert p.data.dtype == jnp.complex64
    model = {"probe": p}
    out = jax.jit(ptyrax_core.resolve_array_parametrizations)(model)["probe"]
    assert jnp.allclose(out, jnp.ones((H, W)), atol=1e-6)  # a constant is in every band


@pytest.mark.parametrize(
    "band, kwargs, error, match",
    [
        (0.0, {}, ValueError, r"band \(a radius in pixels\) must be positive"),
        (np.ones((3, 3), bool), {}, ValueError, r"band: a mask of shape \(3, 3\)"),
        (centred_disc(2.0), {"center": (1, 1)}, ValueError, "circular band only"),
        (np.full((H, W), 2.0), {}, ValueError, "band: a mask must hold only 0 and 1"),
    ],
)
def test_bad_band(band, kwargs, error, match):
    with pytest.raises(error, match=match):
        BandLimitedArrayParametrization(PROBE, band=band, **kwargs)


def test_registered_and_in_the_examples():
    assert ptyrax_core.registry.get("band_limited") is BandLimitedArrayParametrization
    examples = ptyrax_core.registry.examples("support")["support"]
    assert sum(type(p) is BandLimitedArrayParametrization for p in examples) == 3
