import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_nonnegative import NonNegativeArrayParametrization as NonNegative

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization

DATA = jnp.array([[0.0, 0.25, 1e-4], [2.0, 37.5, 1e3]], jnp.float32)
TARGET = jnp.array([[-3.0, 0.25, 0.0], [-1e-6, 7.0, 5e2]], jnp.float32)


def weights(shape, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


# --- construction -----------------------------------------------------------------------------


def test_output_is_the_initial_data():
    p = NonNegative(DATA)
    out = p()
    assert out.shape == (2, 3) == p.output_shape and out.dtype == p.root.dtype == jnp.float32
    assert_close(p.root, np.sqrt(np.asarray(DATA, np.float64)))
    assert_close(out, DATA, terms=2)  # sqrt, then the square
    assert jnp.all(out >= 0)


def test_output_is_non_negative_whatever_the_root():
    p = NonNegative(DATA)
    for seed in range(3):
        root = 10.0 * weights(DATA.shape, seed)  # negative values too
        q = eqx.tree_at(lambda p: p.root, p, root)
        assert jnp.all(q() >= 0)
        assert_close(q(), np.asarray(root, np.float64) ** 2)


def test_integer_boolean_numpy_and_low_precision_data():
    p = NonNegative(np.array([[0, 1], [4, 9]]))
    assert isinstance(p.root, jax.Array) and p.root.dtype == jnp.float32
    assert jnp.array_equal(p.root, jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    assert NonNegative(np.array([True, False])).root.dtype == jnp.float32
    q = NonNegative(np.asarray(DATA, np.float64))  # float32 without jax_enable_x64
    assert q.root.dtype == jnp.result_type(float)
    h = NonNegative(DATA.astype(jnp.float16))
    assert h.root.dtype == h().dtype == jnp.float16
    assert_close(h(), DATA.astype(jnp.float16), terms=2)


def test_scalar_and_3d_shapes():
    assert NonNegative(jnp.array(4.0))() == 4.0
    stack = jnp.linspace(0.1, 3.0, 24).reshape(2, 3, 4)
    p = NonNegative(stack)
    assert p.output_shape == (2, 3, 4)
    assert_close(p(), stack, terms=2)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(-2.0, r"-2\.0 at index \(0, 1\)"), (jnp.nan, r"nan at index \(0, 1\)"),
     (jnp.inf, r"inf at index \(0, 1\)"), (-jnp.inf, r"-inf at index \(0, 1\)")],
)  # fmt: skip
def test_bad_values_name_the_argument_and_the_first_one(bad, shown):
    data = DATA.at[0, 1].set(bad).at[1, 2].set(-5.0)
    with pytest.raises(ValueError, match=rf"initial_data must be finite and >= 0.*got {shown}"):
        NonNegative(data)
    with pytest.raises(ValueError, match="initial_data"):
        NonNegative(np.asarray(data))


def test_bad_types_name_the_argument():
    with pytest.raises(TypeError, match=r"initial_data is complex \(complex64\)"):
        NonNegative(DATA * 1j)
    with pytest.raises(TypeCheckError, match="initial_data"):
        NonNegative([[1.0, 2.0]])
    with pytest.raises(TypeError, match="initial_data must be a real numeric array"):
        NonNegative(np.array(["a", "b"]))


def test_traced_data_is_taken_unchecked():
    out = jax.jit(lambda x: NonNegative(x)())(DATA)
    assert_close(out, DATA, terms=2)


# --- gradients, jit, models -------------------------------------------------------------------


def test_gradient_is_two_root_times_the_output_gradient():
    p = NonNegative(DATA)
    w = weights(DATA.shape)

    def loss(p):
        return jnp.sum(w * p())

    expected = 2.0 * np.asarray(p.root, np.float64) * np.asarray(w, np.float64)
    for grad in (jax.grad(loss), jax.jit(jax.grad(loss))):
        g = grad(p).root
        assert g.dtype == jnp.float32
        assert_close(g, expected, terms=2)
    assert grad(p).root[0, 0] == 0.0  # a root of exactly 0 gets no gradient

    # through a nonlinear loss too: dL/dx = 2 (x - y), so dL/droot = 4 root (x - y)
    y = jnp.full(DATA.shape, 3.0)
    g = jax.grad(lambda p: jnp.sum((p() - y) ** 2))(p).root
    x = np.asarray(p(), np.float64)
    assert_close(g, 4.0 * np.asarray(p.root, np.float64) * (x - 3.0), terms=4)


def test_gradient_steps_never_go_negative():
    p = NonNegative(jnp.full((3, 3), 0.25))

    @jax.jit
    def step(p):
        grads = jax.grad(lambda p: jnp.sum((p() + 1.0) ** 2))(p)  # pulls towards -1
        return jax.tree_util.tree_map(lambda x, g: x - 0.3 * g, p, grads)  # overshoots 0

    signs = set()
    for _ in range(20):
        p = step(p)
        assert jnp.all(p() >= 0)
        signs.add(bool(jnp.all(p.root < 0)))
    assert signs == {True, False}  # the root went through 0, the output did not
    assert jnp.all(p() < 1e-6)


