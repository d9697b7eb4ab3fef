"""Each penalty against its closed form in float64 NumPy: values, gradients, jit, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_penalties import L1Penalty, L2Penalty, ProbePowerPenalty, TotalVariationPenalty
from ptyrax_reconstruct import Penalty
from ptyrax_reconstruct.testing import check_penalty

import ptyrax_core
from ptyrax_core.cli import main
from ptyrax_core.testing import assert_close

CLASSES = {
    "l1": L1Penalty,
    "l2": L2Penalty,
    "total_variation": TotalVariationPenalty,
    "probe_power": ProbePowerPenalty,
}


def sample(shape, dtype, seed=0):
    """Normal values of `dtype` (real or complex), with a few exact zeros."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.standard_normal(shape)
    x.flat[::5] = 0
    return jnp.asarray(x.astype(dtype))


def wide(x):
    """`x` in float64 or complex128: the exact values the penalty saw."""
    x = np.asarray(x)
    return x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def steepest(penalty, x):
    """The direction of steepest ascent, `df/dre + i df/dim` for complex `x` (JAX gives its
    conjugate; the engine conjugates too)."""
    g = jax.grad(penalty)(x)
    return np.conj(np.asarray(g)) if jnp.iscomplexobj(x) else np.asarray(g)


DTYPES = [np.float32, np.complex64]


# --- L1 and L2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_l1_is_the_mean_modulus_and_its_gradient_the_sign(shape, dtype):
    x = sample(shape, dtype)
    n, ref = x.size, wide(x)
    # |x| (a hypot for complex: 2 roundings), then a mean of n non-negative terms
    assert_close(L1Penalty()(x), np.mean(np.abs(ref)), terms=n + 2)
    sign = np.divide(ref, np.abs(ref), out=np.zeros_like(ref), where=ref != 0)
    grad = steepest(L1Penalty(), x)
    assert np.all(grad[ref == 0] == 0)  # a value at zero stays there
    assert_close(grad, sign / n, terms=4, scale=1 / n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", [0.0, 1.0, -2.5])
def test_l2_is_the_mean_squared_distance_to_its_target(dtype, target):
    x = sample((3, 4, 5), dtype, seed=1)
    n, ref = x.size, wide(x)
    penalty = L2Penalty(target=target)
    expected = np.mean(np.abs(ref - target) ** 2)
    assert_close(penalty(x), expected, terms=n + 4)  # subtraction, |.|**2 (3), the mean
    assert_close(steepest(penalty, x), 2 * (ref - target) / n, terms=3)
    assert L2Penalty()(jnp.zeros(3)) == 0 and penalty(jnp.full(4, target)) == 0


# --- total variation -----------------------------------------------------------------------------


def tv_reference(x, axes, eps):
    """Total variation and its steepest-ascent gradient, written from the formula element by
    element: each element's forward differences (none past the last index) along the axes,
    `phi = sqrt(sum |d|**2 + eps**2)`; the value `mean(phi - eps)`; and `phi`, the terms'
    magnitudes for the rounding bound."""
    x = wide(x)
    steps = [(-2, 1), (-1, 1)] if axes == "lateral" else [(-3, 1)]
    n = x.size
    value, phis = 0.0, np.zeros(x.shape)
    grad = np.zeros_like(x)
    for p in np.ndindex(x.shape):
        differences = []
        for axis, step in steps:
            q = list(p)
            q[axis] += step
            if q[axis] < x.shape[axis]:
                differences.append((tuple(q), x[tuple(q)] - x[p]))
        phi = math.sqrt(sum(abs(d) ** 2 for _, d in differences) + eps**2)
        phis[p] = phi
        value += phi - eps
        for q, d in differences:  # d|d|**2 / dx_q = 2 d, / dx_p = -2 d; d phi = d s / (2 phi)
            if phi > 0:
                grad[q] += d / phi / n
                grad[p] -= d / phi / n
    return value / n, grad, phis


def assert_tv(penalty, x):
    value, grad, phis = tv_reference(x, penalty.axes, penalty.eps)
    n = x.size
    # per element: differences, |d|**2 and their sum, + eps**2, sqrt and - eps (8 roundings),
    # each relative to phi; then the mean of n such terms: bounded relative to mean(phi)
    assert_close(penalty(x), value, terms=n + 8, scale=float(np.mean(phis)))
    # a gradient element sums at most 3 terms d / (phi n), each of magnitude <= 1 / n and
    # about 10 roundings (phi's 8, the division, the 1 / n)
    assert_close(steepest(penalty, x), grad, terms=10, scale=3 / n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-3, 0.5, 0.0])
