import collections
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from ptyrax_core import (
    ArrayParametrization,
    BoundSliceParameter,
    DirectArrayParametrization,
    IndexSliceParameter,
    resolve_array_parametrizations,
    resolve_index_dependent_parameters,
    resolve_index_dependent_parameters_all,
    resolve_parametrizations,
)
from ptyrax_core.testing import assert_close


class Defocused(ArrayParametrization):
    """A parametrization with an index-dependent field: `probe * defocus`."""

    probe: jax.Array | ArrayParametrization
    defocus: object

    def __init__(self, probe, defocus):
        self.probe, self.defocus = probe, defocus
        self.output_shape = tuple(probe.shape)

    def __call__(self):
        return self.probe * self.defocus.at_current_index()


class Halved(ArrayParametrization):
    x: jax.Array

    def __init__(self, x):
        self.x, self.output_shape = x, x.shape

    def __call__(self):
        return self.x / 2


class Model(eqx.Module):
    object: object
    probe: object
    positions: object

    def __call__(self, data_i):
        """Far-field intensity error at one position (the model resolved at that index)."""
        shift = self.positions.at_current_index()
        ky = jnp.fft.fftfreq(self.probe.shape[0])[:, None]
        kx = jnp.fft.fftfreq(self.probe.shape[1])[None, :]
        ramp = jnp.exp(-2j * jnp.pi * (ky * shift[0] + kx * shift[1]))
        probe = jnp.fft.ifft2(jnp.fft.fft2(self.probe) * ramp)
        intensity = jnp.abs(jnp.fft.fft2(probe * self.object)) ** 2
        return jnp.mean((intensity - data_i) ** 2)


N, S = 6, 16
KEY = jax.random.PRNGKey(0)
OBJ = jnp.exp(1j * jax.random.uniform(KEY, (S, S)))
PROBE = jnp.ones((S, S), jnp.complex64)
POS = jax.random.normal(KEY, (N, 2))
DATA = jax.random.uniform(KEY, (N, S, S))


def raw_loss(arrays, data):
    obj, probe, pos = arrays

    def one(i):
        return Model(obj, probe, BoundSliceParameter(pos[i], N))(data[i])

    return jnp.mean(jax.vmap(one)(jnp.arange(N)))


def parametrized_loss(model, data):
    def one(i):
        return resolve_parametrizations(model, i)(data[i])

    return jnp.mean(jax.vmap(one)(jnp.arange(N)))


def parametrized_model():
    return Model(
        DirectArrayParametrization(OBJ),
        DirectArrayParametrization(DirectArrayParametrization(PROBE)),
        IndexSliceParameter(DirectArrayParametrization(POS)),
    )


def test_resolve_array_parametrizations_leaves_other_leaves_alone():
    tree = {"p": DirectArrayParametrization(jnp.ones(2)), "x": 3, "s": "name", "n": None}
    out = resolve_array_parametrizations(tree)
    assert jnp.array_equal(out["p"], jnp.ones(2))
    assert out["x"] == 3 and out["s"] == "name" and out["n"] is None
    assert resolve_array_parametrizations([]) == []
    idp = IndexSliceParameter(jnp.ones((2, 2)))
    out = resolve_array_parametrizations({"i": idp})["i"]
    assert type(out) is IndexSliceParameter and out.parameters is idp.parameters


def test_resolve_at_index_binds_and_resolves():
    model = parametrized_model()
    bound = resolve_parametrizations(model, 2)
    assert isinstance(bound.object, jax.Array) and isinstance(bound.probe, jax.Array)
    assert isinstance(bound.positions, BoundSliceParameter)
    assert jnp.array_equal(bound.positions.at_current_index(), POS[2])
    assert bound.positions.n == N


def test_resolve_all_stacks_every_index():
    resolved = resolve_parametrizations(parametrized_model())
    assert jnp.array_equal(resolved.positions, POS)
    only_index = resolve_index_dependent_parameters_all(parametrized_model())
    assert isinstance(only_index.object, DirectArrayParametrization)
    assert jnp.array_equal(only_index.positions, POS)


def test_resolve_index_dependent_only():
    bound = resolve_index_dependent_parameters(parametrized_model(), 1)
    assert isinstance(bound.object, DirectArrayParametrization)
    assert jnp.array_equal(bound.positions.at_current_index(), POS[1])


def test_resolving_twice_is_harmless():
    once = resolve_parametrizations(parametrized_model(), 3)
    twice = resolve_parametrizations(once, 3)
    assert jnp.array_equal(twice.positions.at_current_index(), POS[3])
    assert resolve_parametrizations(once) is not None


