import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_outer_product import OuterProductArrayParametrization

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance


def normal(seed):
    rng = np.random.default_rng(seed)
    return lambda shape: rng.standard_normal(shape).astype(np.float32)


def magnitude(p):
    """The largest sum |c| |r| over the n_outer terms of an element: what the rounding of the
    sums in p() is relative to (p() itself may be smaller, where terms cancel)."""
    c, r = jnp.abs(p.column_vector), jnp.abs(p.row_vector)
    return float(jnp.max(jnp.einsum("...msd,...snd->...mnd", c, r)))


def test_default_ones_sums_n_outer_terms():
    p = OuterProductArrayParametrization((5, 7, 2), n_outer=3)
    assert p.column_vector.shape == (5, 3, 2) and p.row_vector.shape == (3, 7, 2)
    assert jnp.array_equal(p(), jnp.full((5, 7, 2), 3.0))
    assert p.shape == (5, 7, 2) and p.n_outer == 3


def test_matches_an_explicit_sum_of_outer_products():
    p = OuterProductArrayParametrization((2, 4, 5, 3), n_outer=2, initializer=normal(1))
    c, r = np.asarray(p.column_vector), np.asarray(p.row_vector)
    expected = np.zeros((2, 4, 5, 3))
    for b in range(2):
        for d in range(3):
            for s in range(2):
                expected[b, :, :, d] += np.outer(c[b, :, s, d], r[b, s, :, d])
    assert_close(p(), expected, terms=2, scale=magnitude(p))  # sums of 2 products


@pytest.mark.parametrize("n_outer", [1, 2, 3])
def test_rank_is_at_most_n_outer_per_slice(n_outer):
    p = OuterProductArrayParametrization((2, 8, 6, 2), n_outer, initializer=normal(n_outer))
    out = np.asarray(p())
    ranks = {int(np.linalg.matrix_rank(out[b, :, :, d])) for b in range(2) for d in range(2)}
    assert ranks == {n_outer}  # random factors: exactly n_outer, never more
    # with n_outer >= min(M, N) the slices are unconstrained (full rank 6)
    q = OuterProductArrayParametrization((8, 6, 1), n_outer=7, initializer=normal(0))
    assert np.linalg.matrix_rank(np.asarray(q())[..., 0]) == 6


def test_initializer_gets_each_factor_shape_and_complex_works():
    shapes = []

    def init(shape):
        shapes.append(shape)
        return jnp.ones(shape, jnp.complex64) * 1j

    p = OuterProductArrayParametrization((4, 3, 5, 2), n_outer=2, initializer=init)
    assert shapes == [(4, 3, 2, 2), (4, 2, 5, 2)]
    assert p().dtype == jnp.complex64
    assert jnp.array_equal(p(), jnp.full((4, 3, 5, 2), -2.0 + 0j))  # 1j * 1j, twice: exact
    q = OuterProductArrayParametrization((2, 2, 1), 1, initializer=lambda s: np.ones(s, int))
    assert jnp.issubdtype(q.column_vector.dtype, jnp.floating)
    assert isinstance(q.row_vector, jax.Array)


def test_gradient_reaches_both_factors():
    p = OuterProductArrayParametrization((3, 4, 1), n_outer=2, initializer=normal(2))
    target = jnp.arange(12.0).reshape(3, 4, 1)
    grads = jax.grad(lambda p: jnp.sum((p() - target) ** 2))(p)
    residual = 2 * (p() - target)
    # dL/dc[m,s,d] = sum_n residual[m,n,d] r[s,n,d]; dL/dr[s,n,d] = sum_m residual c[m,s,d]:
    # sums of 4 and of 3 products each side, relative to sum |residual| |factor|
    column = jnp.einsum("mnd,snd->msd", residual, p.row_vector)
    scale = float(jnp.max(jnp.einsum("mnd,snd->msd", jnp.abs(residual), jnp.abs(p.row_vector))))
    assert_close(grads.column_vector, column, terms=4, scale=scale)
    row = jnp.einsum("mnd,msd->snd", residual, p.column_vector)
    scale = float(jnp.max(jnp.einsum("mnd,msd->snd", jnp.abs(residual), jnp.abs(p.column_vector))))
    assert_close(grads.row_vector, row, terms=4, scale=scale)


def test_only_the_factors_are_leaves_and_plain_jit_takes_it():
    p = OuterProductArrayParametrization((4, 4, 1), n_outer=2, initializer=normal(3))
    leaves = jax.tree_util.tree_leaves(eqx.filter(p, eqx.is_inexact_array))
    assert [x.shape for x in leaves] == [(4, 2, 1), (2, 4, 1)]
    assert len(jax.tree_util.tree_leaves(p)) == 2
    assert_close(jax.jit(lambda p: p())(p), p(), terms=2, scale=magnitude(p))


