"""Stacks of index-dependent parameters, and index slices of modules holding parametrizations.

A plugin author writes `at_index`, `n` and `all` for one member, the obvious way; core makes
them stack-transparent, as an array parametrization's call is. And resolving the
parametrizations nested in an index slice's module (upstream's `CoordinateSystem` pattern)
leaves an index slice that still reads as one member.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ptyrax_core import (
    ArrayParametrization,
    DirectArrayParametrization,
    IndexDependentParameter,
    IndexSliceParameter,
    resolve_array_parametrizations,
    resolve_parametrizations,
)
from ptyrax_core.testing import assert_close, check_parametrization


def stacked(*members):
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *members)


class Table(IndexDependentParameter):
    """A third party's parameter, written the obvious way for one member."""

    values: jax.Array
    registry_name = "table_for_index_stack_tests"

    def __init__(self, values):
        self.values = jnp.asarray(values)

    def at_index(self, index):
        return self.values[index]

    @property
    def n(self):
        return self.values.shape[0]

    @property
    def all(self):
        return self.values


def tables():
    a = Table(jnp.arange(8.0).reshape(4, 2))
    b = Table(10.0 + jnp.arange(8.0).reshape(4, 2) ** 2)
    return a, b


def test_the_obvious_index_dependent_parameter_passes_the_kit():
    check_parametrization(tables()[1])


def test_a_stack_of_two_gives_its_members_values_stacked():
    a, b = tables()
    stack = stacked(a, b)
    assert stack.stack_shape == (2,) and stack.n == a.n == 4
    for i in [*range(a.n), -1]:  # -1 is the last index, not the last member
        assert jnp.array_equal(stack.at_index(i), jnp.stack([a.at_index(i), b.at_index(i)]))
        assert jnp.array_equal(stack.at(i), stack.at_index(i))
    assert jnp.array_equal(stack.all, jnp.stack([a.all, b.all]))


def test_a_stack_under_jit_vmap_and_the_resolvers():
    a, b = tables()
    stack = stacked(a, b)
    expected = jnp.stack([a.all, b.all], axis=1)  # index, member, value
    at = jax.jit(lambda s, i: s.at_index(i))
    for i in range(a.n):
        assert jnp.array_equal(at(stack, jnp.asarray(i)), expected[i])
    assert jnp.array_equal(jax.vmap(stack.at_index)(jnp.arange(a.n)), expected)

    def bound(model, i):
        return resolve_parametrizations(model, index=i)["t"].at_current_index()

    per_index = jax.jit(jax.vmap(bound, in_axes=(None, 0)))({"t": stack}, jnp.arange(a.n))
    assert jnp.array_equal(per_index, expected)
    assert resolve_parametrizations({"t": stack}, index=1)["t"].n == a.n
    assert jnp.array_equal(jax.jit(resolve_parametrizations)({"t": stack})["t"], stack.all)


def test_gradients_reach_each_member_of_a_stack():
    a, b = tables()
    weights = jnp.array([[1.0, -2.0], [3.0, 0.5]])  # member, value

    def loss(stack, i):
        return jnp.sum(weights * stack.at_index(i))

    grads = jax.jit(jax.grad(loss))(stacked(a, b), 2)
    expected = jnp.zeros((2, 4, 2)).at[:, 2].set(weights)
    assert jnp.array_equal(grads.values, expected)


def test_stacks_built_under_filter_vmap_and_stacks_of_stacks():
    values = jnp.arange(24.0).reshape(3, 4, 2)  # three members of four indices
    vmapped = eqx.filter_vmap(Table)(values)
    assert vmapped.stack_shape == (3,) and vmapped.n == 4
    assert jnp.array_equal(vmapped.at_index(1), values[:, 1])
    twice = stacked(vmapped, vmapped)
    assert twice.stack_shape == (2, 3) and twice.n == 4
    assert jnp.array_equal(twice.at_index(3), jnp.stack([values[:, 3]] * 2))
    assert jnp.array_equal(twice.all, jnp.stack([values] * 2))


class TakeRows:
    """Another obvious way, from a mixin: made stack-transparent too (`len` included)."""

    def at_index(self, index):
        return jnp.take(self.values, index, axis=0)

    @property
    def n(self):
        return len(self.values)

    @property
    def all(self):
        return self.values


class MixedTable(TakeRows, IndexDependentParameter):
    values: jax.Array
    registry_name = "mixed_table_for_index_stack_tests"

    def __init__(self, values):
        self.values = jnp.asarray(values)


def test_methods_from_a_mixin_are_stack_transparent():
    member = MixedTable(jnp.arange(6.0).reshape(3, 2))
    check_parametrization(member)
    stack = stacked(member, member)
    assert stack.n == 3 and jnp.array_equal(stack.at_index(2), jnp.stack([member.at_index(2)] * 2))


class NoInit(TakeRows, IndexDependentParameter):
    """Left with equinox's dataclass __init__: it records no member, so it cannot stack."""

    values: jax.Array
    registry_name = "no_init_for_index_stack_tests"


def test_rule_10_still_fails_a_parameter_that_records_no_member():
    with pytest.raises(AssertionError, match=r"stacks resolve as their members.*stack_shape \(\)"):
        check_parametrization(NoInit(jnp.arange(6.0).reshape(3, 2)))


