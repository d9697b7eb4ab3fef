import jax
import jax.numpy as jnp
import numpy as np
import pytest
import pywt
from jaxtyping import TypeCheckError
from ptyrax_wavelet import WaveletArrayParametrization, wavelet_decompose, wavelet_reconstruct
from ptyrax_wavelet._dwt import filter_bank, max_level

import ptyrax_core
from ptyrax_core.testing import check_parametrization

RNG = np.random.default_rng(0)


def _pywt_coefficients(x, wavelet, level):
    """The oracle: PyWavelets on x padded at its end by edge values to multiples of 2**level."""
    block = 2**level
    pad = [(0, 0)] * (x.ndim - 2) + [(0, -n % block) for n in x.shape[-2:]]
    padded = np.pad(np.asarray(x, np.float64), pad, mode="edge")
    coeffs = pywt.wavedec2(padded, wavelet, mode="periodization", level=level, axes=(-2, -1))
    return pywt.coeffs_to_array(coeffs, axes=(-2, -1))[0]


def test_stored_filters_are_pywavelets_for_every_orthogonal_wavelet():
    expected = {n for family in ("haar", "db", "sym", "coif") for n in pywt.wavelist(family)}
    assert set(WaveletArrayParametrization.supported_wavelets) == expected
    for name in sorted(expected):
        ours = filter_bank(name)
        theirs = pywt.Wavelet(name).filter_bank  # dec_lo, dec_hi, rec_lo, rec_hi
        for mine, ref in zip(ours, theirs, strict=True):
            assert np.array_equal(np.array(mine), np.array(ref)), name


def test_max_level_is_pywavelets_dwt_max_level():
    for name in ("haar", "db2", "sym5", "coif3", "db38"):
        for size in (*range(1, 70), 127, 128, 129, 1000, 1024):
            assert max_level(size, name) == pywt.dwt_max_level(size, name), (name, size)


@pytest.mark.parametrize(
    ("wavelet", "level", "shape"),
    [
        ("haar", 1, (8, 8)),
        ("haar", 3, (24, 40)),  # non-square
        ("haar", 2, (7, 5)),  # odd, padded to 8 x 8
        ("db2", 2, (16, 16)),
        ("db3", 1, (13, 20)),
        ("sym4", 2, (30, 33)),
        ("coif1", 2, (24, 21)),
        ("db10", 1, (40, 38)),  # a long filter, at its maximum level
    ],
)
def test_coefficients_match_pywavelets_and_reconstruct(wavelet, level, shape):
    x = RNG.normal(size=shape).astype(np.float32)
    p = WaveletArrayParametrization(x, wavelet=wavelet, level=level)
    expected = _pywt_coefficients(x, wavelet, level)
    assert p.wavelet_coefficients.shape == expected.shape == p.padded_shape
    assert p.wavelet_coefficients.dtype == jnp.float32
    np.testing.assert_allclose(p.wavelet_coefficients, expected, atol=2e-5)
    out = p()
    assert out.shape == shape == p.shape
    np.testing.assert_allclose(out, x, atol=2e-5)  # perfect reconstruction, float32 round-off


def test_reconstruction_matches_pywavelets_for_new_coefficients():
    # Not only the round trip: arbitrary coefficients reconstruct as pywt.waverec2 does.
    p = WaveletArrayParametrization(jnp.zeros((20, 24)), wavelet="sym3", level=2)
    c = RNG.normal(size=(20, 24)).astype(np.float32)
    p = jax.tree_util.tree_map(lambda _: jnp.asarray(c), p)
    _, slices = pywt.coeffs_to_array(pywt.wavedec2(np.zeros((20, 24)), "sym3", "periodization", 2))
    coeffs = pywt.array_to_coeffs(c.astype(np.float64), slices, output_format="wavedec2")
    np.testing.assert_allclose(p(), pywt.waverec2(coeffs, "sym3", mode="periodization"), atol=2e-5)


def test_default_is_one_level_haar():
    p = WaveletArrayParametrization(jnp.array([[1.0, 2.0], [3.0, 4.0]]))
    assert (p.wavelet, p.level) == ("haar", 1)
    # the sum / 2, then the row, column and diagonal differences / 2
    np.testing.assert_allclose(p.wavelet_coefficients, [[5.0, -1.0], [-2.0, 0.0]], atol=1e-6)


