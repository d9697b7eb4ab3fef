"""The plugin registry: parametrizations found through the entry-point group `ptyrax`.

Discovery is lazy (on the first call of a function here) and happens once; `reload()` starts
it over. It reads the installed entry points and imports no plugin that declares its names
there; such a plugin is imported at the first use of one of them:

- group `ptyrax`: one entry point per plugin, naming the module that holds its hooks;
- groups `ptyrax.parametrizations`, `ptyrax.functions` and `ptyrax.commands`: what the
  plugin's hooks of the same names contribute, one entry point each, pointing to the object
  (`phase_only = "ptyrax_phase_only:PhaseOnlyArrayParametrization"`; a command points to the
  plugin's module);
- group `ptyrax.kinds`: the kinds of classes, besides parametrizations, that a distribution
  defines (`readers = "ptyrax_reconstruct:READERS"`, a `ptyrax_core.Kind`); plugins contribute
  them through the hook `ptyrax_<kind>` and declare them in the group `ptyrax.<kind>`. Registry
  names are unique across every kind.

`names()` answers from the declarations; `get(name)` (and a spec, a checkpoint, an attribute of
`ptyrax_core.parametrizations`) imports the one plugin that declares `name`; `plugins()`,
`exports()` and `examples()` import every plugin. An imported plugin's hooks must return
exactly what it declared. A plugin that declares nothing is imported at discovery. Core's
built-ins come first, declared like any plugin, then each selected entry point in order of
distribution name. Environment variables, read at discovery:

- `PTYRAX_STRICT_PLUGINS=1`: a plugin that fails to load raises `PluginError` instead of being
  recorded and warned about (`PluginWarning`).
- `PTYRAX_DISABLE_PLUGIN_AUTOLOAD=1`: load the built-ins only (and those `PTYRAX_PLUGINS` names).
- `PTYRAX_PLUGINS=a,b`: load only the entry points named `a` and `b`.

A plugin left out is never imported. A plugin that fails to import, whose hook raises, or that
contributes something invalid (a registry name taken by another distribution, a class without a
snake_case `registry_name`, something it did not declare, ...) is skipped whole and recorded
with its error.

Example:
    >>> from ptyrax_core import registry
    >>> registry.get("direct").__name__
    'DirectArrayParametrization'
    >>> {"direct", "index_slice"} <= set(registry.names())
    True
"""

import contextlib
import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any, NamedTuple

from ._contributions import SNAKE_CASE, call, contributions, listed
from ._errors import PluginError, UnknownNameError, UnknownParametrizationError
from ._firstparty import provider
from ._kinds import Kind, parametrizations as _parametrizations
from ._plugin import (
    DECLARATION_GROUPS as DECLARATION_GROUPS,
    GROUP as GROUP,
    Plugin,
    flag,
    installed,
    problem,
)
from ._version import __version__

if TYPE_CHECKING:
    import pluggy

PARAMETRIZATIONS = "parametrizations"
"""Core's own kind; the default of `names` and `get`."""

_BUILTINS = {
    "parametrizations": {
        "direct": "ptyrax_core._array:DirectArrayParametrization",
        "index_slice": "ptyrax_core._index:IndexSliceParameter",
    },
    "functions": {
        "as_direct_array_parametrization": "ptyrax_core._array:as_direct_array_parametrization"
    },
}


class PluginInfo(NamedTuple):
    """What one plugin is and what it contributed.

    Attributes:
        name: the entry-point name (`"builtins"` for core's own parametrizations).
        distribution: the distribution that provides it, such as `"ptyrax-wavelet"`.
        version: that distribution's version.
        parametrizations: the registry names of the parametrizations it contributed, sorted.
        functions: the helper functions it contributed, sorted.
        error: why it was not loaded (`"ImportError: ..."`), or None.
        contributions: kind -> the registry names of that kind it contributed, sorted, for
            every kind it contributed to (`{"parametrizations": (...), "readers": (...)}`).
    """

    name: str
    distribution: str
    version: str
    parametrizations: tuple[str, ...]
    functions: tuple[str, ...]
    error: str | None
    contributions: dict[str, tuple[str, ...]]