@pytest.mark.parametrize("shape", [(5, 6), (3, 4, 5)])
def test_lateral_total_variation_against_its_closed_form(shape, eps, dtype):
    assert_tv(TotalVariationPenalty(eps=eps), sample(shape, dtype, seed=2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-3, 0.0])
def test_depth_total_variation_across_the_slices_of_a_stack(eps, dtype):
    stack = sample((4, 3, 5), dtype, seed=3)  # (slices, rows, columns)
    assert_tv(TotalVariationPenalty(axes="depth", eps=eps), stack)
    # identical slices have none across depth, whatever they hold laterally
    same = jnp.stack([stack[0]] * 4)
    assert TotalVariationPenalty(axes="depth", eps=eps)(same) == 0
    assert TotalVariationPenalty(eps=eps)(same) > 0
    # leading axes (several stacks) are averaged over
    both = jnp.stack([stack, same])
    assert_tv(TotalVariationPenalty(axes="depth", eps=eps), both)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axes", ["lateral", "depth"])
def test_total_variation_forward_mode_is_the_closed_form_directional_derivative(axes, dtype):
    """The derivative is written out (`jax.custom_jvp`): forward mode gives
    `Re(sum(conj(grad) v))` for a direction `v`, the reference gradient's."""
    x, v = sample((3, 4, 5), dtype, seed=7), sample((3, 4, 5), dtype, seed=8)
    penalty = TotalVariationPenalty(axes=axes, eps=0.01)
    value, tangent = jax.jvp(penalty, (x,), (v,))
    ref_value, grad, phis = tv_reference(x, axes, 0.01)
    assert_close(value, ref_value, terms=x.size + 8, scale=float(np.mean(phis)))
    expected = float(np.real(np.sum(np.conj(grad) * wide(v))))
    # a sum of n terms, each |grad| |v| with about 10 roundings (the gradient's bound)
    scale = float(np.sum(np.abs(grad) * np.abs(wide(v)))) + float(np.max(np.abs(wide(v)))) / x.size
    assert_close(tangent, expected, terms=x.size + 10, scale=scale)


def test_total_variation_of_a_flat_array_is_zero_with_a_finite_gradient():
    """With `eps = 0` the square root has no finite gradient at a zero difference: the
    penalty takes 0 there (a subgradient), and a flat region pulls nothing."""
    flat = jnp.zeros((4, 5), jnp.float32).at[0, 0].set(1.0)
    for eps in (0.0, 1e-3):
        penalty = TotalVariationPenalty(eps=eps)
        grad = steepest(penalty, flat)
        assert np.isfinite(grad).all() and np.all(grad[2:, 2:] == 0)
        assert_tv(penalty, flat)
    for eps in (0.0, 1e-3, 2.0):  # sqrt(eps**2) - eps: 0 up to its rounding
        for dtype in DTYPES:
            constant = jnp.full((3, 4), 2.5, dtype)
            assert_close(TotalVariationPenalty(eps=eps)(constant), 0.0, terms=3, scale=eps or 1)


