"""Properties of random instances of every registered parametrization (tox env `all`).

For each registry name, hypothesis draws instances from `strategies.cases(name)` (random
shapes, dtypes, options and values; 64-bit ones under `jax.enable_x64`) and checks what every
model relies on: resolving under `jax.jit` and `jax.vmap` gives the eager result,
`with_array` of the output gives it back, a checkpoint is bit-exact, and a stack of two
members resolves as its members. A name without a strategy of its own (a third party's plugin)
is drawn from its plugin's examples, perturbed.
"""

import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import strategies  # tests/cross/strategies.py
from hypothesis import given, settings, strategies as st
from trees import assert_same_tree  # tests/trees.py

from ptyrax_core import (
    ArrayParametrization,
    IndexDependentParameter,
    load,
    registry,
    resolve_parametrizations,
    save,
)
from ptyrax_core._firstparty import REGISTRY_NAMES
from ptyrax_core.testing import RULES, assert_close

NAMES = strategies.registered_names()
FIRST_PARTY = {"direct", "index_slice", *(n for names in REGISTRY_NAMES.values() for n in names)}

# Bounded and deterministic: every run draws the same examples; a jit compile is slow, so few
# examples per class (the classes and their options are many).
PROPERTY = settings(strategies.BOUNDED, max_examples=4)
with_array_round_trips = {rule.__name__: rule for rule in RULES}["with_array_round_trips"]


def resolved(model, index):
    return resolve_parametrizations(model, index)


MEMBERS = 3  # in a batch of instances
INDICES = 3  # in a batch of indices


@jax.jit
def transformed(model, batch, index, indices):
    """Resolved under jax.jit, under jax.vmap over a batch of models, and over a batch of
    indices: one compiled program (compiling is what takes time here)."""
    return (
        resolved(model, index),
        jax.vmap(resolved, in_axes=(0, None))(batch, index),
        jax.vmap(resolved, in_axes=(None, 0))(model, indices),
    )


jit_call = jax.jit(lambda p: p())
jit_at_index = jax.jit(lambda p, i: p.at_index(i))


def assert_tree_close(actual, expected, terms):
    """The same structure, shapes and dtypes; inexact leaves equal to the rounding of `terms`
    operations (`assert_close`), the others exactly."""
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(expected)
    pairs = zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected), strict=True)
    for a, e in pairs:
        assert (jnp.shape(a), jnp.result_type(a)) == (jnp.shape(e), jnp.result_type(e))
        if jnp.issubdtype(jnp.result_type(a), jnp.inexact):
            assert_close(a, e, terms=terms)
        else:
            assert np.array_equal(np.asarray(a), np.asarray(e))


def indexed(p):
    return isinstance(p, IndexDependentParameter)


def value(bound):
    """A resolved parametrization's value: its array, or a bound parameter's value."""
    return bound.at_current_index() if hasattr(bound, "at_current_index") else bound


def instance(case):
    p = case.make()
    assert type(p) is registry.get(case.name)
    assert isinstance(p, ArrayParametrization | IndexDependentParameter)
    return p


def an_index(data, p):
    return data.draw(st.integers(-p.n, p.n - 1), label="index") if indexed(p) else None


