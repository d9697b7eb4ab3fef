import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_binary import BinaryArrayParametrization

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization

DATA = jnp.array([[0.1, 0.5, 0.50001], [0.9, -2.0, 3.0]])
MASK = jnp.array([[False, False, True], [True, False, True]])


def test_thresholds_to_a_boolean_array():
    p = BinaryArrayParametrization(DATA)
    out = p()
    assert out.dtype == jnp.bool_ and out.shape == (2, 3) and p.output_shape == (2, 3)
    assert jnp.array_equal(out, MASK)  # strictly greater: 0.5 itself is False
    q = BinaryArrayParametrization(DATA, threshold=-1)
    assert jnp.array_equal(q(), DATA > -1.0) and q.threshold == -1.0
    assert type(q.threshold) is float


def test_initializer_numpy_integer_and_boolean_data():
    p = BinaryArrayParametrization(lambda: np.asarray(DATA))
    assert isinstance(p.data, jax.Array) and jnp.array_equal(p(), MASK)
    q = BinaryArrayParametrization(np.array([0, 1, 2]), threshold=1)
    assert jnp.issubdtype(q.data.dtype, jnp.floating)
    assert jnp.array_equal(q(), jnp.array([False, False, True]))
    r = BinaryArrayParametrization(np.array([True, False]), straight_through=True)
    assert jnp.array_equal(r(), jnp.array([1.0, 0.0]))


def test_complex_data_is_mapped_to_its_normalized_phase():
    angles = jnp.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    z = 2.0 * jnp.exp(1j * angles)
    p = BinaryArrayParametrization(z)
    assert p.data.dtype == jnp.float32
    # exp(1j * angle) in float32, then its angle, + pi, / 2 pi: a few roundings
    assert_close(p.data, (angles + jnp.pi) / (2 * jnp.pi), terms=2)
    assert jnp.all((p.data >= 0) & (p.data <= 1))
    # phase > 0 <=> normalized phase > 0.5
    assert jnp.array_equal(p(), jnp.array([False, False, False, True, True]))
    q = BinaryArrayParametrization(z, threshold=0.25, straight_through=True)
    assert q().dtype == jnp.float32 and jnp.array_equal(q(), jnp.array([0.0, 1.0, 1, 1, 1]))


def test_straight_through_is_exactly_0_1_with_identity_gradient():
    data = jnp.array([0.3, 0.7, 3.7, -1.1, 123.456], jnp.float32)
    p = BinaryArrayParametrization(data, straight_through=True)
    out = p()
    assert out.dtype == jnp.float32
    assert jnp.array_equal(out, jnp.array([0.0, 1.0, 1.0, 0.0, 1.0]))  # exact, not approximate
    weights = jnp.array([1.0, -2.0, 3.0, 4.0, 5.0])
    grads = jax.grad(lambda p: jnp.sum(p() * weights))(p)
    assert jnp.array_equal(grads.data, weights)

    # the gradient lets an optimizer flip the mask
    def loss(p):
        return jnp.sum((p() - jnp.array([1.0, 0.0, 0.0, 1.0, 1.0])) ** 2)

    for _ in range(4):  # 3.7 needs four unit steps to fall below 0.5
        g = jax.jit(jax.grad(loss))(p)
        p = eqx.apply_updates(p, jax.tree_util.tree_map(lambda x: -0.5 * x, g))
    assert float(loss(p)) == 0.0
    assert p.straight_through and p.threshold == 0.5


def test_straight_through_keeps_the_data_dtype():
    p = BinaryArrayParametrization(jnp.array([0.1, 0.9], jnp.float16), straight_through=True)
    assert p().dtype == jnp.float16 and jnp.array_equal(p(), jnp.array([0.0, 1.0]))


def test_boolean_output_has_no_gradient_to_data():
    p = BinaryArrayParametrization(DATA)
    grads = jax.grad(lambda p: jnp.sum(p().astype(jnp.float32) * 5.0))(p)
    assert jnp.array_equal(grads.data, jnp.zeros_like(DATA))


@pytest.mark.parametrize("straight_through", [False, True])
def test_config_is_static_and_plain_jit_takes_it(straight_through):
    p = BinaryArrayParametrization(DATA, threshold=0.0, straight_through=straight_through)
    assert [x.shape for x in jax.tree_util.tree_leaves(p)] == [(2, 3)]
    assert len(jax.tree_util.tree_leaves(eqx.filter(p, eqx.is_array))) == 1
    f = jax.jit(lambda p: p())
    assert jnp.array_equal(f(p), DATA > 0.0)
    # a different static threshold is a different trace, not a stale one
    q = BinaryArrayParametrization(DATA, threshold=1.0, straight_through=straight_through)
    assert jnp.array_equal(f(q), DATA > 1.0)


