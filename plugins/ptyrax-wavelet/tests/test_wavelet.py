import jax
import jax.numpy as jnp
import numpy as np
import pytest
import pywt
from jaxtyping import TypeCheckError
from ptyrax_wavelet import WaveletArrayParametrization, wavelet_decompose, wavelet_reconstruct
from ptyrax_wavelet._dwt import filter_bank, max_level

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization

RNG = np.random.default_rng(0)


def terms(wavelet, level, transforms=1):
    """Roundings per value in `transforms` wavelet transforms: 2 * level passes each (two axes a
    level) of a len(filter)-tap sum. A tap rounds three times, half an ulp each (the tap to the
    dtype, the product, the add), and a pass scales earlier errors by sum |h| < 2.6: the 8 ulps
    that rounding_tolerance allows a term cover that (measured errors stay 40 times below)."""
    return transforms * 2 * level * len(filter_bank(wavelet)[0])


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
    assert_close(p.wavelet_coefficients, expected, terms=terms(wavelet, level))
    out = p()
    assert out.shape == shape == p.shape
    # perfect reconstruction, to the rounding of two float32 transforms
    assert_close(out, x, terms=terms(wavelet, level, 2))


def test_reconstruction_matches_pywavelets_for_new_coefficients():
    # Not only the round trip: arbitrary coefficients reconstruct as pywt.waverec2 does.
    p = WaveletArrayParametrization(jnp.zeros((20, 24)), wavelet="sym3", level=2)
    c = RNG.normal(size=(20, 24)).astype(np.float32)
    p = jax.tree_util.tree_map(lambda _: jnp.asarray(c), p)
    _, slices = pywt.coeffs_to_array(pywt.wavedec2(np.zeros((20, 24)), "sym3", "periodization", 2))
    coeffs = pywt.array_to_coeffs(c.astype(np.float64), slices, output_format="wavedec2")
    expected = pywt.waverec2(coeffs, "sym3", mode="periodization")  # float64
    assert_close(p(), expected, terms=terms("sym3", 2))


def test_default_is_one_level_haar():
    p = WaveletArrayParametrization(jnp.array([[1.0, 2.0], [3.0, 4.0]]))
    assert (p.wavelet, p.level) == ("haar", 1)
    # the sum / 2, then the row, column and diagonal differences / 2
    assert_close(
        p.wavelet_coefficients, np.array([[5.0, -1.0], [-2.0, 0.0]]), terms=terms("haar", 1)
    )


def test_complex_transforms_real_and_imaginary_parts_alike():
    x = (RNG.normal(size=(12, 10)) + 1j * RNG.normal(size=(12, 10))).astype(np.complex64)
    p = WaveletArrayParametrization(x, wavelet="db2", level=1)
    c = p.wavelet_coefficients
    assert c.dtype == jnp.complex64
    assert_close(jnp.real(c), _pywt_coefficients(x.real, "db2", 1), terms=terms("db2", 1))
    assert_close(jnp.imag(c), _pywt_coefficients(x.imag, "db2", 1), terms=terms("db2", 1))
    assert p().dtype == jnp.complex64
    assert_close(p(), x, terms=terms("db2", 1, 2))


def test_leading_batch_dimensions():
    x = RNG.normal(size=(2, 3, 16, 13)).astype(np.float32)
    p = WaveletArrayParametrization(x, wavelet="db2", level=2)
    assert p.wavelet_coefficients.shape == (2, 3, 16, 16)
    assert_close(p.wavelet_coefficients, _pywt_coefficients(x, "db2", 2), terms=terms("db2", 2))
    assert p().shape == (2, 3, 16, 13)
    assert_close(p(), x, terms=terms("db2", 2, 2))
    # each image is transformed on its own (two float32 transforms, maybe vectorized otherwise)
    single = WaveletArrayParametrization(x[1, 2], wavelet="db2", level=2)
    assert_close(
        p.wavelet_coefficients[1, 2], single.wavelet_coefficients, terms=terms("db2", 2, 2)
    )


@pytest.mark.parametrize(("wavelet", "level"), [("haar", 3), ("db4", 1), ("coif2", 1)])
def test_orthonormal_for_sizes_divisible_by_two_to_the_level(wavelet, level):
    # A property of the transform, not of float32: checked in float64, to its rounding.
    x, y = RNG.normal(size=(2, 24, 32))
    with jax.enable_x64(True):
        cx = WaveletArrayParametrization(x, wavelet=wavelet, level=level).wavelet_coefficients
        cy = WaveletArrayParametrization(y, wavelet=wavelet, level=level).wavelet_coefficients
        assert cx.dtype == jnp.float64
        sums = terms(wavelet, level) + x.size  # the transform's roundings, then a sum of 768
        assert_close(jnp.linalg.norm(cx), np.linalg.norm(x), terms=sums)
        # a sum of products: relative to sum |x y| <= |x| |y|
        scale = float(np.linalg.norm(x) * np.linalg.norm(y))
        assert_close(jnp.vdot(cx, cy), np.vdot(x, y), terms=sums, scale=scale)


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
    # three transforms in the gradient (p() and its transpose), one in the reference
    assert_close(grad.wavelet_coefficients, expected, terms=terms("db2", 2, 4))