def _info(plugin: Plugin) -> PluginInfo:
    functions = sorted(n for n, obj in plugin.exports.items() if not isinstance(obj, type))
    by_kind: dict[str, list[str]] = {}
    for name in sorted(plugin.classes):
        by_kind.setdefault(plugin.kind_of[name], []).append(name)
    return PluginInfo(
        plugin.name,
        plugin.distribution,
        plugin.version,
        tuple(by_kind.get(PARAMETRIZATIONS, ())),
        tuple(functions),
        plugin.error,
        {kind: tuple(names) for kind, names in by_kind.items()},
    )


class _Registry:
    def __init__(self, strict: bool):
        self.strict = strict
        self.plugins: list[Plugin] = []
        self.classes: dict[str, Plugin] = {}  # registry name -> who declares or registered it
        self.kind_of: dict[str, str] = {}  # registry name -> its kind
        self.exports: dict[str, Plugin] = {}  # public name -> who declares or registered it
        self.kinds: dict[str, _KindEntry] = {}  # plural -> where it is defined
        self.manager: pluggy.PluginManager | None = None


class _KindEntry:
    """A kind as its entry point defines it, imported at the first need."""

    def __init__(self, plural: str, distribution: str, load):
        self.plural, self.distribution, self._load = plural, distribution, load
        self._kind: Kind | None = None

    def get(self) -> Kind:
        if self._kind is None:
            try:
                kind = self._load()
            except Exception as e:
                raise PluginError(
                    f"the kind {self.plural!r} that {self.distribution} defines (entry-point "
                    f"group ptyrax.kinds) cannot be loaded: {type(e).__name__}: {e}"
                ) from e
            if not isinstance(kind, Kind) or kind.plural != self.plural:
                raise PluginError(
                    f"{self.distribution} defines the kind {self.plural!r} (entry-point group "
                    f"ptyrax.kinds) as {kind!r}; it must be a ptyrax_core.Kind of that plural."
                )
            self._kind = kind
        return self._kind


