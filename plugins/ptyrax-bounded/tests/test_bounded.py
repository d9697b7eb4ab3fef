import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_bounded import BoundedAmplitudePhaseArrayParametrization as Bounded

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance

MARGIN = 1e-3  # documented: the normalized amplitude is clipped to [MARGIN, 1 - MARGIN]
GRID = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
AMPLITUDE = 0.5 + 0.4 * GRID  # in [0.1, 0.9]
PHASE = 2.5 * GRID
OBJ = (AMPLITUDE * jnp.exp(1j * PHASE)).astype(jnp.complex64)
# A round trip |data| -> u = logit -> a_min + (a_max - a_min) * sigmoid(u), and data -> angle ->
# exp(1j * phase): about a dozen roundings of at most 2 ulps (log, log1p, exp, sin, cos, atan2),
# well conditioned (the logit's slope 1 / (n (1 - n)) is undone by the sigmoid's). 4 terms of
# 8 ulps bound it; a margin or clipping bug moves values by 1e-3 or more.
ROUND_TRIP = 4


def linear(p, weights):
    return jnp.sum(jnp.real(jnp.conj(weights) * p()))


# --- construction, round trip, clipping -------------------------------------------------------


def test_round_trip_for_in_range_complex_data():
    p = Bounded(OBJ)
    out = p()
    assert out.shape == (3, 4) == p.output_shape and out.dtype == jnp.complex64
    assert p.u.dtype == p.phase.dtype == jnp.float32
    assert_close(out, OBJ, terms=ROUND_TRIP)
    assert_close(p.amplitude, AMPLITUDE, terms=ROUND_TRIP)
    assert_close(p.phase, PHASE, terms=ROUND_TRIP)
    assert (p.a_min, p.a_max) == (0.0, 1.0) and type(p.a_min) is type(p.a_max) is float


def test_round_trip_with_bounds_and_batch_dims():
    data = jnp.stack([OBJ, 2.0 * OBJ])[:, None]  # amplitudes in [0.1, 1.8]
    p = Bounded(data, a_min=0.05, a_max=np.float32(2.0))
    assert p.output_shape == (2, 1, 3, 4) and p.a_max == 2.0
    assert_close(p(), data, terms=ROUND_TRIP)
    u = (AMPLITUDE - 0.05) / 1.95
    assert_close(p.u[0, 0], jnp.log(u / (1 - u)), terms=ROUND_TRIP)  # the logit, two ways


def test_real_integer_and_numpy_data():
    p = Bounded(np.asarray(GRID))  # negative values: phase pi
    assert isinstance(p.u, jax.Array) and p().dtype == jnp.complex64
    assert_close(p.phase, jnp.where(GRID < 0, jnp.pi, 0.0))  # atan2(0, x < 0): pi, rounded
    inside = jnp.abs(GRID) < 1 - MARGIN
    assert_close(p()[inside], GRID[inside].astype(jnp.complex64), terms=ROUND_TRIP)
    q = Bounded(np.array([[0, 1], [2, 3]]), a_min=0, a_max=4)
    assert q.u.dtype == jnp.float32  # 0 starts MARGIN * (a_max - a_min) from the bound
    assert_close(q(), jnp.array([[MARGIN * 4, 1], [2, 3]], jnp.complex64), terms=ROUND_TRIP)


def test_amplitudes_outside_the_bounds_are_clipped_inside_by_the_margin():
    data = jnp.array([0.0, 0.2, 0.25, 1.0, 1.2, 50.0]) * jnp.exp(0.3j)
    p = Bounded(data, a_min=0.2, a_max=1.2)
    assert jnp.all(jnp.isfinite(p.u))
    low, high = 0.2 + MARGIN, 1.2 - MARGIN  # the margin is relative to a_max - a_min = 1.0
    assert_close(p.amplitude, jnp.array([low, low, 0.25, 1.0, high, high]), terms=ROUND_TRIP)
    assert p.phase[0] == 0.0  # angle(0) is 0; the others, exp(0.3j) and its angle:
    assert_close(p.phase[1:], jnp.full(5, 0.3), terms=2)
    # at the bound the amplitude can still move: the sigmoid's slope is about MARGIN, not 0
    grads = jax.grad(lambda p: jnp.sum(jnp.abs(p())))(p)
    assert jnp.all(jnp.abs(grads.u) > 0.5 * MARGIN)


