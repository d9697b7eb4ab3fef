"""`pack`: the model as one pytree node over its leaves, resolved and differentiated as the
model is, and cheap to pass to a jitted step."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ptyrax_core import (
    ArrayParametrization,
    DirectArrayParametrization,
    IndexSliceParameter,
    Packed,
    load,
    pack,
    resolve_array_parametrizations,
    resolve_index_dependent_parameters,
    resolve_index_dependent_parameters_all,
    resolve_parametrizations,
    save,
)


def model():
    return {
        "object": DirectArrayParametrization(jnp.arange(6.0).reshape(2, 3)),
        "positions": IndexSliceParameter(jnp.arange(8.0).reshape(4, 2)),
        "scale": jnp.float32(2.0),
    }


def loss(m, i):
    r = resolve_parametrizations(m, index=i)
    return r["scale"] * jnp.sum(r["object"] ** 2) * jnp.sum(r["positions"].at_current_index())


def test_unpack_gives_the_model_back():
    m = model()
    back = pack(m).unpack()
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(m)
    assert type(back["object"]) is DirectArrayParametrization
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(m), strict=True):
        assert a is b


def test_the_packed_model_is_one_node_over_the_leaves():
    m = model()
    packed = pack(m)
    leaves, treedef = jax.tree_util.tree_flatten(packed)
    assert len(leaves) == len(jax.tree_util.tree_leaves(m)) == 3
    assert treedef.num_nodes == len(leaves) + 1  # no node per module: the structure is static
    assert "3 leaves" in repr(packed)


@pytest.mark.parametrize(
    "resolver",
    [
        lambda t: resolve_parametrizations(t, index=2),
        lambda t: resolve_parametrizations(t),
        resolve_array_parametrizations,
        lambda t: resolve_index_dependent_parameters(t, 1),
        resolve_index_dependent_parameters_all,
    ],
)
def test_every_resolver_unpacks(resolver):
    m = model()
    expected = resolver(m)
    for tree in (pack(m), {"nested": pack(m)}, pack({"inner": pack(m)})):
        got = resolver(tree)
        got = got.get("nested", got.get("inner", got)) if isinstance(got, dict) else got
        assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(expected)
        for a, b in zip(
            jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_gradients_of_a_packed_model_are_packed_and_equal():
    m = model()
    batch = lambda t: jnp.sum(jax.vmap(loss, in_axes=(None, 0))(t, jnp.arange(4)))  # noqa: E731
    value, grads = jax.jit(jax.value_and_grad(batch))(pack(m))
    expected_value, expected = jax.value_and_grad(batch)(m)
    assert isinstance(grads, Packed)
    # Small integers throughout (sums of squares of 0..5, positions 0..7, the scale 2): every
    # float32 operation is exact, so jitted and eager agree exactly on any machine.
    np.testing.assert_array_equal(value, expected_value)
    unpacked = grads.unpack()
    assert isinstance(unpacked["positions"], IndexSliceParameter)
    for a, b in zip(
        jax.tree_util.tree_leaves(unpacked), jax.tree_util.tree_leaves(expected), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_a_loop_keeps_one_compiled_step():
    traces = []

    @jax.jit
    def step(packed):
        traces.append(1)
        value, grads = jax.value_and_grad(lambda p: loss(p, 1))(packed)
        return value, jax.tree_util.tree_map(lambda x, g: x - 0.01 * g, packed, grads)

    packed = pack(model())
    values = []
    for _ in range(4):
        value, packed = step(packed)
        values.append(float(value))
    assert isinstance(packed, Packed)
    assert len(traces) == 1
    assert values[-1] < values[0]


def test_partition_and_combine_keep_it_packed():
    packed = pack(model())
    arrays, static = eqx.partition(packed, eqx.is_array)
    assert isinstance(arrays, Packed) and isinstance(static, Packed)
    back = eqx.combine(arrays, static).unpack()
    np.testing.assert_array_equal(back["object"](), model()["object"]())


def test_a_checkpoint_keeps_it_packed(tmp_path):
    packed = pack(model())
    save(tmp_path / "run.ptyrax", {"model": packed, "step": 3})
    back = load(tmp_path / "run.ptyrax")
    assert isinstance(back["model"], Packed) and back["step"] == 3
    assert back["model"].treedef == packed.treedef
    for a, b in zip(back["model"].leaves, packed.leaves, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_a_packed_model_needs_a_treedef():
    with pytest.raises(TypeError, match=r"treedef must be a jax.tree_util.PyTreeDef.*pack"):
        Packed([jnp.ones(2)], {"a": 0})


def test_parametrizations_read_attributes_as_plain_objects():
    # equinox's Python __getattribute__ ran on every attribute read, flattening included: 2 us a
    # parametrization at each jitted call (see the Performance page). Plugins inherit this.
    class Twice(ArrayParametrization):
        x: jax.Array

        def __init__(self, x):
            self.x, self.output_shape = x, tuple(x.shape)

        def __call__(self):
            return 2 * self.x

    for cls in (Twice, DirectArrayParametrization, IndexSliceParameter):
        assert cls.__getattribute__ is object.__getattribute__
    np.testing.assert_array_equal(resolve_parametrizations(Twice(jnp.ones(2))), [2.0, 2.0])
    positions = IndexSliceParameter(jnp.arange(6.0).reshape(3, 2))
    for jit in (jax.jit, eqx.filter_jit):  # methods are plain bound methods, and jit as before
        np.testing.assert_array_equal(jit(positions.at_index)(1), [2.0, 3.0])
