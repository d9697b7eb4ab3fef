"""The registry against real installed distributions: tests/dists/, installed by tox."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import ptyrax_core
from ptyrax_core import (
    DirectArrayParametrization,
    IndexSliceParameter,
    PluginError,
    PluginWarning,
    UnknownParametrizationError,
    _plugin,
    registry,
)


def by_name():
    return {p.name: p for p in registry.plugins()}


def test_builtins_register_through_the_hook(plugin_env):
    plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1")
    assert registry.names() == ["direct", "index_slice"]
    assert registry.get("direct") is DirectArrayParametrization
    assert registry.get("index_slice") is IndexSliceParameter
    (builtins,) = registry.plugins()
    assert builtins.name == "builtins" and builtins.distribution == "ptyrax-core"
    assert builtins.version == ptyrax_core.__version__ and builtins.error is None
    assert builtins.parametrizations == ("direct", "index_slice")
    assert builtins.functions == ("as_direct_array_parametrization",)


def test_a_selected_plugin_is_discovered_from_its_entry_point(plugin_env):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    assert registry.names() == ["direct", "index_slice", "scaled"]
    cls = registry.get("scaled")
    assert cls.__module__ == "ptyrax_test_good"
    good = by_name()["good"]
    assert (good.distribution, good.version, good.error) == ("ptyrax-test-good", "0.1.0", None)
    assert good.parametrizations == ("scaled",) and good.functions == ("double",)
    assert registry.exports()["double"](3) == 6
    import jax.numpy as jnp

    assert jnp.array_equal(cls(jnp.ones(2), 3.0)(), 3 * jnp.ones(2))


def test_discovery_is_lazy_and_once(plugin_env, monkeypatch):
    plugin_env(PTYRAX_PLUGINS="good")
    calls = []
    original = registry._discover
    monkeypatch.setattr(registry, "_discover", lambda: calls.append(1) or original())
    assert calls == []
    registry.names()
    registry.get("scaled")
    registry.plugins()
    assert calls == [1]
    registry.reload()
    assert calls == [1, 1]


def test_import_does_not_discover():
    code = (
        "import sys, ptyrax_core, ptyrax_core.parametrizations\n"
        "print(ptyrax_core.registry._registry, 'pluggy' in sys.modules,\n"
        "      'ptyrax_core._build' in sys.modules, 'ptyrax_core._checkpoint' in sys.modules)\n"
        "print(ptyrax_core.build.__module__, ptyrax_core.hookimpl.project_name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Imported at first use: pluggy (for hookimpl), the spec reader, checkpoints.
    assert out.stdout.split() == ["None", "False", "False", "False", "ptyrax_core._build", "ptyrax"]


def test_broken_plugins_are_recorded_and_warned_about(plugin_env):
    plugin_env(PTYRAX_PLUGINS="broken_import,broken_hook,good")
    with pytest.warns(PluginWarning) as warned:  # broken_hook declares nothing: imported now
        names = registry.names()
    assert {"scaled", "never_loads"} <= set(names)  # declared, not imported yet
    (message,) = [str(w.message) for w in warned]
    assert "broken_hook" in message and "broken on purpose" in message
    with pytest.warns(PluginWarning, match="broken_import.*ptyrax-test-broken"):
        plugins = by_name()  # imports the declared ones
    assert plugins["broken_import"].error.startswith("ModuleNotFoundError")
    assert plugins["broken_hook"].error == "RuntimeError: this hook is broken on purpose"
    assert plugins["broken_hook"].parametrizations == ()
    assert plugins["good"].error is None
    assert "never_loads" not in registry.names()  # its plugin failed: the name is gone


@pytest.mark.parametrize(
    ("name", "call"),
    [("broken_hook", registry.names), ("broken_import", lambda: registry.get("never_loads"))],
)
def test_strict_mode_raises(plugin_env, name, call):
    plugin_env(PTYRAX_PLUGINS=name, PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match=f"{name}.*ptyrax-test-broken.*PTYRAX_STRICT_PLUGINS"):
        call()


def test_duplicate_name_is_an_error_naming_both_distributions(plugin_env):
    plugin_env(PTYRAX_PLUGINS="good,clash")
    with pytest.warns(PluginWarning, match="'scaled'") as warned:
        registry.names()
    (message,) = [str(w.message) for w in warned]
    assert "ptyrax-test-good" in message and "ptyrax-test-clash" in message
    plugins = by_name()
    failed = [p for p in (plugins["good"], plugins["clash"]) if p.error]
    kept = [p for p in (plugins["good"], plugins["clash"]) if not p.error]
    assert len(failed) == 1 and len(kept) == 1  # all or nothing for the second one
    assert failed[0].parametrizations == ()
    module = {"ptyrax-test-good": "ptyrax_test_good", "ptyrax-test-clash": "ptyrax_test_clash"}
    assert registry.get("scaled").__module__ == module[kept[0].distribution]
    plugin_env(PTYRAX_PLUGINS="good,clash", PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match="ptyrax-test-(good|clash).*ptyrax-test-(good|clash)"):
        registry.names()


def test_default_loads_every_installed_plugin(plugin_env):
    plugin_env()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        plugins = by_name()
    assert {"builtins", "good", "clash", "broken_import", "broken_hook"} <= set(plugins)
    assert registry.plugins()[0].name == "builtins"


def test_disable_autoload_loads_builtins_and_explicitly_named(plugin_env):
    plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1")
    assert list(by_name()) == ["builtins"]
    plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1", PTYRAX_PLUGINS="good")
    assert list(by_name()) == ["builtins", "good"]


def test_unknown_name_in_ptyrax_plugins(plugin_env):
    plugin_env(PTYRAX_PLUGINS="good,nonexistent")
    with pytest.warns(PluginWarning, match="PTYRAX_PLUGINS names nonexistent.*installed: .*good"):
        registry.names()
    plugin_env(PTYRAX_PLUGINS="nonexistent", PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match="nonexistent"):
        registry.names()


def _imported_after(code: str, **env: str) -> list[str]:
    """The ptyrax modules other than core's that a fresh process has imported after `code`,
    and whether pluggy is among its modules."""
    code = (
        "import sys, ptyrax_core\n"
        f"{code}\n"
        "print(sorted(m for m in sys.modules if m.startswith('ptyrax_') and "
        "not m.startswith('ptyrax_core')) + ['pluggy'] * ('pluggy' in sys.modules))\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PTYRAX_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=environ | {"PTYRAX_STRICT_PLUGINS": "1"} | env,
    )
    return json.loads(out.stdout.replace("'", '"'))


def test_discovery_imports_no_declared_plugin():
    # good declares its names; core's built-ins too: nothing is imported, not even pluggy.
    assert _imported_after("ptyrax_core.registry.names()", PTYRAX_PLUGINS="good") == []
    assert _imported_after("ptyrax_core.parametrizations.__dir__()", PTYRAX_PLUGINS="good") == []


@pytest.mark.parametrize(
    "code",
    [
        "ptyrax_core.registry.get('scaled')",
        "from ptyrax_core.parametrizations import double",
        "ptyrax_core.build({'type': 'scaled', 'data': [1.0, 2.0]})",
    ],
)
def test_a_declared_plugin_is_imported_at_the_first_use_of_one_of_its_names(code):
    imported = _imported_after(code, PTYRAX_PLUGINS="good,broken_import")
    assert imported == ["ptyrax_test_good", "pluggy"]  # not broken_import, nor others


def test_a_declared_plugin_is_imported_by_plugins_exports_and_examples(plugin_env):
    for call in (registry.plugins, registry.exports, registry.examples):
        plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
        assert registry._current().plugins[1].pending
        call()
        assert registry._current().plugins[1].loaded


def test_left_out_plugins_are_never_imported():
    imported = _imported_after("ptyrax_core.registry.plugins()", PTYRAX_PLUGINS="good")
    assert imported == ["ptyrax_test_good", "pluggy"]


def test_unknown_name_lists_available_and_first_party_distribution(plugin_env):
    plugin_env(PTYRAX_PLUGINS="good")
    with pytest.raises(UnknownParametrizationError) as info:
        registry.get("wavelet")
    message = str(info.value)
    assert "pip install ptyrax-wavelet" in message
    assert "direct, index_slice, scaled" in message
    assert isinstance(info.value, KeyError)
    with pytest.raises(KeyError, match="'nothing_like_this'.*Registered: direct"):
        registry.get("nothing_like_this")


def test_unknown_name_mentions_failed_plugins(plugin_env):
    plugin_env(PTYRAX_PLUGINS="broken_hook")
    with pytest.warns(PluginWarning):
        registry.names()
    with pytest.raises(KeyError, match="failed to load: broken_hook .ptyrax-test-broken."):
        registry.get("anything")


def test_a_name_whose_declaring_plugin_fails_names_the_plugin_and_its_error(plugin_env):
    plugin_env(PTYRAX_PLUGINS="broken_import")
    with pytest.warns(PluginWarning, match="broken_import"):
        with pytest.raises(UnknownParametrizationError) as info:
            registry.get("never_loads")
    message = str(info.value)
    assert "'never_loads' is declared by the ptyrax plugin 'broken_import'" in message
    assert "ptyrax-test-broken 0.1.0" in message and "ModuleNotFoundError" in message
    with pytest.raises(UnknownParametrizationError, match="is declared by"):
        registry.get("never_loads")  # again: no second import, the same answer


def test_a_plugin_must_register_what_it_declares(plugin_env):
    plugin_env(PTYRAX_PLUGINS="misdeclared")
    assert "declared_only" in registry.names() and "registered" not in registry.names()
    with pytest.warns(PluginWarning, match="declares the parametrizations 'declared_only'"):
        with pytest.raises(UnknownParametrizationError, match="returns 'registered'"):
            registry.get("declared_only")
    assert registry.names() == ["direct", "index_slice"]  # all or nothing
    plugin_env(PTYRAX_PLUGINS="misdeclared", PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match="entry-point group ptyrax.parametrizations"):
        registry.get("declared_only")


def _load_fake(fake_plugins, hooks: str):
    """One undeclared plugin module `ptyrax_fake` holding `hooks`, loaded."""
    names = "DirectArrayParametrization, _Abstract, _BadName, _NoName"
    source = f"import ptyrax_core\nfrom test_registry import {names}\n{textwrap.dedent(hooks)}"
    return fake_plugins({"ptyrax_fake": source}, [("ptyrax", "fake", "ptyrax_fake")])


class _NoName(DirectArrayParametrization):
    pass


class _BadName(DirectArrayParametrization):
    registry_name = "BadName"


class _Abstract(ptyrax_core.ArrayParametrization):
    registry_name = "abstract_one"


def _hook(name: str, returns: str) -> str:
    return f"@ptyrax_core.hookimpl\ndef {name}():\n    return {returns}\n"


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        (_hook("ptyrax_parametrizations", "[_NoName]"), "must declare its own snake_case"),
        (_hook("ptyrax_parametrizations", "[_BadName]"), "snake_case.*'BadName'"),
        (_hook("ptyrax_parametrizations", "[_Abstract]"), "abstract"),
        (_hook("ptyrax_parametrizations", "[int]"), "not a subclass of"),
        (_hook("ptyrax_parametrizations", "[DirectArrayParametrization]"), "'direct'"),
        (_hook("ptyrax_functions", "[lambda x: x]"), "must be public|not a named"),
        (_hook("ptyrax_functions", "[3]"), "not a named function"),
        (_hook("ptyrax_parametrizations", "5"), "TypeError"),
    ],
)
def test_invalid_contributions_are_refused_whole(fake_plugins, plugin_env, hooks, message):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match=message):
        _load_fake(fake_plugins, hooks)


def test_unknown_hook_is_refused(fake_plugins, plugin_env):
    plugin_env()
    with pytest.warns(PluginWarning, match="ptyrax_parametrisations"):
        records = _load_fake(fake_plugins, _hook("ptyrax_parametrisations", "[]"))  # misspelt
    assert records[-1].error and records[-1].name == "fake"
    assert registry.names() == ["direct", "index_slice"]


_DECLARED = """
    from typing import ClassVar
    import ptyrax_core

    class Twice(ptyrax_core.DirectArrayParametrization):
        registry_name: ClassVar[str] = "twice"

    class Other(ptyrax_core.DirectArrayParametrization):
        registry_name: ClassVar[str] = "other"

    def helper(x):
        return x

    @ptyrax_core.hookimpl
    def ptyrax_parametrizations():
        return [Twice]

    @ptyrax_core.hookimpl
    def ptyrax_functions():
        return [helper]

    @ptyrax_core.hookimpl
    def ptyrax_commands(commands):
        commands.add_parser("fake-command")
