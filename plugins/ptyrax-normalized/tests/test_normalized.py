import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_normalized import (
    NormalizedArrayParametrization,
    NormalizedReferencedArrayParametrization,
    mean_l2_norm,
)

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization

CLASSES = [NormalizedArrayParametrization, NormalizedReferencedArrayParametrization]
DATA = jnp.arange(24.0).reshape(2, 3, 4) - 5.0
# DATA holds small integers: with a scale that is a power of two (2, 4, -0.5), dividing and
# multiplying are exact, and those comparisons are exact. Another scale (3, 5, 18) rounds twice,
# `/ scale` and `* scale`: terms=2.


# --- NormalizedArrayParametrization ---------------------------------------------------------


def test_stores_data_over_scale_and_returns_data():
    p = NormalizedArrayParametrization(DATA, scale=4.0)
    assert jnp.array_equal(p._data, DATA / 4.0)
    assert jnp.array_equal(p(), DATA)
    assert p.scale == 4.0 and type(p._scale) is float
    assert p.output_shape == (2, 3, 4) and p().dtype == jnp.float32
    assert jnp.array_equal(NormalizedArrayParametrization(DATA)(), DATA)


def test_complex_and_integer_and_numpy_data():
    z = (DATA + 1j * DATA[::-1]).astype(jnp.complex64)
    p = NormalizedArrayParametrization(z, scale=-2.0)
    assert p._data.dtype == jnp.complex64 and p().dtype == jnp.complex64
    assert_close(p._data, z / -2.0)  # complex division: one rounding each side
    assert_close(p(), z, terms=2)
    q = NormalizedArrayParametrization(np.arange(6).reshape(2, 3), scale=3)
    assert isinstance(q._data, jax.Array) and jnp.issubdtype(q._data.dtype, jnp.floating)
    assert_close(q(), np.arange(6.0).reshape(2, 3), terms=2)
    assert q.scale == 3.0


def test_per_index_scale_broadcasts_over_trailing_dims():
    scale = jnp.array([2.0, -0.5])
    p = NormalizedArrayParametrization(DATA, scale=scale)
    assert p.scale == (2.0, -0.5)
    assert jnp.array_equal(p._data[0], DATA[0] / 2.0)
    assert jnp.array_equal(p._data[1], DATA[1] / -0.5)
    assert jnp.array_equal(p(), DATA)
    # numpy scale, complex data: the scale array takes the data's real dtype, no promotion
    z = DATA.astype(jnp.complex64) * 1j
    q = NormalizedArrayParametrization(z, scale=np.array([2.0, 4.0]))
    assert q().dtype == jnp.complex64
    assert_close(q._data[1], z[1] / 4.0)
    # the 1-d case: one scale per element
    r = NormalizedArrayParametrization(jnp.array([1.0, 10.0]), scale=jnp.array([1.0, 10.0]))
    assert jnp.array_equal(r._data, jnp.ones(2))


def test_scaling_function_computes_the_scale_once():
    calls = []

    def peak(a):
        calls.append(a.shape)
        return jnp.max(jnp.abs(a))

    p = NormalizedArrayParametrization(DATA, scaling_function=peak)
    assert calls == [(2, 3, 4)]
    assert p.scale == 18.0 and jnp.max(jnp.abs(p._data)) == 1.0
    assert_close(p(), DATA, terms=2)
    q = NormalizedArrayParametrization(DATA, scaling_function=lambda a: jnp.max(a, axis=(1, 2)))
    assert q.scale == (6.0, 18.0)
    r = NormalizedArrayParametrization(jnp.full((3, 5, 5, 2), 2.0), scaling_function=mean_l2_norm)
    assert r.scale == 10.0  # 25 squares summed, a sqrt, a mean of 6, on 0.2 rounded:
    assert_close(mean_l2_norm(r._data), np.array(1.0), terms=32)


@pytest.mark.parametrize("cls", CLASSES)
def test_scale_is_static_not_a_parameter(cls):
    p = cls(DATA, scale=jnp.array([2.0, 3.0]))
    params = jax.tree_util.tree_leaves(eqx.filter(p, eqx.is_inexact_array))
    expected = 1 if cls is NormalizedArrayParametrization else 2  # + the frozen reference
    assert len(params) == len(jax.tree_util.tree_leaves(p)) == expected
    assert all(leaf.shape == DATA.shape for leaf in params)
    assert not any(isinstance(v, jax.Array) for v in jax.tree_util.tree_leaves(p._scale))
    # a gradient step moves the data but can never move the scale
    grads = jax.grad(lambda p: jnp.sum(p() ** 2))(p)
    stepped = eqx.apply_updates(p, jax.tree_util.tree_map(lambda g: -0.1 * g, grads))
    assert stepped.scale == (2.0, 3.0)
    assert not jnp.array_equal(stepped._data, p._data)