def test_index_dependent_field_inside_a_parametrization():
    defocus = IndexSliceParameter(jnp.arange(1.0, 4.0))
    model = {"probe": Defocused(DirectArrayParametrization(jnp.ones(2)), defocus)}
    assert jnp.array_equal(resolve_parametrizations(model, 2)["probe"], 3 * jnp.ones(2))
    per_index = jax.vmap(lambda i: resolve_parametrizations(model, i)["probe"])(jnp.arange(3))
    assert jnp.array_equal(per_index, jnp.arange(1.0, 4.0)[:, None] * jnp.ones(2))
    with pytest.raises(ValueError, match="not bound"):
        resolve_array_parametrizations(model)


def test_plain_pytrees_pass_through():
    tree = (jnp.ones(2), [1, {"a": 2.0}])
    out = resolve_parametrizations(tree, 0)
    assert out[1] == [1, {"a": 2.0}] and jnp.array_equal(out[0], tree[0])


def test_index_is_checked():
    with pytest.raises(TypeError, match="index must be an integer scalar"):
        resolve_parametrizations(parametrized_model(), 1.5)
    with pytest.raises(IndexError, match="out of range"):
        resolve_parametrizations(parametrized_model(), N)


def test_jit_grad_vmap_with_traced_index_match_hand_written():
    model = parametrized_model()
    value, grads = jax.jit(jax.value_and_grad(parametrized_loss))(model, DATA)
    raw_value, raw_grads = jax.jit(jax.value_and_grad(raw_loss))((OBJ, PROBE, POS), DATA)
    # The loss is the mean over N of means of S * S positive terms, each after 3 FFTs of S * S
    # (8 roundings each): S * S + N + 24 roundings, relative to the loss itself.
    assert_close(value, raw_value, terms=S * S + N + 3 * 8)
    # Per gradient element: 6 FFTs (forward and backward, 8 roundings each) and the sum over N.
    assert_close(grads.object._data, raw_grads[0], terms=6 * 8 + N)
    assert_close(grads.probe._data._data, raw_grads[1], terms=6 * 8 + N)
    assert_close(grads.positions.parameters._data, raw_grads[2], terms=6 * 8 + N)
    traced = jax.jit(lambda m, i: resolve_parametrizations(m, i)(DATA[i]))
    assert_close(traced(model, 4), raw_loss_at(4), terms=S * S + 3 * 8)  # jit against eager


def raw_loss_at(i):
    return Model(OBJ, PROBE, BoundSliceParameter(POS[i], N))(DATA[i])


def _op_counts(hlo_text):
    return collections.Counter(re.findall(r"=\s.*?\s([a-z][\w.-]*)\(", hlo_text))


def test_zero_cost_same_compiled_program_as_hand_written():
    grad_param = jax.jit(jax.value_and_grad(parametrized_loss))
    grad_raw = jax.jit(jax.value_and_grad(raw_loss))
    param_hlo = grad_param.lower(parametrized_model(), DATA).compile().as_text()
    raw_hlo = grad_raw.lower((OBJ, PROBE, POS), DATA).compile().as_text()
    param_ops, raw_ops = _op_counts(param_hlo), _op_counts(raw_hlo)
    assert sum(raw_ops.values()) > 20  # the counter reads real programs
    assert param_ops == raw_ops
    # The comparison sees a change: a model that scales its positions compiles differently.
    scaled = eqx.tree_at(
        lambda m: m.positions, parametrized_model(), IndexSliceParameter(Halved(POS))
    )
    scaled_hlo = grad_param.lower(scaled, DATA).compile().as_text()
    assert _op_counts(scaled_hlo) != raw_ops


def test_static_config_model_passes_plain_jit_with_array_leaves_only():
    model = parametrized_model()
    leaves = jax.tree_util.tree_leaves(model)
    assert len(leaves) == 3 and all(isinstance(x, jax.Array) for x in leaves)
    f = jax.jit(parametrized_loss)
    assert jnp.isfinite(f(model, DATA))
    f(model, DATA)  # same static config: no retrace
    assert f._cache_size() == 1


def test_new_static_config_retraces_new_values_do_not():
    f = jax.jit(lambda m: resolve_parametrizations(m, 0)["x"].at_current_index())
    f({"x": IndexSliceParameter(jnp.ones((3, 2)))})
    f({"x": IndexSliceParameter(jnp.zeros((3, 2)))})
    assert f._cache_size() == 1
    f({"x": IndexSliceParameter(jnp.zeros((3, 2)), dim=1)})
    assert f._cache_size() == 2
