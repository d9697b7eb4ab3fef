"""Core and one plugin, from built distributions: its names only; the rest say what to install."""

import importlib.metadata

import pytest

from ptyrax_core import (
    MissingPluginError,
    UnknownParametrizationError,
    parametrizations as face,
    registry,
)
from ptyrax_core._firstparty import EXPORTS, LICENCES, REGISTRY_NAMES


def test_only_this_plugin_is_installed_and_not_editable(isolated_distribution):
    installed = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert installed & set(EXPORTS) == {isolated_distribution}
    direct_url = importlib.metadata.distribution(isolated_distribution).read_text("direct_url.json")
    assert direct_url is None or '"editable": true' not in direct_url


def test_its_names_are_registered_and_no_others(isolated_distribution):
    assert set(registry.names()) == {
        "direct",
        "index_slice",
        *REGISTRY_NAMES[isolated_distribution],
    }
    plugins = {p.distribution: p for p in registry.plugins()}
    assert set(plugins) == {"ptyrax-core", isolated_distribution}
    assert plugins[isolated_distribution].error is None
    for name in EXPORTS[isolated_distribution]:
        assert callable(getattr(face, name))


def test_other_plugins_names_say_what_to_install(isolated_distribution):
    for dist, names in EXPORTS.items():
        if dist == isolated_distribution:
            continue
        for name in names:
            with pytest.raises(MissingPluginError, match=f"pip install {dist}"):
                getattr(face, name)
        for name in REGISTRY_NAMES[dist]:
            with pytest.raises(UnknownParametrizationError, match=f"pip install {dist}"):
                registry.get(name)


HEADERS = {
    "Apache-2.0": "Apache License\n                           Version 2.0",
    "GPL-3.0-or-later": "GNU GENERAL PUBLIC LICENSE\n                       Version 3",
}


@pytest.mark.parametrize("which", ["core", "plugin"])
def test_the_built_distribution_ships_its_licence(isolated_distribution, which):
    """The wheel carries the licence its metadata names, the text whole: Apache-2.0, or
    GPL-3.0-or-later for the one distribution that imports GPL code (`LICENCES`)."""
    name = "ptyrax-core" if which == "core" else isolated_distribution
    dist = importlib.metadata.distribution(name)
    expected = LICENCES.get(name, "Apache-2.0")
    assert dist.metadata["License-Expression"] == expected
    (licence,) = [f for f in dist.files if f.name == "LICENSE" and "dist-info" in str(f)]
    text = licence.read_text()
    assert text.lstrip().startswith(HEADERS[expected])
    assert "END OF TERMS AND CONDITIONS" in text
