import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from ptyrax_core import (
    BoundSliceParameter,
    DirectArrayParametrization,
    IndexDependentParameter,
    IndexSliceParameter,
)


def test_protocol_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        IndexDependentParameter()


def test_generic_subclass_and_at_current_index():
    class Constant(IndexDependentParameter[float]):
        value: jax.Array

        def __init__(self, value, _index=None):
            self.value = value
            self._index = _index

        def at_index(self, index):
            return self.value * index

        @property
        def n(self):
            return 10

        @property
        def all(self):
            return self.value * jnp.arange(10)

    unbound = Constant(jnp.array(2.0))
    assert unbound._index is None
    with pytest.raises(ValueError, match=r"not bound to an index.*resolve_parametrizations"):
        unbound.at_current_index()
    assert Constant(jnp.array(2.0), _index=3).at_current_index() == 6.0
    assert unbound.at(4) == unbound.at_index(4) == 8.0


def test_slice_of_an_array():
    x = jnp.arange(12.0).reshape(4, 3)
    p = IndexSliceParameter(x)
    assert p.n == 4 and p.dim == 0
    assert jnp.array_equal(p.at_index(2), x[2])
    assert jnp.array_equal(p.at(-1), x[3])
    assert jnp.array_equal(p.at_index(np.int64(1)), x[1])
    assert jnp.array_equal(p.all, x)


def test_slice_along_another_dim_and_negative_dim():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    assert IndexSliceParameter(x, dim=1).n == 3
    assert jnp.array_equal(IndexSliceParameter(x, dim=1).at_index(2), x[:, 2])
    assert jnp.array_equal(IndexSliceParameter(x, dim=-1).at_index(3), x[..., 3])


def test_slice_of_a_pytree_and_of_a_parametrization():
    tree = {"a": jnp.ones((5, 2)), "b": (jnp.arange(5.0),)}
    p = IndexSliceParameter(tree)
    assert p.n == 5
    out = p.at_index(3)
    assert out["a"].shape == (2,) and out["b"][0] == 3.0
    inner = DirectArrayParametrization(jnp.arange(10.0).reshape(5, 2))
    q = IndexSliceParameter(inner)
    assert q.n == 5
    assert jnp.array_equal(q.at_index(4), jnp.array([8.0, 9.0]))
    assert jnp.array_equal(q.all, inner())


def test_numpy_leaves_become_jax_arrays():
    p = IndexSliceParameter(np.zeros((3, 2)))
    assert isinstance(p.parameters, jax.Array)


def test_traced_index_under_jit_and_vmap():
    x = jnp.arange(10.0).reshape(5, 2)
    p = IndexSliceParameter(x)
    assert jnp.array_equal(jax.jit(lambda i: p.at_index(i))(3), x[3])
    assert jnp.array_equal(jax.vmap(p.at_index)(jnp.array([4, 0, 2])), x[jnp.array([4, 0, 2])])
    assert jnp.array_equal(jax.jit(lambda i: p.at_index(i))(-1), x[-1])


def test_gradient_reaches_only_the_selected_slice():
    p = IndexSliceParameter(jnp.ones((4, 2)))
    grad = jax.grad(lambda p: jnp.sum(p.at_index(1)))(p)
    assert jnp.array_equal(grad.parameters, jnp.zeros((4, 2)).at[1].set(1.0))


@pytest.mark.parametrize("index", [4, -5, 100])
def test_concrete_index_out_of_range(index):
    with pytest.raises(IndexError, match=f"index {index} is out of range for 4 indices"):
        IndexSliceParameter(jnp.ones((4, 2))).at_index(index)


@pytest.mark.parametrize("index", [1.0, "1", True, jnp.array([1, 2]), jnp.array(1.0), None])
def test_index_must_be_an_integer_scalar(index):
    with pytest.raises(TypeError, match="index must be an integer scalar"):
        IndexSliceParameter(jnp.ones((4, 2))).at_index(index)


def test_construction_errors_name_the_argument():
    with pytest.raises(ValueError, match="same size along dim=0.*2, 3"):
        IndexSliceParameter({"a": jnp.ones((2, 1)), "b": jnp.ones((3, 1))})
    with pytest.raises(ValueError, match=r"dim=2 is out of range.*\(4, 2\)"):
        IndexSliceParameter(jnp.ones((4, 2)), dim=2)
    with pytest.raises(ValueError, match="parameters holds no arrays"):
        IndexSliceParameter({})
    with pytest.raises(TypeError, match="parameters must hold only arrays.*float"):
        IndexSliceParameter((jnp.ones(3), 1.5))
    with pytest.raises(TypeError, match="must not contain index-dependent"):
        IndexSliceParameter(IndexSliceParameter(jnp.ones((2, 2))))
    with pytest.raises(TypeCheckError, match="dim"):
        IndexSliceParameter(jnp.ones(3), dim="0")
    with pytest.raises(TypeError, match="dim must be an int"):
        IndexSliceParameter(jnp.ones(3), dim=True)


def test_config_is_static():
    p = IndexSliceParameter(jnp.ones((3, 2)), dim=1)
    assert jax.tree_util.tree_leaves(p) == [p.parameters]


def test_bound_slice_parameter():
    bound = BoundSliceParameter(jnp.array([1.0, 2.0]), 7)
    assert jnp.array_equal(bound.at_current_index(), jnp.array([1.0, 2.0]))
    assert bound.n == 7
    for use in (lambda: bound.at_index(0), lambda: bound.at(0), lambda: bound.all):
        with pytest.raises(ValueError, match="already bound.*at_current_index"):
            use()
    assert jax.tree_util.tree_leaves(bound) == [bound.parameter]


def test_with_array_of_one_array_stores_it():
    p = IndexSliceParameter(jnp.zeros((2, 4)), dim=-1)
    target = jnp.arange(8.0).reshape(2, 4)
    q = p.with_array(target)
    assert type(q) is IndexSliceParameter and q.dim == -1 and q.n == 4
    assert jnp.array_equal(q.all, target) and jnp.array_equal(q.at_index(1), target[:, 1])
    assert jnp.array_equal(jax.jit(lambda p, t: p.with_array(t).all)(p, target), target)
    with pytest.raises(ValueError, match=r"target must have shape \(2, 4\); got shape \(4, 2\)"):
        p.with_array(target.T)
    with pytest.raises(TypeError, match="target must be an array"):
        p.with_array([[0.0] * 4] * 2)
    with pytest.raises(TypeError, match="target is complex"):
        p.with_array(target * 1j)


def test_with_array_of_a_pytree_and_of_a_parametrization_leaf():
    p = IndexSliceParameter(
        {"shift": jnp.zeros((3, 2)), "defocus": DirectArrayParametrization(jnp.zeros(3))}
    )
    target = {"shift": jnp.ones((3, 2)), "defocus": jnp.arange(3.0)}
    q = p.with_array(target)
    assert jax.tree_util.tree_structure(q) == jax.tree_util.tree_structure(p)
    assert isinstance(q.parameters["defocus"], DirectArrayParametrization)
    assert jnp.array_equal(q.at_index(2)["defocus"], 2.0)
    with pytest.raises(ValueError, match=r"target\['shift'\] must have shape \(3, 2\)"):
        p.with_array({**target, "shift": jnp.ones(3)})
    with pytest.raises(TypeError, match="target must have the tree structure of the parameters"):
        p.with_array(jnp.ones((3, 2)))