_lock = threading.RLock()
_registry: _Registry | None = None
_busy = False


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Hold the registry, refusing a plugin that uses it while it is being loaded."""
    global _busy
    with _lock:
        if _busy:
            raise PluginError("a ptyrax plugin used the registry while being loaded.")
        _busy = True
        try:
            yield
        finally:
            _busy = False


def _current() -> _Registry:
    global _registry
    with _guard():
        if _registry is None:
            _registry = _discover()
        return _registry


def _load_pending(registry: _Registry, plugins: Iterable[Plugin]) -> None:
    with _guard():
        for plugin in plugins:
            if plugin.pending:
                _load(registry, plugin)


def _discover() -> _Registry:
    registry = _Registry(flag("PTYRAX_STRICT_PLUGINS"))
    found, kinds = installed(registry.strict)
    core = _KindEntry(PARAMETRIZATIONS, "ptyrax-core", _parametrizations)
    registry.kinds = {PARAMETRIZATIONS: core}
    for plural, (ep, dist) in sorted(kinds.items()):
        if plural in registry.kinds or not SNAKE_CASE.match(plural):
            problem(f"{dist} cannot define the kind {plural!r}; it is ignored.", registry.strict)
            continue
        registry.kinds[plural] = _KindEntry(plural, dist, ep.load)
    for plugin in [_builtins(), *_selected(found, registry)]:
        registry.plugins.append(plugin)
        if plugin.declared is None:
            _load(registry, plugin)
        else:
            _claim_declared(registry, plugin)
    return registry


def _builtins() -> Plugin:
    declared = {
        hook: {n: EntryPoint(n, v, DECLARATION_GROUPS[hook]) for n, v in d.items()}
        for hook, d in _BUILTINS.items()
    }
    module = "ptyrax_core._builtins"
    plugin = Plugin(
        "builtins", ("ptyrax-core", __version__), module, lambda: importlib.import_module(module)
    )
    plugin.declared = declared
    return plugin


def _selected(plugins: list[Plugin], registry: _Registry) -> list[Plugin]:
    wanted = {n.strip() for n in os.environ.get("PTYRAX_PLUGINS", "").split(",") if n.strip()}
    if wanted:
        installed = {p.name for p in plugins}
        missing = wanted - installed - {"builtins"}
        if missing:
            problem(
                f"PTYRAX_PLUGINS names {', '.join(sorted(missing))}, which no installed "
                "distribution provides as a ptyrax entry point; installed: "
                f"{', '.join(sorted(installed)) or 'none'}.",
                registry.strict,
            )
        return [p for p in plugins if p.name in wanted]
    return [] if flag("PTYRAX_DISABLE_PLUGIN_AUTOLOAD") else plugins


def _fail(registry: _Registry, plugin: Plugin, error: Exception) -> None:
    """Record why `plugin` was not loaded, forget its names, and warn (raise when strict)."""
    plugin.error = f"{type(error).__name__}: {error}"
    for table in (registry.classes, registry.exports):
        for name in [n for n, owner in table.items() if owner is plugin]:
            del table[name]
            if table is registry.classes:
                del registry.kind_of[name]
    problem(
        f"ptyrax plugin {plugin.name!r} from {plugin.distribution} {plugin.version} was not "
        f"loaded: {plugin.error}",
        registry.strict,
        error,
    )


def _claim_declared(registry: _Registry, plugin: Plugin) -> None:
    """Reserve the names `plugin` declares, without importing it."""
    assert plugin.declared is not None
    kinds = {k: d for k, d in plugin.declared.items() if k not in ("functions", "commands")}
    classes: dict[str, str] = {}  # registry name -> kind
    try:
        for kind, declared in kinds.items():
            if kind not in registry.kinds:
                raise PluginError(
                    f"{plugin.distribution} declares {listed(declared)} in the entry-point "
                    f"group ptyrax.{kind}, but no installed distribution defines the kind "
                    f"{kind!r}; kinds: {listed(registry.kinds)}."
                )
            for name, ep in declared.items():
                if not SNAKE_CASE.match(name):
                    raise PluginError(
                        f"{plugin.distribution} declares the registry name {name!r} "
                        f"(entry-point group {ep.group}), which is not snake_case (such as "
                        "'phase_only')."
                    )
                if not ep.attr:
                    raise PluginError(
                        f"{plugin.distribution} declares {name} = {ep.value!r} in the "
                        f"entry-point group {ep.group}: point to the class, as "
                        "'module:ClassName'."
                    )
                if name in classes:
                    raise PluginError(
                        f"{plugin.distribution} registers the registry name {name!r} twice."
                    )
                classes[name] = kind
        parametrizations = kinds.get(PARAMETRIZATIONS, {})
        exported = [ep.attr.rpartition(".")[2] for ep in parametrizations.values()]
        exported += list(plugin.declared.get("functions", {}))
        _check_free(registry, classes, exported, plugin.distribution)
    except PluginError as e:
        _fail(registry, plugin, e)
        return
    registry.classes.update(dict.fromkeys(classes, plugin))
    registry.kind_of.update(classes)
    registry.exports.update(dict.fromkeys(exported, plugin))


def _check_free(
    registry: _Registry, classes: Iterable[str], exported: Iterable[str], dist: str
) -> None:
    for what, names, table in (
        ("registry name", classes, registry.classes),
        ("exported name", exported, registry.exports),
    ):
        for name in names:
            if name in table:
                raise PluginError(
                    f"{dist} registers the {what} {name!r}, which {table[name].distribution} "
                    "already registers; two installed distributions cannot provide the same "
                    f"name: uninstall one of {table[name].distribution} and {dist}."
                )


def _manager(registry: _Registry) -> "pluggy.PluginManager":
    if registry.manager is None:
        import pluggy

        from . import hookspecs

        registry.manager = pluggy.PluginManager(GROUP)
        registry.manager.add_hookspecs(hookspecs)
        others = [k for k in registry.kinds if k != PARAMETRIZATIONS]
        if others:
            registry.manager.add_hookspecs(hookspecs.kind_hookspecs(others))
    return registry.manager


def _load(registry: _Registry, plugin: Plugin) -> None:
    """Import one plugin and register what it contributes, all or nothing: on any error it is
    recorded and nothing of it kept."""
    try:
        manager = _manager(registry)
        module = plugin.load()
        manager.register(module, name=plugin.name)
        try:
            manager.check_pending()
            loaders = {plural: entry.get for plural, entry in registry.kinds.items()}
            classes, kind_of, exports = contributions(manager, module, plugin, loaders)
            if plugin.declared is None:
                _check_free(registry, classes, exports, plugin.distribution)
        except BaseException:
            manager.unregister(module)
            raise
    except Exception as e:
        _fail(registry, plugin, e)
        return
    plugin.classes, plugin.kind_of, plugin.exports = classes, kind_of, exports
    plugin.loaded = True
    registry.classes.update(dict.fromkeys(classes, plugin))
    registry.kind_of.update(kind_of)
    registry.exports.update(dict.fromkeys(exports, plugin))


def names(kind: str = PARAMETRIZATIONS) -> list[str]:
    """The registry names of every class of `kind` (`"parametrizations"`, or another that
    `kinds()` lists), sorted: those the plugins declare (not imported until one is used) and
    those they registered."""
    registry = _current()
    _check_kind(registry, kind)
    return sorted(n for n, k in registry.kind_of.items() if k == kind)


def kinds() -> list[str]:
    """The kinds of classes plugins may contribute: `"parametrizations"` and those the
    installed distributions define (entry-point group `ptyrax.kinds`), sorted."""
    return sorted(_current().kinds)


def kind(name: str) -> Kind:
    """The `Kind` named `name` (a plural such as `"readers"`), importing what defines it.

    Raises:
        KeyError: no installed distribution defines it.
        PluginError: the distribution that defines it does not load.
    """
    registry = _current()
    _check_kind(registry, name)
    return registry.kinds[name].get()


def kind_of(name: str) -> str | None:
    """The kind of the class registered as `name`, or None if nothing is, importing none."""
    return _current().kind_of.get(name)


def _check_kind(registry: _Registry, kind: str) -> None:
    if kind not in registry.kinds:
        raise KeyError(
            f"no installed distribution defines the kind {kind!r}; kinds: "
            f"{', '.join(sorted(registry.kinds))}."
        )


def get(name: str, kind: str = PARAMETRIZATIONS) -> type:
    """The class of `kind` registered as `name` (such as `"phase_only"`, a parametrization),
    importing the plugin that declares it if it was not yet.

    Raises:
        UnknownNameError: (a `KeyError`; `UnknownParametrizationError` for a parametrization)
            no plugin registers `name` as a class of `kind`, or the one that declares it
            failed to load; the message lists the registered names of that kind, the
            distribution to install for a first-party name, and the plugins that failed.
        TypeError: `name` is not a string.
    """
    # Checked by hand, not by `typechecked`: a lookup should not import beartype (0.1 s).
    if not isinstance(name, str):
        raise TypeError(f"name must be a registry name, a str such as 'phase_only'; got {name!r}.")
    registry = _current()
    _check_kind(registry, kind)
    noun = _noun(registry, kind)
    error = UnknownParametrizationError if kind == PARAMETRIZATIONS else UnknownNameError
    plugin = registry.classes.get(name)
    if plugin is not None and registry.kind_of.get(name) == kind:
        _load_pending(registry, [plugin])
        if plugin.loaded:
            return plugin.classes[name]
    failed = [p for p in registry.plugins if p.error]
    declaring = [p for p in failed if p.declared and name in p.declared.get(kind, {})]
    if declaring:
        p = declaring[0]
        message = (
            f"The {noun} {name!r} is declared by the ptyrax plugin {p.name!r} "
            f"({p.distribution} {p.version}), which failed to load: {p.error}"
        )
        raise error(message)
    other = registry.kind_of.get(name)
    if other is not None and other != kind:
        raise error(f"{name!r} is a {_noun(registry, other)}, not a {noun}.")
    message = f"No {noun} is registered as {name!r}."
    dist = provider(name)
    if dist is not None:
        message += f" It is provided by the distribution {dist}: pip install {dist}"
    registered = sorted(n for n, k in registry.kind_of.items() if k == kind)
    message += f" Registered: {', '.join(registered) or 'none'}."
    if failed:
        message += " Plugins that failed to load: " + "; ".join(
            f"{p.name} ({p.distribution}): {p.error}" for p in failed
        )
    raise error(message)


def _noun(registry: _Registry, kind: str) -> str:
    """One class of `kind` in words: the `Kind`'s noun if it loads, else its plural less s."""
    if kind == PARAMETRIZATIONS:
        return "parametrization"
    try:
        return registry.kinds[kind].get().noun
    except PluginError:
        return kind.removesuffix("s")