def test_gradient_reaches_data_scaled():
    p = NormalizedArrayParametrization(DATA, scale=jnp.array([2.0, 3.0]))
    grads = jax.grad(lambda p: jnp.sum(p()))(p)
    expected = jnp.broadcast_to(jnp.array([2.0, 3.0])[:, None, None], DATA.shape)
    assert jnp.array_equal(grads._data, expected)  # the cotangent 1, times the scale: exact
    assert grads.scale == (2.0, 3.0)  # carried through as configuration, not a cotangent


@pytest.mark.parametrize("cls", CLASSES)
def test_plain_jit_takes_it_and_scale_changes_recompile(cls):
    f = jax.jit(lambda p: p())
    a, b = cls(DATA, scale=2.0), cls(DATA, scale=5.0)
    assert_close(f(a), DATA, terms=2)
    assert_close(f(b), DATA, terms=2)
    # leaves of the same shapes, different static scales: each call traces its own scale
    a1, b1 = (eqx.tree_at(lambda p: p._data, p, jnp.ones_like(DATA)) for p in (a, b))
    assert jnp.array_equal(f(b1) - f(a1), jnp.full_like(DATA, 3.0))  # small integers: exact


@pytest.mark.parametrize("cls", CLASSES)
def test_resolves_under_jit_and_vmap_with_index_slice(cls):
    p = cls(DATA, scale=jnp.array([2.0, 3.0]))
    model = {"probe": ptyrax_core.IndexSliceParameter(p)}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["probe"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.arange(2))
    assert_close(out, DATA, terms=2)


def test_grad_through_resolve_in_jit():
    p = NormalizedArrayParametrization(DATA, scale=10.0)
    model = {"obj": p, "shift": ptyrax_core.IndexSliceParameter(jnp.array([1.0, 2.0]))}

    def loss(model, i):
        m = ptyrax_core.resolve_parametrizations(model, i)
        return jnp.sum(m["obj"] * m["shift"].at_current_index())

    grads = jax.jit(jax.grad(loss))(model, 1)
    assert jnp.array_equal(grads["obj"]._data, jnp.full_like(DATA, 20.0))  # 2 * 10: exact


def test_construct_inside_jit_with_a_static_scale():
    out = jax.jit(lambda x: NormalizedArrayParametrization(x, scale=2.0)())(DATA)
    assert jnp.array_equal(out, DATA)


# --- NormalizedReferencedArrayParametrization -----------------------------------------------


def test_referenced_starts_at_the_reference():
    z = (DATA + 0.5j).astype(jnp.complex64)
    p = NormalizedReferencedArrayParametrization(z, scale=3.0)
    assert jnp.array_equal(p._data, jnp.zeros_like(z)) and p._data.dtype == jnp.complex64
    assert jnp.array_equal(p._reference_value, z) and jnp.array_equal(p(), z)
    q = eqx.tree_at(lambda p: p._data, p, jnp.ones_like(z))
    assert_close(q(), z + 3.0)  # a complex product and a sum


def test_referenced_per_index_scale_and_scaling_function():
    p = NormalizedReferencedArrayParametrization(DATA, scale=jnp.array([2.0, 3.0]))
    q = eqx.tree_at(lambda p: p._data, p, jnp.ones_like(DATA))
    assert jnp.array_equal(q()[0], DATA[0] + 2.0) and jnp.array_equal(q()[1], DATA[1] + 3.0)
    r = NormalizedReferencedArrayParametrization(DATA, scaling_function=lambda a: a.shape[0])
    assert r.scale == 2.0


def test_reference_gradient_is_exactly_zero():
    p = NormalizedReferencedArrayParametrization(DATA, scale=jnp.array([2.0, 3.0]))
    grads = jax.jit(jax.grad(lambda p: jnp.sum(p() ** 2)))(p)
    assert jnp.array_equal(grads._reference_value, jnp.zeros_like(DATA))
    scale = jnp.array([2.0, 3.0])[:, None, None]
    # d/d_data (data*s + ref)^2 at data=0: products of small integers, exact
    assert jnp.array_equal(grads._data, 2 * DATA * scale)


