import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_support import ProbeSupportArrayParametrization

import ptyrax_core
from ptyrax_core.testing import check_parametrization

H, W = 6, 8
DATA = (jnp.arange(H * W, dtype=jnp.float32).reshape(H, W) + 1.0) / (H * W)
PROBE = (DATA * jnp.exp(1j * DATA)).astype(jnp.complex64)
MODES = jnp.stack([PROBE, 2.0 * PROBE, -PROBE])


def disc(radius, cy=(H - 1) / 2, cx=(W - 1) / 2, shape=(H, W)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return ((y - cy) ** 2 + (x - cx) ** 2 <= radius**2).astype(np.float32)


MASK = disc(2.5, 2.0, 3.0) > 0


# --- a radius ---------------------------------------------------------------------------------


def test_radius_zeroes_outside_a_centred_disc():
    p = ProbeSupportArrayParametrization(PROBE, support=2.5)
    out = p()
    assert out.shape == (H, W) == p.output_shape and out.dtype == jnp.complex64
    assert jnp.array_equal(out, PROBE * disc(2.5))
    assert p.radius == 2.5 and p.center == (2.5, 3.5) and p.mask is None
    assert type(p.radius) is float and all(type(c) is float for c in p.center)
    assert jnp.array_equal(p.data, PROBE)  # the data is kept as given, outside the disc too
    assert jnp.array_equal(p.support_mask(), disc(2.5))


def test_radius_boundary_is_inclusive_and_center_moves_the_disc():
    p = ProbeSupportArrayParametrization(jnp.ones((5, 5)), support=2)
    assert p()[0, 2] == 1.0 and p()[0, 1] == 0.0  # distance 2 is inside, sqrt(5) is not
    q = ProbeSupportArrayParametrization(DATA, support=1.5, center=(0, np.float32(7.0)))
    assert q.center == (0.0, 7.0)
    assert jnp.array_equal(q(), DATA * disc(1.5, 0.0, 7.0))
    assert int(jnp.count_nonzero(q())) == 4  # a quarter disc in the corner
    big = ProbeSupportArrayParametrization(DATA, support=1e3)
    assert jnp.array_equal(big(), DATA)


def test_radius_is_the_same_for_every_leading_index():
    p = ProbeSupportArrayParametrization(MODES[:, None], support=np.float64(3.0))
    assert p.output_shape == (3, 1, H, W)
    assert jnp.array_equal(p(), MODES[:, None] * disc(3.0))


def test_initializer_numpy_and_integer_data():
    p = ProbeSupportArrayParametrization(lambda: np.ones((4, 4), np.int32), support=1.0)
    assert isinstance(p.data, jax.Array) and p.data.dtype == jnp.float32
    assert int(p().sum()) == 4  # (1.5, 1.5) is 0.71 from the 4 central pixels
    q = ProbeSupportArrayParametrization(np.asarray(PROBE), support=jnp.array(2.0))
    assert isinstance(q.data, jax.Array) and q.radius == 2.0


def test_no_stored_mask_for_a_radius_and_config_is_static():
    p = ProbeSupportArrayParametrization(MODES, support=2.0, center=(2.0, 2.0))
    assert [x.shape for x in jax.tree_util.tree_leaves(p)] == [(3, H, W)]
    f = jax.jit(lambda p: p())
    assert jnp.array_equal(f(p), p())
    # the same leaf, another static radius: traced anew, another disc
    q = ProbeSupportArrayParametrization(MODES, support=1.0, center=(2.0, 2.0))
    assert jnp.array_equal(f(q), MODES * disc(1.0, 2.0, 2.0))


# --- a mask -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask",
    [MASK, jnp.asarray(MASK), MASK.astype(np.float64), MASK.astype(np.uint8)],
    ids=["numpy-bool", "jax-bool", "float64", "uint8"],
)
def test_mask_of_any_0_1_kind_is_stored_as_floats(mask):
    p = ProbeSupportArrayParametrization(PROBE, support=mask)
    assert p.mask.dtype == jnp.float32 and p.mask.shape == np.shape(mask)
    assert p.radius is None and p.center is None
    assert jnp.array_equal(p(), PROBE * MASK) and p().dtype == jnp.complex64


