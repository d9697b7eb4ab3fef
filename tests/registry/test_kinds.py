"""Kinds besides parametrizations: a distribution defines one (entry-point group
`ptyrax.kinds`), plugins contribute and declare its classes like parametrizations."""

import re
import sys

import pytest

import ptyrax_core
from ptyrax_core import (
    Kind,
    PluginError,
    UnknownNameError,
    UnknownParametrizationError,
    registry,
)
from ptyrax_core.cli import main

KIND = '''
import ptyrax_core

class Reader:
    """What every fake reader subclasses."""

READERS = ptyrax_core.Kind("readers", "reader", Reader)
NOT_A_KIND = object()
'''

PLUGIN = '''
import ptyrax_core
from ptyrax_fake_kind import Reader

class Csv(Reader):
    """Reads a CSV file, in a test."""

    registry_name = "csv"

    def __init__(self, delimiter: str = ","):
        self.delimiter = delimiter

class NotAReader:
    registry_name = "not_a_reader"

class Direct(Reader):
    registry_name = "direct"  # a parametrization's name

@ptyrax_core.hookimpl
def ptyrax_readers():
    return [{returns}]
'''

DEFINED = ("ptyrax.kinds", "readers", "ptyrax_fake_kind:READERS")
PLUGIN_EP = ("ptyrax", "fake", "ptyrax_fake")
DECLARED = ("ptyrax.readers", "csv", "ptyrax_fake:Csv")


def _install(fake_plugins, entry_points, returns="Csv", load=False):
    sources = {"ptyrax_fake_kind": KIND, "ptyrax_fake": PLUGIN.replace("{returns}", returns)}
    return fake_plugins(sources, entry_points, load=load)


def test_a_kind_and_its_declared_classes_are_known_before_anything_is_imported(
    fake_plugins, plugin_env
):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    _install(fake_plugins, [DEFINED, PLUGIN_EP, DECLARED])
    assert registry.kinds() == ["parametrizations", "readers"]
    assert registry.names("readers") == ["csv"] and registry.kind_of("csv") == "readers"
    assert "csv" not in registry.names() and registry.kind_of("direct") == "parametrizations"
    assert "ptyrax_fake" not in sys.modules and "ptyrax_fake_kind" not in sys.modules
    csv = registry.get("csv", "readers")
    assert csv.__name__ == "Csv" and csv.__module__ == "ptyrax_fake"
    assert registry.kind("readers").noun == "reader"
    record = registry.plugins()[-1]
    assert record.contributions == {"readers": ("csv",)} and record.parametrizations == ()
    assert "Csv" not in registry.exports()  # the module face holds parametrizations only


def test_an_undeclared_plugin_contributes_a_kind_through_its_hook(fake_plugins, plugin_env):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    records = _install(fake_plugins, [DEFINED, PLUGIN_EP], load=True)
    assert records[-1].contributions == {"readers": ("csv",)}
    assert registry.get("csv", "readers").registry_name == "csv"


def test_a_name_asked_for_as_another_kind_says_which_it_is(fake_plugins, plugin_env):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    _install(fake_plugins, [DEFINED, PLUGIN_EP, DECLARED])
    with pytest.raises(UnknownParametrizationError, match="'csv' is a reader, not a param"):
        registry.get("csv")
    with pytest.raises(UnknownNameError, match="'direct' is a parametrization, not a reader"):
        registry.get("direct", "readers")
    with pytest.raises(UnknownNameError, match=r"No reader is registered as 'tsv'\. .*: csv\."):
        registry.get("tsv", "readers")
    for call in (lambda: registry.names("writers"), lambda: registry.get("csv", "writers")):
        with pytest.raises(KeyError, match="defines the kind 'writers'; kinds: param.*, readers"):
            call()


@pytest.mark.parametrize(
    ("entry_points", "returns", "message"),
    [
        ([DEFINED, PLUGIN_EP], "NotAReader", "NotAReader.*not a subclass of Reader"),
        ([DEFINED, PLUGIN_EP], "Direct", "'direct', which ptyrax-core already registers"),
        (
            [DEFINED, PLUGIN_EP, ("ptyrax.readers", "csv", "ptyrax_fake:NotAReader")],
            "Csv",
            "declares csv = 'ptyrax_fake:NotAReader'.*gives",
        ),
        (
            [PLUGIN_EP, DECLARED],
            "Csv",
            "group ptyrax.readers, but no installed distribution defines the kind 'readers'",
        ),
        (
            [("ptyrax.kinds", "readers", "ptyrax_fake_kind:NOT_A_KIND"), PLUGIN_EP, DECLARED],
            "Csv",
            "defines the kind 'readers'.*as <object.*must be a ptyrax_core.Kind",
        ),
    ],
)
def test_invalid_contributions_of_a_kind_are_refused(
    fake_plugins, plugin_env, entry_points, returns, message
):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match=message):
        _install(fake_plugins, entry_points, returns, load=True)


def test_ptyrax_plugins_and_show_name_the_kind(fake_plugins, plugin_env, capsys):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    _install(fake_plugins, [DEFINED, PLUGIN_EP, DECLARED])
    assert main(["plugins"]) == 0
    assert re.search(r"\nfake\s+ptyrax-fake\s+1\.0\s+readers: csv\s+-\n", capsys.readouterr().out)
    assert main(["show", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ptyrax_fake.Csv  (reader csv; ptyrax-fake 1.0)\n\n")
    assert "    delimiter: str = ','," in out and out.endswith("Reads a CSV file, in a test.\n")


def test_a_kind_is_checked_when_made():
    with pytest.raises(ValueError, match="snake_case name other than"):
        Kind("functions", "function", object)
    with pytest.raises(ValueError, match="snake_case"):
        Kind("Readers", "reader", object)
    with pytest.raises(TypeError, match="base must be a class"):
        Kind("readers", "reader", 3)
    assert repr(Kind("readers", "reader", object)) == "Kind('readers', 'reader', object)"
    assert ptyrax_core.Kind is Kind
