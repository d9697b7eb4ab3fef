import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_probe_modes import OrthogonalModesArrayParametrization as Modes

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance

RNG = np.random.default_rng(0)


def random_modes(k, p, q, dtype=np.complex64, rng=RNG):
    return (rng.normal(size=(k, p, q)) + 1j * rng.normal(size=(k, p, q))).astype(dtype)


def orthogonal_stack(k, p, q, powers, rng=RNG):
    """K orthogonal modes of the given powers (float64 reference, complex64 copy)."""
    flat = rng.normal(size=(p * q, k)) + 1j * rng.normal(size=(p * q, k))
    basis = np.linalg.qr(flat)[0].T  # orthonormal rows
    modes = np.sqrt(np.asarray(powers, np.float64))[:, None] * basis
    return modes.reshape(k, p, q)


def gram(m):
    """sum over pixels of conj(mode_j) * mode_k, in float64."""
    flat = np.asarray(m).astype(np.complex128).reshape(m.shape[0], -1)
    return flat.conj() @ flat.T


def off_diagonal(g):
    return g - np.diag(np.diag(g))


# --- construction and the output --------------------------------------------------------------


def test_an_orthogonal_decreasing_stack_is_kept():
    target = orthogonal_stack(3, 4, 5, [4.0, 1.5, 0.25])
    p = Modes(target.astype(np.complex64))
    out = p()
    assert out.shape == (3, 4, 5) == p.output_shape and out.dtype == jnp.complex64
    assert p.basis.shape == (3, 4, 5) and p.basis.dtype == jnp.complex64
    assert p.power_steps.shape == (3,) and p.power_steps.dtype == jnp.float32
    # an SVD and a QR of 20 x 3, a few sums of 20 terms each
    assert_close(out, target, terms=4 * 20)


@pytest.mark.parametrize("seed", range(3))
def test_output_is_orthogonal_with_sorted_positive_powers_whatever_the_parameters(seed):
    rng = np.random.default_rng(seed)
    k, p, q = 4, 5, 6
    modes = Modes(random_modes(k, p, q, rng=rng))
    basis = jnp.asarray(random_modes(k, p, q, rng=rng) * 10.0)
    steps = jnp.asarray(rng.normal(size=k) * 3.0, jnp.float32).at[1].set(-30.0)
    q_ = eqx.tree_at(lambda m: (m.basis, m.power_steps), modes, (basis, steps))
    g = gram(q_())
    powers = np.real(np.diag(g))
    expected = np.cumsum(np.exp(np.asarray(steps, np.float64))[::-1])[::-1]
    # QR's Householder reflections (P*Q terms each), then a sum of P*Q products
    assert_close(
        off_diagonal(g).astype(np.complex64), np.zeros((k, k)), terms=p * q, scale=powers[0]
    )
    assert_close(powers.astype(np.float32), expected, terms=p * q)
    # decreasing: strictly where a step is not tiny (step 1 is -30: equal to rounding)
    tol = rounding_tolerance(jnp.float32, terms=p * q, scale=powers[0])
    assert np.all(powers > 0) and np.all(np.diff(powers) <= tol)
    assert np.all(np.delete(np.diff(powers), 1) < -tol)


def test_2d_real_and_integer_initial_modes():
    one = Modes(np.arange(12.0).reshape(3, 4))
    assert one.output_shape == (1, 3, 4) and one().dtype == jnp.complex64
    assert_close(one()[0], np.arange(12.0).reshape(3, 4), terms=4 * 12)
    ints = Modes(np.array([[[1, 0], [0, 0]], [[0, 2], [0, 0]]]))
    assert ints().dtype == jnp.complex64
    assert_close(ints(), np.array([[[0, 2], [0, 0]], [[1, 0], [0, 0]]]), terms=16)  # sorted
    assert Modes(np.ones((2, 2), np.float64)).basis.dtype == jnp.result_type(complex)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.ones(4), r"initial_modes must be a \(K, P, Q\) stack.*got shape \(4,\)"),
        (np.ones((1, 2, 2, 2)), r"initial_modes must be a \(K, P, Q\).*\(1, 2, 2, 2\)"),
        (np.ones((0, 2, 2)), r"initial_modes must be a \(K, P, Q\)"),
        (random_modes(5, 2, 2), r"K = 5 modes of 2 x 2 pixels: K larger than the probe allows"),
        (np.zeros((2, 3, 3)), r"initial_modes is all zeros"),
        (np.ones((2, 3, 3)), r"initial_modes holds 2 modes, but only 1 .*rank-deficient"),
    ],
)  # fmt: skip
def test_bad_initial_modes_name_the_argument(bad, message):
    with pytest.raises(ValueError, match=message):
        Modes(bad)
    with pytest.raises(ValueError, match="initial_modes"):
        Modes(jnp.asarray(bad))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_initial_modes_show_the_first_one(bad):
    data = random_modes(2, 3, 3)
    data[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"initial_modes must be finite.*at index \(1, 2, 0\)"):
        Modes(data)