def test_complex_transforms_real_and_imaginary_parts_alike():
    x = (RNG.normal(size=(12, 10)) + 1j * RNG.normal(size=(12, 10))).astype(np.complex64)
    p = WaveletArrayParametrization(x, wavelet="db2", level=1)
    c = p.wavelet_coefficients
    assert c.dtype == jnp.complex64
    np.testing.assert_allclose(jnp.real(c), _pywt_coefficients(x.real, "db2", 1), atol=2e-5)
    np.testing.assert_allclose(jnp.imag(c), _pywt_coefficients(x.imag, "db2", 1), atol=2e-5)
    assert p().dtype == jnp.complex64
    np.testing.assert_allclose(p(), x, atol=2e-5)


def test_leading_batch_dimensions():
    x = RNG.normal(size=(2, 3, 16, 13)).astype(np.float32)
    p = WaveletArrayParametrization(x, wavelet="db2", level=2)
    assert p.wavelet_coefficients.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(p.wavelet_coefficients, _pywt_coefficients(x, "db2", 2), atol=2e-5)
    assert p().shape == (2, 3, 16, 13)
    np.testing.assert_allclose(p(), x, atol=2e-5)
    # each image is transformed on its own
    single = WaveletArrayParametrization(x[1, 2], wavelet="db2", level=2)
    np.testing.assert_allclose(p.wavelet_coefficients[1, 2], single.wavelet_coefficients, atol=1e-6)


@pytest.mark.parametrize(("wavelet", "level"), [("haar", 3), ("db4", 1), ("coif2", 1)])
def test_orthonormal_for_sizes_divisible_by_two_to_the_level(wavelet, level):
    x, y = RNG.normal(size=(2, 24, 32)).astype(np.float32)
    cx = WaveletArrayParametrization(x, wavelet=wavelet, level=level).wavelet_coefficients
    cy = WaveletArrayParametrization(y, wavelet=wavelet, level=level).wavelet_coefficients
    assert jnp.linalg.norm(cx) == pytest.approx(np.linalg.norm(x), rel=1e-5)
    assert jnp.vdot(cx, cy) == pytest.approx(np.vdot(x, y), rel=1e-4, abs=1e-3)


def test_gradient_reaches_the_coefficients_under_jit():
    x = RNG.normal(size=(16, 16)).astype(np.float32)
    target = RNG.normal(size=(16, 16)).astype(np.float32)
    p = WaveletArrayParametrization(x, wavelet="db2", level=2)

    def loss(p):
        return jnp.sum((p() - target) ** 2)

    grad = jax.jit(jax.grad(loss))(p)
    assert type(grad) is WaveletArrayParametrization
    # orthonormal: the gradient in coefficient space is the transform of the array's gradient
    expected = wavelet_decompose(2 * (x - target), "db2", level=2)
    np.testing.assert_allclose(grad.wavelet_coefficients, expected, atol=1e-4)


def test_gradient_with_padding_is_the_transform_of_the_zero_padded_gradient():
    x = RNG.normal(size=(7, 6)).astype(np.float32)
    p = WaveletArrayParametrization(x, wavelet="haar", level=2)  # padded to 8 x 8
    grad = jax.grad(lambda p: jnp.sum(p() * x))(p).wavelet_coefficients
    expected = wavelet_decompose(jnp.pad(x, ((0, 1), (0, 2))), "haar", level=2)
    np.testing.assert_allclose(grad, expected, atol=1e-5)


def test_derivatives_are_exact_in_forward_and_reverse_mode_and_compose():
    # Each transform's derivative is declared as the transpose of the other: compare with plain
    # autodiff of the transform's own code, for a complex array and padding.
    from ptyrax_wavelet._dwt import _reconstruct

    x = (RNG.normal(size=(2, 12, 11)) + 1j * RNG.normal(size=(2, 12, 11))).astype(np.complex64)
    p = WaveletArrayParametrization(x, wavelet="sym3", level=1)
    v = jax.tree_util.tree_map(lambda c: jnp.asarray(RNG.normal(size=c.shape), c.dtype), p)
    t = jnp.asarray(RNG.normal(size=x.shape), jnp.complex64)

    def plain(c):
        return _reconstruct(c, "sym3", 1)[..., :12, :11]

    tangent = jax.jit(lambda p, v: jax.jvp(lambda p: p(), (p,), (v,))[1])(p, v)
    np.testing.assert_allclose(tangent, jax.jit(plain)(v.wavelet_coefficients), atol=1e-5)
    cotangent = jax.jit(lambda p, t: jax.vjp(lambda p: p(), p)[1](t)[0])(p, t)
    plain_cotangent = jax.jit(lambda c, t: jax.vjp(plain, c)[1](t)[0])(p.wavelet_coefficients, t)
    np.testing.assert_allclose(cotangent.wavelet_coefficients, plain_cotangent, atol=1e-5)
    # forward over reverse: loss = ||p()||^2 on an unpadded size has the Hessian 2 I
    q = WaveletArrayParametrization(RNG.normal(size=(2, 8, 12)), wavelet="haar", level=2)
    u = jax.tree_util.tree_map(lambda c: jnp.asarray(RNG.normal(size=c.shape), c.dtype), q)
    grad = jax.grad(lambda q: jnp.sum(q() ** 2))
    _, hvp = jax.jit(lambda q, u: jax.jvp(grad, (q,), (u,)))(q, u)
    np.testing.assert_allclose(hvp.wavelet_coefficients, 2 * u.wavelet_coefficients, atol=1e-4)
    # and through the transform functions
    g = jax.jit(
        jax.grad(lambda y: jnp.vdot(wavelet_decompose(y, "haar", 2), u.wavelet_coefficients))
    )
    np.testing.assert_allclose(
        g(jnp.zeros((2, 8, 12))), wavelet_reconstruct(u.wavelet_coefficients, "haar", 2), atol=1e-5
    )