def test_resolves_under_jit_and_vmap_with_index_slice():
    p = OuterProductArrayParametrization((3, 4, 5, 1), n_outer=1, initializer=normal(4))
    model = {"probe": ptyrax_core.IndexSliceParameter(p)}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["probe"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.arange(3))
    assert out.shape == (3, 4, 5, 1)
    assert_close(out, p(), scale=magnitude(p))  # one product each

    def loss(model, i):
        return jnp.sum(ptyrax_core.resolve_parametrizations(model, i)["probe"].at_current_index())

    grads = jax.jit(jax.grad(loss))(model, 1)
    # only index 1 contributes: the gradient on the other indices' factors is zero
    g = grads["probe"].parameters.column_vector
    assert jnp.all(g[0] == 0) and jnp.all(g[2] == 0) and jnp.any(g[1] != 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"output_shape must have at least 3 dimensions.*\(4, 4\)"):
        OuterProductArrayParametrization((4, 4), 1)
    with pytest.raises(ValueError, match="output_shape must not be negative"):
        OuterProductArrayParametrization((4, -4, 1), 1)
    with pytest.raises(ValueError, match="n_outer must be an integer of at least 1; got 0"):
        OuterProductArrayParametrization((4, 4, 1), 0)
    with pytest.raises(ValueError, match="n_outer must be an integer of at least 1; got True"):
        OuterProductArrayParametrization((4, 4, 1), True)
    with pytest.raises(TypeCheckError, match="n_outer"):
        OuterProductArrayParametrization((4, 4, 1), 2.0)
    with pytest.raises(TypeCheckError, match="output_shape"):
        OuterProductArrayParametrization([4, 4, 1], 1)
    with pytest.raises(TypeCheckError, match="initializer"):
        OuterProductArrayParametrization((4, 4, 1), 1, initializer=jnp.ones((4, 1, 1)))
    with pytest.raises(ValueError, match=r"initializer returned shape \(4, 4, 1\); it is called"):
        OuterProductArrayParametrization((4, 4, 1), 1, initializer=lambda s: jnp.ones((4, 4, 1)))
    with pytest.raises(TypeError, match="initializer must be the array returned"):
        OuterProductArrayParametrization((4, 4, 1), 1, initializer=lambda s: [1.0])


def test_registered():
    assert ptyrax_core.registry.get("outer_product") is OuterProductArrayParametrization
    from ptyrax_core.parametrizations import OuterProductArrayParametrization as exported

    assert exported is OuterProductArrayParametrization


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------


def _slices(target):
    """The (..., d, M, N) slices of `target`, in float64 or complex128: the references."""
    target = np.asarray(target)
    return np.moveaxis(target.astype(np.result_type(target, np.float64)), -1, -3)


def truncated_svd(target, rank):
    """NumPy's best rank-`rank` approximation of every (M, N) slice of (..., M, N, d)."""
    u, s, vh = np.linalg.svd(_slices(target), full_matrices=False)
    return np.moveaxis((u[..., :rank] * s[..., None, :rank]) @ vh[..., :rank, :], -3, -1)


def svd_scale(target, rank):
    """What a float32 truncated SVD's rounding is relative to, the largest over the slices.

    LAPACK's SVD is exact for a matrix within max(M, N) eps s_1 of the slice (numpy's
    matrix_rank tolerance, and with_array's; so terms=max(M, N)); the rank-`rank` part moves by
    that times s_k / (s_k - s_k+1), the gap that says how well its subspace is determined.
    """
    s = np.linalg.svd(_slices(target), compute_uv=False)
    s = np.where(s > s[..., :1] * max(np.shape(target)[-3:-1]) * np.finfo(np.float64).eps, s, 0)
    k = min(rank, s.shape[-1])
    if k == s.shape[-1]:
        return float(np.max(s[..., 0]))
    kept, next_one = s[..., k - 1], s[..., k]
    gap = np.where(kept > 0, kept / np.where(kept > 0, kept - next_one, 1.0), 1.0)
    return float(np.max(s[..., 0] * gap))