# --- bounds hold, gradients -------------------------------------------------------------------


def test_amplitude_stays_in_bounds_for_any_u():
    p = Bounded(OBJ, a_min=0.2, a_max=1.5)
    for u in (jnp.full((3, 4), 1e4), jnp.full((3, 4), -1e4), jnp.linspace(-80, 80, 12)):
        q = eqx.tree_at(lambda p: p.u, p, u.reshape(3, 4))
        assert jnp.all((q.amplitude >= 0.2) & (q.amplitude <= 1.5))
        # |exp(1j * phase)| is 1 to 2 ulps (cos, sin), then a product and an abs
        assert_close(jnp.abs(q()), q.amplitude, terms=2)
    top = eqx.tree_at(lambda p: p.u, p, jnp.full((3, 4), jnp.inf))
    assert jnp.all(top.amplitude == 1.5)


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (0.2, 1.5)])
def test_bounds_hold_after_large_gradient_steps(bounds):
    a_min, a_max = bounds
    p = Bounded(OBJ, a_min, a_max)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    target = 10.0 * jax.random.normal(keys[0], (3, 4)) * jnp.exp(1j * GRID)  # far out of range

    @jax.jit
    def step(p, lr):
        grads = jax.grad(lambda p: jnp.sum(jnp.abs(p() - target) ** 2))(p)
        return jax.tree_util.tree_map(lambda x, g: x - lr * g, p, grads)

    for lr in (1e2, 1e4, -1e4, 1e6):  # descent and ascent, absurdly large steps
        p = step(p, lr)
        assert jnp.all(jnp.isfinite(p.u)) and jnp.all(jnp.isfinite(p.phase))
        assert jnp.all((p.amplitude >= a_min) & (p.amplitude <= a_max))
        assert jnp.all(
            jnp.abs(p()) <= a_max + rounding_tolerance(jnp.float32, terms=2, scale=a_max)
        )
    assert jnp.any(p.amplitude == a_max) and jnp.any(p.amplitude == a_min)  # saturated both ways


def test_gradients_reach_both_fields_and_match_analytic():
    p = Bounded(OBJ, a_min=0.1, a_max=2.0)
    weights = jnp.exp(1j * GRID) * (1.5 + GRID)
    grads = jax.jit(jax.grad(linear))(p, weights)
    sig = jax.nn.sigmoid(p.u)
    rotated = jnp.conj(weights) * jnp.exp(1j * p.phase)
    # out = A(u) e^{i phi}; d/du Re(conj(w) out) = Re(conj(w) e^{i phi}) * 1.9 sigma'(u). Each side:
    # exp(1j phi), sigmoid and its slope, a complex product, under 16 roundings of 2 ulps.
    assert_close(grads.u, jnp.real(rotated) * 1.9 * sig * (1 - sig), terms=4)
    assert_close(grads.phase, jnp.real(1j * rotated) * p.amplitude, terms=4)
    assert jnp.all(grads.u != 0) and jnp.all(grads.phase != 0)


def test_a_gradient_step_moves_both_fields_and_lowers_the_loss():
    p = Bounded(OBJ)
    target = 0.7 * jnp.exp(1j * (PHASE + 0.2))

    def loss(p):
        return jnp.sum(jnp.abs(p() - target) ** 2)

    grads = jax.grad(loss)(p)
    stepped = eqx.apply_updates(p, jax.tree_util.tree_map(lambda g: -0.1 * g, grads))
    assert jnp.all(stepped.u != p.u) and jnp.all(stepped.phase != p.phase)
    assert loss(stepped) < loss(p)