def test_bad_types_name_the_argument():
    with pytest.raises(TypeError, match="initial_modes must be a numeric array"):
        Modes(np.array([["a", "b"]]))
    with pytest.raises(TypeCheckError, match="initial_modes"):
        Modes([[1.0, 2.0]])


# --- with_array -------------------------------------------------------------------------------


def test_with_array_of_an_orthogonal_decreasing_stack_gives_it_back():
    target = orthogonal_stack(2, 4, 4, [3.0, 0.5])
    p = Modes(random_modes(2, 4, 4))
    for with_array in (lambda p, t: p.with_array(t), jax.jit(lambda p, t: p.with_array(t))):
        back = with_array(p, jnp.asarray(target, jnp.complex64))
        assert type(back) is Modes
        assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(p)
        assert_close(back(), target, terms=4 * 16)


def test_with_array_of_any_stack_keeps_its_density_matrix():
    k, p, q = 3, 4, 5
    target = random_modes(k, p, q) * np.array([0.3, 2.0, 1.0])[:, None, None]  # unsorted
    out = Modes(random_modes(k, p, q)).with_array(target)()
    flat_t = target.astype(np.complex128).reshape(k, -1)
    flat_m = np.asarray(out).astype(np.complex128).reshape(k, -1)
    scale = float(np.sum(np.abs(flat_t) ** 2))
    n = p * q
    g = gram(out)
    assert_close(off_diagonal(g).astype(np.complex64), np.zeros((k, k)), terms=n, scale=scale)
    eigenvalues = np.linalg.eigvalsh(flat_t @ flat_t.conj().T)[::-1]  # of target target^H
    assert_close(np.real(np.diag(g)).astype(np.float32), eigenvalues, terms=n)
    assert np.all(np.diff(np.real(np.diag(g))) < 0)
    # the density matrix target^H target, so the incoherent intensity at every pixel
    density = flat_t.T @ flat_t.conj()
    assert_close((flat_m.T @ flat_m.conj()).astype(np.complex64), density, terms=n, scale=scale)
    intensity = np.sum(np.abs(target.astype(np.complex128)) ** 2, axis=0)
    assert_close(jnp.sum(jnp.abs(out) ** 2, axis=0), intensity, terms=n, scale=scale)


def test_with_array_phases_each_mode_like_its_target():
    target = orthogonal_stack(2, 3, 3, [2.0, 1.0]) * np.array([1j, -1.0])[:, None, None]
    out = Modes(random_modes(2, 3, 3)).with_array(target)()
    assert_close(out, target, terms=4 * 9)


def stored_powers(m):
    return np.cumsum(np.exp(np.asarray(m.power_steps))[::-1])[::-1]


def test_with_array_of_equal_powers_and_of_a_zero_mode():
    eps = float(jnp.finfo(jnp.float32).eps)
    equal = orthogonal_stack(2, 3, 3, [1.0, 1.0])
    p = Modes(random_modes(2, 3, 3)).with_array(equal)
    assert np.all(np.isfinite(np.asarray(p())))
    powers = stored_powers(p)
    assert powers[0] > powers[1] > 0  # equal made very slightly decreasing
    assert_close(powers, [1.0, 1.0], terms=4 * 9)
    assert_close(np.real(np.diag(gram(p()))).astype(np.float32), [1.0, 1.0], terms=4 * 9)
    zero = orthogonal_stack(3, 3, 3, [2.0, 1.0, 0.0])
    p = Modes(random_modes(3, 3, 3)).with_array(zero)
    powers = stored_powers(p)
    assert np.all(np.isfinite(np.asarray(p()))) and np.all(np.diff(powers) < 0)
    assert 0 < powers[2] <= 2 * eps**2 * 2.0  # the tiny power, eps**2 * the largest
    assert_close(p(), zero, terms=4 * 27, scale=np.sqrt(2.0))
    nothing = Modes(random_modes(2, 2, 2)).with_array(jnp.zeros((2, 2, 2)))
    assert np.all(np.isfinite(np.asarray(nothing()))) and np.all(stored_powers(nothing) > 0)


def test_with_array_refuses_a_misshapen_target():
    p = Modes(random_modes(2, 3, 4))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3, 4\).*got shape \(3, 4\)"):
        p.with_array(jnp.ones((3, 4)))
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array([[1.0]])


# --- gradients, jit, stacks -------------------------------------------------------------------


