"""Core with every first-party plugin installed (tox env `all`)."""

import json
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from seed import SEED_NAMES  # tests/seed.py

from ptyrax_core import parametrizations as P, registry, resolve_parametrizations
from ptyrax_core._firstparty import EXPORTS, REGISTRY_NAMES
from ptyrax_core.testing import assert_close, check_parametrization

N, S = 4, 16
# total_loss is a mean of N * S * S positive terms |fft2(exit_wave)|**2: S * S roundings for
# each position's mean, N for the mean of those, relative to the loss itself; and each term comes
# after an FFT of S * S (8 roundings) and the exit wave's chain (two wavelet reconstructions, 24
# multiply-adds, and a few products). S * S + 64 covers them.
LOSS_TERMS = S * S + 64


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_seed_name_is_there(name):
    assert callable(getattr(P, name))


def test_every_first_party_plugin_loaded():
    plugins = {p.distribution: p for p in registry.plugins()}
    for dist, names in REGISTRY_NAMES.items():
        assert plugins[dist].error is None
        assert set(plugins[dist].parametrizations) == set(names)
        assert {*plugins[dist].parametrizations, *plugins[dist].functions} <= {
            *names,
            *EXPORTS[dist],
            *(registry.get(n).__name__ for n in names),
        }
    # besides the first-party names, only those of the test plugins (tests/dists), which the
    # `all` env installs for the property tests
    tests = {
        n for d, p in plugins.items() if d.startswith("ptyrax-test-") for n in p.parametrizations
    }
    assert [n for n in registry.names() if n not in tests] == sorted(
        ["direct", "index_slice", *(n for names in REGISTRY_NAMES.values() for n in names)]
    )


def test_every_first_party_plugin_declares_its_names_and_is_imported_at_first_use():
    code = (
        "import sys, ptyrax_core\n"
        "names = ptyrax_core.registry.names()\n"
        "before = sorted(m for m in sys.modules if m.startswith('ptyrax_') and m != 'ptyrax_core'"
        " and not m.startswith('ptyrax_core.'))\n"
        "ptyrax_core.registry.get('wavelet')\n"
        "after = sorted({m.split('.')[0] for m in sys.modules if m.startswith('ptyrax_')})\n"
        "print(json.dumps([names, before, after]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import json\n{code}"], capture_output=True, text=True, check=True
    )
    names, before, after = json.loads(done.stdout)
    first_party = {d.replace("-", "_") for d in [*REGISTRY_NAMES, "ptyrax-demo"]}
    assert set(names) >= {n for names in REGISTRY_NAMES.values() for n in names}
    assert set(before) & first_party == set()  # discovery imported none: all are declared
    assert set(after) & first_party == {"ptyrax_wavelet"}  # the first use imported that one


def mixed_model():
    key = jax.random.PRNGKey(0)
    k1, k2, k3 = jax.random.split(key, 3)
    probe = jnp.exp(1j * jax.random.normal(k1, (S, S))).astype(jnp.complex64)
    return {
        "object": P.PhaseOnlyArrayParametrization((S, S), lambda s: 0.1 * jnp.ones(s)),
        "probe": P.NormalizedArrayParametrization(
            probe, scaling_function=lambda a: P.mean_l2_norm(a, axes=(-2, -1))
        ),
        "probe_ref": P.NormalizedReferencedArrayParametrization(probe),
        "background": P.OuterProductArrayParametrization((S, S, 1), 2),
        "support": P.BinaryArrayParametrization(
            jax.random.uniform(k2, (S, S)), straight_through=True
        ),
        "illumination": P.WaveletArrayParametrization(jnp.ones((S, S)), "db2", 2),
        "positions": P.IndexSliceParameter(P.DirectArrayParametrization(jnp.zeros((N, 2)))),
        "frames": P.IndexSliceParameter(
            P.WaveletArrayParametrization(jax.random.normal(k3, (N, S, S)), "sym2", 1)
        ),
    }


def loss_at(model, index):
    m = resolve_parametrizations(model, index)
    shift = m["positions"].at_current_index()
    exit_wave = (
        m["object"] * (m["probe"] + m["probe_ref"]) * m["support"] * m["illumination"]
        + m["background"][..., 0]
        + m["frames"].at_current_index()
    )
    return jnp.mean(jnp.abs(jnp.fft.fft2(exit_wave)) ** 2) * (1 + jnp.sum(shift**2))


def total_loss(model):
    return jnp.mean(jax.vmap(loss_at, in_axes=(None, 0))(model, jnp.arange(N)))


def test_mixed_model_resolves_under_jit_grad_and_vmap():
    model = mixed_model()
    assert all(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(model))
    value, grads = jax.jit(jax.value_and_grad(total_loss))(model)
    assert jnp.isfinite(value)
    looped = jnp.mean(jnp.stack([loss_at(model, i) for i in range(N)]))
    assert_close(value, looped, terms=LOSS_TERMS)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(model)

    def moved(path):
        return float(jnp.max(jnp.abs(path(grads))))

    assert moved(lambda g: g["object"].phase) > 0
    assert moved(lambda g: g["background"].column_vector) > 0
    assert moved(lambda g: g["illumination"].wavelet_coefficients) > 0
    assert moved(lambda g: g["frames"].parameters.wavelet_coefficients) > 0
    assert moved(lambda g: g["support"].data) > 0
    assert moved(lambda g: g["probe_ref"]._reference_value) == 0  # frozen


def test_mixed_model_passes_plain_jit_and_serialises(tmp_path):
    model = mixed_model()
    jitted = jax.jit(total_loss)
    assert_close(jitted(model), total_loss(model), terms=LOSS_TERMS)
    eqx.tree_serialise_leaves(tmp_path / "model.eqx", model)
    back = eqx.tree_deserialise_leaves(tmp_path / "model.eqx", mixed_model())
    assert_close(total_loss(back), total_loss(model), terms=LOSS_TERMS)


def test_conformance(ptyrax_example):
    """The conformance kit over every example of every installed plugin."""
    check_parametrization(ptyrax_example)


FIRST_PARTY = ["direct", "index_slice", *(n for names in REGISTRY_NAMES.values() for n in names)]


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_every_first_party_class_has_with_array(name):
    cls = registry.get(name)
    assert callable(cls.__dict__.get("with_array")), f"{cls.__name__} has no with_array"
    assert cls.with_array.__doc__ and "target" in cls.with_array.__doc__


def test_a_model_rebuilt_with_with_array_gives_the_same_loss():
    model = mixed_model()

    def is_parameter(x):
        return isinstance(x, P.ArrayParametrization | P.IndexDependentParameter)

    def rebuilt(x):
        return x.with_array(x.all if isinstance(x, P.IndexDependentParameter) else x())

    copy = jax.jit(lambda m: jax.tree_util.tree_map(rebuilt, m, is_leaf=is_parameter))(model)
    assert jax.tree_util.tree_structure(copy) == jax.tree_util.tree_structure(model)
    # Each copy gives its output back to with_array's round-trip rounding (the 32 terms the
    # conformance kit allows), which the squared magnitude in the loss doubles.
    assert_close(total_loss(copy), total_loss(model), terms=LOSS_TERMS + 2 * 32)