"""


def test_declarations_are_checked_against_the_hooks(fake_plugins, plugin_env):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    declared = [
        ("ptyrax", "fake", "ptyrax_fake"),
        ("ptyrax.parametrizations", "twice", "ptyrax_fake:Twice"),
        ("ptyrax.functions", "helper", "ptyrax_fake:helper"),
        ("ptyrax.commands", "fake-command", "ptyrax_fake"),
    ]
    records = fake_plugins({"ptyrax_fake": _DECLARED}, declared)
    assert records[-1] == (
        "fake",
        "ptyrax-fake",
        "1.0",
        ("twice",),
        ("helper",),
        None,
        {"parametrizations": ("twice",)},
    )
    wrong = [
        ([*declared[:1], ("ptyrax.parametrizations", "twice", "ptyrax_fake:Other")], "gives"),
        ([*declared[:1], ("ptyrax.parametrizations", "twice", "ptyrax_fake:Gone")], "cannot be"),
        ([*declared[:2]], "declares the functions nothing.*returns 'helper'"),
        ([*declared[:1], ("ptyrax.parametrizations", "twice", "ptyrax_fake")], "module:Class"),
        ([*declared[:1], ("ptyrax.parametrizations", "Twice", "ptyrax_fake:Twice")], "snake"),
    ]
    for entry_points, message in wrong:
        with pytest.raises(PluginError, match=message):
            fake_plugins({"ptyrax_fake": _DECLARED}, entry_points)


def test_declared_commands_are_checked_when_added(fake_plugins, plugin_env):
    import argparse

    plugin_env()
    declared = [
        ("ptyrax", "fake", "ptyrax_fake"),
        ("ptyrax.parametrizations", "twice", "ptyrax_fake:Twice"),
        ("ptyrax.functions", "helper", "ptyrax_fake:helper"),
        ("ptyrax.commands", "other-command", "ptyrax_fake"),
    ]
    fake_plugins({"ptyrax_fake": _DECLARED}, declared, load=False)
    commands = argparse.ArgumentParser().add_subparsers()
    with pytest.warns(PluginWarning, match="adds the commands 'fake-command' but declares"):
        registry.add_commands(commands)
    assert registry._current().plugins[-1].loaded  # add_commands imported it


def test_a_declaration_that_belongs_to_no_plugin_is_ignored_with_a_warning(
    fake_plugins, plugin_env
):
    plugin_env()
    two = [("ptyrax", "a", "ptyrax_fake_a"), ("ptyrax", "b", "ptyrax_fake_b")]
    stray = ("ptyrax.parametrizations", "stray", "elsewhere:Stray")
    with pytest.warns(PluginWarning, match="declares stray = 'elsewhere:Stray'.*ignored"):
        fake_plugins({"ptyrax_fake_a": "", "ptyrax_fake_b": ""}, [*two, stray])
    assert "stray" not in registry.names()


def test_a_plugin_imported_while_loading_another_cannot_use_the_registry(fake_plugins, plugin_env):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    source = "import ptyrax_core\nptyrax_core.registry.get('direct')\n"
    with pytest.raises(PluginError, match="used the registry while being loaded"):
        fake_plugins({"ptyrax_fake": source}, [("ptyrax", "fake", "ptyrax_fake")])


def test_the_first_installed_copy_of_a_distribution_counts(tmp_path, monkeypatch):
    for folder, version in (("first", "2.0"), ("second", "1.0")):
        info = tmp_path / folder / f"ptyrax_copied-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: ptyrax-copied\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[ptyrax]\ncopied_{folder} = ptyrax_copied\n")
    monkeypatch.syspath_prepend(str(tmp_path / "second"))
    monkeypatch.syspath_prepend(str(tmp_path / "first"))
    found = [(ep.name, dist) for ep, dist in _plugin._entry_points() if "copied" in ep.name]
    assert found == [("copied_first", ("ptyrax-copied", "2.0"))]


def test_get_rejects_non_string():
    with pytest.raises(TypeError, match="name must be a registry name, a str .*got 3"):
        registry.get(3)