def test_resolves_under_jit_and_vmap_with_index_slice():
    p = BinaryArrayParametrization(DATA, straight_through=True)
    model = {"mask": ptyrax_core.IndexSliceParameter(p)}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["mask"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.arange(2))
    assert jnp.array_equal(out, MASK.astype(jnp.float32))

    def loss(model, i):
        return jnp.sum(ptyrax_core.resolve_parametrizations(model, i)["mask"].at_current_index())

    grads = jax.jit(jax.grad(loss))(model, 1)
    assert jnp.array_equal(grads["mask"].parameters.data, jnp.array([[0.0] * 3, [1.0] * 3]))


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_threshold_must_be_finite(bad):
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        BinaryArrayParametrization(DATA, threshold=bad)


def test_bad_arguments():
    with pytest.raises(TypeError, match="threshold must be a real number; got True"):
        BinaryArrayParametrization(DATA, threshold=True)
    with pytest.raises(TypeCheckError, match="threshold"):
        BinaryArrayParametrization(DATA, threshold=0.5j)
    with pytest.raises(TypeError, match="threshold must be a real number"):
        BinaryArrayParametrization(DATA, threshold=jnp.array([0.5, 0.6]))
    assert BinaryArrayParametrization(DATA, threshold=jnp.array(0.25)).threshold == 0.25
    with pytest.raises(TypeError, match="threshold is a traced value"):
        jax.jit(lambda t: BinaryArrayParametrization(DATA, threshold=t)())(0.5)
    with pytest.raises(TypeCheckError, match="straight_through"):
        BinaryArrayParametrization(DATA, straight_through=1)
    with pytest.raises(TypeCheckError, match="data_or_initializer"):
        BinaryArrayParametrization([0.1, 0.9])
    with pytest.raises(TypeError, match="data_or_initializer must be the array returned"):
        BinaryArrayParametrization(lambda: [0.1, 0.9])
    with pytest.raises(TypeError, match="data_or_initializer: an initializer is called with no"):
        BinaryArrayParametrization(lambda shape: jnp.ones(shape))


def test_registered():
    assert ptyrax_core.registry.get("binary") is BinaryArrayParametrization
    from ptyrax_core.parametrizations import BinaryArrayParametrization as exported

    assert exported is BinaryArrayParametrization


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.5, -3.0, 0.1, 1e9])
@pytest.mark.parametrize("straight_through", [False, True])
def test_with_array_of_a_mask_gives_the_mask(threshold, straight_through):
    p = BinaryArrayParametrization(DATA, threshold=threshold, straight_through=straight_through)
    for target in (MASK, MASK.astype(jnp.float32), np.asarray(MASK, np.int32)):
        q = p.with_array(target)
        assert type(q) is BinaryArrayParametrization
        assert (q.threshold, q.straight_through) == (threshold, straight_through)
        assert jnp.array_equal(q() > 0.5 if straight_through else q(), MASK)
    q = p.with_array(MASK)
    assert q.data.dtype == jnp.float32
    assert jnp.array_equal(q.data > threshold, MASK)
    assert jnp.array_equal(jax.jit(lambda p, t: p.with_array(t)())(p, MASK), p.with_array(MASK)())


def test_with_array_thresholds_a_real_target_at_one_half_and_stores_threshold_plus_or_minus():
    p = BinaryArrayParametrization(DATA, threshold=2.0, straight_through=True)
    q = p.with_array(jnp.array([[0.2, 0.5, 0.51], [0.9, -4.0, 7.0]]))
    assert jnp.array_equal(q(), MASK.astype(jnp.float32))
    assert jnp.array_equal(q.data, jnp.where(MASK, 2.5, 1.5))
    default = BinaryArrayParametrization(DATA).with_array(MASK)
    assert jnp.array_equal(default.data, MASK.astype(jnp.float32))  # the mask as 0.0 / 1.0


def test_with_array_refuses_a_complex_or_misshapen_target():
    p = BinaryArrayParametrization(DATA)
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is bool"):
        p.with_array(MASK * 1j)
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3\).*got shape \(3, 2\)"):
        p.with_array(MASK.T)
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array(True)