def plugins() -> list[PluginInfo]:
    """A record per plugin, the built-ins first, failed ones included; imports every plugin
    not imported yet."""
    registry = _current()
    _load_pending(registry, registry.plugins)
    return [_info(p) for p in registry.plugins]


def _plugin_of(name: str) -> PluginInfo:
    """The record of the plugin that registers `name` (a loaded registry name)."""
    return _info(_current().classes[name])


def exports() -> dict[str, Any]:
    """Every public name the plugins contribute, class names and helper functions; imports
    every plugin not imported yet."""
    registry = _current()
    _load_pending(registry, registry.plugins)
    return {name: plugin.exports[name] for name, plugin in registry.exports.items()}


def _export_names() -> list[str]:
    """The public names the plugins declare or contributed, sorted, importing none."""
    return sorted(_current().exports)


def _export(name: str) -> Any:
    """The object a plugin exports as `name`, importing only that plugin; None if none does."""
    registry = _current()
    plugin = registry.exports.get(name)
    if plugin is None:
        return None
    _load_pending(registry, [plugin])
    return plugin.exports.get(name)


def examples(plugin: str | None = None) -> dict[str, list[Any]]:
    """Example instances from each plugin's `ptyrax_examples` hook, built now.

    Arguments:
        plugin: an entry-point name (`"builtins"` for core's own) to build only its examples.

    Returns:
        Plugin name -> its examples (plugins without the hook are left out).
    """
    registry = _current()
    chosen = [p for p in registry.plugins if plugin is None or p.name == plugin]
    _load_pending(registry, chosen)
    loaded = [p.name for p in chosen if p.loaded]
    if plugin is not None and not loaded:
        names = ", ".join(p.name for p in registry.plugins if p.loaded)
        raise KeyError(f"no loaded plugin is named {plugin!r}; loaded: {names}.")
    built = {}
    manager = _manager(registry)
    for name in loaded:
        found = call(manager, manager.get_plugin(name), "ptyrax_examples")
        if found:
            built[name] = found
    return built