# --- mean_l2_norm -----------------------------------------------------------------------------


def test_mean_l2_norm_values():
    a = np.random.default_rng(0).normal(size=(3, 4, 5, 2))  # float64: the reference
    # In float32: a rounded, squared, 20 squares summed, a sqrt, a mean of 6 positive norms.
    expected = np.mean(np.sqrt(np.sum(a**2, axis=(1, 2))))
    assert_close(mean_l2_norm(a), expected, terms=32)
    out = mean_l2_norm(jnp.asarray(a), axes=(0, 3))  # 6 squares summed, a mean of 20
    assert out.shape == ()
    assert_close(out, np.mean(np.sqrt(np.sum(a**2, axis=(0, 3)))), terms=32)
    z = jnp.array([[3.0 + 4j, 0.0], [1j, 0.0]])  # column norms sqrt(26) and 0
    assert_close(mean_l2_norm(z, axes=(0,)), np.sqrt(26.0) / 2)  # 26 is exact: one sqrt
    assert_close(mean_l2_norm(jnp.arange(4).reshape(2, 2), axes=(-1, -2)), np.sqrt(14.0))


def test_mean_l2_norm_under_jit_grad_vmap():
    a = jnp.ones((2, 3, 3, 1))  # sums of 9 or 36 are exact: a sqrt and a mean round
    assert_close(jax.jit(mean_l2_norm)(a), np.array(3.0), terms=2)
    grad = jax.grad(mean_l2_norm)(a)  # d/da of mean of norms: a / norm / count
    assert_close(grad, np.full(a.shape, 1.0 / 3.0 / 2.0), terms=4)
    assert_close(jax.vmap(mean_l2_norm)(jnp.stack([a, 2 * a])), np.array([3.0, 6.0]), terms=2)


def test_mean_l2_norm_bad_axes():
    a = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"axes \(-3, -2\) are out of range"):
        mean_l2_norm(a)
    with pytest.raises(ValueError, match="axes must not repeat"):
        mean_l2_norm(a, axes=(1, -1))
    with pytest.raises(ValueError, match="axes must name at least one axis"):
        mean_l2_norm(a, axes=())
    with pytest.raises(TypeCheckError, match="axes"):
        mean_l2_norm(a, axes=[0])
    with pytest.raises(TypeError, match="axes must be a tuple of ints"):
        mean_l2_norm(a, axes=(True,))
    with pytest.raises(TypeCheckError, match="'a'"):
        mean_l2_norm([1.0, 2.0], axes=(0,))


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("bad", [0.0, float("inf"), float("nan"), jnp.array([1.0, 0.0])])
def test_scale_must_be_finite_and_nonzero(cls, bad):
    with pytest.raises(ValueError, match=r"scale(\[1\])? must be finite and nonzero"):
        cls(DATA, scale=bad)


@pytest.mark.parametrize("cls", CLASSES)
def test_scale_of_a_wrong_shape_or_kind(cls):
    with pytest.raises(ValueError, match=r"scale must be a scalar, or of shape \(2,\).*got shape"):
        cls(DATA, scale=jnp.ones(3))
    with pytest.raises(ValueError, match=r"scale must be a scalar, or of shape \(2,\)"):
        cls(DATA, scale=jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"scale must be a scalar; got shape \(1,\)"):
        cls(jnp.array(3.0), scale=jnp.ones(1))
    with pytest.raises(TypeError, match="scale must be a real number"):
        cls(DATA, scale=jnp.array(1j))
    with pytest.raises(TypeError, match="scale must be a real number"):
        cls(DATA, scale=True)
    with pytest.raises(TypeCheckError, match="scale"):
        cls(DATA, scale="2")
    with pytest.raises(TypeCheckError, match="scale"):
        cls(DATA, scale=[1.0, 2.0])


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_scaling_function(cls):
    with pytest.raises(ValueError, match="scale or scaling_function, not both"):
        cls(DATA, scale=2.0, scaling_function=mean_l2_norm)
    with pytest.raises(ValueError, match=r"scale \(computed by scaling_function .*\) must be fin"):
        cls(jnp.zeros((2, 3, 4, 1)), scaling_function=mean_l2_norm)
    with pytest.raises(ValueError, match=r"scale \(computed by scaling_function .*\) must be a sc"):
        cls(DATA, scaling_function=lambda a: jnp.ones(5))
    with pytest.raises(TypeError, match=r"scale \(computed by scaling_function .*\) must be a rea"):
        cls(DATA, scaling_function=lambda a: "big")
    with pytest.raises(TypeCheckError, match="scaling_function"):
        cls(DATA, scaling_function=2.0)


