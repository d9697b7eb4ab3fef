import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct._forward import detector_waves, exit_waves, intensities, subpixel_split
from ptyrax_reconstruct._propagate import angular_spectrum, propagate_far

from ptyrax_core.testing import assert_close, rounding_tolerance

# The shipped scan's near-field geometry (Fresnel scaling, M = 307.85); a 32 x 32 probe window.
WAVELENGTH = 9.794912e-11
PIXEL = 55e-6 / 307.85
DISTANCE = 1.12 / 307.85
P = 32
FFT = np.log2(P * P)  # roundings of one FFT of the window


def _transfer(dtype=np.complex64):
    return jnp.asarray(angular_spectrum((P, P), (PIXEL, PIXEL), WAVELENGTH, DISTANCE), dtype)


def _probe(dtype=jnp.complex64):
    """A smooth probe with a curved phase that fills much of its window (as near-field ones do)."""
    y, x = np.mgrid[:P, :P] - (P - 1) / 2
    probe = np.exp(-(y**2 + x**2) / 90.0 + 1j * (y**2 + 0.5 * x**2) / 40.0)
    return jnp.asarray(probe, dtype)


def _textured_object(shape=(60, 60), dtype=jnp.complex64):
    y, x = np.mgrid[: shape[0], : shape[1]]
    obj = (0.8 + 0.2 * np.cos(x / 2.3)) * np.exp(1j * np.sin(y / 3.1 + x / 4.7))
    return jnp.asarray(obj, dtype)


def _near(obj, probe, position, transfer):
    waves = exit_waves(obj, jnp.fft.fft2(probe)[None], jnp.asarray(position))
    return intensities(detector_waves(waves, transfer, jnp.asarray(position)))


def test_subpixel_split_rounds_to_the_nearest_pixel():
    """position = whole + rest, whole the nearest integer, rest in [-0.5, 0.5]."""
    whole, rest = subpixel_split(jnp.array([10.3, 7.6]))
    assert whole.dtype == jnp.int32 and whole.tolist() == [10, 8]
    assert_close(rest, np.array([0.3, -0.4]), terms=2, scale=11.0)  # relative to the position


def test_exit_waves_at_a_whole_pixel_are_probe_times_the_object_window():
    """At position (7, 12) the exit wave is probe * obj[7:7+P, 12:12+P]."""
    obj, probe = _textured_object(), _probe()
    waves = exit_waves(obj, jnp.fft.fft2(probe)[None], jnp.array([7.0, 12.0]))
    window = jax.lax.dynamic_slice(obj, (7, 12), (P, P))
    assert waves.shape == (1, P, P)
    expected = np.asarray(probe, np.complex128) * np.asarray(window, np.complex128)
    # an FFT and an inverse FFT of the probe, the ramp and the product
    scale = float(jnp.max(jnp.abs(probe))) * float(jnp.max(jnp.abs(window)))
    assert_close(waves[0], expected, terms=2 * FFT + 3, scale=scale)


def test_exit_waves_shift_the_probe_by_the_subpixel_rest():
    """At 7.25 the probe is moved by +0.25 row (a Fourier shift) over the window at row 7."""
    with jax.enable_x64(True):
        obj, probe = _textured_object(dtype=jnp.complex128), _probe(jnp.complex128)
        waves = exit_waves(obj, jnp.fft.fft2(probe)[None], jnp.array([7.25, 12.0]))
        f = np.fft.fftfreq(P)[:, None]
        moved = np.fft.ifft2(np.fft.fft2(np.asarray(probe)) * np.exp(-2j * np.pi * f * 0.25))
        expected = moved * np.asarray(obj)[7 : 7 + P, 12 : 12 + P]
        assert_close(waves[0], expected, terms=2 * FFT + 3)


@pytest.mark.parametrize("rest", [0.3, 0.49, -0.2])
def test_near_field_pattern_of_a_uniform_object_does_not_depend_on_the_subpixel_position(rest):
    """The detector is fixed to the beam: an object of ones gives the same pattern at 10.0 and
    10 + rest (rows and columns), equal to |propagate_near(probe, H)|^2."""
    obj, probe, transfer = jnp.ones((60, 60), jnp.complex64), _probe(), _transfer()
    at_whole = _near(obj, probe, [10.0, 10.0], transfer)
    moved = _near(obj, probe, [10.0 + rest, 10.0 - rest], transfer)
    reference = (
        np.abs(np.fft.ifft2(np.fft.fft2(np.asarray(probe, np.complex128)) * np.asarray(transfer)))
        ** 2
    )
    # exit: an inverse FFT and a ramp; detector: an FFT, an inverse FFT, two products; |.|^2
    terms = 2 * (3 * FFT + 4)
    assert_close(at_whole, reference, terms=terms)
    assert_close(moved, reference, terms=terms)