def add_commands(commands: Any) -> None:
    """Let every plugin add its subcommands to `commands` (the `ptyrax` command's argparse
    sub-parsers) through its `ptyrax_commands` hook, importing those that declare commands.

    A hook that raises, adds a name already taken, or adds other commands than its plugin
    declares is reported with a `PluginWarning` (a `PluginError` under
    `PTYRAX_STRICT_PLUGINS=1`); the other plugins' commands stay.
    """
    registry = _current()
    _load_pending(
        registry, [p for p in registry.plugins if p.declared and "commands" in p.declared]
    )
    by_name = {p.name: p for p in registry.plugins if p.loaded}
    for impl in _manager(registry).hook.ptyrax_commands.get_hookimpls():
        before = set(commands.choices)
        try:
            impl.function(**dict.fromkeys(impl.argnames, commands))
        except Exception as e:
            problem(
                f"ptyrax plugin {impl.plugin_name!r} could not add its commands: "
                f"{type(e).__name__}: {e}",
                registry.strict,
                e,
            )
            continue
        plugin = by_name.get(impl.plugin_name)
        added = set(commands.choices) - before
        if plugin is not None and plugin.declared is not None:
            declared = plugin.declared.get("commands", {})
            if added != declared.keys():
                problem(
                    f"ptyrax plugin {plugin.name!r} from {plugin.distribution} adds the commands "
                    f"{listed(added)} but declares {listed(declared)} in the entry-point "
                    f"group {DECLARATION_GROUPS['commands']}; the two must name the same commands.",
                    registry.strict,
                )


def reload() -> list[PluginInfo]:
    """Forget what was discovered and discover again, as `plugins()` returns it.

    For a running session in which a plugin was installed, or the environment variables above
    changed. Classes already in use keep working; `get` returns the newly loaded ones.
    """
    _forget()
    importlib.invalidate_caches()
    return plugins()


def _forget() -> None:
    global _registry
    with _lock:
        _registry = None
