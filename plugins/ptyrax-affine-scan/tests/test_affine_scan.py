import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_affine_scan import AffinePositionsParameter as Affine

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance

NOMINAL = jnp.array(
    [[0.0, 0.0], [0.0, 3.0], [0.5, 6.0], [3.0, 0.5], [3.0, 3.0], [3.5, 6.5], [6.0, 1.0]]
)
N = NOMINAL.shape[0]
MATRIX = jnp.array([[1.02, -0.05], [0.04, 0.97]])
SHIFT = jnp.array([0.7, -1.3])


def normal(shape, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


def _centred(nominal):
    """`nominal - centre` and `radius`, in float64."""
    wide = np.asarray(nominal, np.float64)
    away = wide - wide.mean(axis=0)
    return away, np.sqrt((away**2).sum(axis=1).max())


def trained(offsets=False):
    """A parameter with nontrivial deformation (MATRIX about the centre), shift (and offsets)."""
    p = Affine(NOMINAL, offsets=offsets)
    _, radius = _centred(NOMINAL)
    deformation = jnp.asarray((np.asarray(MATRIX, np.float64) - np.eye(2)) * radius, jnp.float32)
    p = eqx.tree_at(lambda p: (p.deformation, p.shift), p, (deformation, SHIFT))
    if offsets:
        p = eqx.tree_at(lambda p: p.offsets, p, 0.1 * normal((N, 2), 1))
    return p


def closed_form(p):
    """nominal[i] + (deformation / radius) @ (nominal[i] - centre) + shift + offsets[i], in
    float64."""
    wide = lambda x: np.asarray(x, np.float64)  # noqa: E731
    away, radius = _centred(p.nominal)
    out = wide(p.nominal) + away @ (wide(p.deformation) / radius).T + wide(p.shift)
    return out if p.offsets is None else out + wide(p.offsets)


# --- values -----------------------------------------------------------------------------------


def test_identity_start_gives_nominal():
    for offsets in (False, True):
        p = Affine(NOMINAL, offsets=offsets)
        assert p.n == N and p.has_offsets is offsets
        assert jnp.array_equal(p.matrix, jnp.eye(2)) and jnp.array_equal(p.shift, jnp.zeros(2))
        assert jnp.array_equal(p.deformation, jnp.zeros((2, 2)))
        assert jnp.array_equal(p.all, NOMINAL)
        assert all(jnp.array_equal(p.at_index(i), NOMINAL[i]) for i in range(N))
    assert Affine(NOMINAL).offsets is None
    assert [x.shape for x in jax.tree_util.tree_leaves(Affine(NOMINAL))] == [(N, 2), (2, 2), (2,)]
    assert len(jax.tree_util.tree_leaves(Affine(NOMINAL, offsets=True))) == 4


@pytest.mark.parametrize("offsets", [False, True])
def test_at_index_and_all_are_the_closed_form(offsets):
    p = trained(offsets)
    expected = closed_form(p)
    # two products and two sums per element (plus the offset), relative to the largest value
    assert p.all.shape == (N, 2) and p.all.dtype == jnp.float32
    assert_close(p.all, expected, terms=4)
    for i in range(-N, N):
        assert p.at_index(i).shape == (2,)
        assert_close(p.at_index(i), expected[i], terms=4, scale=float(np.abs(expected).max()))
        assert jnp.array_equal(p.at(i), p.at_index(i))
    assert jnp.array_equal(p.at_index(np.int64(2)), p.at_index(2))
    assert jnp.array_equal(p.at_index(jnp.array(2)), p.at_index(2))


def test_out_of_range_or_non_integer_index():
    p = trained()
    for i in (N, -N - 1, 100):
        with pytest.raises(IndexError, match=f"index {i} is out of range for {N} positions"):
            p.at_index(i)
    with pytest.raises(TypeError, match="index must be an integer scalar"):
        p.at_index(1.0)
    with pytest.raises(TypeError, match="index must be an integer scalar"):
        p.at_index(jnp.arange(2))


# --- gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("offsets", [False, True])
def test_gradients_match_the_closed_form(offsets):
    p = trained(offsets)
    w = normal((N, 2), 2)
    wide_w = np.asarray(w, np.float64)
    away, radius = _centred(NOMINAL)
    grad = jax.grad(lambda p: jnp.sum(w * p.all))
    for g in (grad(p), jax.jit(grad)(p)):
        # d/ddeformation sum(w * (away @ deformation.T / radius)) = w.T @ away / radius
        scale = float((np.abs(wide_w).T @ np.abs(away)).max() / radius)
        assert_close(g.deformation, wide_w.T @ away / radius, terms=2 * N, scale=scale)
        assert_close(g.shift, wide_w.sum(axis=0), terms=N, scale=float(np.abs(wide_w).sum()))
        assert jnp.array_equal(g.nominal, jnp.zeros_like(NOMINAL))  # frozen
        if offsets:
            assert jnp.array_equal(g.offsets, w)
        else:
            assert g.offsets is None


def test_one_step_moves_no_position_more_than_a_pixel():
    """Every trainable number is in pixels: a deformation of unit (Frobenius) norm moves the
    farthest position by at most 1 pixel, wherever the scan lies; 1 when aimed at it."""
    for nominal in (NOMINAL, NOMINAL + 1000.0):  # the same scan, far from the origin
        p = Affine(nominal)
        away, radius = _centred(nominal)
        far = away[np.argmax((away**2).sum(axis=1))] / radius
        aimed = np.outer([0.6, 0.8], far)  # unit norm, along the farthest position
        units = [jnp.zeros(4).at[k].set(1.0).reshape(2, 2) for k in range(4)]
        for unit in [*units, jnp.asarray(aimed, jnp.float32)]:
            moved = eqx.tree_at(lambda p: p.deformation, p, unit).all - nominal
            farthest = float(jnp.max(jnp.linalg.norm(moved, axis=1)))
            assert farthest <= 1.0 + rounding_tolerance(jnp.float32, terms=8, scale=1000.0)
        assert_close(np.float32(farthest), 1.0, terms=8, scale=1000.0)  # the aimed one


def test_gradient_at_one_index():
    p = trained(offsets=True)
    w = jnp.array([0.3, -2.0])
    g = jax.grad(lambda p, i: jnp.sum(w * p.at_index(i)))(p, 4)
    away, radius = _centred(NOMINAL)
    assert_close(g.deformation, np.outer(w, away[4]) / radius, terms=4)
    assert jnp.array_equal(g.shift, w)
    assert jnp.array_equal(g.offsets, jnp.zeros((N, 2)).at[4].set(w))
    assert not jnp.any(g.nominal)
    assert Affine.frozen_fields == ("nominal",)


def test_matrix_and_translation_are_the_same_transform():
    p = trained(offsets=False)
    wide = np.asarray(NOMINAL, np.float64) @ np.asarray(p.matrix, np.float64).T
    assert_close(p.matrix, np.asarray(MATRIX, np.float64), terms=4)
    assert_close(p.all, wide + np.asarray(p.translation, np.float64), terms=8, scale=8.0)


# --- with_array -------------------------------------------------------------------------------


def _fit_terms(nominal):
    """Rounding of a least-squares fit of N points: every solution component sums N products,
    amplified by the condition number of the centred system; with a float64 scale factor."""
    a = np.concatenate([nominal - nominal.mean(0), np.ones((len(nominal), 1))], axis=1)
    return len(nominal) * np.linalg.cond(a)


def test_with_array_recovers_an_affine_transform():
    target = NOMINAL @ MATRIX.T + SHIFT
    with jax.enable_x64(True):  # the fit in float64, against the float64 closed form
        nominal = jnp.asarray(np.asarray(NOMINAL, np.float64))
        wide_target = np.asarray(nominal) @ np.asarray(MATRIX, np.float64).T + np.asarray(SHIFT)
        q = Affine(nominal).with_array(wide_target)
        assert q.matrix.dtype == q.deformation.dtype == jnp.float64
        terms = _fit_terms(np.asarray(nominal))
        assert_close(q.matrix, np.asarray(MATRIX, np.float64), terms=terms, scale=8.0)
        assert_close(q.translation, np.asarray(SHIFT, np.float64), terms=terms, scale=8.0)
    q = Affine(NOMINAL).with_array(target)  # float32: the same to float32 rounding
    assert q.matrix.dtype == q.shift.dtype == jnp.float32
    terms = _fit_terms(np.asarray(NOMINAL, np.float64))
    assert_close(q.matrix, np.asarray(MATRIX, np.float64), terms=terms, scale=8.0)
    assert_close(q.translation, np.asarray(SHIFT, np.float64), terms=terms, scale=8.0)
    q = Affine(NOMINAL, offsets=True).with_array(target)
    assert_close(q.offsets, np.zeros((N, 2)), terms=terms, scale=8.0)  # nothing left over


def test_with_array_and_offsets_reproduce_any_target():
    target = 10.0 * normal((N, 2), 3)
    p = Affine(NOMINAL, offsets=True)
    for with_array in (lambda p, t: p.with_array(t), jax.jit(lambda p, t: p.with_array(t))):
        q = with_array(p, target)
        assert type(q) is Affine and q.has_offsets
        # offsets = target - affine(nominal), then all = affine(nominal) + offsets: 4 roundings
        assert_close(q.all, target, terms=4, scale=float(jnp.max(jnp.abs(q.all - q.offsets))))


def test_without_offsets_with_array_is_the_least_squares_projection():
    target = NOMINAL + 0.5 * normal((N, 2), 4)
    q = Affine(NOMINAL).with_array(target)
    a = np.concatenate([np.asarray(NOMINAL, np.float64), np.ones((N, 1))], axis=1)
    reference, *_ = np.linalg.lstsq(a, np.asarray(target, np.float64), rcond=None)
    projection = a @ reference
    terms = _fit_terms(np.asarray(NOMINAL, np.float64))
    assert_close(q.all, projection, terms=terms)
    residual = np.asarray(target, np.float64) - np.asarray(q.all, np.float64)
    # orthogonal to every column of [nominal, 1], to the rounding of q.all (N terms summed)
    scale = float(np.abs(a).sum(axis=0).max() * np.abs(projection).max())
    tol = rounding_tolerance(jnp.float32, terms=terms, scale=scale)  # of q.all's dtype
    assert np.abs(a.T @ residual).max() <= tol
    assert_close(q.all, q.with_array(q.all).all, terms=terms)  # a projection: idempotent


def test_with_array_of_a_degenerate_scan_is_the_minimum_norm_fit():
    line = jnp.stack([jnp.full(5, 2.0), jnp.arange(5.0)], axis=-1)  # one row: collinear
    target = line @ MATRIX.T + SHIFT
    q = Affine(line).with_array(target)
    # exact on the points, and the identity kept across the line: matrix[:, 0] is not seen,
    # its minimum-norm correction is 0 (the row coordinate is constant about the centre)
    terms = 5 * 10
    assert_close(q.all, np.asarray(target, np.float64), terms=terms)
    assert_close(q.matrix[:, 0], np.array([1.0, 0.0]), terms=terms)
    assert_close(q.matrix[:, 1], np.asarray(MATRIX[:, 1], np.float64), terms=terms)
    one = Affine(jnp.array([[3.0, 4.0]])).with_array(jnp.array([[5.0, 1.0]]))  # N = 1
    assert jnp.array_equal(one.matrix, jnp.eye(2)) and jnp.array_equal(one.all, [[5.0, 1.0]])


def test_with_array_keeps_structure_and_refuses_bad_targets():
    p = trained(offsets=True)
    q = jax.jit(lambda p: p.with_array(p.all))(p)
    assert jax.tree_util.tree_structure(q) == jax.tree_util.tree_structure(p)
    assert jnp.array_equal(q.nominal, p.nominal)
    assert_close(q.all, closed_form(p), terms=32)
    assert Affine(NOMINAL).with_array(np.asarray(NOMINAL)).all.dtype == jnp.float32
    with pytest.raises(
        ValueError, match=rf"target must have shape \({N}, 2\); got shape \(2, {N}\)"
    ):
        p.with_array(NOMINAL.T)
    with pytest.raises(TypeError, match="target is complex"):
        p.with_array(NOMINAL * 1j)
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array(NOMINAL.tolist())


# --- models, transformations, stacks ----------------------------------------------------------


def test_under_jit_and_vmap_over_indices():
    p = trained(offsets=True)
    out = jax.jit(jax.vmap(lambda p, i: p.at_index(i), in_axes=(None, 0)))(p, jnp.arange(N))
    assert_close(out, closed_form(p), terms=4)
    assert_close(jax.jit(lambda p: p.all)(p), closed_form(p), terms=4)


def test_resolves_in_a_model():
    p = trained()
    model = {"positions": p, "frames": ptyrax_core.IndexSliceParameter(jnp.arange(N))}

    def at(model, i):
        m = ptyrax_core.resolve_parametrizations(model, i)
        return m["positions"].at_current_index(), m["frames"].at_current_index()

    positions, frames = jax.jit(jax.vmap(at, in_axes=(None, 0)))(model, jnp.arange(N))
    assert jnp.array_equal(frames, jnp.arange(N))
    assert_close(positions, closed_form(p), terms=4)
    assert_close(at(model, 2)[0], closed_form(p)[2], terms=4, scale=8.0)
    every = ptyrax_core.resolve_parametrizations(model)
    assert jnp.array_equal(every["positions"], p.all)
    with pytest.raises(ValueError, match="not bound to an index"):
        p.at_current_index()


def test_stacks_keep_n_and_stack_their_values():
    a, b = trained(), trained().with_array(NOMINAL + 1.0)
    stack = jax.tree_util.tree_map(lambda *x: jnp.stack(x), a, b)
    assert stack.stack_shape == (2,) and stack.n == N
    for i in (0, 3, N - 1):
        assert stack.at_index(i).shape == (2, 2)
        assert jnp.array_equal(stack.at_index(i), jnp.stack([a.at_index(i), b.at_index(i)]))
    assert jnp.array_equal(stack.all, jnp.stack([a.all, b.all]))
    with pytest.raises(IndexError):
        stack.at_index(N)
    with pytest.raises(ValueError, match="with_array fits one member"):
        stack.with_array(NOMINAL)
    vmapped = eqx.filter_vmap(lambda x: Affine(x, offsets=True))(jnp.stack([NOMINAL, NOMINAL]))
    assert vmapped.stack_shape == (2,) and vmapped.n == N
    assert jnp.array_equal(vmapped.at_index(1), jnp.stack([NOMINAL[1], NOMINAL[1]]))


# --- registry, examples, checkpoints, specs ---------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("affine_positions") is Affine
    from ptyrax_core.parametrizations import AffinePositionsParameter as exported

    assert exported is Affine


def test_examples_with_and_without_offsets():
    examples = ptyrax_core.registry.examples("affine_scan")["affine_scan"]
    assert [type(e) for e in examples] == [Affine, Affine]
    assert sorted(e.has_offsets for e in examples) == [False, True]
    assert all(not jnp.array_equal(e.matrix, jnp.eye(2)) for e in examples)  # fitted, nontrivial


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


@pytest.mark.parametrize("offsets", [False, True])
def test_save_load_bit_exact(tmp_path, offsets):
    model = {"positions": trained(offsets), "counts": jnp.arange(3)}
    ptyrax_core.save(tmp_path / "model.ptyrax", model)
    back = ptyrax_core.load(tmp_path / "model.ptyrax")["positions"]
    assert type(back) is Affine and back.has_offsets is offsets
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(model["positions"])
    leaves = jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(model["positions"])
    for x, y in zip(*leaves, strict=True):
        assert x.dtype == y.dtype and np.asarray(x).tobytes() == np.asarray(y).tobytes()
    assert np.asarray(back.all).tobytes() == np.asarray(model["positions"].all).tobytes()


def test_build_from_a_spec():
    built = ptyrax_core.build({"type": "affine_positions", "nominal": [[0, 1], [2.5, 3]]})
    assert type(built) is Affine and built.nominal.dtype == jnp.float32 and not built.has_offsets
    assert jnp.array_equal(built.all, jnp.array([[0.0, 1.0], [2.5, 3.0]]))
    with_offsets = ptyrax_core.build(
        {"type": "affine_positions", "nominal": [[0, 1], [2, 3]], "offsets": True}
    )
    assert with_offsets.offsets.shape == (2, 2)
    with pytest.raises(ptyrax_core.SpecError, match=r"affine_positions.*nominal.*shape \(N, 2\)"):
        ptyrax_core.build({"type": "affine_positions", "nominal": [[0.0, 1.0, 2.0]]})


# --- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (5, 3), (2, 5), (0, 2), (3, 2, 1), ()])
def test_positions_of_the_wrong_shape(shape):
    with pytest.raises(
        ValueError,
        match=r"nominal must have shape \(N, 2\), N >= 1.*got shape " + re.escape(str(shape)),
    ):
        Affine(jnp.zeros(shape))


def test_bad_values_and_types():
    with pytest.raises(ValueError, match=r"nominal must be finite; got nan at index \(2, 1\)"):
        Affine(NOMINAL.at[2, 1].set(jnp.nan))
    with pytest.raises(ValueError, match="nominal must be finite; got inf"):
        Affine(np.asarray(NOMINAL.at[0, 0].set(jnp.inf)))
    with pytest.raises(TypeError, match=r"nominal must be a real array.*complex64"):
        Affine(NOMINAL * 1j)
    with pytest.raises(TypeError, match=r"nominal must be a real array.*bool"):
        Affine(NOMINAL > 1)
    with pytest.raises(TypeCheckError, match="nominal"):
        Affine(NOMINAL.tolist())
    with pytest.raises(TypeCheckError, match="offsets"):
        Affine(NOMINAL, offsets=1)
    ints = Affine(np.array([[0, 1], [2, 3]]))
    assert ints.nominal.dtype == ints.matrix.dtype == jnp.float32


def test_traced_nominal_is_taken_unchecked():
    out = jax.jit(lambda x: Affine(x).all)(NOMINAL)
    assert jnp.array_equal(out, NOMINAL)