def test_mask_broadcasts_over_modes_or_is_per_mode():
    p = ProbeSupportArrayParametrization(MODES, support=MASK)
    assert p.output_shape == (3, H, W) and jnp.array_equal(p(), MODES * MASK)
    per_mode = np.stack([MASK, ~MASK, np.ones_like(MASK)])
    q = ProbeSupportArrayParametrization(MODES, support=per_mode)
    assert jnp.array_equal(q(), MODES * per_mode)
    r = ProbeSupportArrayParametrization(MODES, support=MASK[None, :1, :])  # one row
    assert r.mask.shape == (1, 1, W) and jnp.array_equal(r(), MODES * MASK[:1, :])
    s = ProbeSupportArrayParametrization(MODES, support=jnp.array(True))  # 0-d: everywhere
    assert jnp.array_equal(s(), MODES)


def test_mask_is_a_frozen_leaf_with_exactly_zero_gradient():
    p = ProbeSupportArrayParametrization(MODES, support=MASK)
    assert ProbeSupportArrayParametrization.frozen_fields == ("mask",)
    assert [x.shape for x in jax.tree_util.tree_leaves(p)] == [(3, H, W), (H, W)]
    grads = jax.jit(jax.grad(lambda p: jnp.sum(jnp.abs(p()) ** 2)))(p)
    assert jnp.array_equal(grads.mask, jnp.zeros((H, W)))
    stepped = eqx.apply_updates(p, jax.tree_util.tree_map(lambda g: -0.1 * g, grads))
    assert jnp.array_equal(stepped.mask, p.mask)


# --- gradients, transformations ---------------------------------------------------------------


@pytest.mark.parametrize("support", [2.5, MASK], ids=["radius", "mask"])
def test_gradient_is_zero_outside_the_support_and_exact_inside(support):
    p = ProbeSupportArrayParametrization(DATA, support=support)
    inside = p.support_mask()
    weights = jnp.linspace(1.0, 2.0, H * W).reshape(H, W)
    grads = jax.grad(lambda p: jnp.sum(weights * p()))(p)
    assert jnp.array_equal(grads.data, weights * inside)  # d(w * data * m)/d data = w * m
    assert jnp.any(inside == 0) and jnp.any(inside == 1)


def test_complex_gradient_and_a_gradient_step_leaves_outside_untouched():
    p = ProbeSupportArrayParametrization(MODES, support=2.0)
    target = jnp.ones((H, W), jnp.complex64)

    def loss(p):
        return jnp.sum(jnp.abs(p() - target) ** 2)

    grads = jax.jit(jax.grad(loss))(p)
    outside = disc(2.0) == 0
    assert jnp.all(grads.data[:, outside] == 0) and jnp.all(grads.data[:, ~outside] != 0)
    stepped = eqx.apply_updates(p, jax.tree_util.tree_map(lambda g: -0.25 * g, grads))
    assert jnp.array_equal(stepped.data[:, outside], MODES[:, outside])
    assert loss(stepped) < loss(p)


@pytest.mark.parametrize("support", [2.0, MASK], ids=["radius", "mask"])
def test_resolves_under_jit_and_vmap_with_index_slice(support):
    p = ProbeSupportArrayParametrization(MODES, support=support)
    model = {"probe": ptyrax_core.IndexSliceParameter(p)}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["probe"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.arange(3))
    assert jnp.allclose(out, p())