def test_every_registered_name_has_a_strategy():
    """A new plugin's names are covered: by the table, or else by its examples."""
    missing = [name for name in registry.names() if not strategies.covered(name)]
    assert not missing, (
        f"no strategy for {missing}: add one to tests/cross/strategies.py STRATEGIES, or give "
        "the plugin a ptyrax_examples hook"
    )


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_jit_and_vmap_resolve_as_eager(name, data):
    case = data.draw(strategies.cases(name), label="case")
    with jax.enable_x64(case.x64):
        p = instance(case)
        index = an_index(data, p)
        # a batch of instances of the same layout, their trainable leaves moved at random
        seeds = data.draw(st.lists(strategies.seeds, min_size=MEMBERS - 1, max_size=MEMBERS - 1))
        members = [p, *(strategies.perturb(p, s) for s in seeds)]
        batch = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *members)
        size = p.n if indexed(p) else 1
        many = data.draw(st.lists(st.integers(0, size - 1), min_size=INDICES, max_size=INDICES))
        jitted, batched, by_index = transformed({"p": p}, {"p": batch}, index, jnp.asarray(many))

        eager = value(resolved({"p": p}, index)["p"])
        assert_tree_close(value(jitted["p"]), eager, case.terms)
        for k, member in enumerate(members):
            expected = value(resolved({"p": member}, index)["p"])
            at_k = jax.tree_util.tree_map(lambda x, k=k: x[k], value(batched["p"]))
            assert_tree_close(at_k, expected, case.terms)
        if indexed(p):  # one compiled program for every index
            for j, i in enumerate(many):
                at_j = jax.tree_util.tree_map(lambda x, j=j: x[j], value(by_index["p"]))
                assert_tree_close(at_j, p.at_index(i), case.terms)


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_with_array_gives_the_output_back(name, data):
    """The conformance kit's rule, on random instances: with_array(output) returns output
    (eagerly and under jit), as the same class and layout; a projection (binary, bounded,
    low rank) keeps its own outputs."""
    case = data.draw(strategies.cases(name), label="case")
    with jax.enable_x64(case.x64):
        p = instance(case)
        if callable(getattr(p, "with_array", None)):
            with_array_round_trips(p)
        else:  # a third party's class may have none (ptyrax-test-good's): nothing to round trip
            assert name not in FIRST_PARTY, f"{name} has no with_array"


@pytest.mark.parametrize("name", NAMES)
@settings(PROPERTY, max_examples=6)
@given(data=st.data())
def test_checkpoints_are_bit_exact(name, data):
    case = data.draw(strategies.cases(name), label="case")
    with jax.enable_x64(case.x64), tempfile.TemporaryDirectory() as folder:
        p = instance(case)
        tree = {"p": p, "nested": [(p, jnp.arange(3))]}
        save(f"{folder}/model.ptyrax", tree)
        back = load(f"{folder}/model.ptyrax")
        assert type(back["p"]) is type(p)
        assert_same_tree(back, tree)  # treedef (static fields too), leaf types, dtypes, bytes
        index = 0 if indexed(p) else None
        assert_same_tree(resolved(back, index), resolved(tree, index))


@pytest.mark.parametrize("name", NAMES)
@settings(PROPERTY, max_examples=3)
@given(data=st.data())
def test_stacks_resolve_as_their_members(name, data):
    case = data.draw(strategies.cases(name), label="case")
    with jax.enable_x64(case.x64):
        a = instance(case)
        b = strategies.perturb(a, data.draw(strategies.seeds, label="seed"))
        stack = jax.tree_util.tree_map(lambda *x: jnp.stack(x), a, b)
        assert stack.stack_shape == (2,)
        if indexed(a):
            assert stack.n == a.n
            i = an_index(data, a)
            for at in (stack.at_index(i), jit_at_index(stack, i)):
                for k, member in enumerate((a, b)):
                    mine = jax.tree_util.tree_map(lambda x, k=k: x[k], at)
                    assert_tree_close(mine, member.at_index(i), case.terms)
            bound = value(resolved({"s": stack}, i)["s"])
            assert_tree_close(bound, stack.at_index(i), case.terms)
        else:
            assert stack.shape == (2, *a.output_shape)
            resolved_stack = resolved({"s": stack}, None)["s"]
            for out in (stack(), jit_call(stack), resolved_stack):
                assert out.shape == stack.shape
                for k, member in enumerate((a, b)):
                    assert_tree_close(out[k], member(), case.terms)
        with tempfile.TemporaryDirectory() as folder:  # a stack is saved as a stack
            save(f"{folder}/stack.ptyrax", stack)
            back = load(f"{folder}/stack.ptyrax")
            assert_same_tree(back, stack)
            assert back.stack_shape == (2,)