def test_with_array_is_the_truncated_svd_per_channel():
    target = normal(2)((2, 6, 5, 3))
    p = OuterProductArrayParametrization((2, 6, 5, 3), n_outer=2)
    q = p.with_array(target)
    assert type(q) is OuterProductArrayParametrization and q.n_outer == 2
    assert q.column_vector.shape == (2, 6, 2, 3) and q.row_vector.shape == (2, 2, 5, 3)
    best, scale = truncated_svd(target, 2), svd_scale(target, 2)
    assert_close(q(), best, terms=6, scale=scale)
    # Eckart-Young: the error of each slice is the norm of its discarded singular values. The
    # factors are the exact truncation of a slice A + E, |E| < 6 eps s_1: the error norm moves
    # by at most 2 |E|_F <= 2 sqrt(5) |E|, whatever the gap.
    s = np.linalg.svd(_slices(target), compute_uv=False)
    errors = np.linalg.norm(np.asarray(q(), np.float64) - target, axis=(-3, -2))
    slack = rounding_tolerance(jnp.float32, terms=6, scale=2 * np.sqrt(5) * np.max(s[..., 0]))
    assert np.all(np.abs(errors - np.linalg.norm(s[..., 2:], axis=-1)) <= slack)
    assert_close(jax.jit(lambda p, t: p.with_array(t)())(p, target), best, terms=6, scale=scale)


def test_with_array_is_exact_for_a_target_of_rank_n_outer_and_balances_the_factors():
    p = OuterProductArrayParametrization((7, 4, 2), n_outer=3, initializer=normal(4))
    q = p.with_array(p())
    assert_close(q(), p(), terms=7, scale=svd_scale(p(), 3))
    s = np.linalg.svd(_slices(p()), compute_uv=False)[:, :3]  # (d, 3)
    column_norms = np.linalg.norm(q.column_vector, axis=0).T  # (d, 3)
    row_norms = np.linalg.norm(q.row_vector, axis=1).T
    # singular values move by at most |E| < 7 eps s_1 (no gap), and the squared norms sum 7 or 4
    # squares of a factor orthonormal to that rounding
    assert_close(column_norms**2, s, terms=2 * 7, scale=float(s.max()))
    assert_close(row_norms**2, s, terms=2 * 7, scale=float(s.max()))


def test_with_array_below_rank_n_outer_leaves_every_term_trainable():
    rank_one = jnp.outer(jnp.arange(1.0, 6.0), jnp.arange(1.0, 5.0))[..., None]
    q = OuterProductArrayParametrization((5, 4, 1), n_outer=2).with_array(rank_one)
    assert_close(q(), rank_one, terms=5, scale=svd_scale(rank_one, 2))
    # a unit vector u_2: orthonormal to the SVD's rounding, its norm a sum of 5 squares
    assert_close(jnp.linalg.norm(q.column_vector[:, 1, 0]), np.array(1.0), terms=2 * 5)
    grads = jax.grad(lambda q: jnp.sum(q() * jnp.arange(20.0).reshape(5, 4, 1)))(q)
    assert jnp.max(jnp.abs(grads.row_vector[1])) > 1e-3  # the second term moves


def test_with_array_with_more_terms_than_min_m_n_is_exact_and_pads_with_zeros():
    target = normal(5)((3, 4, 1))
    q = OuterProductArrayParametrization((3, 4, 1), n_outer=5).with_array(target)
    assert_close(q(), target, terms=4, scale=svd_scale(target, 5))
    assert jnp.array_equal(q.column_vector[:, 3:], jnp.zeros((3, 2, 1)))


def test_with_array_complex_and_dtypes():
    rng = np.random.default_rng(6)
    target = (rng.standard_normal((5, 4, 2)) + 1j * rng.standard_normal((5, 4, 2))).astype(
        np.complex64
    )
    complex_ones = lambda shape: jnp.ones(shape, jnp.complex64)  # noqa: E731
    p = OuterProductArrayParametrization((5, 4, 2), 2, complex_ones)
    q = p.with_array(target)
    assert q.column_vector.dtype == q.row_vector.dtype == jnp.complex64
    assert_close(q(), truncated_svd(target, 2), terms=5, scale=svd_scale(target, 2))
    assert q.with_array(target.real).column_vector.dtype == jnp.complex64  # real in: fine
    with pytest.raises(TypeError, match=r"target is complex \(complex64\), but the output is"):
        OuterProductArrayParametrization((5, 4, 2), 2).with_array(target)


def test_with_array_refuses_another_shape_by_name():
    p = OuterProductArrayParametrization((5, 4, 1), 1)
    with pytest.raises(ValueError, match=r"target must have shape \(5, 4, 1\).*got shape \(5, 4\)"):
        p.with_array(jnp.ones((5, 4)))
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array(None)