def test_total_variation_is_isotropic_where_its_differences_are():
    """A ramp `a i + b j` has the same |gradient| everywhere: `sqrt(a**2 + b**2)` at each
    interior element, whatever its direction (an anisotropic TV would give |a| + |b|)."""
    i, j = np.mgrid[:6, :6]
    for a, b in [(3.0, 4.0), (5.0, 0.0), (0.0, -5.0)]:
        ramp = jnp.asarray(a * i + b * j, jnp.float32)
        tv = TotalVariationPenalty(eps=0.0)
        _, _, phis = tv_reference(ramp, "lateral", 0.0)
        assert np.allclose(phis[:-1, :-1], 5.0, rtol=0, atol=1e-12)
        assert_tv(tv, ramp)


# --- probe power ---------------------------------------------------------------------------------


def power_reference(probe, target):
    """Value and steepest gradient of `mean((power / target - 1)**2)`, `power` the sum over
    the last three axes (two for a 2-D probe) of `|P|**2`; and the bounds' scales."""
    p = wide(probe)
    axes = (-3, -2, -1) if p.ndim >= 3 else (-2, -1)
    power = np.sum(np.abs(p) ** 2, axis=axes, keepdims=True)
    r = power / target - 1
    m = p.size // power.size  # elements summed into each power
    count = power.size  # powers averaged
    grad = 4 * r * p / (target * count)
    return np.mean(r**2), grad, r, power / target, m, count


