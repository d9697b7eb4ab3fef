import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_probe_relaxation import ProbeRelaxationParameter as Relaxation

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance

N, SHAPE, MODES = 7, (4, 5), (2, 3, 4)


def complex_normal(shape, seed=0):
    """A complex128 NumPy array of standard normal parts."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def trained(shape=SHAPE, rank=2, seed=0):
    """A parameter with nontrivial (random) eigenprobes and weights, complex64."""
    p = Relaxation(np.ones((N, *shape)), rank=rank)
    eigenprobes = jnp.asarray(complex_normal((rank, *shape), seed), jnp.complex64)
    weights = jnp.asarray(complex_normal((N, rank), seed + 1), jnp.complex64)
    return eqx.tree_at(lambda p: (p.eigenprobes, p.weights), p, (eigenprobes, weights))


def wide(x):
    return np.asarray(x).astype(np.complex128)


def closed_form(p):
    """sum_r weights[i, r] * eigenprobes[r], in complex128, and the sums of |terms|."""
    w, e = wide(p.weights), wide(p.eigenprobes)
    terms = np.abs(w)[..., None] * np.abs(e.reshape(p.rank, -1))[None]
    shape = (N, *p.probe_shape)
    return np.einsum("nr,rm->nm", w, e.reshape(p.rank, -1)).reshape(shape), terms.sum(1).max()


def rank_r(shape, rank, seed=0):
    """A random complex64 target `(N, *shape)` of rank `rank`, and its singular values."""
    a = complex_normal((N, rank), seed) @ complex_normal((rank, int(np.prod(shape))), seed + 1)
    target = a.astype(np.complex64)
    s = np.linalg.svd(wide(target), compute_uv=False)
    return target.reshape(N, *shape), s


def svd_terms(target):
    """The rounding of an SVD and its recombination: max(N, M) terms (backward stable)."""
    return max(target.shape[0], int(np.prod(target.shape[1:])))


def dct(n, rank):
    i, r = np.arange(n)[:, None] + 0.5, np.arange(rank)[None, :]
    return np.cos(np.pi * r * i / n)


def gram_schmidt(columns):
    """Classical Gram-Schmidt in order, float64: each column minus its projection on the earlier
    ones, normalized (its overlap with the input column real positive)."""
    out = []
    for c in columns.T:
        for q in out:
            c = c - np.vdot(q, c) * q
        out.append(c / np.linalg.norm(c))
    return np.stack(out, axis=1)


# --- construction and values ------------------------------------------------------------------


def test_fields_shapes_and_dtypes():
    for shape in (SHAPE, MODES):
        p = Relaxation(complex_normal((N, *shape)).astype(np.complex64), rank=3)
        assert p.n == N and p.rank == 3 and p.probe_shape == shape
        assert p.eigenprobes.shape == (3, *shape) and p.weights.shape == (N, 3)
        assert p.eigenprobes.dtype == p.weights.dtype == jnp.complex64
        assert p.all.shape == (N, *shape) and p.at_index(0).shape == shape
    assert Relaxation(np.ones((2, 3, 3))).rank == 1  # the default
    for real in (np.ones((3, 2, 2)), np.ones((3, 2, 2), np.int32), jnp.ones((3, 2, 2))):
        assert Relaxation(real).weights.dtype == jnp.complex64
    with jax.enable_x64(True):
        assert Relaxation(np.ones((3, 2, 2), np.float64)).weights.dtype == jnp.complex128
        assert Relaxation(np.ones((3, 2, 2), np.complex128)).eigenprobes.dtype == jnp.complex128
    leaves = jax.tree_util.tree_leaves(Relaxation(np.ones((N, *MODES)), rank=2))
    assert [x.shape for x in leaves] == [(2, *MODES), (N, 2)]


@pytest.mark.parametrize("shape", [SHAPE, MODES])
def test_at_index_and_all_are_the_closed_form(shape):
    p = trained(shape, rank=3)
    expected, scale = closed_form(p)
    # R complex products (2 roundings each) summed, relative to the sum of their magnitudes
    terms = 2 * p.rank + 2
    assert p.all.dtype == jnp.complex64
    assert_close(p.all, expected, terms=terms, scale=scale)
    for i in range(-N, N):
        assert p.at_index(i).shape == shape
        assert_close(p.at_index(i), expected[i], terms=terms, scale=scale)
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


@pytest.mark.parametrize("shape", [SHAPE, MODES])
def test_gradients_match_the_closed_form(shape):
    p = trained(shape, rank=2)
    w = jnp.asarray(complex_normal((N, *shape), 5), jnp.complex64)
    flat_w = wide(w).reshape(N, -1)
    e, weights = wide(p.eigenprobes).reshape(2, -1), wide(p.weights)
    # d/d weights[i, r] of sum Re(conj(w) * all) is sum_m conj(w[i, m]) e[r, m] (JAX returns
    # the conjugate of the steepest ascent direction: d/dx - i d/dy); the same for eigenprobes
    grad_weights = flat_w.conj() @ e.T
    grad_eigenprobes = (weights.T @ flat_w.conj()).reshape(2, *shape)
    m = flat_w.shape[1]
    grad = jax.grad(lambda p: jnp.sum(jnp.real(jnp.conj(w) * p.all)))
    for g in (grad(p), jax.jit(grad)(p)):
        scale = float((np.abs(flat_w) @ np.abs(e).T).max())
        assert_close(g.weights, grad_weights, terms=2 * m, scale=scale)
        scale = float((np.abs(weights).T @ np.abs(flat_w)).max())
        assert_close(g.eigenprobes, grad_eigenprobes, terms=2 * N, scale=scale)


def test_gradient_at_one_index_reaches_only_its_weights():
    p = trained(rank=3)
    g = jax.grad(lambda p: jnp.sum(jnp.abs(p.at_index(4)) ** 2))(p)
    assert jnp.any(g.weights[4] != 0) and not jnp.any(jnp.delete(g.weights, 4, axis=0))
    assert jnp.all(jnp.any(g.eigenprobes.reshape(3, -1) != 0, axis=1))  # every eigenprobe
    # |sum_r w_r e_r|^2: d/d conj(w_r) = 2 <e_r, probe>, returned conjugated by JAX's convention
    probe = wide(p.at_index(4)).ravel()
    e = wide(p.eigenprobes).reshape(3, -1)
    expected = 2 * (e @ probe.conj())
    assert_close(
        g.weights[4],
        expected,
        terms=2 * e.shape[1],
        scale=2 * float(np.abs(e).sum(1).max() * np.abs(probe).max()),
    )


# --- with_array -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [SHAPE, MODES])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_with_array_of_a_rank_r_target_gives_it_back(shape, rank):
    target, s = rank_r(shape, rank, seed=rank)
    p = Relaxation(np.ones((N, *shape)), rank=rank)
    for with_array in (lambda p, t: p.with_array(t), jax.jit(lambda p, t: p.with_array(t))):
        q = with_array(p, target)
        assert type(q) is Relaxation and q.rank == rank and q.probe_shape == shape
        assert_close(q.all, target, terms=svd_terms(target), scale=float(s[0]))
    # the same from the constructor, and weights of size 1 per entry: W^H W = N I
    q = Relaxation(target, rank=rank)
    assert_close(q.all, target, terms=svd_terms(target), scale=float(s[0]))
    gram = wide(q.weights).conj().T @ wide(q.weights)
    assert_close(gram.astype(np.complex64), N * np.eye(rank), terms=svd_terms(target), scale=N)


@pytest.mark.parametrize("rank", [1, 2, 4])
def test_with_array_of_a_full_rank_target_is_the_truncated_svd(rank):
    target = complex_normal((N, *MODES), 9).astype(np.complex64)
    matrix = wide(target).reshape(N, -1)
    u, s, vh = np.linalg.svd(matrix, full_matrices=False)
    best = ((u[:, :rank] * s[:rank]) @ vh[:rank]).reshape(target.shape)
    q = Relaxation(np.ones_like(target), rank=rank).with_array(target)
    # the rank-R subspace moves by the SVD's rounding over the gap to the discarded values
    terms = svd_terms(target) * s[0] / (s[rank - 1] - s[rank])
    assert_close(q.all, best, terms=terms, scale=float(s[0]))
    # Eckart-Young: the error is that of the discarded singular values
    error = np.linalg.norm(wide(q.all) - wide(target))
    tol = np.sqrt(target.size) * rounding_tolerance(jnp.complex64, terms=terms, scale=s[0])
    assert abs(error - np.sqrt(np.sum(s[rank:] ** 2))) <= tol
    # idempotent: the best approximation of a rank-R target is itself
    assert_close(q.with_array(q.all).all, q.all, terms=2 * terms, scale=float(s[0]))


def test_the_phase_convention():
    target = complex_normal((N, *SHAPE), 3).astype(np.complex64)
    q = Relaxation(target, rank=3)
    totals = wide(q.weights).sum(axis=0)
    # each column's sum is real and positive, to the rounding of N weights of size about 1
    tol = rounding_tolerance(jnp.complex64, terms=svd_terms(target), scale=N)
    assert np.all(np.abs(totals.imag) <= tol) and np.all(totals.real > tol)
    # the same weights whatever the phase of each position's probe subspace basis that LAPACK
    # returns: a target times a global phase gives the same weights, the phase goes to the
    # eigenprobes
    s = np.linalg.svd(wide(target).reshape(N, -1), compute_uv=False)
    terms = svd_terms(target) * s[0] / np.min(-np.diff(s[:4]))
    turned = Relaxation((target * np.exp(0.7j)).astype(np.complex64), rank=3)
    assert_close(turned.weights, wide(q.weights), terms=terms, scale=1.0)
    assert_close(turned.eigenprobes, wide(q.eigenprobes) * np.exp(0.7j), terms=terms, scale=s[0])


def test_a_sum_of_about_zero_takes_the_phase_of_the_largest_weight():
    amplitudes = np.array([1.0, 2.0, -3.0, 1j, -1j, 0.5, -0.5])  # sum 0, the largest is -3
    probe = complex_normal(SHAPE, 4)
    target = (amplitudes[:, None, None] * probe).astype(np.complex64)
    for phase in (1.0, np.exp(2.1j)):
        q = Relaxation((phase * target).astype(np.complex64), rank=1)
        expected = -np.sqrt(N) * amplitudes / np.linalg.norm(amplitudes)  # weight 2 positive
        assert_close(q.weights[:, 0], expected, terms=svd_terms(target))
        assert_close(q.all, phase * wide(target), terms=svd_terms(target))


@pytest.mark.parametrize("amplitudes", ["constant", "varying"])
def test_a_rank_one_target_with_three_components(amplitudes):
    probe = complex_normal(SHAPE, 6)
    a = np.ones(N) if amplitudes == "constant" else 1.0 + 0.3 * np.sin(np.arange(N)) + 0.2j
    target = (a[:, None, None] * probe).astype(np.complex64)
    q = Relaxation(np.ones_like(target), rank=3).with_array(target)
    scale = float(np.abs(target).max())
    assert_close(q.all, target, terms=svd_terms(target), scale=scale)
    assert jnp.array_equal(q.eigenprobes[1:], jnp.zeros((2, *SHAPE), jnp.complex64))
    # weights 1, 2: nonzero, varying across positions, orthogonal to weights 0
    w = wide(q.weights)
    assert np.all(np.abs(w[:, 1:]).max(axis=0) > 0.5) and np.all(np.ptp(w[:, 1:].real, 0) > 1)
    # and deterministic: the DCT columns 1, 2 Gram-Schmidt orthogonalized against the target's
    # one direction a (in float64), its conditioning amplifying the SVD's rounding of u_0
    columns = np.concatenate([a[:, None], dct(N, 3)[:, 1:]], axis=1)
    u0 = wide(target).reshape(N, -1)[:, 0] / wide(target).reshape(N, -1)[0, 0] * a[0]
    expected = np.sqrt(N) * gram_schmidt(columns)
    expected[:, 0] *= np.conj(expected[:, 0].sum()) / abs(expected[:, 0].sum())
    assert np.allclose(u0, a, atol=1e-5)
    terms = svd_terms(target) * np.linalg.cond(columns / np.linalg.norm(columns, axis=0))
    assert_close(q.weights, expected, terms=terms, scale=np.sqrt(N))
    gram = w.conj().T @ w
    assert_close(gram.astype(np.complex64), N * np.eye(3), terms=terms, scale=N)
    if amplitudes == "constant":  # the engine's start: the DCT columns themselves
        assert_close(q.weights[:, 1:], np.sqrt(N) * gram_schmidt(dct(N, 3))[:, 1:], terms=terms)
    # gradients reach every eigenprobe from there
    g = jax.grad(lambda p: jnp.sum(jnp.abs(p.all - 1.0) ** 2))(q)
    assert jnp.all(jnp.any(g.eigenprobes.reshape(3, -1) != 0, axis=1))


def test_a_zero_target_gives_zero_eigenprobes_and_the_dct_weights():
    q = Relaxation(np.zeros((N, *MODES)), rank=3)
    assert not jnp.any(q.eigenprobes) and not jnp.any(q.all)
    expected = np.sqrt(N) * gram_schmidt(dct(N, 3))
    assert_close(q.weights, expected, terms=N, scale=np.sqrt(N))
    assert_close(q.weights[:, 0], np.ones(N), terms=N)


def test_with_array_keeps_structure_and_refuses_bad_targets():
    p = trained(MODES, rank=2)
    expected, scale = closed_form(p)
    q = jax.jit(lambda p: p.with_array(p.all))(p)
    assert jax.tree_util.tree_structure(q) == jax.tree_util.tree_structure(p)
    assert_close(q.all, expected, terms=svd_terms(expected), scale=scale)
    real = p.with_array(np.ones((N, *MODES)))
    assert real.weights.dtype == jnp.complex64
    assert_close(real.all, np.ones((N, *MODES)), terms=svd_terms(expected))
    with pytest.raises(
        ValueError, match=re.escape(f"target must have shape ({N}, 2, 3, 4); got shape (2, 3, 4)")
    ):
        p.with_array(jnp.ones(MODES))
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array(np.ones((N, *MODES)).tolist())


# --- models, transformations, stacks ----------------------------------------------------------


def test_under_jit_and_vmap_over_indices():
    p = trained(MODES, rank=3)
    expected, scale = closed_form(p)
    out = jax.jit(jax.vmap(lambda p, i: p.at_index(i), in_axes=(None, 0)))(p, jnp.arange(N))
    assert_close(out, expected, terms=2 * 3 + 2, scale=scale)
    assert_close(jax.jit(lambda p: p.all)(p), expected, terms=2 * 3 + 2, scale=scale)
    target, s = rank_r(SHAPE, 2)
    eager = Relaxation(target, rank=2)
    jitted = jax.jit(lambda t: Relaxation(t, rank=2))(target)  # traced probes: no finite check
    assert_close(jitted.weights, wide(eager.weights), terms=svd_terms(target) * s[0] / s[1])
    assert_close(jitted.all, target, terms=svd_terms(target), scale=float(s[0]))


def test_resolves_in_a_model():
    p = trained()
    model = {"probe": p, "frames": ptyrax_core.IndexSliceParameter(jnp.arange(N))}
    expected, scale = closed_form(p)

    def at(model, i):
        m = ptyrax_core.resolve_parametrizations(model, i)
        return m["probe"].at_current_index(), m["frames"].at_current_index()

    probes, frames = jax.jit(jax.vmap(at, in_axes=(None, 0)))(model, jnp.arange(N))
    assert jnp.array_equal(frames, jnp.arange(N))
    assert_close(probes, expected, terms=6, scale=scale)
    assert jnp.array_equal(ptyrax_core.resolve_parametrizations(model)["probe"], p.all)


@pytest.mark.parametrize("shape", [SHAPE, MODES])
def test_stacks_keep_n_and_stack_their_values(shape):
    a, b = trained(shape, rank=2, seed=0), trained(shape, rank=2, seed=7)
    stack = jax.tree.map(lambda *x: jnp.stack(x), a, b)
    assert stack.stack_shape == (2,) and stack.n == N
    assert stack.rank == 2 and stack.probe_shape == shape
    for i in (0, 3, N - 1):
        assert stack.at_index(i).shape == (2, *shape)
        assert_close(stack.at_index(i), jnp.stack([a.at_index(i), b.at_index(i)]), terms=8)
    assert_close(stack.all, jnp.stack([a.all, b.all]), terms=8)
    with pytest.raises(IndexError):
        stack.at_index(N)
    with pytest.raises(ValueError, match="with_array fits one member.*Call it on each member"):
        stack.with_array(a.all)
    targets = jnp.stack([rank_r(shape, 2, 1)[0], rank_r(shape, 2, 2)[0]])
    vmapped = eqx.filter_vmap(lambda x: Relaxation(x, rank=2))(targets)
    assert vmapped.stack_shape == (2,) and vmapped.n == N and vmapped.probe_shape == shape
    for k in range(2):
        member = Relaxation(targets[k], rank=2)
        s = np.linalg.svd(wide(targets[k]).reshape(N, -1), compute_uv=False)
        assert_close(vmapped.all[k], wide(member.all), terms=svd_terms(targets[k]), scale=s[0])


# --- registry, examples, checkpoints, specs ---------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("probe_relaxation") is Relaxation
    from ptyrax_core.parametrizations import ProbeRelaxationParameter as exported

    assert exported is Relaxation


def test_examples():
    examples = ptyrax_core.registry.examples("probe_relaxation")["probe_relaxation"]
    assert [type(e) for e in examples] == [Relaxation] * 3
    shapes = [(e.probe_shape, e.rank, e.weights.dtype) for e in examples]
    assert shapes == [
        ((5, 6), 2, jnp.complex64),
        ((2, 3, 4), 2, jnp.complex64),
        ((5, 6), 3, jnp.complex64),
    ]
    for e in examples[:2]:  # nondegenerate: both components carry power
        power = np.linalg.norm(wide(e.eigenprobes).reshape(e.rank, -1), axis=1)
        assert power[1] > 0.05 * power[0]
    degenerate = examples[2]
    assert not jnp.any(degenerate.eigenprobes[1:]) and jnp.all(jnp.any(degenerate.weights != 0, 0))


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


@pytest.mark.parametrize("shape", [SHAPE, MODES])
def test_save_load_bit_exact(tmp_path, shape):
    model = {"probe": trained(shape, rank=2), "counts": jnp.arange(3)}
    ptyrax_core.save(tmp_path / "model.ptyrax", model)
    back = ptyrax_core.load(tmp_path / "model.ptyrax")["probe"]
    assert type(back) is Relaxation and back.rank == 2 and back.probe_shape == shape
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(model["probe"])
    leaves = jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(model["probe"])
    for x, y in zip(*leaves, strict=True):
        assert x.dtype == y.dtype and np.asarray(x).tobytes() == np.asarray(y).tobytes()
    assert np.asarray(back.all).tobytes() == np.asarray(model["probe"].all).tobytes()


def test_build_from_a_spec():
    init = {"init": "normal", "shape": [4, 3, 3], "seed": 1, "dtype": "complex64"}
    built = ptyrax_core.build({"type": "probe_relaxation", "probes": init, "rank": 2})
    expected = Relaxation(jax.random.normal(jax.random.PRNGKey(1), (4, 3, 3), jnp.complex64), 2)
    assert type(built) is Relaxation and built.rank == 2
    for x, y in zip(
        jax.tree_util.tree_leaves(built), jax.tree_util.tree_leaves(expected), strict=True
    ):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
    real = ptyrax_core.build({"type": "probe_relaxation", "probes": [[[1.0, 2.0]], [[2, 4]]]})
    assert real.rank == 1 and real.probe_shape == (1, 2) and real.all.dtype == jnp.complex64
    assert_close(real.all, np.array([[[1.0, 2.0]], [[2.0, 4.0]]]), terms=4)
    with pytest.raises(
        ptyrax_core.SpecError, match=r"probe_relaxation .*probes.*shape \(N, P, Q\)"
    ):
        ptyrax_core.build({"type": "probe_relaxation", "probes": [1.0, 2.0]})
    with pytest.raises(ptyrax_core.SpecError, match=r"probe_relaxation .*rank.*at most"):
        ptyrax_core.build({"type": "probe_relaxation", "probes": init, "rank": 5})


# --- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (5,), (5, 3), (2, 1, 2, 3, 4), (0, 3, 3), (3, 0, 2, 2)])
def test_probes_of_the_wrong_shape(shape):
    with pytest.raises(
        ValueError,
        match=r"probes must have shape \(N, P, Q\).*\(N, K, P, Q\).*got shape "
        + re.escape(str(shape)),
    ):
        Relaxation(jnp.zeros(shape))


def test_bad_values_and_types():
    probes = np.ones((N, *SHAPE), np.complex64)
    bad = probes.copy()
    bad[2, 1, 3] = np.nan
    with pytest.raises(
        ValueError, match=r"probes must be finite; got \(?nan.* at index \(2, 1, 3\)"
    ):
        Relaxation(bad)
    with pytest.raises(
        ValueError, match=r"probes must be finite; got \(inf\+0j\) at index \(0, 0, 0\)"
    ):
        Relaxation(jnp.ones((N, *SHAPE)).at[0, 0, 0].set(jnp.inf))
    with pytest.raises(TypeError, match=r"probes must be a numeric array.*bool"):
        Relaxation(probes.real > 0)
    with pytest.raises(TypeError, match=r"probes must be a numeric array.*<U1"):
        Relaxation(np.full((N, *SHAPE), "a"))
    with pytest.raises(TypeCheckError, match="probes"):
        Relaxation(probes.tolist())


def test_bad_ranks():
    probes = np.ones((N, *SHAPE), np.complex64)
    with pytest.raises(TypeError, match="rank must be an int.*True"):
        Relaxation(probes, rank=True)
    with pytest.raises(TypeCheckError, match="rank"):
        Relaxation(probes, rank=2.0)
    with pytest.raises(ValueError, match=r"rank must be at least 1 .*got rank = 0"):
        Relaxation(probes, rank=0)
    # limited by the positions (N = 7), then by the values of one probe (M = 2)
    with pytest.raises(ValueError, match=rf"at most min\(N, M\) = {N} .*rank = 8: larger than"):
        Relaxation(probes, rank=8)
    with pytest.raises(ValueError, match=r"at most min\(N, M\) = 2 for N = 7 probes of M = 2"):
        Relaxation(np.ones((N, 1, 2)), rank=3)
    assert Relaxation(np.ones((N, 1, 2)), rank=2).rank == 2  # at the limit