def test_gradient_matches_finite_differences_in_float64():
    rng = np.random.default_rng(3)
    k, p, q = 3, 3, 4
    with jax.enable_x64(True):
        modes = Modes(random_modes(k, p, q, np.complex128, rng))
        assert modes.basis.dtype == jnp.complex128 and modes.power_steps.dtype == jnp.float64
        w = jnp.asarray(random_modes(k, p, q, np.complex128, rng))

        def loss(m):  # nonlinear in the output, and phase-sensitive
            out = m()
            return jnp.sum(jnp.abs(out) ** 4) + jnp.sum(jnp.real(jnp.conj(w) * out))

        grads = jax.jit(jax.grad(loss))(modes)
        assert bool(jnp.any(grads.basis != 0)) and bool(jnp.all(grads.power_steps != 0))
        basis = jnp.asarray(random_modes(k, p, q, np.complex128, rng))
        steps = jnp.asarray(rng.normal(size=k))
        direction = eqx.tree_at(lambda m: (m.basis, m.power_steps), modes, (basis, steps))
        # JAX's gradient of a real loss is the conjugate one: dL = Re(sum(g * v))
        expected = float(
            jnp.sum(jnp.real(grads.basis * basis)) + jnp.sum(grads.power_steps * steps)
        )
        h = float(jnp.finfo(jnp.float64).eps) ** (1 / 3)  # truncation h^2 ~ rounding eps / h

        def shifted(s):
            return loss(jax.tree_util.tree_map(lambda x, v: x + s * v, modes, direction))

        fd = (shifted(h) - shifted(-h)) / (2 * h)
        scale = float(jnp.sum(jnp.abs(modes()) ** 4))
        assert_close(jnp.asarray(fd), expected, terms=k * p * q / h, scale=scale)


def test_jit_equals_eager():
    p = Modes(random_modes(3, 4, 4))
    assert_close(jax.jit(lambda m: m())(p), p(), terms=8)


def test_stacks_resolve_as_their_members():
    a, b = Modes(random_modes(2, 3, 4)), Modes(random_modes(2, 3, 4))
    stack = jax.tree.map(lambda *x: jnp.stack(x), a, b)
    assert stack.stack_shape == (2,) and stack.output_shape == (2, 3, 4)
    resolved = ptyrax_core.resolve_parametrizations({"probe": stack})["probe"]
    assert resolved.shape == (2, 2, 3, 4)
    assert_close(resolved, jnp.stack([a(), b()]), terms=8)
    data = jnp.stack([random_modes(2, 3, 4), random_modes(2, 3, 4)])
    vmapped = eqx.filter_vmap(Modes)(data)
    assert vmapped.stack_shape == (2,)
    assert_close(vmapped()[1], Modes(data[1])(), terms=8)


# --- registry, examples, specs and checkpoints ------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("orthogonal_modes") is Modes
    from ptyrax_core.parametrizations import OrthogonalModesArrayParametrization as exported

    assert exported is Modes


def test_examples_are_small_and_orthogonal():
    examples = ptyrax_core.registry.examples("probe_modes")["probe_modes"]
    assert [type(e) for e in examples] == [Modes, Modes]
    assert sorted(e.output_shape for e in examples) == [(2, 4, 4), (3, 3, 5)]
    for e in examples:
        g = gram(e())
        tol = rounding_tolerance(jnp.complex64, terms=e.output_shape[1] * e.output_shape[2])
        assert np.max(np.abs(off_diagonal(g))) <= tol * np.real(g[0, 0])


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


def test_save_load_round_trip(tmp_path):
    model = {"probe": Modes(random_modes(2, 3, 4)), "counts": jnp.arange(3)}
    ptyrax_core.save(tmp_path / "model.ptyrax", model)
    back = ptyrax_core.load(tmp_path / "model.ptyrax")
    assert type(back["probe"]) is Modes and back["probe"].output_shape == (2, 3, 4)
    assert jnp.array_equal(back["probe"].basis, model["probe"].basis)
    assert jnp.array_equal(back["probe"].power_steps, model["probe"].power_steps)
    assert jnp.array_equal(back["probe"](), model["probe"]())


def test_build_from_a_spec():
    init = {"init": "normal", "shape": [2, 3, 3], "seed": 1, "dtype": "complex64"}
    built = ptyrax_core.build({"type": "orthogonal_modes", "initial_modes": init})
    expected = Modes(jax.random.normal(jax.random.PRNGKey(1), (2, 3, 3), jnp.complex64))
    assert type(built) is Modes
    assert jnp.array_equal(built.basis, expected.basis)
    real = ptyrax_core.build({"type": "orthogonal_modes", "initial_modes": [[1.0, 2.0]]})
    assert real.output_shape == (1, 1, 2) and real().dtype == jnp.complex64
    with pytest.raises(ptyrax_core.SpecError, match=r"orthogonal_modes .*initial_modes.*rank"):
        ptyrax_core.build(
            {"type": "orthogonal_modes", "initial_modes": [[[1.0, 2.0]], [[2.0, 4.0]]]}
        )