def test_near_field_pattern_of_a_textured_object_does_depend_on_the_subpixel_position():
    """With structure in the object, moving by 0.3 pixel changes the pattern: by 100 times the
    rounding bound that the uniform object's patterns meet."""
    obj, probe, transfer = _textured_object(), _probe(), _transfer()
    a = _near(obj, probe, [10.0, 10.0], transfer)
    b = _near(obj, probe, [10.3, 10.0], transfer)
    scale = float(jnp.max(a))
    assert float(jnp.max(jnp.abs(a - b))) > 100 * rounding_tolerance(
        jnp.float32, terms=2 * (3 * FFT + 4), scale=scale
    )


def test_near_field_pattern_is_continuous_where_the_window_jumps_a_pixel():
    """Just below and above x.5 the window starts one pixel apart; the patterns nearly agree
    (far closer than a 0.3 pixel step apart), so the model has no seam there."""
    obj, probe, transfer = _textured_object(), _probe(), _transfer()
    below = _near(obj, probe, [10.0, 10.499], transfer)
    above = _near(obj, probe, [10.0, 10.501], transfer)
    step = _near(obj, probe, [10.0, 10.8], transfer)
    assert float(jnp.max(jnp.abs(below - above))) < 0.1 * float(jnp.max(jnp.abs(below - step)))


def test_far_field_intensity_is_invariant_under_a_shift_of_the_exit_wave():
    """|FFT|^2 ignores a (periodic) shift of the exit wave, whole or subpixel."""
    waves = exit_waves(_textured_object(), jnp.fft.fft2(_probe())[None], jnp.array([9.0, 11.0]))
    position = jnp.array([9.0, 11.0])
    base = intensities(detector_waves(waves, None, position))
    rolled = intensities(detector_waves(jnp.roll(waves, (5, -3), axis=(-2, -1)), None, position))
    assert_close(rolled, base, terms=2 * (FFT + 1))
    # a uniform object at a subpixel position: only the probe's shift, a phase in the far field
    ones, probe = jnp.ones((60, 60), jnp.complex64), jnp.fft.fft2(_probe())[None]
    at = [jnp.array([10.0, 10.0]), jnp.array([10.3, 10.49])]
    patterns = [intensities(detector_waves(exit_waves(ones, probe, p), None, p)) for p in at]
    assert_close(patterns[1], patterns[0], terms=2 * (3 * FFT + 2))


def test_far_field_detector_waves_are_propagate_far():
    """No transfer function: the detector wave is the orthonormal FFT of the exit wave."""
    waves = exit_waves(_textured_object(), jnp.fft.fft2(_probe())[None], jnp.array([9.4, 11.0]))
    out = detector_waves(waves, None, jnp.array([9.4, 11.0]))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(propagate_far(waves)))


@pytest.mark.parametrize("near", [True, False], ids=["near_field", "far_field"])
def test_position_gradient_matches_central_differences_in_float64(near):
    """jax.grad of a weighted pattern sum w.r.t. position equals a central difference.

    In float64 a central difference of step 1e-3 is accurate to about 1e-8 relative here
    (truncation h^2 f''' / 6; rounding eps / h is 1e-13), so 1e-6 holds on any machine. The pixel
    weights vary along both axes, so both gradient components are clearly nonzero.
    """
    with jax.enable_x64(True):
        obj = _textured_object(dtype=jnp.complex128)
        spectrum = jnp.fft.fft2(_probe(jnp.complex128))[None]
        transfer = _transfer(np.complex128) if near else None
        y, x = np.mgrid[:P, :P]
        weights = jnp.asarray(1.0 + np.sin(y / 5.0) + 0.5 * np.cos(x / 3.0) + y / P)

        def energy(position):
            waves = exit_waves(obj, spectrum, position)
            return jnp.sum(intensities(detector_waves(waves, transfer, position)) * weights)

        position = jnp.array([10.2, 9.7])
        grad = jax.grad(energy)(position)
        assert grad.dtype == jnp.float64
        step = 1e-3
        for axis in range(2):
            offset = jnp.zeros(2).at[axis].set(step)
            numeric = (energy(position + offset) - energy(position - offset)) / (2 * step)
            assert abs(float(grad[axis])) > 1e-2 * float(energy(position)) / P
            assert float(grad[axis]) == pytest.approx(float(numeric), rel=1e-6)