# --- static configuration, transformations ----------------------------------------------------


def test_bounds_are_static_and_plain_jit_takes_it():
    p = Bounded(OBJ, a_min=0.05, a_max=1.0)
    assert [x.shape for x in jax.tree_util.tree_leaves(p)] == [(3, 4), (3, 4)]
    assert len(jax.tree_util.tree_leaves(eqx.filter(p, eqx.is_inexact_array))) == 2
    f = jax.jit(lambda p: p())
    assert_close(f(p), p(), terms=2)  # one forward chain, fused otherwise
    assert_close(f(p), OBJ, terms=ROUND_TRIP)
    # the same leaves, other static bounds: traced anew
    q = Bounded(OBJ, a_min=1.0, a_max=2.0)
    same_leaves = eqx.tree_at(lambda q: (q.u, q.phase), q, (p.u, p.phase))
    assert_close(jnp.abs(f(same_leaves)), 1.0 + (AMPLITUDE - 0.05) / 0.95, terms=ROUND_TRIP)


def test_resolves_under_jit_and_vmap_with_index_slice():
    data = jnp.stack([OBJ, 0.5 * OBJ, OBJ.conj()])
    p = Bounded(data)
    model = {"object": ptyrax_core.IndexSliceParameter(p)}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["object"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.arange(3))
    assert_close(out, p(), terms=2)  # jit and vmap against eager
    assert_close(out, data, terms=ROUND_TRIP)


def test_grad_through_resolve_in_jit():
    model = {
        "object": Bounded(OBJ),
        "scale": ptyrax_core.IndexSliceParameter(jnp.array([1.0, 3.0])),
    }

    def loss(model, i):
        m = ptyrax_core.resolve_parametrizations(model, i)
        return jnp.sum(jnp.abs(m["object"] * m["scale"].at_current_index()) ** 2)

    grads = jax.jit(jax.grad(loss))(model, 1)
    p = model["object"]
    sig = jax.nn.sigmoid(p.u)
    assert_close(grads["object"].u, 9.0 * 2 * p.amplitude * sig * (1 - sig), terms=4)
    # |.|^2 ignores the phase: its gradient is two products of size 9 * amplitude^2 that cancel
    scale = 9.0 * float(jnp.max(p.amplitude)) ** 2
    assert_close(grads["object"].phase, jnp.zeros(OBJ.shape), terms=2, scale=scale)


def test_construct_inside_jit_with_static_bounds():
    out = jax.jit(lambda x: Bounded(x, a_min=0.0, a_max=1.0)())(OBJ)
    assert_close(out, OBJ, terms=ROUND_TRIP)


# --- errors -----------------------------------------------------------------------------------


def test_a_min_must_not_be_negative():
    with pytest.raises(ValueError, match=r"a_min must be at least 0.*got -0.5"):
        Bounded(OBJ, a_min=-0.5)


@pytest.mark.parametrize("a_max", [0.5, 0.2, 0])
def test_a_max_must_exceed_a_min(a_max):
    with pytest.raises(ValueError, match=r"a_max must be greater than a_min; got a_min=0.5"):
        Bounded(OBJ, a_min=0.5, a_max=a_max)


@pytest.mark.parametrize("name", ["a_min", "a_max"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float32("-inf")])
def test_bounds_must_be_finite(name, bad):
    with pytest.raises(ValueError, match=f"{name} must be a finite real number"):
        Bounded(OBJ, **{name: bad})


@pytest.mark.parametrize("name", ["a_min", "a_max"])
def test_bounds_of_a_wrong_kind(name):
    with pytest.raises(TypeError, match=f"{name} must be a real number; got True"):
        Bounded(OBJ, **{name: True})
    with pytest.raises(TypeError, match=f"{name} must be a real number"):
        Bounded(OBJ, **{name: jnp.array(1.0 + 1j)})
    with pytest.raises(TypeError, match=f"{name} must be a real number"):
        Bounded(OBJ, **{name: jnp.ones(2)})
    with pytest.raises(TypeCheckError, match=name):
        Bounded(OBJ, **{name: "1"})


