import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError
from ptyrax_phase_only import PhaseOnlyArrayParametrization, phase_only_exp, phase_only_exp_np

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance


def test_unit_magnitude_with_the_initial_phase():
    phase = jnp.linspace(-3, 3, 12).reshape(3, 4)
    p = PhaseOnlyArrayParametrization((3, 4), lambda shape: phase)
    out = p()
    assert out.shape == (3, 4) and out.dtype == jnp.complex64
    assert_close(jnp.abs(out), jnp.ones((3, 4)))  # cos, sin and their hypot: a few ulps
    assert_close(jnp.angle(out), phase, terms=2)  # exp(1j * phase), then atan2
    assert jnp.array_equal(PhaseOnlyArrayParametrization((2, 2))(), jnp.ones((2, 2)))


def test_initializer_gets_the_shape():
    shapes = []
    PhaseOnlyArrayParametrization((5, 6), lambda s: shapes.append(s) or jnp.zeros(s))
    assert shapes == [(5, 6)]
    key = jax.random.PRNGKey(0)
    p = PhaseOnlyArrayParametrization((4,), lambda s: jax.random.uniform(key, s))
    assert p.phase.shape == (4,)


def test_gradient_reaches_the_phase_and_matches_analytic():
    phase = jnp.array([0.1, 0.7, -1.2])
    p = PhaseOnlyArrayParametrization((3,), lambda s: phase)
    target = jnp.array([1.0, 1j, -1.0])
    grad = jax.grad(lambda p: jnp.sum(jnp.abs(p() - target) ** 2))(p)
    # |e^{i phi} - t|^2 = 2 - 2 Re(conj(t) e^{i phi}); d/dphi = 2 Im(conj(t) e^{i phi})
    expected = 2 * jnp.imag(jnp.conj(target) * jnp.exp(1j * phase))
    assert_close(grad.phase, expected, terms=2)  # a few products of cos and sin each side


def test_resolves_under_jit_and_vmap():
    p = PhaseOnlyArrayParametrization((2, 3, 3), lambda s: jnp.arange(18.0).reshape(s))
    model = {"obj": ptyrax_core.IndexSliceParameter(p)}

    def at(i):
        return ptyrax_core.resolve_parametrizations(model, i)["obj"].at_current_index()

    out = jax.jit(jax.vmap(at))(jnp.arange(2))
    # sin and cos of phases up to 17 rad: a few ulps of the phase (the argument reduction)
    assert_close(out, jnp.exp(1j * jnp.arange(18.0).reshape(2, 3, 3)), scale=17.0)


def test_exp_functions_agree_and_refuse_complex():
    phase = np.linspace(0, 6, 7)  # float64; in float32, sin and cos to a few ulps of the phase
    assert_close(phase_only_exp(jnp.asarray(phase)), phase_only_exp_np(phase), scale=6.0)
    assert_close(phase_only_exp(phase), np.exp(1j * phase), scale=6.0)
    with pytest.raises(ValueError, match="phase must be real"):
        phase_only_exp(jnp.ones(2, jnp.complex64))
    with pytest.raises(ValueError, match="phase must be real"):
        phase_only_exp_np(np.ones(2, complex))
    with pytest.raises(TypeError, match="inside jax.jit use phase_only_exp"):
        jax.jit(phase_only_exp_np)(jnp.ones(2))
    with pytest.raises(TypeCheckError, match="phase"):
        phase_only_exp([0.0, 1.0])


def test_bad_construction_names_the_argument():
    with pytest.raises(ValueError, match="phase_initializer must return a real phase"):
        PhaseOnlyArrayParametrization((2,), lambda s: jnp.ones(s, jnp.complex64))
    with pytest.raises(ValueError, match=r"phase_initializer returned shape \(3,\).*\(2,\)"):
        PhaseOnlyArrayParametrization((2,), lambda s: jnp.ones(3))
    with pytest.raises(TypeCheckError, match="phase_initializer"):
        PhaseOnlyArrayParametrization((2,), jnp.ones((2,)))
    with pytest.raises(TypeCheckError, match="output_shape"):
        PhaseOnlyArrayParametrization([2, 2])
    with pytest.raises(ValueError, match="output_shape must not be negative"):
        PhaseOnlyArrayParametrization((2, -1))


def test_registered():
    assert ptyrax_core.registry.get("phase_only") is PhaseOnlyArrayParametrization
    from ptyrax_core.parametrizations import phase_only_exp as exported

    assert exported is phase_only_exp


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the built-ins')."""
    check_parametrization(ptyrax_example)


# --- with_array -------------------------------------------------------------------------------

TARGET = jnp.array([[2j, -3.0], [0.5 + 0.5j, 0.0]])


def test_with_array_takes_the_angle_the_nearest_unit_magnitude_array():
    p = PhaseOnlyArrayParametrization((2, 2), jnp.ones)
    q = p.with_array(TARGET)
    assert type(q) is PhaseOnlyArrayParametrization and q.output_shape == (2, 2)
    assert q.phase.dtype == jnp.float32
    assert_close(q.phase, jnp.angle(TARGET))
    nearest = jnp.where(TARGET == 0, 1.0, TARGET / jnp.abs(TARGET))
    assert_close(q(), nearest, terms=2)  # exp(1j * angle(t)) against t / |t|
    # no phase comes nearer to the target than the one stored; the grid holds the exact angles,
    # so only the rounding of exp, a difference and an abs of values up to 1 + |t| separates them
    others = jnp.exp(1j * jnp.linspace(-jnp.pi, jnp.pi, 361))[:, None, None]
    slack = rounding_tolerance(jnp.float32, terms=2, scale=1 + float(jnp.max(jnp.abs(TARGET))))
    assert jnp.all(jnp.abs(q() - TARGET) <= jnp.min(jnp.abs(others - TARGET), axis=0) + slack)
    assert jnp.array_equal(p.phase, jnp.ones((2, 2)))  # the original is untouched


def test_with_array_of_a_real_target_round_trip_jit_and_grad():
    p = PhaseOnlyArrayParametrization((3,), lambda s: jnp.array([0.3, -2.0, 3.0]))
    real = p.with_array(np.array([2.0, -1.0, 0.0])).phase
    assert_close(real, jnp.array([0, jnp.pi, 0]))  # atan2 gives pi, rounded
    assert_close(p.with_array(p())(), p(), terms=2)  # exp, angle, exp
    jitted = jax.jit(lambda p, t: p.with_array(t))(p, jnp.array([1j, -1j, 1.0]))
    assert_close(jitted.phase, jnp.array([0.5, -0.5, 0.0]) * jnp.pi)
    # d angle(r e^{i t}) / dt = 1: the phase follows a rotated target
    grad = jax.grad(lambda t: jnp.sum(p.with_array(jnp.exp(1j * t)).phase))(jnp.ones(3))
    assert_close(grad, jnp.ones(3), terms=2)  # (cos^2 + sin^2) / |z|^2


def test_with_array_refuses_a_bad_target_by_name():
    p = PhaseOnlyArrayParametrization((2, 2))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 2\).*got shape \(4,\)"):
        p.with_array(jnp.ones(4))
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array([[1.0, 2.0], [3.0, 4.0]])