def test_modes_add_in_intensity():
    """intensities of a stack of modes is the sum of their |.|^2."""
    rng = np.random.default_rng(1)
    waves = rng.normal(size=(3, 8, 8)) + 1j * rng.normal(size=(3, 8, 8))
    out = intensities(jnp.asarray(waves, jnp.complex64))
    expected = np.sum(np.abs(waves) ** 2, axis=0)
    # the cast to complex64, the squares, and a sum of 3 * 2 terms
    assert_close(out, expected, terms=2 + 6)


def test_weight_and_background_enter_as_weight_times_sum_plus_background():
    """intensities(w, weight, background) == weight * sum_k |w_k|^2 + background."""
    rng = np.random.default_rng(2)
    waves = jnp.asarray(rng.normal(size=(2, 8, 8)) + 1j * rng.normal(size=(2, 8, 8)), jnp.complex64)
    background = jnp.asarray(rng.uniform(0.0, 3.0, size=(8, 8)), jnp.float32)
    weight = jnp.float32(1.7)
    plain = intensities(waves)
    out = intensities(waves, weight, background)
    expected = 1.7 * np.asarray(plain, np.float64) + np.asarray(background, np.float64)
    assert_close(out, expected, terms=3)
    assert_close(intensities(waves, weight), 1.7 * np.asarray(plain, np.float64), terms=2)
    assert_close(
        intensities(waves, background=background),
        np.asarray(plain, np.float64) + np.asarray(background, np.float64),
        terms=2,
    )


def test_a_multislice_object_multiplies_its_slices_and_propagates_between_them():
    rng = np.random.default_rng(3)
    slices = jnp.asarray(np.exp(1j * rng.normal(size=(3, 12, 12))), jnp.complex64)
    probe = jnp.asarray(rng.normal(size=(1, 6, 6)) + 1j * rng.normal(size=(1, 6, 6)), jnp.complex64)
    spectrum, position = jnp.fft.fft2(probe), jnp.array([2.0, 3.0])
    # No distance between the slices: the slices act as their product, one thin object.
    touching = exit_waves(slices, spectrum, position, jnp.ones((6, 6), jnp.complex64))
    thin = exit_waves(jnp.prod(slices, axis=0), spectrum, position)
    assert_close(touching, thin, terms=2 * 2 * 6 + 6)  # two FFT pairs of 36 px, products
    # Apart by z: propagate between the slices, closed form on the windows.
    transfer = jnp.asarray(angular_spectrum((6, 6), (1e-7, 1e-7), 1e-10, 5e-6))
    apart = exit_waves(slices, spectrum, position, transfer)
    windows = slices[:, 2:8, 3:9]
    wave = probe * windows[0]
    for s in (1, 2):
        wave = jnp.fft.ifft2(jnp.fft.fft2(wave) * transfer) * windows[s]
    assert_close(apart, wave, terms=3 * 2 * 6 + 6)
    assert not np.allclose(apart, touching)  # the spacing matters


@pytest.mark.parametrize("slices", [3, 12])
def test_the_slice_loop_and_the_slice_scan_give_the_same_waves_and_gradients(slices, monkeypatch):
    """Up to `UNROLLED_SLICES` slices the multislice is a Python loop, beyond a `lax.scan`:
    both compute the same exit waves and the same gradient for the object."""
    from ptyrax_reconstruct import _forward

    rng = np.random.default_rng(4)
    obj = jnp.asarray(np.exp(0.3j * rng.normal(size=(slices, 12, 12))), jnp.complex64)
    spectrum = jnp.fft.fft2(_probe()[None, :6, :6])
    transfer = jnp.asarray(angular_spectrum((6, 6), (1e-7, 1e-7), 1e-10, 5e-6))
    position = jnp.array([2.25, 3.0])

    def run(unrolled):
        monkeypatch.setattr(_forward, "UNROLLED_SLICES", unrolled)
        loss = lambda o: jnp.sum(jnp.abs(exit_waves(o, spectrum, position, transfer)) ** 2)  # noqa: E731
        return exit_waves(obj, spectrum, position, transfer), jax.grad(loss)(obj)

    (loop, loop_grad), (scan, scan_grad) = run(slices), run(1)
    # the same operations in the same order: equal but for the compiler's fusion choices
    assert_close(scan, loop, terms=slices * 2 * 6 + 6)
    assert_close(scan_grad, loop_grad, terms=2 * (slices * 2 * 6 + 6))