def test_one_leaf_and_plain_jit():
    p = NonNegative(DATA)
    assert [x.shape for x in jax.tree_util.tree_leaves(p)] == [(2, 3)]
    assert jnp.array_equal(jax.jit(lambda p: p())(p), p())


def test_resolves_under_jit_and_vmap_with_index_slice():
    frames = jnp.stack([DATA, 2.0 * DATA])
    model = {"background": ptyrax_core.IndexSliceParameter(NonNegative(frames))}

    def at(model, i):
        return ptyrax_core.resolve_parametrizations(model, i)["background"].at_current_index()

    out = jax.jit(jax.vmap(at, in_axes=(None, 0)))(model, jnp.arange(2))
    assert_close(out, frames, terms=2)
    grads = jax.jit(jax.grad(lambda m, i: jnp.sum(at(m, i))))(model, 1)
    root = model["background"].parameters.root
    only_frame_1 = jnp.array([0.0, 1.0])[:, None, None]
    assert_close(grads["background"].parameters.root, 2.0 * root * only_frame_1)


# --- with_array -------------------------------------------------------------------------------


def test_with_array_projects_negatives_to_zero():
    p = NonNegative(DATA)
    expected = np.maximum(np.asarray(TARGET, np.float64), 0.0)
    for target in (TARGET, np.asarray(TARGET)):
        q = p.with_array(target)
        assert type(q) is NonNegative and q.output_shape == p.output_shape
        assert q.root.dtype == p.root.dtype and jnp.all(q.root >= 0)
        assert_close(q(), expected, terms=2)
    assert jnp.array_equal(p.with_array(TARGET)()[TARGET <= 0], jnp.zeros(3))
    ints = p.with_array(np.array([[-1, 0, 1], [4, 9, 16]]))
    assert jnp.array_equal(ints.root, jnp.array([[0.0, 0, 1], [2, 3, 4]]))


def test_with_array_keeps_the_root_dtype():
    p = NonNegative(DATA.astype(jnp.float16))
    q = p.with_array(TARGET)
    assert q.root.dtype == q().dtype == jnp.float16
    assert_close(q(), np.maximum(np.asarray(TARGET.astype(jnp.float16), np.float64), 0), terms=2)


def test_with_array_round_trips_eagerly_and_under_jit():
    p = NonNegative(DATA)
    jitted = jax.jit(lambda p, t: p.with_array(t))
    for with_array in (lambda p, t: p.with_array(t), jitted):
        back = with_array(p, p())
        assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(p)
        assert_close(back(), p(), terms=4)
        projected = with_array(p, TARGET)
        assert_close(projected(), jnp.maximum(TARGET, 0.0), terms=2)
    assert_close(jitted(p, TARGET).root, p.with_array(TARGET).root)


def test_with_array_refuses_a_complex_or_misshapen_target():
    p = NonNegative(DATA)
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is"):
        p.with_array(TARGET * 1j)
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3\).*got shape \(3, 2\)"):
        p.with_array(TARGET.T)
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array([[1.0, 2.0, 3.0]] * 2)


# --- registry, examples, specs and checkpoints ------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("non_negative") is NonNegative
    from ptyrax_core.parametrizations import NonNegativeArrayParametrization as exported

    assert exported is NonNegative


def test_examples_are_small_2d_and_3d():
    examples = ptyrax_core.registry.examples("nonnegative")["nonnegative"]
    assert [type(e) for e in examples] == [NonNegative, NonNegative]
    assert sorted(len(e.output_shape) for e in examples) == [2, 3]
    assert all(bool(jnp.all(e.root > 0)) for e in examples)  # started away from 0


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


def test_save_load_round_trip(tmp_path):
    model = {"background": NonNegative(DATA), "counts": jnp.arange(3)}
    ptyrax_core.save(tmp_path / "model.ptyrax", model)
    back = ptyrax_core.load(tmp_path / "model.ptyrax")
    assert type(back["background"]) is NonNegative
    assert back["background"].output_shape == (2, 3)
    assert jnp.array_equal(back["background"].root, model["background"].root)
    assert jnp.array_equal(back["background"](), model["background"]())


def test_build_from_a_spec():
    built = ptyrax_core.build({"type": "non_negative", "initial_data": [[0.25, 1.0], [4, 9]]})
    assert type(built) is NonNegative and built.root.dtype == jnp.float32
    assert jnp.array_equal(built.root, jnp.array([[0.5, 1.0], [2.0, 3.0]]))
    ints = ptyrax_core.build({"type": "non_negative", "initial_data": [[1, 4]]})
    assert ints.root.dtype == jnp.float32
    with pytest.raises(ptyrax_core.SpecError, match=r"non_negative .*initial_data.*-2\.0"):
        ptyrax_core.build({"type": "non_negative", "initial_data": [[1.0, -2.0]]})
