import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_depth import DepthFilteredArrayParametrization as Depth

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance

# --- a float64 reference, written from the formula (not from the plugin's code) ---------------


def weight_reference(shape, dz, pixel, strength):
    """W = 1 - (2/pi) arctan((strength |kz| / kr)^2), element by element; kr = 0: 1 on the
    plane kz = 0, else 0 (the limit of the ratio going to infinity)."""
    slices, rows, columns = shape
    w = np.empty(shape)
    for i in range(slices):
        kz = (i if i <= slices // 2 else i - slices) / (slices * dz)
        if slices % 2 == 0 and i == slices // 2:
            kz = -kz  # fftfreq's Nyquist is negative; |kz| is what counts
        for j in range(rows):
            kx = (j if j < (rows + 1) // 2 else j - rows) / (rows * pixel[0])
            for k in range(columns):
                ky = (k if k < (columns + 1) // 2 else k - columns) / (columns * pixel[1])
                kr = math.sqrt(kx * kx + ky * ky)
                if kr == 0:
                    w[i, j, k] = 1.0 if kz == 0 else 0.0
                else:
                    w[i, j, k] = 1 - math.atan((strength * abs(kz) / kr) ** 2) / (math.pi / 2)
    return w


def fft_terms(shape):
    """Roundings of an FFT pair over the stack, and a few for the weight and the exp."""
    return 2 * math.log2(math.prod(shape)) + 4


def normal(key, shape, scale=1.0, dtype=None):
    return scale * jax.random.normal(jax.random.PRNGKey(key), shape, dtype or jnp.float32)


# --- the weight -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "dz", "pixel", "strength"),
    [
        ((4, 8, 8), 2e-10, (0.5e-10, 0.5e-10), 2.0),
        ((5, 6, 9), 1e-6, (2e-7, 3e-7), 0.7),
        ((3, 16, 12), 4e-10, (0.2e-10, 0.2e-10), 47.0),  # 21.4 mrad: strength 1 / alpha
    ],
)
def test_the_weight_is_the_double_cone_arctan(shape, dz, pixel, strength):
    p = Depth(shape, dz, pixel, strength=strength)
    expected = weight_reference(shape, dz, pixel, strength)
    # one rounding to float32 of a float64 value in [0, 1] (the reference's 1 - atan cancels
    # to 1e-16 where W is small, far below that)
    assert_close(p.weight(), expected, scale=1.0)
    with jax.enable_x64(True):
        p64 = Depth(shape, dz, pixel, strength=strength, phase_initializer=_zeros64)
        assert p64.weight().dtype == jnp.float64
        assert_close(p64.weight(), expected, scale=1.0, terms=2)


def _zeros64(shape):
    return jnp.zeros(shape, jnp.float64)


def test_the_weight_s_landmarks():
    """W = 1 on kz = 0, 1/2 on the cone |kz| = kr / strength, 0 on kr = 0 off kz = 0, and it
    depends on the ratio of slice spacing to pixel only."""
    # kz = 1 / (4 dz) at index 1 of 4 slices; kx = 1 / (8 px) at index 1 of 8 rows
    dz, px = 2.0, 1.0
    strength = (1 / (8 * px)) / (1 / (4 * dz))  # puts (kz[1], kx[1]) on the cone
    w = np.asarray(Depth((4, 8, 8), dz, px, strength=strength).weight())
    assert np.all(w[0] == 1.0)
    assert np.all(w[1:, 0, 0] == 0.0)
    assert abs(w[1, 1, 0] - 0.5) < 1e-7 and abs(w[1, 0, 1] - 0.5) < 1e-7
    assert np.all((w >= 0) & (w <= 1))
    scaled = Depth((4, 8, 8), 1e-9 * dz, 1e-9 * px, strength=strength).weight()
    assert_close(scaled, w, scale=1.0)


# --- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("phase_only", [False, True])
def test_strength_zero_is_the_unfiltered_stack_exactly(phase_only):
    phase, log_amplitude = normal(0, (3, 6, 5)), normal(1, (3, 6, 5), 0.1)
    p = Depth(
        (3, 6, 5), 1.0, 1.0, strength=0.0, phase_only=phase_only,
        phase_initializer=lambda s: phase, log_amplitude_initializer=lambda s: log_amplitude,
    )  # fmt: skip
    # the phase factor is ptyrax_core.expi (exp(1j x) to float32 rounding), the same here
    expi = ptyrax_core.expi(phase)
    expected = expi if phase_only else jnp.exp(log_amplitude) * expi
    assert jnp.array_equal(p(), expected)
    assert jnp.array_equal(jax.jit(lambda q: q())(p), expected)
    assert jnp.array_equal(p.weight(), jnp.ones((3, 6, 5)))
    # a vanishing strength passes every frequency but the line kr = 0 off kz = 0, where W is
    # 0 for any strength > 0: each slice's mean becomes the stack's (a constant phase a
    # slice, which no measurement sees); W = 1 - O(strength^2) elsewhere
    q = Depth(
        (3, 6, 5), 1.0, 1.0, strength=1e-6, phase_only=phase_only,
        phase_initializer=lambda s: phase, log_amplitude_initializer=lambda s: log_amplitude,
    )  # fmt: skip

    def means_shared(x):
        return x - jnp.mean(x, axis=(1, 2), keepdims=True) + jnp.mean(x)

    shared = jnp.exp(1j * means_shared(phase))
    if not phase_only:
        shared = shared * jnp.exp(means_shared(log_amplitude))
    assert_close(q(), shared, terms=fft_terms((3, 6, 5)), scale=float(jnp.max(jnp.abs(shared))))


@pytest.mark.parametrize("phase_only", [False, True])
def test_a_stack_constant_along_the_depth_passes_unchanged(phase_only):
    shape = (4, 12, 10)
    lateral = normal(2, (1, 12, 10), 0.8)  # any lateral content, every kr
    amplitude = normal(3, (1, 12, 10), 0.2)
    p = Depth(
        shape, 3e-10, 0.3e-10, strength=100.0, phase_only=phase_only,
        phase_initializer=lambda s: jnp.broadcast_to(lateral, s),
        log_amplitude_initializer=lambda s: jnp.broadcast_to(amplitude, s),
    )  # fmt: skip
    phase, log_amplitude = p.filtered()
    terms = fft_terms(shape)
    assert_close(phase, jnp.broadcast_to(lateral, shape), terms=terms, scale=3.0)
    expected = jnp.exp(1j * lateral) if phase_only else jnp.exp(amplitude + 1j * lateral)
    assert_close(p(), jnp.broadcast_to(expected, shape), terms=terms + 2, scale=3.0)
    if not phase_only:
        assert_close(log_amplitude, jnp.broadcast_to(amplitude, shape), terms=terms, scale=3.0)


@pytest.mark.parametrize(
    ("m", "n", "damped"), [(1, 1, True), (2, 1, True), (2, 0, True), (1, 3, False)]
)
def test_a_component_fast_along_the_depth_is_attenuated_by_the_weight(m, n, damped):
    """cos(2 pi (m z / S + n x / R)) holds the frequencies +-(kz, kx) = +-(m / (S dz),
    n / (R dx)): F multiplies it by W(kz, kx), the documented factor."""
    shape, dz, dx, strength = (4, 16, 8), 2e-10, 0.25e-10, 3.0
    z = np.arange(4)[:, None, None]
    x = np.arange(16)[None, :, None]
    wave = np.cos(2 * np.pi * (m * z / 4 + n * x / 16)) * np.ones(shape)
    kz, kx = (m if m <= 2 else m - 4) / (4 * dz), n / (16 * dx)
    factor = 0.0 if n == 0 else 1 - math.atan((strength * abs(kz) / kx) ** 2) / (math.pi / 2)
    p = Depth(
        shape, dz, dx, strength=strength,
        phase_initializer=lambda s: 0.5 * jnp.asarray(wave, jnp.float32),
        log_amplitude_initializer=lambda s: -0.2 * jnp.asarray(wave, jnp.float32),
    )  # fmt: skip
    phase, log_amplitude = p.filtered()
    terms = fft_terms(shape)
    assert_close(phase, 0.5 * factor * wave, terms=terms, scale=0.5)
    assert_close(log_amplitude, -0.2 * factor * wave, terms=terms, scale=0.5)
    out = p()
    assert_close(jnp.angle(out), 0.5 * factor * wave, terms=terms + 2, scale=1.0)
    assert_close(jnp.log(jnp.abs(out)), -0.2 * factor * wave, terms=terms + 2, scale=1.0)
    # fast along the depth for its lateral frequency (strength kz / kx >= 2): damped to a third
    # or less; lateral-fast (strength kz / kx = 1/2): mostly kept
    assert factor < 0.35 if damped else factor > 0.8


# --- gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("phase_only", [False, True])
def test_gradients_match_finite_differences_in_float64(phase_only):
    shape = (3, 6, 5)
    with jax.enable_x64(True):
        p = Depth(
            shape, 2e-10, (0.4e-10, 0.5e-10), strength=2.0, phase_only=phase_only,
            phase_initializer=lambda s: normal(4, s, 0.5, jnp.float64),
            log_amplitude_initializer=lambda s: normal(5, s, 0.1, jnp.float64),
        )  # fmt: skip
        assert p().dtype == jnp.complex128
        target = jnp.exp(1j * normal(6, shape, 1.0, jnp.float64))
        weights = normal(7, shape, 1.0, jnp.float64) + 1j * normal(8, shape, 1.0, jnp.float64)

        def loss(q):
            out = q()
            return jnp.sum(jnp.abs(out - target) ** 2) + jnp.sum(jnp.real(jnp.conj(weights) * out))

        grads = jax.grad(loss)(p)
        assert grads._weight is None or not jnp.any(grads._weight)  # frozen
        names = ["phase"] if phase_only else ["phase", "log_amplitude"]
        for i, name in enumerate(names):
            direction = normal(10 + i, shape, 1.0, jnp.float64)
            h = 1e-6

            def at(t, name=name, direction=direction):
                value = getattr(p, name) + t * direction
                return loss(jax.tree_util.tree_map(lambda x: x, _replace(p, name, value)))

            numeric = (at(h) - at(-h)) / (2 * h)
            analytic = jnp.sum(getattr(grads, name) * direction)
            # central differences: O(h^2) truncation and eps * |loss| / h rounding, both
            # below 1e-8 here against a derivative of order 10
            assert abs(float(numeric - analytic)) <= 1e-7 * max(1.0, abs(float(analytic)))


def _replace(p, name, value):
    import equinox as eqx

    return eqx.tree_at(lambda q: getattr(q, name), p, value)


# --- with_array -------------------------------------------------------------------------------


@pytest.mark.parametrize("phase_only", [False, True])
def test_with_array_reproduces_a_depth_smooth_guess(phase_only):
    shape = (4, 10, 12)
    z = jnp.arange(4.0)[:, None, None]
    lateral = normal(20, (1, 10, 12), 0.6)
    lateral = lateral - jnp.mean(lateral)  # the same mean (0) in every slice
    # slow along the depth (a small kz on a lateral pattern): W near 1 but not 1
    phase = lateral * (1 + 0.1 * jnp.cos(2 * jnp.pi * z / 4))
    amplitude = 1.0 if phase_only else jnp.exp(0.3 * lateral)
    guess = amplitude * jnp.exp(1j * phase)
    p = Depth(shape, 2e-10, 0.5e-10, strength=1.5, phase_only=phase_only)
    q = p.with_array(guess)
    assert type(q) is Depth and q.phase.dtype == jnp.float32
    # its means per slice are the same (0): nothing on the line W = 0. Three FFT pairs (the
    # output, the inverse, the copy's output), and the inverse divides rounding by W >= 0.12
    w = np.asarray(p.weight())
    smallest = float(np.min(w[w > 0]))
    assert smallest > 0.12
    tol = 3 * fft_terms(shape) / smallest
    assert_close(q(), guess, terms=tol, scale=float(jnp.max(jnp.abs(guess))))
    jitted = jax.jit(lambda p, t: p.with_array(t))(p, guess)
    assert_close(jitted(), guess, terms=tol, scale=float(jnp.max(jnp.abs(guess))))


def test_with_array_of_the_engine_guess_gives_zero_free_arrays():
    p = Depth((3, 8, 8), 1e-6, 1.8e-7, strength=4.0, phase_initializer=lambda s: jnp.ones(s))
    q = p.with_array(np.ones((3, 8, 8), np.complex64))
    assert not jnp.any(q.phase) and not jnp.any(q.log_amplitude)
    assert jnp.array_equal(q(), jnp.ones((3, 8, 8), jnp.complex64))


def test_with_array_projects_each_slice_s_mean_phase_onto_the_stack_s():
    """A constant phase a slice is on the line kr = 0, where W = 0: the copy has their mean."""
    offsets = jnp.array([0.3, -0.2, 0.5])
    guess = jnp.exp(1j * offsets)[:, None, None] * jnp.ones((3, 6, 6))
    q = Depth((3, 6, 6), 1.0, 1.0, strength=1.0, phase_only=True).with_array(guess)
    assert_close(
        q(), jnp.full((3, 6, 6), jnp.exp(1j * jnp.mean(offsets))), terms=fft_terms((3, 6, 6))
    )


def test_with_array_refuses_a_wrong_shape_by_name():
    p = Depth((3, 4, 4), 1.0, 1.0)
    with pytest.raises(ValueError, match=r"target must have shape \(3, 4, 4\).*got shape \(4, 4\)"):
        p.with_array(jnp.ones((4, 4)))


# --- bad input, one line naming the argument --------------------------------------------------

GOOD = {"output_shape": (3, 4, 4), "slice_spacing": 1e-9, "pixel_size": 1e-10}


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"output_shape": (4, 4)}, ValueError, r"output_shape must be \(slices, rows, columns\)"),
        ({"output_shape": (0, 4, 4)}, ValueError, "output_shape must be"),
        ({"slices": 0}, ValueError, "slices must be a positive integer; got 0"),
        ({"slices": -2}, ValueError, "slices must be a positive integer"),
        ({"slices": 2}, ValueError, r"slices is 2, but output_shape \(3, 4, 4\) has 3"),
        ({"slice_spacing": 0.0}, ValueError, "slice_spacing must be positive"),
        ({"slice_spacing": -1e-9}, ValueError, "slice_spacing must be positive"),
        ({"slice_spacing": float("nan")}, ValueError, "slice_spacing must be a finite"),
        ({"pixel_size": 0.0}, ValueError, "pixel_size must be positive"),
        ({"pixel_size": (1e-10, -1e-10)}, ValueError, "pixel_size must be positive"),
        ({"pixel_size": (1e-10, 1e-10, 1e-10)}, ValueError, "pixel_size must be one number"),
        ({"strength": -1.0}, ValueError, "strength must be at least 0"),
        ({"strength": float("inf")}, ValueError, "strength must be a finite real number"),
        ({"strength": float("nan")}, ValueError, "strength must be a finite real number"),
        ({"strength": "strong"}, TypeError, "strength must be a real number"),
        ({"phase_only": "yes"}, TypeError, "phase_only must be True or False"),
        ({"phase_initializer": jnp.zeros((3, 4, 4))}, TypeError, "phase_initializer must be"),
    ],
)
def test_bad_input_is_one_line_naming_the_argument(change, error, message):
    with pytest.raises(error, match=message) as info:
        Depth(**{**GOOD, **change})
    assert "\n" not in str(info.value)


# --- the registry, the kit, jit ---------------------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("depth_filtered") is Depth
    from ptyrax_core.parametrizations import DepthFilteredArrayParametrization

    assert DepthFilteredArrayParametrization is Depth


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


def test_the_configuration_is_static_and_the_weight_frozen():
    p = Depth((3, 4, 4), 1e-9, 1e-10, strength=2.0)
    leaves = jax.tree_util.tree_leaves(p)
    assert len(leaves) == 3  # phase, log_amplitude, the weight
    assert Depth.frozen_fields == ("_weight",)
    q = Depth((3, 4, 4), 1e-9, 1e-10, strength=3.0)
    # another strength is another static configuration: jit compiles it anew
    assert jax.tree_util.tree_structure(p) != jax.tree_util.tree_structure(q)
    assert p.slices == 3 and p.pixel_size == (1e-10, 1e-10)
    assert rounding_tolerance(jnp.float32) > 0