@pytest.mark.parametrize("support", [2.0, MASK], ids=["radius", "mask"])
def test_grad_through_resolve_in_jit(support):
    model = {
        "probe": ProbeSupportArrayParametrization(DATA, support=support),
        "weight": ptyrax_core.IndexSliceParameter(jnp.array([1.0, 3.0])),
    }

    def loss(model, i):
        m = ptyrax_core.resolve_parametrizations(model, i)
        return jnp.sum(m["probe"] * m["weight"].at_current_index())

    grads = jax.jit(jax.grad(loss))(model, 1)
    expected = 3.0 * model["probe"].support_mask()
    assert jnp.array_equal(grads["probe"].data, expected)


def test_vmap_over_a_stack_of_parametrizations():
    p = ProbeSupportArrayParametrization(MODES, support=MASK)
    stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), p)
    out = jax.vmap(lambda p: p())(stacked)
    assert jnp.array_equal(out, jnp.stack([p(), p()]))


def test_construct_inside_jit_with_a_static_radius():
    out = jax.jit(lambda x: ProbeSupportArrayParametrization(x, support=2.0)())(DATA)
    assert jnp.array_equal(out, DATA * disc(2.0))


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 0.0, -1.5])
def test_radius_must_be_positive(radius):
    with pytest.raises(ValueError, match=r"support \(a radius in pixels\) must be positive"):
        ProbeSupportArrayParametrization(DATA, support=radius)


@pytest.mark.parametrize("radius", [float("inf"), float("nan"), np.float32("-inf")])
def test_radius_must_be_finite(radius):
    with pytest.raises(ValueError, match=r"support \(a radius in pixels\) must be a finite"):
        ProbeSupportArrayParametrization(DATA, support=radius)


def test_support_of_a_wrong_kind():
    with pytest.raises(TypeError, match="support .* must be a real number; got True"):
        ProbeSupportArrayParametrization(DATA, support=True)
    with pytest.raises(TypeError, match="support .* must be a real number"):
        ProbeSupportArrayParametrization(DATA, support=jnp.array(2.0 + 0j))
    with pytest.raises(TypeCheckError, match="support"):
        ProbeSupportArrayParametrization(DATA, support="3")
    with pytest.raises(TypeCheckError, match="support"):
        ProbeSupportArrayParametrization(DATA, support=[[1, 0]])
    with pytest.raises(TypeError, match="support must be a radius or a mask .* dtype complex64"):
        ProbeSupportArrayParametrization(DATA, support=MASK.astype(np.complex64))


@pytest.mark.parametrize("shape", [(H - 1, W), (W, H), (2, H, W), (H * W,)])
def test_mask_that_does_not_broadcast(shape):
    with pytest.raises(ValueError, match=r"support: a mask of shape .* does not broadcast"):
        ProbeSupportArrayParametrization(DATA, support=np.ones(shape, bool))


def test_mask_must_not_enlarge_the_data():
    with pytest.raises(ValueError, match=r"mask of shape \(1, 6, 8\) does not .* \(6, 8\)\.$"):
        ProbeSupportArrayParametrization(DATA, support=np.ones((1, H, W), bool))
    with pytest.raises(ValueError, match=r"give a mask of shape \(6, 8\) \(one for every lead"):
        ProbeSupportArrayParametrization(MODES, support=np.ones((2, H, W), bool))


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, float("nan")])
def test_mask_values_must_be_0_or_1(bad):
    mask = MASK.astype(np.float32)
    mask[1, 2] = bad
    with pytest.raises(ValueError, match="support: a mask must hold only 0 and 1"):
        ProbeSupportArrayParametrization(DATA, support=mask)


def test_traced_support_says_to_build_outside_jit():
    with pytest.raises(TypeError, match=r"support \(a radius in pixels\) is a traced value"):
        jax.jit(lambda r: ProbeSupportArrayParametrization(DATA, support=r)())(2.0)
    with pytest.raises(TypeError, match=r"support is a traced mask.*outside jax\.jit"):
        jax.jit(lambda m: ProbeSupportArrayParametrization(DATA, support=m)())(MASK)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_data_needs_two_axes(shape):
    with pytest.raises(ValueError, match=r"data_or_initializer: a probe has at least two axes"):
        ProbeSupportArrayParametrization(jnp.ones(shape), support=1.0)
    with pytest.raises(ValueError, match=r"data_or_initializer: a probe has at least two axes"):
        ProbeSupportArrayParametrization(jnp.ones(shape), support=jnp.ones(shape, bool))


