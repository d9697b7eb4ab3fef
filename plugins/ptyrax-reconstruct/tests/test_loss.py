import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct._loss import (
    FLOOR,
    LOSSES,
    amplitude_error,
    loss_function,
    poisson_deviance,
)

from ptyrax_core.testing import assert_close, rounding_tolerance


def _data(seed=0, shape=(4, 6, 5)):
    """Model intensities from 0.05 to 200 counts and Poisson counts drawn from them (some 0)."""
    rng = np.random.default_rng(seed)
    intensity = rng.uniform(0.05, 200.0, size=shape) ** rng.uniform(0.3, 1.0, size=shape)
    counts = rng.poisson(intensity).astype(np.float64)
    counts[0, 0, :] = 0.0
    valid = rng.uniform(size=shape[1:]) > 0.2
    return intensity, counts, valid


def _deviance64(intensity, counts):
    """2 (I - y + y log(y / I)) in float64 numpy, for the floored I the loss uses."""
    i = intensity + FLOOR
    with np.errstate(divide="ignore", invalid="ignore"):
        y_log = np.where(counts > 0, counts * np.log(counts / i), 0.0)
    return 2.0 * (i - counts + y_log)


def _f32(*arrays):
    return [jnp.asarray(a, jnp.float32) for a in arrays]


def _rounding_scale(intensity, counts):
    """The size of the terms whose float32 roundings the deviance carries."""
    i = intensity + FLOOR
    logs = np.abs(np.log(np.maximum(counts, 1.0))) + np.abs(np.log(i))
    return float(np.max(2.0 * (i + counts + counts * logs)))


def test_poisson_deviance_is_zero_where_the_model_equals_the_counts():
    """D(I = y) = 0, for counts from 1 to 1e4 (and 0)."""
    counts = np.array([[0.0, 1.0, 2.0, 7.0], [30.0, 100.0, 2500.0, 1e4]])
    out = poisson_deviance(*_f32(counts, counts), jnp.ones(counts.shape, bool))
    assert_close(out, np.zeros(counts.shape), terms=4, scale=_rounding_scale(counts, counts))


def test_poisson_deviance_matches_its_closed_form_in_float64():
    """D = 2 (I - y + y log(y / I)) per valid pixel, against numpy float64."""
    intensity, counts, valid = _data()
    out = poisson_deviance(*_f32(intensity, counts), jnp.asarray(valid))
    assert out.shape == intensity.shape and out.dtype == jnp.float32
    i32, y32 = (np.asarray(a, np.float64) for a in _f32(intensity, counts))
    expected = np.where(valid, _deviance64(i32, y32), 0.0)
    # two logs, a difference, a product, a sum of three: relative to the terms, not the result
    assert_close(out, expected, terms=4, scale=_rounding_scale(i32, y32))
    assert np.all(np.asarray(out) >= -1e-3)  # a deviance is non-negative (up to that rounding)


def test_poisson_deviance_of_zero_counts_is_twice_the_intensity():
    """y = 0: D = 2 I (y log y -> 0), also where I is tiny."""
    intensity = np.array([0.0, 1e-3, 0.5, 3.0, 250.0])
    out = poisson_deviance(*_f32(intensity, np.zeros(5)), jnp.ones(5, bool))
    assert_close(out, 2.0 * (intensity + FLOOR), terms=2)


def test_poisson_deviance_is_zero_on_invalid_pixels_whatever_the_intensity():
    """Masked pixels add nothing, even for I = 0, huge, negative or NaN."""
    intensity = np.array([[0.0, 1e30, -5.0, np.nan], [3.0, 4.0, 5.0, 6.0]])
    counts = np.array([[7.0, 0.0, 3.0, 2.0], [1.0, 0.0, 9.0, 2.0]])
    valid = np.array([[False, False, False, False], [True, True, True, True]])
    out = np.asarray(poisson_deviance(*_f32(intensity, counts), jnp.asarray(valid)))
    np.testing.assert_array_equal(out[0], 0.0)
    assert np.all(np.isfinite(out[1])) and np.all(out[1] > 0.1)  # valid ones do count


def test_poisson_deviance_gradient_is_two_times_one_minus_y_over_i():
    """dD/dI = 2 (1 - y / (I + FLOOR)) on valid pixels, 0 on invalid ones."""
    intensity, counts, valid = _data(1)
    i32, y32 = _f32(intensity, counts)
    grad = jax.grad(lambda i: jnp.sum(poisson_deviance(i, y32, jnp.asarray(valid))))(i32)
    i64, y64 = np.asarray(i32, np.float64), np.asarray(y32, np.float64)
    expected = np.where(valid, 2.0 * (1.0 - y64 / (i64 + FLOOR)), 0.0)
    # a division and a difference, relative to the size of the terms
    assert_close(grad, expected, terms=3, scale=float(np.max(2.0 * (1.0 + y64 / (i64 + FLOOR)))))


def test_poisson_deviance_gradient_is_finite_where_a_model_pixel_is_dark():
    """I = 0 with y > 0: the floor keeps the gradient finite (-2 y / FLOOR + 2)."""
    grad = jax.grad(lambda i: jnp.sum(poisson_deviance(i, jnp.ones(3), jnp.ones(3, bool))))(
        jnp.zeros(3)
    )
    assert np.all(np.isfinite(np.asarray(grad)))
    assert_close(grad, np.full(3, 2.0 - 2.0 / FLOOR), terms=3)


def test_amplitude_error_matches_its_closed_form():
    """(sqrt(I) - sqrt(y))^2 per valid pixel, 0 elsewhere, against numpy float64."""
    intensity, counts, valid = _data(2)
    i32, y32 = _f32(intensity, counts)
    out = amplitude_error(i32, y32, jnp.asarray(valid))
    i64, y64 = np.asarray(i32, np.float64), np.asarray(y32, np.float64)
    expected = np.where(valid, (np.sqrt(i64 + FLOOR) - np.sqrt(y64)) ** 2, 0.0)
    # two square roots and their difference, squared: relative to (sqrt I + sqrt y)^2
    assert_close(out, expected, terms=4, scale=float(np.max((np.sqrt(i64) + np.sqrt(y64)) ** 2)))


def test_amplitude_error_is_zero_on_invalid_pixels_and_at_a_perfect_fit():
    """Masked pixels add nothing; I == y gives 0 up to the floor."""
    counts = np.array([[0.0, 4.0, 9.0], [16.0, 25.0, 100.0]])
    valid = np.array([[True, True, True], [False, False, False]])
    out = np.asarray(amplitude_error(*_f32(counts, counts), jnp.asarray(valid)))
    np.testing.assert_array_equal(out[1], 0.0)
    # (sqrt(y + FLOOR) - sqrt(y))^2 <= FLOOR, up to the rounding of sqrt(I) - sqrt(y)
    tolerance = rounding_tolerance(jnp.float32, terms=4, scale=float(np.max(4 * counts)))
    assert np.all(out[0] <= FLOOR + tolerance)


@pytest.mark.parametrize(
    ("name", "function"), [("poisson", poisson_deviance), ("amplitude", amplitude_error)]
)
def test_loss_function_returns_the_loss_of_each_name(name, function):
    """loss_function maps each name in LOSSES to its per-pixel loss."""
    assert name in LOSSES
    assert loss_function(name) is function


def test_loss_function_knows_exactly_the_listed_losses():
    """The config checks loss.kind against LOSSES: each must resolve, and no other."""
    for name in LOSSES:
        assert callable(loss_function(name))
    with pytest.raises(KeyError):
        loss_function("gaussian")
