"""Stacks: parametrizations with leading axes beyond a member's resolve to stacked outputs."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ptyrax_core import (
    ArrayParametrization,
    DirectArrayParametrization,
    IndexSliceParameter,
    load,
    resolve_parametrizations,
    save,
)
from ptyrax_core._stack import stack_shape
from ptyrax_core.testing import check_parametrization


def stacked(*members):
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *members)


class Scaled(ArrayParametrization):
    """Two arrays of different ranks: a stack must extend both alike."""

    data: jax.Array
    gain: jax.Array
    registry_name = "scaled_for_stack_tests"

    def __init__(self, data, gain):
        self.data, self.gain = jnp.asarray(data), jnp.asarray(gain)
        self.output_shape = tuple(self.data.shape)

    def __call__(self):
        return self.data * self.gain


def test_a_stack_built_under_filter_vmap_resolves_to_the_stacked_output():
    data = jnp.arange(24.0).reshape(3, 2, 4)  # three slices of 2 x 4
    stack = eqx.filter_vmap(DirectArrayParametrization)(data)
    assert stack.output_shape == (2, 4) and stack.stack_shape == (3,)
    assert stack.shape == (3, 2, 4)
    assert jnp.array_equal(stack(), data)
    assert jnp.array_equal(resolve_parametrizations({"o": stack})["o"], data)
    assert jnp.array_equal(jax.jit(lambda m: m())(stack), data)


def test_leaves_stacked_along_new_axes_resolve_member_by_member():
    members = [Scaled(jnp.full((2, 3), float(k)), jnp.asarray(k + 1.0)) for k in range(4)]
    stack = stacked(*members)
    assert stack.stack_shape == (4,)
    expected = jnp.stack([m() for m in members])
    assert jnp.array_equal(stack(), expected)
    twice = stacked(stack, stack)  # a stack of stacks: two leading axes
    assert twice.stack_shape == (2, 4) and twice().shape == (2, 4, 2, 3)
    assert jnp.array_equal(twice()[1], expected)


def test_gradients_reach_every_member():
    stack = stacked(Scaled(jnp.ones((2, 2)), 2.0), Scaled(jnp.ones((2, 2)), 3.0))
    grads = jax.grad(lambda s: jnp.sum(s() * jnp.arange(2.0)[:, None, None]))(stack)
    assert jnp.array_equal(grads.data, jnp.stack([jnp.zeros((2, 2)), jnp.full((2, 2), 3.0)]))
    assert jnp.array_equal(grads.gain, jnp.array([0.0, 4.0]))


def test_a_nested_parametrization_stacks_with_its_holder():
    member = DirectArrayParametrization(DirectArrayParametrization(jnp.ones((2, 2))))
    stack = stacked(member, member, member)
    assert stack.stack_shape == (3,) and stack().shape == (3, 2, 2)


def test_a_stack_of_mismatched_members_is_refused():
    stack = stacked(Scaled(jnp.ones((2, 2)), 1.0), Scaled(jnp.ones((2, 2)), 1.0))
    broken = eqx.tree_at(lambda s: s.gain, stack, jnp.ones(()))  # one array not stacked
    with pytest.raises(ValueError, match="a stack of mismatched members"):
        broken()
    uneven = eqx.tree_at(lambda s: s.gain, stack, jnp.ones(5))  # leading axes of 5 and 2
    with pytest.raises(ValueError, match="a stack of mismatched members"):
        uneven()


def test_an_index_slice_stack_keeps_its_index_axis():
    # Before stacks, at_index sliced the stacking axis and n reported the stack's size.
    positions = [IndexSliceParameter(jnp.arange(10.0).reshape(5, 2) + k) for k in range(3)]
    stack = stacked(*positions)
    assert stack.stack_shape == (3,) and stack.n == 5
    assert jnp.array_equal(stack.at_index(4), jnp.stack([p.at_index(4) for p in positions]))
    assert stack.all.shape == (3, 5, 2)
    bound = resolve_parametrizations({"p": stack}, index=2)["p"]
    assert bound.n == 5 and jnp.array_equal(bound.at_current_index(), stack.at_index(2))
    per_index = jax.vmap(stack.at_index)(jnp.arange(5))
    assert per_index.shape == (5, 3, 2)
    with pytest.raises(IndexError):
        stack.at_index(5)
    vmapped = eqx.filter_vmap(IndexSliceParameter)(jnp.zeros((3, 5, 2)))
    assert vmapped.n == 5 and vmapped.at_index(0).shape == (3, 2)


def test_an_index_slice_of_a_stacked_parametrization_slices_the_index_axis():
    slices = eqx.filter_vmap(DirectArrayParametrization)(jnp.arange(24.0).reshape(2, 3, 4))
    by_row = IndexSliceParameter(slices, dim=0)  # one index per row of each member
    assert by_row.n == 2  # the stack of 2 belongs to the parameters, not to this parameter
    assert jnp.array_equal(by_row.at_index(1), slices()[1])


def test_a_stack_saves_and_loads_bit_exact(tmp_path):
    stack = stacked(Scaled(jnp.ones((2, 2)), 2.0), Scaled(jnp.zeros((2, 2)), 3.0))
    model = {"o": eqx.filter_vmap(DirectArrayParametrization)(jnp.ones((3, 2)))}
    save(tmp_path / "m.ptyrax", model)
    back = load(tmp_path / "m.ptyrax")
    assert back["o"].stack_shape == (3,) and jnp.array_equal(back["o"](), model["o"]())
    assert stack().shape == (2, 2, 2)


def test_the_conformance_kit_checks_stacks():
    check_parametrization(DirectArrayParametrization(jnp.ones((2, 3))))
    check_parametrization(IndexSliceParameter(jnp.ones((4, 2))))

    class Unrecorded(DirectArrayParametrization):
        registry_name = "unrecorded_for_stack_tests"

    broken = Unrecorded(jnp.ones(2))
    object.__setattr__(broken, "_member_ndims", None)  # as a class that records nothing
    with pytest.raises(AssertionError, match="stacks resolve as their members"):
        check_parametrization(broken)
    assert np.array_equal(broken(), np.ones(2))


def test_a_parametrization_without_arrays_is_one_member():
    """Every field static (a probe from fixed optics, say): nothing to stack, and it resolves."""

    class Fixed(ArrayParametrization):
        level: float = eqx.field(static=True)

        def __init__(self, shape, level):
            self.output_shape, self.level = tuple(shape), float(level)

        def __call__(self):
            return jnp.full(self.output_shape, self.level)

    fixed = Fixed((2, 3), 4.0)
    assert stack_shape(fixed) == ()
    assert jnp.array_equal(resolve_parametrizations({"a": fixed})["a"], jnp.full((2, 3), 4.0))
