"""`ptyrax_core.parametrizations`, the module face of the API document."""

import pytest
from seed import SEED_NAMES  # tests/seed.py

import ptyrax_core
from ptyrax_core import MissingPluginError, parametrizations as face
from ptyrax_core._firstparty import EXPORTS


def test_every_seed_name_is_core_or_first_party():
    first_party = {n for names in EXPORTS.values() for n in names}
    assert set(SEED_NAMES) <= set(face.__all__) | first_party


def test_core_names_are_the_core_objects():
    for name in face.__all__:
        assert getattr(face, name) is getattr(ptyrax_core, name)


def test_plugin_names_come_from_the_registry(plugin_env):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    from ptyrax_core.parametrizations import ScaledArrayParametrization, double

    assert ScaledArrayParametrization is ptyrax_core.registry.get("scaled")
    assert double(2) == 4
    assert {"ScaledArrayParametrization", "double"} <= set(dir(face))
    assert set(face.__all__) <= set(dir(face))


@pytest.mark.parametrize(
    ("name", "dist"),
    [
        ("WaveletArrayParametrization", "ptyrax-wavelet"),
        ("phase_only_exp", "ptyrax-phase-only"),
        ("mean_l2_norm", "ptyrax-normalized"),
    ],
)
def test_missing_first_party_name_names_the_distribution(plugin_env, name, dist):
    plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1")
    with pytest.raises(MissingPluginError, match=f"pip install {dist}"):
        getattr(face, name)
    with pytest.raises(ImportError, match=f"pip install {dist}"):
        exec(f"from ptyrax_core.parametrizations import {name}", {})


def test_unknown_name_is_an_attribute_error(plugin_env):
    plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1")
    with pytest.raises(AttributeError, match="no attribute 'Nope'.*available: .*IndexSlice"):
        _ = face.Nope
    assert not hasattr(face, "Nope")


def test_a_registry_name_says_how_to_get_its_class(plugin_env):
    """`face.scaled` (a registry name, where the module exports class names): not "not
    installed", but where the class is."""
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(
        AttributeError,
        match=r"'scaled' is the registry name of a class of the "
        r"kind parametrizations.*registry\.get\('scaled', 'parametrizations'\)",
    ):
        _ = face.scaled  # fmt: skip