def test_resolves_under_jit_and_vmap_over_an_index():
    stack = RNG.normal(size=(3, 9, 8)).astype(np.float32)
    model = {"obj": ptyrax_core.IndexSliceParameter(WaveletArrayParametrization(stack, "db2"))}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["obj"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.array([2, 0]))
    np.testing.assert_allclose(out, stack[[2, 0]], atol=2e-5)
    resolved = jax.jit(ptyrax_core.resolve_parametrizations)(
        {"obj": WaveletArrayParametrization(stack)}
    )
    np.testing.assert_allclose(resolved["obj"], stack, atol=2e-5)


def test_plain_jit_takes_it_and_only_the_coefficients_are_leaves():
    traces = []

    @jax.jit
    def f(p):
        traces.append(None)
        return p()

    a = WaveletArrayParametrization(jnp.ones((6, 8)), wavelet="sym2", level=1)
    b = WaveletArrayParametrization(2 * jnp.ones((6, 8)), wavelet="sym2", level=1)
    (leaf,) = jax.tree_util.tree_leaves(a)
    assert leaf is a.wavelet_coefficients
    np.testing.assert_allclose(f(a), 1.0, atol=1e-5)
    np.testing.assert_allclose(f(b), 2.0, atol=1e-5)
    assert len(traces) == 1  # configuration is static and hashable: one trace for both
    assert (b.wavelet, b.level, b.padded_shape, b.output_shape) == ("sym2", 1, (6, 8), (6, 8))


def test_numpy_integer_arrays_and_initializers():
    p = WaveletArrayParametrization(np.arange(16).reshape(4, 4))
    assert isinstance(p.wavelet_coefficients, jax.Array)
    assert p.wavelet_coefficients.dtype == jnp.float32
    np.testing.assert_allclose(p(), np.arange(16).reshape(4, 4), atol=1e-5)
    q = WaveletArrayParametrization(lambda: jnp.full((4, 6), 3.0), level=2)
    assert q.output_shape == (4, 6)
    np.testing.assert_allclose(q(), 3.0, atol=1e-5)


def test_functions_match_pywavelets_and_invert_each_other():
    x = RNG.normal(size=(2, 20, 32)).astype(np.float32)
    c = wavelet_decompose(x, "coif1", level=2)
    np.testing.assert_allclose(c, _pywt_coefficients(x, "coif1", 2), atol=2e-5)
    np.testing.assert_allclose(wavelet_reconstruct(c, "coif1", level=2), x, atol=2e-5)
    with pytest.raises(ValueError, match=r"x has size 16x30, not divisible by 2 \*\* level = 4"):
        wavelet_decompose(jnp.ones((16, 30)), level=2)
    with pytest.raises(ValueError, match="coefficients must have at least 2 dimensions"):
        wavelet_reconstruct(jnp.ones(4))
    with pytest.raises(ValueError, match="level=5 is too deep"):
        wavelet_decompose(jnp.ones((16, 16)), level=5)
    with pytest.raises(TypeCheckError, match="x"):
        wavelet_decompose([[1.0, 2.0]])


def test_registered():
    assert ptyrax_core.registry.get("wavelet") is WaveletArrayParametrization
    from ptyrax_core.parametrizations import WaveletArrayParametrization as exported

    assert exported is WaveletArrayParametrization
    plugin = next(p for p in ptyrax_core.registry.plugins() if p.distribution == "ptyrax-wavelet")
    assert plugin.error is None
    assert set(plugin.parametrizations) == {"wavelet"}