def test_gradient_with_padding_is_the_transform_of_the_zero_padded_gradient():
    x = RNG.normal(size=(7, 6)).astype(np.float32)
    p = WaveletArrayParametrization(x, wavelet="haar", level=2)  # padded to 8 x 8
    grad = jax.grad(lambda p: jnp.sum(p() * x))(p).wavelet_coefficients
    expected = wavelet_decompose(jnp.pad(x, ((0, 1), (0, 2))), "haar", level=2)
    assert_close(grad, expected, terms=terms("haar", 2, 2))  # one transform each side


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

    # one transform each side, in float32 both: twice its rounding
    tangent = jax.jit(lambda p, v: jax.jvp(lambda p: p(), (p,), (v,))[1])(p, v)
    assert_close(tangent, jax.jit(plain)(v.wavelet_coefficients), terms=terms("sym3", 1, 2))
    cotangent = jax.jit(lambda p, t: jax.vjp(lambda p: p(), p)[1](t)[0])(p, t)
    plain_cotangent = jax.jit(lambda c, t: jax.vjp(plain, c)[1](t)[0])(p.wavelet_coefficients, t)
    assert_close(cotangent.wavelet_coefficients, plain_cotangent, terms=terms("sym3", 1, 2))
    # forward over reverse: loss = ||p()||^2 on an unpadded size has the Hessian 2 I
    q = WaveletArrayParametrization(RNG.normal(size=(2, 8, 12)), wavelet="haar", level=2)
    u = jax.tree_util.tree_map(lambda c: jnp.asarray(RNG.normal(size=c.shape), c.dtype), q)
    grad = jax.grad(lambda q: jnp.sum(q() ** 2))
    _, hvp = jax.jit(lambda q, u: jax.jvp(grad, (q,), (u,)))(q, u)
    # the hvp reconstructs and decomposes: a round trip of u
    assert_close(hvp.wavelet_coefficients, 2 * u.wavelet_coefficients, terms=terms("haar", 2, 2))
    # and through the transform functions
    g = jax.jit(
        jax.grad(lambda y: jnp.vdot(wavelet_decompose(y, "haar", 2), u.wavelet_coefficients))
    )
    expected = wavelet_reconstruct(u.wavelet_coefficients, "haar", 2)
    assert_close(g(jnp.zeros((2, 8, 12))), expected, terms=terms("haar", 2, 2))


def test_resolves_under_jit_and_vmap_over_an_index():
    stack = RNG.normal(size=(3, 9, 8)).astype(np.float32)
    model = {"obj": ptyrax_core.IndexSliceParameter(WaveletArrayParametrization(stack, "db2"))}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["obj"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.array([2, 0]))
    assert_close(out, stack[[2, 0]], terms=terms("db2", 1, 2))  # a round trip
    resolved = jax.jit(ptyrax_core.resolve_parametrizations)(
        {"obj": WaveletArrayParametrization(stack)}
    )
    assert_close(resolved["obj"], stack, terms=terms("haar", 1, 2))


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
    assert_close(f(a), np.ones((6, 8)), terms=terms("sym2", 1, 2))  # round trips
    assert_close(f(b), np.full((6, 8), 2.0), terms=terms("sym2", 1, 2))
    assert len(traces) == 1  # configuration is static and hashable: one trace for both
    assert (b.wavelet, b.level, b.padded_shape, b.output_shape) == ("sym2", 1, (6, 8), (6, 8))


def test_numpy_integer_arrays_and_initializers():
    p = WaveletArrayParametrization(np.arange(16).reshape(4, 4))
    assert isinstance(p.wavelet_coefficients, jax.Array)
    assert p.wavelet_coefficients.dtype == jnp.float32
    assert_close(p(), np.arange(16.0).reshape(4, 4), terms=terms("haar", 1, 2))  # round trips
    q = WaveletArrayParametrization(lambda: jnp.full((4, 6), 3.0), level=2)
    assert q.output_shape == (4, 6)
    assert_close(q(), np.full((4, 6), 3.0), terms=terms("haar", 2, 2))


def test_functions_match_pywavelets_and_invert_each_other():
    x = RNG.normal(size=(2, 20, 32)).astype(np.float32)
    c = wavelet_decompose(x, "coif1", level=2)
    assert_close(c, _pywt_coefficients(x, "coif1", 2), terms=terms("coif1", 2))
    assert_close(wavelet_reconstruct(c, "coif1", level=2), x, terms=terms("coif1", 2, 2))
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
    expected = _pywt_coefficients(target, wavelet, level)
    assert_close(q.wavelet_coefficients, expected, terms=terms(wavelet, level))
    assert_close(q(), target, terms=terms(wavelet, level, 2))
    jitted = jax.jit(lambda p, t: p.with_array(t))(p, target)  # two float32 transforms
    assert_close(
        jitted.wavelet_coefficients, q.wavelet_coefficients, terms=terms(wavelet, level, 2)
    )


def test_with_array_is_linear_and_its_gradient_is_the_transform():
    p = WaveletArrayParametrization(jnp.zeros((8, 8)), wavelet="db2")
    target = jnp.asarray(RNG.standard_normal((8, 8)), jnp.float32)
    weights = jnp.asarray(RNG.standard_normal((8, 8)), jnp.float32)
    # orthonormal: <W, decompose(t)> has gradient reconstruct(W) with respect to t
    grad = jax.grad(lambda t: jnp.sum(weights * p.with_array(t).wavelet_coefficients))(target)
    assert_close(grad, wavelet_reconstruct(weights, "db2", 1), terms=terms("db2", 1, 2))


def test_with_array_dtypes_and_bad_targets():
    z = WaveletArrayParametrization(jnp.ones((4, 4), jnp.complex64))
    target = np.arange(16.0).reshape(4, 4)
    assert z.with_array(target).wavelet_coefficients.dtype == jnp.complex64
    assert_close(z.with_array(target)(), target, terms=terms("haar", 1, 2))
    real = WaveletArrayParametrization(jnp.ones((4, 4)))
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is fl"):
        real.with_array(target * 1j)
    with pytest.raises(ValueError, match=r"target must have shape \(4, 4\).*got shape \(4, 5\)"):
        real.with_array(jnp.ones((4, 5)))
    with pytest.raises(TypeError, match="target must be an array"):
        real.with_array("image")
