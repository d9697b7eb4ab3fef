"""The registry against real installed distributions: tests/dists/, installed by tox."""

import json
import subprocess
import sys
import warnings

import pytest

import ptyrax_core
from ptyrax_core import (
    DirectArrayParametrization,
    IndexSliceParameter,
    PluginError,
    PluginWarning,
    UnknownParametrizationError,
    hookimpl,
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
        "import importlib.metadata as m, sys\n"
        "calls = []\n"
        "orig = m.entry_points\n"
        "m.entry_points = lambda *a, **k: calls.append(k) or orig(*a, **k)\n"
        "import ptyrax_core, ptyrax_core.parametrizations\n"
        "print([c for c in calls if c.get('group') == 'ptyrax'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_broken_plugins_are_recorded_and_warned_about(plugin_env):
    plugin_env(PTYRAX_PLUGINS="broken_import,broken_hook,good")
    with pytest.warns(PluginWarning) as warned:
        names = registry.names()
    assert "scaled" in names  # the others still load
    messages = [str(w.message) for w in warned]
    assert any("broken_import" in m and "ptyrax-test-broken" in m for m in messages)
    assert any("broken_hook" in m and "broken on purpose" in m for m in messages)
    plugins = by_name()
    assert plugins["broken_import"].error.startswith("ModuleNotFoundError")
    assert plugins["broken_hook"].error == "RuntimeError: this hook is broken on purpose"
    assert plugins["broken_hook"].parametrizations == ()
    assert plugins["good"].error is None


@pytest.mark.parametrize("name", ["broken_import", "broken_hook"])
def test_strict_mode_raises(plugin_env, name):
    plugin_env(PTYRAX_PLUGINS=name, PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match=f"{name}.*ptyrax-test-broken.*PTYRAX_STRICT_PLUGINS"):
        registry.names()


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


def test_left_out_plugins_are_never_imported():
    code = (
        "import sys, ptyrax_core\n"
        "ptyrax_core.registry.names()\n"
        "print(sorted(m for m in sys.modules if m.startswith('ptyrax_test')))\n"
    )
    env = {**__import__("os").environ, "PTYRAX_PLUGINS": "good", "PTYRAX_STRICT_PLUGINS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout.replace("'", '"')) == ["ptyrax_test_good"]


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
    plugin_env(PTYRAX_PLUGINS="broken_import")
    with pytest.warns(PluginWarning):
        registry.names()
    with pytest.raises(KeyError, match="failed to load: broken_import .ptyrax-test-broken."):
        registry.get("anything")


def _load_fake(monkeypatch, plugin):
    """Register one in-memory plugin module through the real loading path."""
    registry._forget()
    original = registry._selected_entry_points

    class EntryPoint:
        name, dist = "fake", None

        def load(self):
            return plugin

    monkeypatch.setattr(registry, "_selected_entry_points", lambda strict: [EntryPoint()])
    try:
        return registry.plugins()
    finally:
        monkeypatch.setattr(registry, "_selected_entry_points", original)


class _NoName(DirectArrayParametrization):
    pass


class _BadName(DirectArrayParametrization):
    registry_name = "BadName"


class _Abstract(ptyrax_core.ArrayParametrization):
    registry_name = "abstract_one"


def _plugin(**hooks):
    return type("Plugin", (), {k: staticmethod(hookimpl(v)) for k, v in hooks.items()})


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (_plugin(ptyrax_parametrizations=lambda: [_NoName]), "must declare its own snake_case"),
        (_plugin(ptyrax_parametrizations=lambda: [_BadName]), "snake_case.*'BadName'"),
        (_plugin(ptyrax_parametrizations=lambda: [_Abstract]), "abstract"),
        (_plugin(ptyrax_parametrizations=lambda: [int]), "not a subclass of"),
        (_plugin(ptyrax_parametrizations=lambda: [DirectArrayParametrization]), "'direct'"),
        (_plugin(ptyrax_functions=lambda: [lambda x: x]), "must be public|not a named"),
        (_plugin(ptyrax_functions=lambda: [3]), "not a named function"),
        (_plugin(ptyrax_parametrizations=lambda: 5), "TypeError"),
    ],
)
def test_invalid_contributions_are_refused_whole(monkeypatch, plugin_env, plugin, message):
    plugin_env(PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(PluginError, match=message):
        _load_fake(monkeypatch, plugin)


def test_unknown_hook_is_refused(monkeypatch, plugin_env):
    plugin_env()

    class Plugin:
        @staticmethod
        @hookimpl
        def ptyrax_parametrisations():  # misspelt
            return []

    with pytest.warns(PluginWarning, match="ptyrax_parametrisations"):
        records = _load_fake(monkeypatch, Plugin)
    assert records[-1].error and records[-1].name == "fake"
    assert registry.names() == ["direct", "index_slice"]


def test_get_rejects_non_string():
    from jaxtyping import TypeCheckError

    with pytest.raises(TypeCheckError, match="name"):
        registry.get(3)