def test_traced_bounds_say_to_build_outside_jit():
    with pytest.raises(TypeError, match=r"a_max is a traced value.*outside jax\.jit"):
        jax.jit(lambda b: Bounded(OBJ, a_max=b)())(2.0)


def test_bad_initial_data():
    with pytest.raises(TypeCheckError, match="initial_data"):
        Bounded([0.5, 0.25])
    with pytest.raises(TypeCheckError, match="initial_data"):
        Bounded(jnp.ones(2, bool))


# --- registration -----------------------------------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("bounded_amplitude_phase") is Bounded
    from ptyrax_core.parametrizations import BoundedAmplitudePhaseArrayParametrization as exported

    assert exported is Bounded


def test_examples_cover_the_options():
    examples = ptyrax_core.registry.examples("bounded")["bounded"]
    assert all(type(p) is Bounded for p in examples)
    assert {len(p.output_shape) for p in examples} == {2, 3}
    assert {(p.a_min, p.a_max) for p in examples} == {(0.0, 1.0), (0.2, 1.5)}
    assert any(jnp.all(p.phase % jnp.pi == 0) for p in examples)  # one from real data


def test_conformance(ptyrax_example):
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------


def test_with_array_clips_the_amplitude_and_keeps_the_phase():
    p = Bounded(OBJ, 0.2, 1.5)
    amplitude = jnp.array([0.0, 0.1, 0.2, 0.7, 1.5, 3.0])
    target = amplitude * jnp.exp(1j * jnp.linspace(-3.0, 3.0, 6))
    q = Bounded(jnp.ones(6), 0.2, 1.5).with_array(target)
    assert type(q) is Bounded and (q.a_min, q.a_max) == (0.2, 1.5)
    clipped = jnp.clip(amplitude, 0.2, 1.5)
    assert_close(q.amplitude, clipped, terms=ROUND_TRIP)  # no MARGIN: to round-off
    assert_close(q(), clipped * jnp.exp(1j * jnp.angle(target)), terms=ROUND_TRIP)
    assert_close(p.with_array(p())(), p(), terms=ROUND_TRIP)
    assert_close(jax.jit(lambda p, t: p.with_array(t)())(p, p()), p(), terms=ROUND_TRIP)


def test_with_array_gives_back_a_saturated_output():
    p = eqx.tree_at(lambda p: p.u, Bounded(OBJ), 40.0 * jnp.sign(GRID))  # amplitudes at bounds
    q = p.with_array(p())
    assert jnp.all(jnp.isfinite(q.u))
    assert_close(q(), p(), terms=ROUND_TRIP)


def test_with_array_of_a_real_target_and_its_gradient():
    q = Bounded(OBJ).with_array(np.asarray(GRID))  # real: phase 0 or pi
    assert_close(q.phase, jnp.where(GRID < 0, jnp.pi, 0.0))
    assert_close(q(), GRID.astype(jnp.complex64), terms=ROUND_TRIP)
    # inside the bounds the amplitude follows the target; outside, it is clipped: no gradient
    p = Bounded(jnp.ones(2))
    grad = jax.grad(lambda a: jnp.sum(p.with_array(a).amplitude))(jnp.array([0.5, 2.0]))
    # 1: the sigmoid's slope times the logit's, sigma (1 - sigma) / (n (1 - n)), a few roundings
    assert_close(grad, jnp.array([1.0, 0.0]), terms=2)


def test_with_array_refuses_a_misshapen_target_by_name():
    with pytest.raises(ValueError, match=r"target must have shape \(3, 4\).*got shape \(12,\)"):
        Bounded(OBJ).with_array(OBJ.ravel())
    with pytest.raises(TypeError, match="target must be an array"):
        Bounded(OBJ).with_array(0.5)