def test_bad_data_or_initializer():
    with pytest.raises(TypeCheckError, match="data_or_initializer"):
        ProbeSupportArrayParametrization([[1.0, 2.0]], support=1.0)
    with pytest.raises(TypeError, match="data_or_initializer must be the array returned"):
        ProbeSupportArrayParametrization(lambda: [[1.0]], support=1.0)


def test_bad_center():
    with pytest.raises(ValueError, match="center=.* applies to a circular support only"):
        ProbeSupportArrayParametrization(DATA, support=MASK, center=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"center\[1\] must be a finite real number"):
        ProbeSupportArrayParametrization(DATA, support=2.0, center=(1.0, float("nan")))
    with pytest.raises(TypeCheckError, match="center"):
        ProbeSupportArrayParametrization(DATA, support=2.0, center=(1.0, 2.0, 3.0))
    with pytest.raises(TypeCheckError, match="center"):
        ProbeSupportArrayParametrization(DATA, support=2.0, center=[1.0, 2.0])


# --- registration -----------------------------------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("probe_support") is ProbeSupportArrayParametrization
    from ptyrax_core.parametrizations import ProbeSupportArrayParametrization as exported

    assert exported is ProbeSupportArrayParametrization


def test_examples_cover_the_options():
    examples = ptyrax_core.registry.examples("support")["support"]
    examples = [p for p in examples if type(p) is ProbeSupportArrayParametrization]
    kinds = {(p.mask is None, jnp.iscomplexobj(p.data), len(p.output_shape)) for p in examples}
    assert {(True, False, 2), (True, True, 2), (True, True, 3)} <= kinds
    assert {(False, True, 2), (False, True, 3), (False, False, 3)} <= kinds


def test_conformance(ptyrax_example):
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "support", [2.5, MASK, disc(2.0)[None].repeat(3, 0)], ids=["radius", "mask", "per mode"]
)
def test_with_array_zeroes_the_target_outside_the_support(support):
    p = ProbeSupportArrayParametrization(jnp.zeros((3, H, W), jnp.complex64), support=support)
    target = 2.0 * MODES + 0.5j
    q = p.with_array(target)
    assert type(q) is ProbeSupportArrayParametrization
    assert (q.radius, q.center) == (p.radius, p.center)
    assert q.mask is None or jnp.array_equal(q.mask, p.mask)
    mask = p.support_mask()
    assert jnp.allclose(q(), target * mask)  # the projection: zero outside, target inside
    assert jnp.array_equal(q.data, target)  # stored whole, as __init__ stores data
    assert jnp.allclose(q.with_array(q())(), q())  # inside the support: exact
    assert jnp.allclose(jax.jit(lambda p, t: p.with_array(t)())(p, target), target * mask)
    grads = jax.grad(lambda q: jnp.sum(jnp.abs(q()) ** 2))(q)
    assert jnp.all(jnp.where(jnp.broadcast_to(mask, target.shape) == 0, grads.data == 0, True))


def test_with_array_dtypes_and_bad_targets():
    p = ProbeSupportArrayParametrization(PROBE, support=2.0)
    assert p.with_array(np.asarray(DATA, np.float64)).data.dtype == jnp.complex64
    real = ProbeSupportArrayParametrization(DATA, support=2.0)
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is fl"):
        real.with_array(PROBE)
    with pytest.raises(ValueError, match=r"target must have shape \(6, 8\).*got shape \(3, 6, 8\)"):
        real.with_array(MODES.real)
    with pytest.raises(TypeError, match="target must be an array"):
        real.with_array({"probe": DATA})