@pytest.mark.parametrize("cls", CLASSES)
def test_traced_scale_says_to_construct_outside_jit(cls):
    with pytest.raises(TypeError, match=r"scale is a traced value.*outside jax\.jit"):
        jax.jit(lambda s: cls(DATA, scale=s)())(2.0)
    with pytest.raises(TypeError, match=r"scaling_function.*traced value.*outside jax\.jit"):
        jax.jit(lambda x: cls(x, scaling_function=mean_l2_norm)())(jnp.ones((2, 3, 3, 1)))


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_initial_data(cls):
    with pytest.raises(TypeCheckError, match="initial_data"):
        cls([1.0, 2.0])
    with pytest.raises(TypeCheckError, match="initial_data"):
        cls(jnp.ones(2, bool))


def test_registered():
    assert ptyrax_core.registry.get("normalized") is NormalizedArrayParametrization
    assert (
        ptyrax_core.registry.get("normalized_referenced")
        is NormalizedReferencedArrayParametrization
    )
    from ptyrax_core.parametrizations import (
        NormalizedArrayParametrization as exported_class,
        mean_l2_norm as exported_function,
    )

    assert exported_class is NormalizedArrayParametrization
    assert exported_function is mean_l2_norm


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------

TARGET = 3.0 * DATA + 1.0


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("scale", [4.0, jnp.array([2.0, -0.5])])
def test_with_array_returns_the_target_and_keeps_the_scale(cls, scale):
    p = cls(DATA, scale=scale)
    q = p.with_array(TARGET)
    assert type(q) is cls and q.scale == p.scale and q.output_shape == p.output_shape
    assert jax.tree_util.tree_structure(q) == jax.tree_util.tree_structure(p)
    # TARGET - DATA and the scales 4, 2, -0.5 are exact in float32: so is the round trip
    assert jnp.array_equal(q(), TARGET)
    assert jnp.array_equal(p._data, cls(DATA, scale=scale)._data)
    assert jnp.array_equal(jax.jit(lambda p, t: p.with_array(t)())(p, TARGET), TARGET)


def test_with_array_stores_target_over_scale():
    p = NormalizedArrayParametrization(DATA, scale=jnp.array([2.0, 4.0]))
    scale = jnp.array([2.0, 4.0])[:, None, None]
    assert jnp.array_equal(p.with_array(TARGET)._data, TARGET / scale)  # powers of 2: exact
    grad = jax.grad(lambda t: jnp.sum(p.with_array(t)._data))(TARGET)
    assert jnp.array_equal(grad, jnp.broadcast_to(1.0 / scale, DATA.shape))


def test_with_array_stores_the_offset_from_the_fixed_reference():
    p = NormalizedReferencedArrayParametrization(DATA, scale=10.0)
    q = p.with_array(TARGET)
    assert jnp.array_equal(q._reference_value, DATA)  # frozen: kept
    assert_close(q._data, (TARGET - DATA) / 10.0)  # an exact difference, one division
    assert jnp.array_equal(p.with_array(DATA)._data, jnp.zeros_like(DATA))


@pytest.mark.parametrize("cls", CLASSES)
def test_with_array_dtypes(cls):
    z = cls(DATA.astype(jnp.complex64), scale=2.0).with_array(np.asarray(TARGET))  # real in
    assert z._data.dtype == jnp.complex64
    assert_close(z(), TARGET.astype(jnp.complex64), terms=2)  # / 2, * 2 in complex arithmetic
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is fl"):
        cls(DATA).with_array(TARGET * 1j)


@pytest.mark.parametrize("cls", CLASSES)
def test_with_array_refuses_another_shape_by_name(cls):
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3, 4\).*got shape \(2, 3\)"):
        cls(DATA).with_array(DATA[..., 0])
    with pytest.raises(TypeError, match="target must be an array"):
        cls(DATA).with_array(3.0)