def test_bad_wavelet_names_it_and_what_is_supported():
    for name in ("foo", "bior2.2", "rbio1.3", "dmey", "HAAR"):
        with pytest.raises(ValueError, match=rf"wavelet='{name}' is not supported.*haar, db1"):
            WaveletArrayParametrization(jnp.ones((8, 8)), wavelet=name)
    with pytest.raises(TypeCheckError, match="wavelet"):
        WaveletArrayParametrization(jnp.ones((8, 8)), wavelet=pywt.Wavelet("haar"))


def test_bad_level_names_it_and_the_maximum():
    with pytest.raises(ValueError, match=r"level=4 is too deep .* 8x12 .* the maximum is 3"):
        WaveletArrayParametrization(jnp.ones((8, 12)), level=4)
    # db2 has 4 taps: floor(log2(12 / 3)) = 2
    with pytest.raises(ValueError, match=r"level=3 is too deep .* 'db2' .* the maximum is 2"):
        WaveletArrayParametrization(jnp.ones((12, 40)), wavelet="db2", level=3)
    with pytest.raises(ValueError, match="the maximum is 0"):
        WaveletArrayParametrization(jnp.ones((1, 8)))
    with pytest.raises(ValueError, match="level must be at least 1; got level=0"):
        WaveletArrayParametrization(jnp.ones((8, 8)), level=0)
    with pytest.raises(TypeError, match="level must be an int; got True"):
        WaveletArrayParametrization(jnp.ones((8, 8)), level=True)
    with pytest.raises(TypeCheckError, match="level"):
        WaveletArrayParametrization(jnp.ones((8, 8)), level=2.0)


def test_bad_data_names_it():
    with pytest.raises(ValueError, match=r"data_or_initializer must have at least 2 dim.*\(8,\)"):
        WaveletArrayParametrization(jnp.ones(8))
    with pytest.raises(ValueError, match="data_or_initializer must have at least 2 dimensions"):
        WaveletArrayParametrization(lambda: jnp.float32(1.0))
    with pytest.raises(TypeCheckError, match="data_or_initializer"):
        WaveletArrayParametrization([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="data_or_initializer must be the array returned"):
        WaveletArrayParametrization(lambda: [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="data_or_initializer: an initializer is called with no"):
        WaveletArrayParametrization(jnp.zeros)


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wavelet", "level", "shape"), [("haar", 1, (8, 8)), ("db2", 2, (2, 13, 14))]
)
def test_with_array_stores_the_coefficients_of_the_target(wavelet, level, shape):
    p = WaveletArrayParametrization(jnp.zeros(shape), wavelet=wavelet, level=level)
    target = RNG.standard_normal(shape).astype(np.float32)
    q = p.with_array(target)
    assert type(q) is WaveletArrayParametrization
    assert (q.wavelet, q.level, q.padded_shape) == (wavelet, level, p.padded_shape)
    assert np.allclose(
        q.wavelet_coefficients, _pywt_coefficients(target, wavelet, level), atol=1e-4
    )
    assert jnp.allclose(q(), target, atol=1e-5)
    jitted = jax.jit(lambda p, t: p.with_array(t))(p, target)
    assert jnp.allclose(jitted.wavelet_coefficients, q.wavelet_coefficients, atol=1e-6)


def test_with_array_is_linear_and_its_gradient_is_the_transform():
    p = WaveletArrayParametrization(jnp.zeros((8, 8)), wavelet="db2")
    target = jnp.asarray(RNG.standard_normal((8, 8)), jnp.float32)
    weights = jnp.asarray(RNG.standard_normal((8, 8)), jnp.float32)
    # orthonormal: <W, decompose(t)> has gradient reconstruct(W) with respect to t
    grad = jax.grad(lambda t: jnp.sum(weights * p.with_array(t).wavelet_coefficients))(target)
    assert jnp.allclose(grad, wavelet_reconstruct(weights, "db2", 1), atol=1e-5)


def test_with_array_dtypes_and_bad_targets():
    z = WaveletArrayParametrization(jnp.ones((4, 4), jnp.complex64))
    target = np.arange(16.0).reshape(4, 4)
    assert z.with_array(target).wavelet_coefficients.dtype == jnp.complex64
    assert jnp.allclose(z.with_array(target)(), target, atol=1e-5)
    real = WaveletArrayParametrization(jnp.ones((4, 4)))
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is fl"):
        real.with_array(target * 1j)
    with pytest.raises(ValueError, match=r"target must have shape \(4, 4\).*got shape \(4, 5\)"):
        real.with_array(jnp.ones((4, 5)))
    with pytest.raises(TypeError, match="target must be an array"):
        real.with_array("image")