@pytest.mark.parametrize("shape", [(6, 5), (2, 6, 5), (3, 2, 6, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_probe_power_against_its_closed_form(shape, dtype):
    probe = sample(shape, dtype, seed=4)
    total = float(np.mean(power_reference(probe, 1.0)[3]))  # the mean power
    for target in (0.6 * total, total * 1.7):
        penalty = ProbePowerPenalty(target=target)
        value, grad, r, ratio, m, count = power_reference(probe, target)
        # power: m terms of |P|**2 (3 roundings each), relative to power; r = power / target - 1
        # is off by that times power / target; r**2 by 2 |r| times it; then a mean of `count`
        big = float(np.max((2 * np.abs(r) + 1) * (ratio + 1)))
        assert_close(penalty(probe), value, terms=m + count + 8, scale=big)
        scale = 4 * big * float(np.max(np.abs(wide(probe)))) / (target * count)
        assert_close(steepest(penalty, probe), grad, terms=m + 8, scale=scale)


def test_a_probe_at_its_target_power_costs_nothing_and_each_frames_counts():
    probe = jnp.full((2, 3, 4), 0.5 + 0.5j, jnp.complex64)  # 24 pixels of |P|**2 = 0.5: 12
    assert ProbePowerPenalty(target=12)(probe) == 0
    assert ProbePowerPenalty(target=6)(probe) == 1  # twice too bright
    per_frame = jnp.stack([probe, 2 * probe])  # powers 12 and 48: (0**2 + 3**2) / 2
    assert ProbePowerPenalty(target=12)(per_frame) == 4.5


# --- the registry, jit, bad input -----------------------------------------------------------------


def test_the_plugin_registers_its_penalties_as_the_engines_kind(capsys):
    for name, cls in CLASSES.items():
        assert ptyrax_core.registry.get(name, "penalties") is cls
        assert issubclass(cls, Penalty) and cls.registry_name == name
        with pytest.raises(KeyError, match=f"{name!r} is a penalty, not a parametrization"):
            ptyrax_core.registry.get(name)
    assert main(["plugins"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("penalties "))
    assert "ptyrax-penalties" in row and "penalties: l1, l2, probe_power, total_variation" in row
    assert main(["show", "total_variation"]) == 0
    shown = capsys.readouterr().out
    assert "(penalty total_variation; ptyrax-penalties" in shown
    assert "axes: str = 'lateral'" in shown and "eps: float = 0.001" in shown


PENALTIES = [
    L1Penalty(),
    L2Penalty(target=0.5),
    TotalVariationPenalty(eps=0.01),
    TotalVariationPenalty(axes="depth"),
    ProbePowerPenalty(target=20.0),
]


@pytest.mark.parametrize("penalty", PENALTIES, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
def test_penalties_are_static_modules_that_jit(penalty, dtype):
    """Configuration lives in static fields: a penalty has no array leaves, so it passes
    through `jax.jit` as an argument and a config value never becomes a traced one."""
    assert jax.tree.leaves(penalty) == []
    x = sample((3, 4, 5), dtype, seed=5)
    eager = penalty(x)
    assert eager.shape == () and eager.dtype == jnp.float32
    jitted = jax.jit(lambda p, x: p(x))(penalty, x)
    # the same operations, fused: each may round differently (a mean of 60 terms)
    assert_close(jitted, eager, terms=x.size + 8)
    grad = jax.jit(jax.grad(lambda x, p: p(x)), static_argnums=1)(x, penalty)
    assert grad.dtype == x.dtype and np.isfinite(np.asarray(grad)).all()


def test_each_penalty_follows_the_engines_rules():
    """The engine's kit: a real non-negative scalar, jit, a finite gradient, a pytree; and 0
    where nothing is penalized."""
    x = sample((3, 4, 5), np.complex64, seed=6)
    constant = jnp.full((3, 4, 5), 1.5 - 0.5j, jnp.complex64)
    probe = jnp.full((3, 4, 5), 0.5, jnp.float32)  # 60 pixels of power 0.25: 15
    zeros = {
        L1Penalty(): jnp.zeros_like(x),
        L2Penalty(target=-2.0): jnp.full(x.shape, -2.0),
        TotalVariationPenalty(): constant,
        TotalVariationPenalty(axes="depth", eps=0.0): jnp.stack([x[0]] * 3),
        ProbePowerPenalty(target=15.0): probe,
    }
    for penalty, zero in zeros.items():
        for dtype in DTYPES:
            check_penalty(penalty, jnp.real(x) if dtype == np.float32 else x, zero=zero)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: L2Penalty(target="1"), TypeError, "target must be a real number; got str '1'"),
        (lambda: L2Penalty(target=math.nan), ValueError, "target must be finite; got nan"),
        (lambda: TotalVariationPenalty(eps=-1e-3), ValueError, "eps must be >= 0; got -0.001"),
        (lambda: TotalVariationPenalty(eps=True), TypeError, "eps must be a real number"),
        (lambda: TotalVariationPenalty(eps=math.inf), ValueError, "eps must be finite"),
        (lambda: TotalVariationPenalty(axes="radial"), ValueError,
         r"axes must be one of \('lateral', 'depth'\); got 'radial'"),
        (lambda: TotalVariationPenalty(axes=3), TypeError, "axes must be a string"),
        (lambda: ProbePowerPenalty(target=0), ValueError, "target must be > 0; got 0"),
        (lambda: ProbePowerPenalty(target=-5.0), ValueError, "target must be > 0; got -5"),
        (lambda: ProbePowerPenalty(target=1j), TypeError, "target must be a real number"),
        (lambda: ProbePowerPenalty(), TypeError, "target"),
        (lambda: L1Penalty(weight=1.0), TypeError, "weight"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_arguments_from_a_config_file_are_taken_as_numbers():
    """TOML writes `eps = 0` and `target = 1000` as integers; they mean the floats."""
    assert TotalVariationPenalty(eps=0).eps == 0.0
    assert isinstance(TotalVariationPenalty(eps=0).eps, float)
    assert isinstance(ProbePowerPenalty(10).target, float)
    assert L2Penalty(target=np.float32(1.5)).target == 1.5


@pytest.mark.parametrize(
    ("penalty", "shape", "message"),
    [
        (TotalVariationPenalty(axes="depth"), (5, 6), r"axes = 'depth' differences the slices"),
        (TotalVariationPenalty(), (6,), "axes = 'lateral' needs rows and columns"),
        (ProbePowerPenalty(target=1.0), (6,), "a probe has rows and columns"),
    ],
)
def test_an_array_without_the_axes_a_penalty_needs_is_refused(penalty, shape, message):
    with pytest.raises(ValueError, match=rf"{message}.*got an array of shape \({shape[0]},"):
        penalty(jnp.ones(shape))