def late_table(name, **late):
    """A Table whose methods are replaced after the class was made (as a decorator might):
    core never sees them, so they stay written for one member."""
    cls = type(f"Late{name}", (Table,), {"registry_name": f"late_{name}_for_index_stack_tests"})
    for attr, value in late.items():
        setattr(cls, attr, value)
    return cls(jnp.arange(6.0).reshape(3, 2))


def test_rule_10_still_fails_values_that_index_the_stack_axis():
    unsafe = late_table("at", at_index=lambda self, index: self.values[index])
    with pytest.raises(AssertionError, match="another result than its members stacked"):
        check_parametrization(unsafe)
    unsafe_all = late_table("all", all=property(lambda self: self.values.reshape(self.n, -1)))
    with pytest.raises(AssertionError, match="another all than its members' stacked"):
        check_parametrization(unsafe_all)


class Rotation(ArrayParametrization):
    """Rotations by `angle`, scaled: two arrays stand for one of other dimensions."""

    angle: jax.Array
    scale: jax.Array
    registry_name = "rotation_for_index_stack_tests"

    def __init__(self, angle, scale):
        self.angle = jnp.asarray(angle)
        self.scale = jnp.asarray(scale)
        self.output_shape = (*self.angle.shape, 2, 2)  # a matrix per angle

    def __call__(self):
        c, s = jnp.cos(self.angle), jnp.sin(self.angle)
        rows = [jnp.stack([c, -s], axis=-1), jnp.stack([s, c], axis=-1)]
        return self.scale * jnp.stack(rows, axis=-2)


class CoordinateSystem(eqx.Module):
    rotation: ArrayParametrization | jax.Array
    translation: jax.Array


ANGLES = jnp.linspace(0.0, 1.5, 4)
TRANSLATIONS = jnp.arange(8.0).reshape(4, 2)


def rotation_at(i, scale=2.0):
    """The closed form, from the angle alone."""
    c, s = np.cos(float(ANGLES[i])), np.sin(float(ANGLES[i]))
    return scale * np.array([[c, -s], [s, c]])


@pytest.mark.parametrize(
    "rotation",
    [
        Rotation(ANGLES, 2.0),
        DirectArrayParametrization(Rotation(ANGLES, 2.0)),  # nested twice
        DirectArrayParametrization(jnp.stack([jnp.asarray(rotation_at(i)) for i in range(4)])),
    ],
    ids=["rotation", "direct_of_rotation", "direct"],
)
def test_resolving_the_parametrizations_in_an_index_slices_module(rotation):
    coords = IndexSliceParameter(CoordinateSystem(rotation=rotation, translation=TRANSLATIONS))
    resolved = resolve_array_parametrizations(coords)
    assert isinstance(resolved, IndexSliceParameter) and resolved.stack_shape == ()
    assert resolved.n == 4
    for at in (resolved.at(2), jax.jit(lambda c: resolve_array_parametrizations(c).at(2))(coords)):
        assert_close(at.rotation, rotation_at(2), terms=2)
        assert jnp.array_equal(at.translation, TRANSLATIONS[2])
    assert_close(resolved.all.rotation[3], rotation_at(3), terms=2)
    assert jnp.array_equal(resolved.at(2).rotation, coords.at(2).rotation)


def test_gradients_reach_the_angles_through_a_resolved_index_slice():
    coords = IndexSliceParameter(CoordinateSystem(Rotation(ANGLES, 2.0), TRANSLATIONS))

    def trace(coords):  # the trace of R at index 2: 2 * scale * cos(angle[2])
        return jnp.trace(resolve_array_parametrizations(coords).at(2).rotation)

    grads = jax.jit(jax.grad(trace))(coords)
    expected = np.zeros(4, np.float32)
    expected[2] = -2 * 2.0 * np.sin(float(ANGLES[2]))
    assert_close(grads.parameters.rotation.angle, expected, terms=4)
    assert_close(grads.parameters.rotation.scale, 2 * np.cos(float(ANGLES[2])), terms=4)


def test_a_stack_of_index_slices_of_modules_resolves_member_by_member():
    members = [
        IndexSliceParameter(CoordinateSystem(Rotation(ANGLES, scale), TRANSLATIONS + scale))
        for scale in (1.0, 3.0)
    ]
    resolved = resolve_array_parametrizations(stacked(*members))
    assert resolved.stack_shape == (2,) and resolved.n == 4
    at = resolved.at(2)
    assert at.rotation.shape == (2, 2, 2) and at.translation.shape == (2, 2)
    for k, scale in enumerate((1.0, 3.0)):
        assert_close(at.rotation[k], rotation_at(2, scale), terms=2)
        assert jnp.array_equal(at.translation[k], TRANSLATIONS[2] + scale)


class Framed(ArrayParametrization):
    """Reads its own shape while called, with its nested parametrization already resolved."""

    rotation: ArrayParametrization
    registry_name = "framed_for_index_stack_tests"

    def __init__(self, rotation):
        self.rotation = rotation
        self.output_shape = rotation.output_shape

    def __call__(self):
        return self.rotation + jnp.zeros(self.shape)


def test_a_parametrization_reads_its_shape_with_its_fields_resolved():
    framed = Framed(Rotation(ANGLES, 2.0))
    assert framed.shape == (4, 2, 2)
    assert_close(framed()[1], rotation_at(1), terms=2)
    two = stacked(framed, framed)
    assert two.stack_shape == (2,) and two().shape == (2, 4, 2, 2)
